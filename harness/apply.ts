// Apply one operation to a mounted tree through syscalls; errno comes back as data.
// One syscall per step (open+write+close for 'open'): never a process per operation.

import type { Op, Outcome } from '../model/types.js';
import { opCall, runCall } from './calls.js';

/** Performs op on the tree mounted at mnt (op paths are absolute inside it). 'remount' is a driver's job. */
export function applyOp(mnt: string, op: Op): Outcome {
  return runCall(opCall(mnt, op));
}
