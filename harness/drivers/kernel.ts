// The kernel's overlayfs: layers on a per-case tmpfs (so all layers share one filesystem,
// the samefs case of S8.1), mounted with mount(2) and every option explicit.

import fs from 'node:fs';
import type { Op, Outcome, Profile, Snapshot, StackSpec } from '../../model/types.js';
import { privatePrefix } from '../../model/profile.js';
import { applyOp } from '../apply.js';
import type { Driver, MountFacts } from '../driver.js';
import { materializeLayer } from '../materialize.js';
import { mount, umount2, MNT_DETACH } from '../native.js';
import { forgetMount, registerMount, type Sandbox } from '../sandbox.js';
import { snapshotTree } from '../snapshot.js';

const PARAMS = '/sys/module/overlay/parameters';

/** null if this machine can run the kernel driver, else a one-line reason. */
export function probeOverlaySupport(): string | null {
  if (process.getuid?.() !== 0) return 'must run as root: mounting overlayfs needs CAP_SYS_ADMIN';
  let fss = '';
  try {
    fss = fs.readFileSync('/proc/filesystems', 'utf8');
  } catch {
    return 'cannot read /proc/filesystems';
  }
  if (!/\boverlay$/m.test(fss) && !fs.existsSync(PARAMS)) return 'the running kernel has no overlay filesystem (modprobe overlay?)';
  if (!/\btmpfs$/m.test(fss)) return 'the running kernel has no tmpfs';
  return null;
}

export function moduleDefaults(): Record<string, string> {
  const out: Record<string, string> = {};
  try {
    for (const p of fs.readdirSync(PARAMS)) out[p] = fs.readFileSync(`${PARAMS}/${p}`, 'utf8').trim();
  } catch {
    /* built-in without parameters directory */
  }
  return out;
}

export function overlayOptions(lowers: string[], upper: string, work: string, p: Profile): string {
  return [
    `lowerdir=${lowers.join(':')}`, `upperdir=${upper}`, `workdir=${work}`,
    `redirect_dir=${p.redirect_dir}`, `index=${p.index ? 'on' : 'off'}`, `metacopy=${p.metacopy ? 'on' : 'off'}`,
    `xino=${p.xino}`, `nfs_export=${p.nfs_export ? 'on' : 'off'}`, `uuid=${p.uuid}`, ...(p.userxattr ? ['userxattr'] : []),
  ].join(',');
}

export class KernelDriver implements Driver {
  readonly name = 'kernel';
  private caseDir: string | null = null;
  private merged = '';
  private options = '';
  private dirs: { lowers: string[]; upper: string } = { lowers: [], upper: '' };

  constructor(private readonly sandbox: Sandbox) {}

  async setup(stack: StackSpec, profile: Profile): Promise<MountFacts> {
    await this.teardown();
    const dir = this.sandbox.newDir('case');
    this.sandbox.mountTmpfs(dir);
    this.caseDir = dir;
    const lowers = stack.lowers.map((_, i) => `${dir}/l${i}`);
    const [upper, work, merged] = [`${dir}/u`, `${dir}/w`, `${dir}/m`];
    for (const d of [...lowers, upper, work, merged]) fs.mkdirSync(d);
    const prefix = privatePrefix(profile);
    stack.lowers.forEach((spec, i) => materializeLayer(lowers[i], spec, prefix));
    materializeLayer(upper, stack.upper, prefix);
    this.dirs = { lowers, upper };
    this.merged = merged;
    this.options = overlayOptions(lowers, upper, work, profile);
    this.mountOverlay();
    const shown = fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').find((l) => l.split(' ')[1] === merged) ?? '';
    return { options: this.options, moduleDefaults: moduleDefaults(), shown };
  }

  private mountOverlay(): void {
    const r = mount('overlay', this.merged, 'overlay', 0, this.options);
    if (r !== 'ok') throw new Error(`mount -t overlay failed with ${r} (options ${this.options})`);
    registerMount(this.merged);
  }

  private unmountOverlay(): void {
    const r = umount2(this.merged, 0);
    if (r === 'EBUSY') umount2(this.merged, MNT_DETACH);
    forgetMount(this.merged);
  }

  apply(op: Op): Outcome {
    if (op.op === 'remount') {
      this.unmountOverlay();
      this.mountOverlay();
      return 'ok';
    }
    return applyOp(this.merged, op);
  }

  snapshot(view: 'merged' | 'upper' | number): Snapshot {
    if (view === 'merged') return snapshotTree(this.merged);
    if (view === 'upper') return snapshotTree(this.dirs.upper);
    return snapshotTree(this.dirs.lowers[view]);
  }

  async remount(): Promise<void> {
    this.unmountOverlay();
    this.mountOverlay();
  }

  async teardown(): Promise<void> {
    if (!this.caseDir) return;
    const dir = this.caseDir;
    this.caseDir = null;
    this.unmountOverlay();
    this.sandbox.unmount(dir);
    fs.rmdirSync(dir);
  }
}
