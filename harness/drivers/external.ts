// What every implementation mounted from layer directories shares (a FUSE daemon, a user's
// mount command): the layers on a per-case tmpfs in the implementation's own format, the
// watch on the lowers, remount and rotation. A subclass says how to mount and unmount, and
// how to run a syscall on its mount (with a deadline, for FUSE).

import fs from 'node:fs';
import { privatePrefix } from '../../model/profile.js';
import { profileForRemount } from '../../model/params.js';
import { runningKernel } from '../sys.js';
import type { Dirent, FdObserved, Op, Outcome, Profile, Snapshot, StackSpec } from '../../model/types.js';
import { isDirStreamOp } from '../../model/dirStream.js';
import { DirStreams } from '../dirStreams.js';
import { applyOp } from '../apply.js';
import { FdTable } from '../fds.js';
import { isFdOp } from '../../model/fds.js';
import type { LayerCodec } from '../codecs.js';
import type { Driver, MountFacts } from '../driver.js';
import { LowerWatch } from '../lowerWatch.js';
import { materializeLayer } from '../materialize.js';
import type { Sandbox } from '../sandbox.js';
import { LayerReads, snapshotTree } from '../snapshot.js';

export interface LayerDirs {
  root: string;
  /** Top lower first. */
  lowers: string[];
  upper: string;
  work: string;
  merged: string;
}

/** The line of a mounts table (/proc/self/mounts) whose mount point is target (the last one if stacked), or ''. */
export function findMountsLine(mounts: string, target: string): string {
  const escaped = target.replace(/[\\ \t\n]/g, (c) => '\\' + c.charCodeAt(0).toString(8).padStart(3, '0'));
  let found = '';
  for (const line of mounts.split('\n')) {
    if (line.split(' ')[1] === escaped) found = line;
  }
  return found;
}

/** The /proc/self/mounts line of this process whose mount point is target, or ''. */
export function mountsLine(target: string): string {
  return findMountsLine(fs.readFileSync('/proc/self/mounts', 'utf8'), target);
}

export abstract class ExternalDriver implements Driver {
  abstract readonly name: string;
  abstract readonly codec: LayerCodec | undefined;
  /** Step families it cannot run (Driver.cannot); the exec driver mounts the kernel's overlay and runs them all. */
  readonly cannot: Driver['cannot'];
  protected dirs: LayerDirs | null = null;
  protected mounted = false;
  private watch: LowerWatch | null = null;
  /** What the walks of the upper read, reused where an object has not changed (harness/snapshot.ts). */
  private readonly upperReads = new LayerReads();
  private rotations = 0;
  protected profile: Profile | null = null;
  /** Dir streams open across steps, on the merged mount (harness/dirStreams.ts). */
  private readonly streams = new DirStreams();

  /** Open fds across steps (harness/fds.ts): FUSE fds work through the mount as the kernel's. */
  private readonly fds = new FdTable();
  private lastObserved: FdObserved | undefined;

  constructor(protected readonly sandbox: Sandbox) {}

  observed(): FdObserved | undefined {
    return this.lastObserved;
  }

  /** null if the implementation can run this profile, else why not. */
  abstract supports(p: Profile): string | null;
  /** Mount dirs.lowers/upper/work on dirs.merged; resolves once the mount is there. */
  protected abstract mountLayers(dirs: LayerDirs): Promise<void>;
  /** Take the mount down; must leave no daemon behind. */
  protected abstract unmountLayers(dirs: LayerDirs): Promise<void>;
  /** What mountLayers ran, for the report. */
  protected abstract describeMount(dirs: LayerDirs): string;
  /** Run a syscall (or a walk) on the merged mount. */
  protected onMount<T>(fn: () => T): T {
    return fn();
  }

  async setup(stack: StackSpec, profile: Profile): Promise<MountFacts> {
    await this.teardown();
    const why = this.supports(profile);
    if (why) throw new Error(`${this.name}: ${why}`);
    const root = this.sandbox.newDir('case-');
    this.sandbox.mountTmpfs(root);
    const encoded = this.codec ? this.codec.encode(stack) : stack;
    const dirs: LayerDirs = { root, lowers: stack.lowers.map((_, i) => `${root}/l${i}`), upper: `${root}/u`, work: `${root}/w`, merged: `${root}/m` };
    this.dirs = dirs;
    this.profile = profile;
    this.rotations = 0;
    try {
      for (const d of [...dirs.lowers, dirs.upper, dirs.work, dirs.merged]) fs.mkdirSync(d, { mode: 0o755 });
      const prefix = privatePrefix(profile);
      encoded.lowers.forEach((layer, i) => materializeLayer(dirs.lowers[i], layer, prefix));
      materializeLayer(dirs.upper, encoded.upper, prefix);
      this.watch = new LowerWatch(dirs.lowers);
      await this.mountLayers(dirs);
      this.mounted = true;
      // Layer paths by their names in the case dir (l0, u, w, m), as reports show them.
      return { options: this.describeMount(dirs).replaceAll(`${root}/`, ''), moduleDefaults: {}, shown: mountsLine(dirs.merged) };
    } catch (err) {
      await this.teardown();
      throw err;
    }
  }

  protected requireDirs(): LayerDirs {
    if (!this.dirs) throw new Error(`${this.name} driver: no case is set up`);
    return this.dirs;
  }

  async apply(op: Op): Promise<Outcome> {
    this.lastObserved = undefined;
    if (isFdOp(op)) {
      const merged = this.requireDirs().merged;
      const r = this.onMount(() => this.fds.run(merged, op));
      this.lastObserved = r.observed;
      return r.outcome;
    }
    if (op.op === 'remount') {
      // Other options (a driver with remountOptions): the implementation's next mount gets them.
      if (op.options !== undefined) this.profile = profileForRemount(this.profile!, op.options, runningKernel());
      await this.remount();
      return 'ok';
    }
    if (op.op === 'rotate') return this.rotate();
    const merged = this.requireDirs().merged;
    if (isDirStreamOp(op)) return this.onMount(() => this.streams.apply(merged, op));
    this.streams.forget();
    return this.onMount(() => applyOp(merged, op));
  }

  dirents(): Dirent[] | null {
    return this.streams.dirents();
  }

  snapshot(view: 'merged' | 'upper' | number): Snapshot {
    const dirs = this.requireDirs();
    if (view === 'merged') return this.onMount(() => snapshotTree(dirs.merged));
    if (view === 'upper') return snapshotTree(dirs.upper, this.upperReads);
    if (dirs.lowers[view] === undefined) throw new Error(`${this.name} driver: no lower layer ${view}`);
    return snapshotTree(dirs.lowers[view]);
  }

  lowersChanged(): boolean {
    return this.watch?.changed() ?? true;
  }

  async remount(): Promise<void> {
    const dirs = this.requireDirs();
    await this.unmount();
    await this.mountLayers(dirs);
    this.mounted = true;
  }

  /** The upper becomes the top lower; a new empty upper and workdir take its place (as the kernel driver). */
  private async rotate(): Promise<Outcome> {
    const dirs = this.requireDirs();
    await this.unmount();
    const lower = `${dirs.root}/r${++this.rotations}`;
    fs.renameSync(dirs.upper, lower);
    fs.mkdirSync(dirs.upper, { mode: 0o755 });
    fs.rmSync(dirs.work, { recursive: true });
    fs.mkdirSync(dirs.work, { mode: 0o755 });
    dirs.lowers = [lower, ...dirs.lowers];
    this.watch?.close();
    this.watch = new LowerWatch(dirs.lowers);
    await this.mountLayers(dirs);
    this.mounted = true;
    return 'ok';
  }

  private async unmount(): Promise<void> {
    this.streams.closeAll(); // an open dir keeps the mount busy
    this.fds.closeAll(); // S17: remount, rotation and teardown close every fd first
    if (!this.mounted) return;
    this.mounted = false;
    await this.unmountLayers(this.requireDirs());
  }

  async teardown(): Promise<void> {
    const dirs = this.dirs;
    if (!dirs) return;
    try {
      await this.unmount();
    } finally {
      this.watch?.close();
      this.watch = null;
      this.upperReads.clear();
      this.dirs = null;
      this.mounted = false;
      this.sandbox.unmount(dirs.root); // the case tmpfs, and every layer with it
      fs.rmdirSync(dirs.root);
    }
  }
}
