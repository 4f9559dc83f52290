// A small fixed world of directories to aim mount requests at (the mount-time validation
// property), and the attempt itself: mount(2), then unmount at once.

import fs from 'node:fs';
import type { MountRequest, World } from '../model/mountCheck.js';
import { requestOptions } from '../model/mountCheck.js';
import type { Outcome } from '../model/types.js';
import { mount, umount2 } from './native.js';
import { registerMount, type Sandbox } from './sandbox.js';

/** Layer-sized dirs, names with an escaped colon, a file, and a second tmpfs at "other". */
export const WORLD_DIRS = ['l0', 'l1', 'l2', 'l3', 'l0/sub', 'u', 'u/sub', 'w', 'w2', 'c:1', 'other', 'other/u', 'other/w'];
export const WORLD_FILES = ['file'];
export const MANY = 501; // m0..m500: one more than OVL_MAX_STACK (S1.12)

export interface MountWorld {
  root: string;
  world: World;
}

export function buildWorld(sandbox: Sandbox): MountWorld {
  const root = sandbox.newDir('world-');
  sandbox.mountTmpfs(root);
  const dirs = [...WORLD_DIRS, ...Array.from({ length: MANY }, (_, i) => `m${i}`)];
  for (const d of dirs) {
    fs.mkdirSync(`${root}/${d}`);
    if (d === 'other') sandbox.mountTmpfs(`${root}/other`);
  }
  for (const f of WORLD_FILES) fs.writeFileSync(`${root}/${f}`, '');
  fs.mkdirSync(`${root}/mnt`);
  return { root, world: { dirs: new Set(dirs), files: new Set(WORLD_FILES), mounts: new Set(['other']) } };
}

export function closeWorld(sandbox: Sandbox, w: MountWorld): void {
  sandbox.unmount(`${w.root}/other`);
  sandbox.unmount(w.root);
  fs.rmdirSync(w.root);
}

/** Relative paths from the world's root keep 500 layers within mount(2)'s one page. */
export function tryRequest(w: MountWorld, r: MountRequest): Outcome {
  const cwd = process.cwd();
  process.chdir(w.root);
  try {
    const outcome = mount('overlay', 'mnt', 'overlay', 0, requestOptions(r));
    if (outcome === 'ok') {
      const rc = umount2('mnt', 0);
      if (rc !== 'ok') throw new Error(`cannot unmount a probe mount: ${rc}`);
    }
    return outcome;
  } finally {
    process.chdir(cwd);
  }
}

/** The dirs mount sequences use (model/mountSequence.ts), on a tmpfs of their own. */
export const SEQUENCE_DIRS = ['l0', 'l1', 'u0', 'u1', 'w0', 'w1'];

/** A fresh world for one sequence: every dir empty, no xattrs from an earlier sequence. */
export function buildSequenceWorld(sandbox: Sandbox, points: number): string {
  const root = sandbox.newDir('seq-');
  sandbox.mountTmpfs(root);
  for (const d of [...SEQUENCE_DIRS, ...Array.from({ length: points }, (_, i) => `m${i}`)]) fs.mkdirSync(`${root}/${d}`);
  return root;
}

/** mount(2) of an overlay at root/m<at>, with paths relative to root. */
export function mountAt(root: string, at: number, options: string): Outcome {
  const cwd = process.cwd();
  process.chdir(root);
  try {
    const outcome = mount('overlay', `m${at}`, 'overlay', 0, options);
    if (outcome === 'ok') registerMount(`${root}/m${at}`); // torn down on every exit path
    return outcome;
  } finally {
    process.chdir(cwd);
  }
}

/** Unmount whatever a sequence left mounted, then the world itself. */
export function closeSequenceWorld(sandbox: Sandbox, root: string, live: Iterable<number>): void {
  for (const at of live) sandbox.unmount(`${root}/m${at}`);
  sandbox.unmount(root);
  fs.rmdirSync(root);
}
