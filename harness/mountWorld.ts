// A small fixed world of directories to aim mount requests at (the mount-time validation
// property), and the attempt itself: mount(2), then unmount at once.

import fs from 'node:fs';
import type { MountRequest, World } from '../model/mountCheck.js';
import { requestOptions } from '../model/mountCheck.js';
import type { Outcome } from '../model/types.js';
import { mount, umount2 } from './native.js';
import type { Sandbox } from './sandbox.js';

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
