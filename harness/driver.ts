// The one interface every overlay implementation sits behind.
// Set-up and teardown may spawn or wait and are async; operations and snapshots are
// synchronous syscalls from Node (no process per file operation).

import type { Dirent, FdObserved, Op, OpName, Outcome, Profile, Snapshot, StackSpec } from '../model/types.js';
import type { LayerCodec } from './codecs.js';
import type { ShowFacts } from '../model/mountShown.js';

/** Families of steps a driver may be unable to run (Driver.cannot). */
export type StepFamily = 'callers' | 'chown' | 'utimes' | 'whiteoutDevices';

export interface MountFacts {
  /** Exactly what was passed to mount(2) (options string). */
  options: string;
  /** /sys/module/overlay/parameters/* at mount time. */
  moduleDefaults: Record<string, string>;
  /** The line of /proc/self/mountinfo (or /proc/mounts) for the merged mount. */
  shown: string;
}

export interface Driver {
  readonly name: string;
  /** The implementation's exact version, where the driver knows it (a FUSE build's). */
  readonly version?: string;
  /**
   * The implementation's layer format (harness/codecs.ts). Absent: the kernel's own, and the
   * upper and lower layers are compared raw. Present: layers are written in that format, and
   * compared decoded into the model's abstract terms on both sides.
   */
  readonly codec?: LayerCodec;
  /**
   * Step kinds it cannot run, each with the reason (absent: it runs them all); the generator
   * leaves them out for it. 'callers': steps made as another user (Op.as, S11).
   */
  readonly cannot?: Partial<Record<StepFamily, string>>;
  /** null if the implementation can run this profile, else why not (absent: every profile). */
  supports?(p: Profile): string | null;
  /** Materialize the stack on disk and mount it with the profile's options. */
  setup(stack: StackSpec, profile: Profile): Promise<MountFacts>;
  /**
   * Apply one operation on the merged mount; errno is data, never thrown. A driver whose
   * implementation may hang (FUSE) throws StepTimeout (harness/watchdog.ts) past its deadline,
   * as does its snapshot('merged'); the session reports that as a divergence.
   */
  apply(op: Op): Outcome | Promise<Outcome>;
  /**
   * What the last step read beyond its errno: a readdir's entries, as getdents64 gave them
   * (d_ino the real number), in its order; null after any other step (harness/dirStreams.ts).
   */
  dirents?(): Dirent[] | null;
  /**
   * null if the implementation can run this kind of step, else why not (absent: every kind).
   * The generator leaves such steps out for it; a case file that has one is not replayed on it.
   */
  cannotRun?(op: OpName): string | null;
  /**
   * The options /proc/mounts shows for the mount now, layer paths left out (S1.4), and what
   * decides them beyond the options (model/mountShown.ts): compared with the model's after
   * every mount. Absent: not compared (an implementation shows its own).
   */
  shownOptions?(): { shown: string; facts: ShowFacts };
  /**
   * What the last step on an open fd (model/types.ts FdOp) observed beyond its errno: fdread's
   * bytes, fdstat's entry. A driver without it cannot run fd steps, and the generator leaves
   * them out for it (properties/commands.ts).
   */
  observed?(): FdObserved | undefined;
  /** 'merged' walks the mount; 'upper' and N (0 = top lower, then the data-only layers) walk the raw layer dirs. */
  snapshot(view: 'merged' | 'upper' | number): Snapshot;
  /**
   * Whether any lower layer may have changed since setup. The session compares the lowers
   * in full after mount and after the final remount, and after a step only when this says
   * so; a driver that cannot tell leaves it out and gets the full comparison every step.
   */
  lowersChanged?(): boolean;
  /**
   * Whether apply() can remount the same layers with other options ({ op: 'remount', options });
   * absent: it cannot, and such steps are neither generated nor replayed for it.
   */
  readonly remountOptions?: boolean;
  /** Unmount and mount again with the same layers and options. */
  remount(): Promise<void>;
  /** Unmount and remove everything setup created. Safe to call twice. */
  teardown(): Promise<void>;
}
