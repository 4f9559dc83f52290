// The kernel's overlayfs: layers on a per-case tmpfs (so all layers share one filesystem,
// the samefs case of S8.1, and teardown is a single umount), mounted with mount(2) and every
// option explicit so that a run does not depend on the module defaults (S1.2).

import fs from 'node:fs';
import { privatePrefix } from '../../model/profile.js';
import type { Op, Outcome, Profile, Snapshot, StackSpec } from '../../model/types.js';
import { applyOp } from '../apply.js';
import type { Driver, MountFacts } from '../driver.js';
import { LowerWatch } from '../lowerWatch.js';
import { mountsLine } from './external.js';
import { mountWithFsconfig } from '../fsconfig.js';
import { materializeLayer } from '../materialize.js';
import { mount } from '../native.js';
import { registerMount, type Sandbox } from '../sandbox.js';
import { snapshotTree } from '../snapshot.js';

const PARAMS = '/sys/module/overlay/parameters';
/** mount(2) copies one page of options; stay well below it. */
const LEGACY_LIMIT = 3500;

/** null if this machine can run the kernel driver, else a one-line reason. Loads nothing. */
export function probeOverlaySupport(): string | null {
  if (process.getuid?.() !== 0) return 'must run as root: mounting overlayfs needs CAP_SYS_ADMIN';
  let filesystems: string;
  try {
    filesystems = fs.readFileSync('/proc/filesystems', 'utf8');
  } catch {
    return 'cannot read /proc/filesystems';
  }
  if (!/\toverlay$/m.test(filesystems)) return "the running kernel has no 'overlay' in /proc/filesystems (modprobe overlay?)";
  if (!/\ttmpfs$/m.test(filesystems)) return "the running kernel has no 'tmpfs' in /proc/filesystems";
  return null;
}

/** /sys/module/overlay/parameters/* as name -> value ('Y', 'N', '256'). */
export function moduleDefaults(): Record<string, string> {
  const params: Record<string, string> = {};
  try {
    for (const name of fs.readdirSync(PARAMS)) params[name] = fs.readFileSync(`${PARAMS}/${name}`, 'utf8').trim();
  } catch {
    /* overlay built in without a parameters directory */
  }
  return params;
}

/** The legacy option string escapes ',' and '\' everywhere and ':' inside lowerdir (S1.8). */
function escapeLayerPath(p: string, inLowerdir: boolean): string {
  return p.replace(inLowerdir ? /[\\,:]/g : /[\\,]/g, (c) => '\\' + c);
}

export function overlayOptions(lowers: string[], upper: string, work: string, p: Profile, data: string[] = []): string {
  return [
    `lowerdir=${lowers.map((l) => escapeLayerPath(l, true)).join(':')}${data.map((d) => '::' + escapeLayerPath(d, true)).join('')}`,
    ...(p.readonly === 'no-upper' ? [] : [`upperdir=${escapeLayerPath(upper, false)}`, `workdir=${escapeLayerPath(work, false)}`]),
    profileOptions(p),
  ].join(',');
}

/** Every option of the profile, explicit, so that no module default decides (S1.2). */
export function profileOptions(p: Profile): string {
  const onOff = (b: boolean): string => (b ? 'on' : 'off');
  return [
    `redirect_dir=${p.redirect_dir}`,
    `index=${onOff(p.index)}`,
    `metacopy=${onOff(p.metacopy)}`,
    `xino=${p.xino}`,
    `nfs_export=${onOff(p.nfs_export)}`,
    `uuid=${p.uuid}`,
    ...(p.userxattr ? ['userxattr'] : []),
    ...(p.volatile ? ['volatile'] : []),
    ...(p.readonly === 'ro' ? ['ro'] : []),
  ].join(',');
}

interface CaseDirs {
  root: string;
  lowers: string[];
  /** Data-only layers (S7.4), below every lower. */
  data: string[];
  upper: string;
  merged: string;
  /** The second tmpfs the lower and data-only layers sit on, for profiles that split them (S8.2). */
  lowerFs?: string;
}

export class KernelDriver implements Driver {
  readonly name = 'kernel';
  private dirs: CaseDirs | null = null;
  private options = '';
  private mounted = false;
  private watch: LowerWatch | null = null;
  private profile: Profile | null = null;
  private rotations = 0;

  constructor(private readonly sandbox: Sandbox) {}

  async setup(stack: StackSpec, profile: Profile): Promise<MountFacts> {
    await this.teardown();
    const root = this.sandbox.newDir('case-');
    this.sandbox.mountTmpfs(root);
    const lowerFs = profile.split ? `${root}/lfs` : undefined;
    const base = lowerFs ?? root;
    const dirs: CaseDirs = {
      root, lowers: stack.lowers.map((_, i) => `${base}/l${i}`), data: (stack.data ?? []).map((_, i) => `${base}/d${i}`),
      upper: `${root}/u`, merged: `${root}/m`, ...(lowerFs ? { lowerFs } : {}),
    };
    this.dirs = dirs;
    try {
      if (lowerFs) {
        fs.mkdirSync(lowerFs);
        this.sandbox.mountTmpfs(lowerFs);
      }
      const work = `${root}/w`;
      for (const d of [...dirs.lowers, ...dirs.data, dirs.upper, work, dirs.merged]) fs.mkdirSync(d, { mode: 0o755 });
      const prefix = privatePrefix(profile);
      stack.lowers.forEach((layer, i) => materializeLayer(dirs.lowers[i], layer, prefix));
      (stack.data ?? []).forEach((layer, i) => materializeLayer(dirs.data[i], layer, prefix));
      materializeLayer(dirs.upper, stack.upper, prefix);
      this.watch = new LowerWatch([...dirs.lowers, ...dirs.data]); // from here on, any change to a lower is seen
      this.profile = profile;
      this.rotations = 0;
      this.options = overlayOptions(dirs.lowers, dirs.upper, work, profile, dirs.data);
      const defaults = moduleDefaults(); // read before mounting: they decide what the mount means
      this.mountOverlay();
      return { options: this.options, moduleDefaults: defaults, shown: mountsLine(dirs.merged) };
    } catch (err) {
      await this.teardown(); // leave nothing behind a failed set-up
      throw err;
    }
  }

  /**
   * mount(2) with the legacy option string while it fits in its one page; beyond that, the
   * new mount API with one lowerdir+= per layer (S1.10), as rotation makes stacks deep.
   */
  private doMount(): Outcome {
    const dirs = this.requireDirs();
    if (this.options.length < LEGACY_LIMIT) return mount('overlay', dirs.merged, 'overlay', 0, this.options);
    const params: [string, string | null][] = [...dirs.lowers.map((l): [string, string] => ['lowerdir+', l]), ...dirs.data.map((d): [string, string] => ['datadir+', d])];
    if (this.profile!.readonly !== 'no-upper') params.push(['upperdir', dirs.upper], ['workdir', `${dirs.root}/w`]);
    for (const o of profileOptions(this.profile!).split(',')) {
      const [k, v] = o.split('=', 2);
      params.push([k, v ?? null]);
    }
    return mountWithFsconfig(dirs.merged, params);
  }

  private mountOverlay(): void {
    const dirs = this.requireDirs();
    const rc = this.doMount();
    if (rc !== 'ok') throw new Error(`mount -t overlay failed with ${rc} (options ${this.options})`);
    registerMount(dirs.merged);
    this.mounted = true;
  }

  private unmountOverlay(): void {
    if (!this.mounted) return;
    this.mounted = false;
    this.sandbox.unmount(this.requireDirs().merged); // falls back to MNT_DETACH on EBUSY
  }

  private requireDirs(): CaseDirs {
    if (!this.dirs) throw new Error('kernel driver: no case is set up');
    return this.dirs;
  }

  apply(op: Op): Outcome {
    if (op.op === 'remount') return this.remountNow();
    if (op.op === 'rotate') {
      if (this.profile?.readonly === 'no-upper') return 'EROFS'; // no upper to rotate
      return this.rotateNow();
    }
    return applyOp(this.requireDirs().merged, op);
  }

  snapshot(view: 'merged' | 'upper' | number): Snapshot {
    const dirs = this.requireDirs();
    if (view === 'merged') return snapshotTree(dirs.merged);
    if (view === 'upper') return snapshotTree(dirs.upper);
    const lower = view < dirs.lowers.length ? dirs.lowers[view] : dirs.data[view - dirs.lowers.length];
    if (lower === undefined) throw new Error(`kernel driver: no lower layer ${view}`);
    return snapshotTree(lower);
  }

  lowersChanged(): boolean {
    return this.watch?.changed() ?? true;
  }

  async remount(): Promise<void> {
    this.remountNow();
  }

  /** The upper dir is moved to become the top lower; a new empty upper and workdir take its place. */
  private rotateNow(): Outcome {
    this.unmountOverlay();
    const dirs = this.requireDirs();
    const lower = `${dirs.root}/r${++this.rotations}`;
    fs.renameSync(dirs.upper, lower);
    fs.mkdirSync(dirs.upper, { mode: 0o755 });
    // A new workdir too, as an image build gives every layer: index=on ties a workdir's
    // index to its upper (S12.1), and the old index links would count in the new lower.
    fs.rmSync(`${dirs.root}/w`, { recursive: true });
    fs.mkdirSync(`${dirs.root}/w`, { mode: 0o755 });
    dirs.lowers = [lower, ...dirs.lowers];
    this.watch?.close();
    this.watch = new LowerWatch([...dirs.lowers, ...dirs.data]);
    this.options = overlayOptions(dirs.lowers, dirs.upper, `${dirs.root}/w`, this.profile!, dirs.data);
    return this.mountAgain();
  }

  private remountNow(): Outcome {
    this.unmountOverlay();
    return this.mountAgain();
  }

  /**
   * A mount after the first. After a volatile mount the workdir refuses it (S14.3): that
   * EINVAL is the outcome, and the driver then does what a user must, removes
   * work/incompat/volatile, and mounts, so the case goes on.
   */
  private mountAgain(): Outcome {
    const dirs = this.requireDirs();
    const rc = this.doMount();
    if (rc === 'ok') {
      registerMount(dirs.merged);
      this.mounted = true;
      return 'ok';
    }
    const dirty = `${dirs.root}/w/work/incompat/volatile`;
    if (rc !== 'EINVAL' || !fs.existsSync(dirty)) throw new Error(`mount -t overlay failed with ${rc} (options ${this.options})`);
    fs.rmSync(dirty, { recursive: true });
    this.mountOverlay();
    return rc;
  }

  async teardown(): Promise<void> {
    const dirs = this.dirs;
    if (!dirs) return;
    try {
      this.unmountOverlay();
    } finally {
      this.watch?.close();
      this.watch = null;
      this.dirs = null;
      this.mounted = false;
      if (dirs.lowerFs) this.sandbox.unmount(dirs.lowerFs);
      this.sandbox.unmount(dirs.root); // the case tmpfs: every layer goes with it
      fs.rmdirSync(dirs.root);
    }
  }
}
