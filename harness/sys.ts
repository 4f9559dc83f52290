// Where the syscalls run: this process (localSys) on the running kernel, or an executor inside
// a guest kernel (harness/guest/remoteSys.ts). The kernel driver, the probe and the mount-time
// properties are written against this, so one code path checks every kernel.

import fs from 'node:fs';
import { release } from 'node:os';
import { parseKernelVersion } from '../model/profile.js';
import type { KernelVersion, Outcome, Snapshot } from '../model/types.js';
import { runCall, type Call } from './calls.js';
import { mountWithFsconfig } from './fsconfig.js';
import { LowerWatch } from './lowerWatch.js';
import { buildError, type PlannedCall } from './materialize.js';
import { errnoOf, mount, umount2 } from './native.js';
import type { Sandbox } from './sandbox.js';
import { snapshotTree, type LayerReads } from './snapshot.js';

export interface Sys {
  /** "host", or "guest <release>": for reports. */
  readonly where: string;
  /** Where every mount and directory of the run lives. */
  readonly sandbox: Sandbox;
  /** uname -r of the kernel the syscalls reach. */
  release(): string;
  run(call: Call): Outcome;
  /** Runs a layer build's plan; throws its SpecError at the first call that fails. */
  build(plan: PlannedCall[]): void;
  /** The tree below root as the comparison sees it (harness/snapshot.ts); reads: what earlier walks of a layer dir read. */
  walk(root: string, reads?: LayerReads): Snapshot;
  /** mount(2); relative paths are taken from cwd when given. */
  mount(src: string, target: string, fstype: string, flags: number, data: string | null, cwd?: string): Outcome;
  /** The new mount API: one fsconfig per parameter, a null value being a flag (S1.10). */
  mountNew(target: string, params: [string, string | null][]): Outcome;
  umount(target: string, flags: number): Outcome;
  /** A file's text, or null if it cannot be read. */
  readText(path: string): string | null;
  /** A directory's names, or [] if it cannot be read. */
  list(path: string): string[];
  exists(path: string): boolean;
  /** Removes a tree that holds no mounts. */
  removeTree(path: string): void;
  /** Watches every object under the roots; the function says whether any changed since (sticky). */
  watch(roots: string[]): () => boolean;
}

/** The version of the kernel a Sys reaches, its stable sublevel included (model/profile.ts). */
export function kernelOf(sys: Pick<Sys, 'release' | 'readText'>): KernelVersion {
  return parseKernelVersion(sys.release(), `${sys.readText('/proc/version') ?? ''}\n${sys.readText('/proc/version_signature') ?? ''}`);
}

/** The running kernel's version. */
export function runningKernel(): KernelVersion {
  const read = (p: string) => {
    try {
      return fs.readFileSync(p, 'utf8');
    } catch {
      return null;
    }
  };
  return kernelOf({ release: () => release(), readText: read });
}

/** The running kernel, through this process's own syscalls. */
export function localSys(sandbox: Sandbox): Sys {
  return {
    where: 'host',
    sandbox,
    release: () => release(),
    run: runCall,
    build(plan) {
      for (const step of plan) {
        const outcome = runCall(step.call);
        if (outcome !== 'ok') throw buildError(step, outcome);
      }
    },
    walk: snapshotTree,
    mount(src, target, fstype, flags, data, cwd) {
      if (cwd === undefined) return mount(src, target, fstype, flags, data);
      const here = process.cwd();
      process.chdir(cwd);
      try {
        return mount(src, target, fstype, flags, data);
      } finally {
        process.chdir(here);
      }
    },
    mountNew: mountWithFsconfig,
    umount: umount2,
    readText(path) {
      try {
        return fs.readFileSync(path, 'latin1');
      } catch (e) {
        if (errnoOf(e) === undefined) throw e;
        return null;
      }
    },
    list(path) {
      try {
        return fs.readdirSync(path);
      } catch (e) {
        if (errnoOf(e) === undefined) throw e;
        return [];
      }
    },
    exists(path) {
      try {
        fs.lstatSync(path);
        return true;
      } catch {
        return false;
      }
    },
    removeTree: (path) => fs.rmSync(path, { recursive: true, force: true }),
    watch(roots) {
      const w = new LowerWatch(roots);
      return () => w.changed();
    },
  };
}
