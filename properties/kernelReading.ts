// The kernel reading an upper it did not write. An implementation whose layers are in the
// kernel's format (fuse-overlayfs; an exec driver with --codec kernel) writes uppers that
// Docker and Podman hand to the kernel, and the other way round: so every case of such an
// implementation ends with the kernel mounting its layers as they are then (after any
// rotations), and the merged view it shows must be the one the case ended with. A marker
// file or bookkeeping xattr the kernel does not know shows up there (view "kernel-read").
// The layers are copied byte for byte as `cross` copies an upper (properties/crossUpper.ts),
// and compared in the same abstract terms: no inode numbers, link counts or devices.

import type { Profile, Snapshot, StackSpec } from '../model/index.js';
import { diffSnapshots, InodeMap, type Difference } from '../harness/compare.js';
import type { Driver } from '../harness/driver.js';
import { abstractView, layerOfSnapshot, mountedView } from './crossUpper.js';

export const KERNEL_READ = 'kernel-read';

/** Whether the driver's layers are in the kernel's format (no codec: compared raw, so they are). */
export function writesKernelFormat(driver: Driver): boolean {
  return driver.codec ? driver.codec.kernelFormat === true : true;
}

/**
 * The writer's lower layers as they are now, top first: a rotation adds one. A Driver does
 * not say how many it has, so ask for the next until it has none.
 */
function lowerSnapshots(writer: Driver): Snapshot[] {
  const out: Snapshot[] = [];
  for (;;) {
    try {
      out.push(writer.snapshot(out.length));
    } catch (e) {
      if (/no lower layer/.test((e as Error).message)) return out;
      throw e;
    }
  }
}

/**
 * The writer's layers mounted by the kernel through reader (its case, if any, is torn down),
 * its merged view compared with expectedMerged. A mount the kernel refuses is a difference too.
 */
export async function kernelReadsUpper(reader: Driver, writer: Driver, profile: Profile, expectedMerged: Snapshot): Promise<Difference[]> {
  if (profile.readonly === 'no-upper') return []; // nothing was written
  // The kernel driver numbers its data-only layers after its lowers: they could not be told apart.
  if (profile.dataOnly) throw new Error(`${KERNEL_READ}: profile ${profile.name} has data-only layers, which are not carried over`);
  const stack: StackSpec = { lowers: lowerSnapshots(writer).map(layerOfSnapshot), upper: layerOfSnapshot(writer.snapshot('upper')) };
  let merged: Snapshot;
  try {
    merged = (await mountedView(reader, stack, [], undefined, profile)).merged;
  } catch (e) {
    const message = (e as Error).message;
    if (!/^mount -t overlay failed/.test(message)) throw e;
    return [{ view: KERNEL_READ, path: '/', what: 'mount', expected: 'the kernel mounts the layers', actual: message }];
  }
  return diffSnapshots(KERNEL_READ, abstractView(expectedMerged), abstractView(merged), new InodeMap(), new Set());
}
