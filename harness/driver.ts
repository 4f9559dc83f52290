// The one interface every overlay implementation sits behind.
// Set-up and teardown may spawn or wait and are async; operations and snapshots are
// synchronous syscalls from Node (no process per file operation).

import type { Op, Outcome, Profile, Snapshot, StackSpec } from '../model/types.js';

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
  /** Materialize the stack on disk and mount it with the profile's options. */
  setup(stack: StackSpec, profile: Profile): Promise<MountFacts>;
  /** Apply one operation on the merged mount; errno is data, never thrown. */
  apply(op: Op): Outcome | Promise<Outcome>;
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
