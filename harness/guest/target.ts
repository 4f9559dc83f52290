// A kernel to check: the running one ("host"), or a Debian kernel booted under qemu (a line
// such as "6.1", or a package name). Either way, a Sys to drive it through.

import path from 'node:path';
import type { Sandbox } from '../sandbox.js';
import { localSys, type Sys } from '../sys.js';
import { prepareKernel, resolveKernelPackage, type GuestKernel } from './kernels.js';
import { Guest } from './vm.js';

export interface Target {
  /** "host", or the spec as given ("6.1"). */
  spec: string;
  sys: Sys;
  guest?: Guest;
  kernel?: GuestKernel;
  /** Ends it in order (a guest is asked to power off). */
  close(): Promise<void>;
  /** Ends it at once (a guest that hung). */
  kill(): Promise<void>;
}

/** Finds and prepares a guest kernel (download and unpack on first use). */
export async function guestKernel(spec: string, say: (line: string) => void = () => {}): Promise<GuestKernel> {
  return prepareKernel(await resolveKernelPackage(spec), say);
}

export async function openTarget(spec: string, sandbox: Sandbox, o: { workDir: string; disks?: string[]; say?: (line: string) => void }): Promise<Target> {
  if (spec === 'host') return { spec, sys: localSys(sandbox), close: async () => {}, kill: async () => {} };
  const kernel = await guestKernel(spec, o.say);
  const guest = await Guest.boot({ kernel, workDir: path.join(o.workDir, 'guest'), disks: o.disks });
  return { spec, sys: guest.sys, guest, kernel, close: () => guest.shutdown(), kill: () => guest.kill() };
}
