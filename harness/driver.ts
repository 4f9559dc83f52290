// The one interface every overlay implementation sits behind.
// Set-up and teardown may spawn or wait and are async; operations and snapshots are
// synchronous syscalls from Node (no process per file operation).

import type { FdObserved, Op, Outcome, Profile, Snapshot, StackSpec } from '../model/types.js';
import type { LayerCodec } from './codecs.js';

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
  /**
   * The implementation's layer format (harness/codecs.ts). Absent: the kernel's own, and the
   * upper and lower layers are compared raw. Present: layers are written in that format, and
   * compared decoded into the model's abstract terms on both sides.
   */
  readonly codec?: LayerCodec;
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
  /** Unmount and mount again with the same layers and options. */
  remount(): Promise<void>;
  /** Unmount and remove everything setup created. Safe to call twice. */
  teardown(): Promise<void>;
}
