// The kernel's overlayfs: layers on a per-case tmpfs (so all layers share one filesystem,
// the samefs case of S8.1, and teardown is a single umount), mounted with mount(2) and every
// option explicit so that a run does not depend on the module defaults (S1.2).

import fs from 'node:fs';
import { profileForRemount } from '../../model/params.js';
import { cover } from '../../model/coverage.js';
import { privatePrefix } from '../../model/profile.js';
import { hasFeature } from '../../model/versions.js';
import type { Dirent, FdObserved, KernelVersion, Op, OpName, Outcome, Profile, Snapshot, StackSpec } from '../../model/types.js';
import { isDirStreamOp } from '../../model/dirStream.js';
import { DirStreams } from '../dirStreams.js';
import { opCall } from '../calls.js';
import { FdTable } from '../fds.js';
import { LayerReads } from '../snapshot.js';
import { isFdOp } from '../../model/fds.js';
import type { Driver, MountFacts } from '../driver.js';
import { layerPlan } from '../materialize.js';
import type { Sandbox } from '../sandbox.js';
import { kernelOf, localSys, type Sys } from '../sys.js';
import { findMountsLine } from './external.js';
import { mountFlags, overlayOptions, profileParams } from './kernelOptions.js';
import { INNER_PROFILE, innerLayers } from '../../model/nested.js';
import type { ShowFacts } from '../../model/mountShown.js';
import { nonPathOptions, takesFsyncOption } from '../probe.js';
import { callerIdsRefusal, userNamespaceRefusal } from '../rootless.js';
import type { StepFamily } from '../driver.js';

const PARAMS = '/sys/module/overlay/parameters';
/** mount(2) copies one page of options; stay well below it. */
const LEGACY_LIMIT = 3500;

/** null if this machine can run the kernel driver, else a one-line reason. Loads nothing. */
export function probeOverlaySupport(): string | null {
  if (process.getuid?.() !== 0) {
    const why = userNamespaceRefusal(); // rootless mode: CAP_SYS_ADMIN in a user namespace of its own
    if (why) return `must run as root (mounting overlayfs needs CAP_SYS_ADMIN), or as a user where the kernel gives user namespaces: ${why}`;
  }
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
export function moduleDefaults(sys: Sys): Record<string, string> {
  const params: Record<string, string> = {};
  for (const name of sys.list(PARAMS)) params[name] = (sys.readText(`${PARAMS}/${name}`) ?? '').trim();
  return params;
}

/** The /proc/self/mounts line of the overlay mounted at target, as the kernel the syscalls reach shows it. */
export function mountsLineOf(sys: Sys, target: string): string {
  return findMountsLine(sys.readText('/proc/self/mounts') ?? '', target);
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
  /** Nesting (S18.1): where the inner overlay over the stack's lowers is mounted, the outer's lower. */
  inner?: string;
}

/** The kernel driver's syscalls run here (a Sandbox) or in a guest (a Sys from harness/guest). */
function asSys(target: Sys | Sandbox): Sys {
  return 'walk' in target ? target : localSys(target);
}

export class KernelDriver implements Driver {
  readonly name = 'kernel';
  readonly remountOptions = true;
  /**
   * In rootless mode without the callers' ids mapped (harness/rootless.ts), steps as another
   * caller and chowns to their ids: the kernel refuses to switch to or chown to an unmapped id.
   */
  readonly cannot?: Partial<Record<StepFamily, string>>;
  readonly sys: Sys;

  /** The version of the kernel the syscalls reach: it decides how options are spelled. */
  readonly kernel: KernelVersion;
  private dirs: CaseDirs | null = null;
  /** The module's parameters at the case's set-up. */
  private defaults: Record<string, string> = {};
  private options = '';
  private mounted = false;
  private lowersChangedSince: (() => boolean) | null = null;
  private profile: Profile | null = null;
  private rotations = 0;
  /** Dir streams open across steps: fds of this process, so only where the syscalls run here. */
  private readonly streams = new DirStreams();
  /** What the walks of the upper read, reused where an object has not changed (harness/snapshot.ts). */
  private readonly upperReads = new LayerReads();
  /**
   * Runs while the overlay is unmounted for a remount or a rotation (before the upper moves):
   * where a wrapping driver changes the layers offline (drivers/planted.ts).
   */
  onUnmounted: ((how: 'remount' | 'rotate') => void) | null = null;

  /**
   * Open fds across steps (harness/fds.ts): run in this process, so only on the running
   * kernel; the guest executor keeps no fd table, and a guest driver has no `observed`.
   */
  private readonly fds: FdTable | null;
  private lastObserved: FdObserved | undefined;
  readonly observed?: () => FdObserved | undefined;

  constructor(target: Sys | Sandbox) {
    this.sys = asSys(target);
    this.kernel = kernelOf(this.sys);
    this.fds = this.sys.where === 'host' ? new FdTable() : null;
    const unmapped = this.sys.where === 'host' ? callerIdsRefusal() : null;
    if (unmapped) this.cannot = { callers: unmapped, chown: unmapped };
    if (this.fds) this.observed = () => this.lastObserved;
  }

  async setup(stack: StackSpec, profile: Profile): Promise<MountFacts> {
    await this.teardown();
    const { sandbox } = this.sys;
    const root = sandbox.newDir('case-');
    sandbox.mountTmpfs(root);
    const lowerFs = profile.split ? `${root}/lfs` : undefined;
    const base = lowerFs ?? root;
    const dirs: CaseDirs = {
      root, lowers: stack.lowers.map((_, i) => `${base}/l${i}`), data: (stack.data ?? []).map((_, i) => `${base}/d${i}`),
      upper: `${root}/u`, merged: `${root}/m`, ...(lowerFs ? { lowerFs } : {}),
    };
    this.dirs = dirs;
    try {
      if (lowerFs) {
        this.mkdir(lowerFs);
        sandbox.mountTmpfs(lowerFs);
      }
      const work = `${root}/w`;
      const innerLowers = profile.nested ? innerLayers(stack.lowers).map((_, i) => `${base}/l${i}`) : [];
      for (const d of new Set([...dirs.lowers, ...innerLowers, ...dirs.data, dirs.upper, work, dirs.merged])) this.mkdir(d);
      const prefix = privatePrefix(profile);
      const plan = [
        ...stack.lowers.flatMap((layer, i) => layerPlan(dirs.lowers[i], layer, prefix)),
        ...(stack.data ?? []).flatMap((layer, i) => layerPlan(dirs.data[i], layer, prefix)),
        ...layerPlan(dirs.upper, stack.upper, prefix),
      ];
      this.sys.build(plan);
      if (profile.nested) this.mountInner(dirs, innerLowers);
      this.lowersChangedSince = this.sys.watch([...dirs.lowers, ...dirs.data]); // from here on, any change to a lower is seen
      this.profile = profile;
      this.rotations = 0;
      this.options = overlayOptions(dirs.lowers, dirs.upper, work, profile, this.kernel, dirs.data);
      const defaults = moduleDefaults(this.sys); // read before mounting: they decide what the mount means
      this.defaults = defaults;
      this.mountOverlay();
      return { options: this.describeOptions(), moduleDefaults: defaults, shown: mountsLineOf(this.sys, dirs.merged) };
    } catch (err) {
      await this.teardown(); // leave nothing behind a failed set-up
      throw err;
    }
  }

  /**
   * S18.1: the inner overlay, read-only over the raw lowers and an empty one, mounted once for
   * the case (remounts and rotations of the outer leave it); its merged dir is the outer's lower.
   */
  private mountInner(dirs: CaseDirs, lowers: string[]): void {
    const inner = `${dirs.root}/in`;
    this.mkdir(inner);
    const rc = this.sys.mount('overlay', inner, 'overlay', mountFlags(INNER_PROFILE), overlayOptions(lowers, '', '', INNER_PROFILE, this.kernel));
    if (rc !== 'ok') throw new Error(`mount of the inner overlay failed with ${rc}`);
    this.sys.sandbox.track(inner);
    dirs.inner = inner;
    dirs.lowers = [inner];
  }

  private mkdir(dir: string): void {
    const rc = this.sys.run({ c: 'mkdir', path: dir, mode: 0o755 });
    if (rc !== 'ok') throw new Error(`mkdir ${dir} failed with ${rc}`);
  }

  /** The option string, and the mount flags that are not in it. */
  private describeOptions(): string {
    return this.options + (mountFlags(this.profile!) ? ' (and MS_RDONLY)' : '');
  }

  /**
   * mount(2) with the legacy option string while it fits in its one page; beyond that, the
   * new mount API with one lowerdir+= per layer (S1.10), as rotation makes stacks deep; and
   * before 6.7, which has no lowerdir+=, mount(2) with paths relative to the case's root.
   */
  private doMount(): Outcome {
    const dirs = this.requireDirs();
    const flags = mountFlags(this.profile!);
    if (this.options.length < LEGACY_LIMIT) return this.sys.mount('overlay', dirs.merged, 'overlay', flags, this.options);
    if (!hasFeature(this.kernel, 'lowerdirAppend')) {
      const rel = (p: string) => p.slice(dirs.root.length + 1);
      const options = overlayOptions(dirs.lowers.map(rel), rel(dirs.upper), 'w', this.profile!, this.kernel, dirs.data.map(rel));
      return this.sys.mount('overlay', dirs.merged, 'overlay', flags, options, dirs.root);
    }
    const params: [string, string | null][] = [...dirs.lowers.map((l): [string, string] => ['lowerdir+', l]), ...dirs.data.map((d): [string, string] => ['datadir+', d])];
    if (this.profile!.readonly !== 'no-upper') params.push(['upperdir', dirs.upper], ['workdir', `${dirs.root}/w`]);
    params.push(...profileParams(this.profile!, this.kernel));
    cover('S1.10'); // the mount itself is compared: its outcome and every view after it
    return this.sys.mountNew(dirs.merged, params);
  }

  private mountOverlay(): void {
    const dirs = this.requireDirs();
    const rc = this.doMount();
    if (rc !== 'ok') throw new Error(`mount -t overlay failed with ${rc} (options ${this.describeOptions()})`);
    this.sys.sandbox.track(dirs.merged);
    this.mounted = true;
  }

  private unmountOverlay(): void {
    this.streams.closeAll(); // an open dir keeps the mount busy; a new mount starts without streams
    this.fds?.closeAll(); // S17: remount, rotation and teardown close every fd first
    if (!this.mounted) return;
    this.mounted = false;
    this.sys.sandbox.unmount(this.requireDirs().merged); // falls back to MNT_DETACH on EBUSY
  }

  /** The case's layer dirs as they are now (top lower first), for a wrapping driver. */
  layerDirs(): { upper: string; lowers: string[]; merged: string } {
    const d = this.requireDirs();
    return { upper: d.upper, lowers: [...d.lowers], merged: d.merged };
  }

  private requireDirs(): CaseDirs {
    if (!this.dirs) throw new Error('kernel driver: no case is set up');
    return this.dirs;
  }

  shownOptions(): { shown: string; facts: ShowFacts } {
    const shown = nonPathOptions(mountsLineOf(this.sys, this.requireDirs().merged));
    return { shown, facts: { moduleDefaults: this.defaults, fsyncOption: takesFsyncOption(this.sys) } };
  }

  cannotRun(op: OpName): string | null {
    const stream = op === 'opendir' || op === 'readdir' || op === 'seekdir' || op === 'closedir';
    if (stream && this.sys.where !== 'host') return 'the guest executor holds no fds across steps: dir streams run on the host kernel only';
    if (op.startsWith('fd') && !this.fds) return 'the guest executor holds no fds across steps: fd steps run on the host kernel only';
    return null;
  }

  dirents(): Dirent[] | null {
    return this.streams.dirents();
  }

  apply(op: Op): Outcome {
    this.lastObserved = undefined;
    if (isFdOp(op)) {
      if (!this.fds) throw new Error(`kernel driver in ${this.sys.where}: fd steps run only on the running kernel`);
      const r = this.fds.run(this.requireDirs().merged, op);
      this.lastObserved = r.observed;
      return r.outcome;
    }
    if (isDirStreamOp(op)) {
      const why = this.cannotRun(op.op);
      if (why) throw new Error(`kernel driver: ${op.op}: ${why}`);
      return this.streams.apply(this.requireDirs().merged, op);
    }
    this.streams.forget(); // any other step reads no entries
    if (op.op === 'remount') return this.remountNow(op.options);
    if (op.op === 'rotate') {
      if (this.profile?.readonly === 'no-upper') return 'EROFS'; // no upper to rotate
      return this.rotateNow();
    }
    return this.sys.run(opCall(this.requireDirs().merged, op));
  }

  snapshot(view: 'merged' | 'upper' | number): Snapshot {
    const dirs = this.requireDirs();
    if (view === 'merged') return this.sys.walk(dirs.merged);
    if (view === 'upper') return this.sys.walk(dirs.upper, this.upperReads);
    const lower = view < dirs.lowers.length ? dirs.lowers[view] : dirs.data[view - dirs.lowers.length];
    if (lower === undefined) throw new Error(`kernel driver: no lower layer ${view}`);
    return this.sys.walk(lower);
  }

  lowersChanged(): boolean {
    return this.lowersChangedSince?.() ?? true;
  }

  async remount(): Promise<void> {
    this.remountNow();
  }

  /** The upper dir is moved to become the top lower; a new empty upper and workdir take its place. */
  private rotateNow(): Outcome {
    this.unmountOverlay();
    this.onUnmounted?.('rotate');
    const dirs = this.requireDirs();
    const lower = `${dirs.root}/r${++this.rotations}`;
    const work = `${dirs.root}/w`;
    const moved = this.sys.run({ c: 'rename', from: dirs.upper, to: lower, flags: 0 });
    if (moved !== 'ok') throw new Error(`rotation: rename of the upper failed with ${moved}`);
    this.mkdir(dirs.upper);
    // A new workdir too, as an image build gives every layer: index=on ties a workdir's
    // index to its upper (S12.1), and the old index links would count in the new lower.
    this.sys.removeTree(work);
    this.mkdir(work);
    dirs.lowers = [lower, ...dirs.lowers];
    this.lowersChangedSince = this.sys.watch([...dirs.lowers, ...dirs.data]);
    this.options = overlayOptions(dirs.lowers, dirs.upper, work, this.profile!, this.kernel, dirs.data);
    return this.mountAgain();
  }

  /** With `options`, the same layers are mounted with those options (model/params.ts profileForRemount). */
  private remountNow(options?: string): Outcome {
    this.unmountOverlay();
    this.onUnmounted?.('remount');
    if (options !== undefined) {
      const dirs = this.requireDirs();
      this.profile = profileForRemount(this.profile!, options, this.kernel);
      this.options = overlayOptions(dirs.lowers, dirs.upper, `${dirs.root}/w`, this.profile, this.kernel, dirs.data);
    }
    return this.mountAgain();
  }

  /**
   * A mount after the first. Where the workdir refuses it, the first refusal is the outcome,
   * and the driver does what a user must and mounts again, so the case goes on:
   * - after a volatile mount, EINVAL (S14.3): it removes work/incompat/volatile;
   * - with index=on, ENODATA at an index entry without P.origin, which a failed copy-up left
   *   (S12.3, model/copyUp.ts): it removes those entries.
   */
  private mountAgain(): Outcome {
    const dirs = this.requireDirs();
    let first: Outcome = 'ok';
    for (;;) {
      const rc = this.doMount();
      if (rc === 'ok') {
        this.sys.sandbox.track(dirs.merged);
        this.mounted = true;
        return first;
      }
      if (!this.clearRefusal(rc)) throw new Error(`mount -t overlay failed with ${rc} (options ${this.describeOptions()})`);
      if (first === 'ok') first = rc;
    }
  }

  /** Removes what made the workdir refuse a mount with this errno; false if there is nothing to remove. */
  private clearRefusal(rc: Outcome): boolean {
    const work = `${this.requireDirs().root}/w`;
    const dirty = `${work}/work/incompat/volatile`;
    if (rc === 'EINVAL' && this.sys.exists(dirty)) {
      this.sys.removeTree(dirty);
      return true;
    }
    if (rc !== 'ENODATA' || !this.sys.exists(`${work}/index`)) return false;
    const origin = `${privatePrefix(this.profile!)}origin`;
    // Non-dirs only: a dir's index entry (nfs_export) carries P.upper, not P.origin.
    const orphans = [...this.sys.walk(`${work}/index`)].filter(([p, e]) => p !== '/' && !p.slice(1).includes('/') && e.kind !== 'dir' && !(origin in e.xattrs));
    for (const [p] of orphans) this.sys.removeTree(`${work}/index${p}`);
    return orphans.length > 0;
  }

  async teardown(): Promise<void> {
    const dirs = this.dirs;
    if (!dirs) return;
    const { sandbox } = this.sys;
    try {
      this.unmountOverlay();
    } finally {
      this.lowersChangedSince = null;
      this.upperReads.clear();
      this.dirs = null;
      this.mounted = false;
      if (dirs.inner) sandbox.unmount(dirs.inner); // after the outer, which holds it as a lower
      if (dirs.lowerFs) sandbox.unmount(dirs.lowerFs);
      sandbox.unmount(dirs.root); // the case tmpfs: every layer goes with it
      this.sys.run({ c: 'rmdir', path: dirs.root });
    }
  }
}
