// Every driver by name: what `ovlcheck run|compare|replay --driver NAME` can check.

import { fuseOverlayfsCodec, unionfsFuseCodec, type LayerCodec } from '../codecs.js';
import type { Driver } from '../driver.js';
import type { Sandbox } from '../sandbox.js';
import { ExecDriver } from './exec.js';
import { resolveBuild } from './builds.js';
import { FuseDriver, fuseImplementation, probeFuse } from './fuse.js';
import { KernelDriver, probeOverlaySupport } from './kernel.js';
import { MemUnionDriver } from './memUnion.js';
import { PlantedDriver } from './planted.js';

export const DRIVER_NAMES = ['kernel', 'fuse-overlayfs', 'unionfs-fuse', 'memfs-unionfs', 'exec', 'planted'] as const;
export type DriverName = (typeof DRIVER_NAMES)[number];

/** Layer formats an exec driver can declare with --codec. */
export const CODECS: Record<string, LayerCodec | undefined> = {
  kernel: undefined, // compared raw, as the kernel driver is
  'fuse-overlayfs': fuseOverlayfsCodec,
  'unionfs-fuse': unionfsFuseCodec,
};

export interface DriverArgs {
  mountCmd?: string;
  umountCmd?: string;
  codec?: string;
  /** The planted driver's faults (drivers/planted.ts PLANTED). */
  plant?: string[];
  /** A FUSE driver's build: NAME@VERSION (harness/drivers/builds.ts KNOWN_BUILDS), or --binary PATH. */
  version?: string;
  binary?: string;
}

/** null if this machine can run the driver, else a one-line reason. */
export function probeDriver(name: DriverName, args: DriverArgs = {}): string | null {
  if (name === 'memfs-unionfs') return null; // in process: nothing to mount
  if (name === 'kernel' || name === 'planted') return probeOverlaySupport(); // planted: the kernel's overlayfs with bugs put in
  if (process.getuid?.() !== 0) return 'must run as root';
  if (name === 'exec') return args.mountCmd ? null : 'the exec driver needs --mount-cmd "..." (see README, "Your own implementation")';
  return probeFuse(name, args);
}

export function makeDriver(name: DriverName, sandbox: Sandbox, args: DriverArgs = {}): Driver {
  switch (name) {
    case 'kernel': return new KernelDriver(sandbox);
    case 'fuse-overlayfs':
    case 'unionfs-fuse': {
      const build = resolveBuild(name, args);
      if (typeof build === 'string') throw new Error(`driver ${name}: ${build}`); // probeDriver said it could run
      return new FuseDriver(sandbox, fuseImplementation(name, build));
    }
    case 'memfs-unionfs': return new MemUnionDriver();
    case 'planted': return new PlantedDriver(sandbox, args.plant ?? []);
    case 'exec': return new ExecDriver(sandbox, { mount: args.mountCmd!, unmount: args.umountCmd, codec: CODECS[args.codec ?? 'kernel'] });
  }
}

