// A small fixed world of directories to aim mount requests at (the mount-time validation
// property), and the attempt itself: mount(2), then unmount at once. Through a Sys, so the
// property runs on every kernel the suite drives.

import fs from 'node:fs';
import type { MountRequest, World } from '../model/mountCheck.js';
import { requestOptions } from '../model/mountCheck.js';
import type { Outcome } from '../model/types.js';
import type { PlannedCall } from './materialize.js';
import type { Sys } from './sys.js';

/** Layer-sized dirs, names with an escaped colon, a file, and a second tmpfs at "other". */
export const WORLD_DIRS = ['l0', 'l1', 'l2', 'l3', 'l0/sub', 'u', 'u/sub', 'w', 'w2', 'c:1', 'other', 'other/u', 'other/w'];
export const WORLD_FILES = ['file'];
export const MANY = 501; // m0..m500: one more than OVL_MAX_STACK (S1.12)

export interface MountWorld {
  root: string;
  world: World;
}

function mkdirs(sys: Sys, root: string, dirs: string[]): void {
  const plan: PlannedCall[] = dirs.map((d) => ({ call: { c: 'mkdir', path: `${root}/${d}`, mode: 0o755 }, entry: `/${d}`, what: 'mkdir' }));
  sys.build(plan);
}

/** The world as the model sees it (model/mountCheck.ts), without building it. */
export function validationWorld(): World {
  const dirs = [...WORLD_DIRS, ...Array.from({ length: MANY }, (_, i) => `m${i}`)];
  return { dirs: new Set(dirs), files: new Set(WORLD_FILES), mounts: new Set(['other']) };
}

export function buildWorld(sys: Sys): MountWorld {
  const { sandbox } = sys;
  const root = sandbox.newDir('world-');
  sandbox.mountTmpfs(root);
  const world = validationWorld();
  const dirs = [...world.dirs];
  const other = dirs.indexOf('other');
  mkdirs(sys, root, dirs.slice(0, other + 1));
  sandbox.mountTmpfs(`${root}/other`);
  mkdirs(sys, root, [...dirs.slice(other + 1), 'mnt']);
  sys.build(WORLD_FILES.map((f) => ({ call: { c: 'open', path: `${root}/${f}`, flags: fs.constants.O_WRONLY | fs.constants.O_CREAT, mode: 0o644, data: '' }, entry: `/${f}`, what: 'create' })));
  return { root, world };
}

export function closeWorld(sys: Sys, w: MountWorld): void {
  sys.sandbox.unmount(`${w.root}/other`);
  sys.sandbox.unmount(w.root);
  sys.run({ c: 'rmdir', path: w.root });
}

/** Relative paths from the world's root keep 500 layers within mount(2)'s one page. */
export function tryRequest(sys: Sys, w: MountWorld, r: MountRequest): Outcome {
  const outcome = sys.mount('overlay', 'mnt', 'overlay', 0, requestOptions(r), w.root);
  if (outcome === 'ok') {
    const rc = sys.umount(`${w.root}/mnt`, 0);
    if (rc !== 'ok') throw new Error(`cannot unmount a probe mount: ${rc}`);
  }
  return outcome;
}

/**
 * The dirs mount sequences use (model/mountSequence.ts), on a tmpfs of their own: u0/d (a
 * lower or an upper) and u1/w (a workdir) are layers inside another (S15.1, S15.2, and EBUSY
 * below a dir in use, S12.2).
 */
export const SEQUENCE_DIRS = ['l0', 'l1', 'u0', 'u1', 'w0', 'w1', 'u0/d', 'u1/w'];

/** A fresh world for one sequence: every dir empty, no xattrs from an earlier sequence. */
export function buildSequenceWorld(sys: Sys, points: number): string {
  const root = sys.sandbox.newDir('seq-');
  sys.sandbox.mountTmpfs(root);
  mkdirs(sys, root, [...SEQUENCE_DIRS, ...Array.from({ length: points }, (_, i) => `m${i}`)]);
  return root;
}

/** The private xattr prefixes (P, S10.3) and how a footprint names them ("origin", "user.origin"). */
const PRIVATE: [string, string][] = [['trusted.overlay.', ''], ['user.overlay.', 'user.']];
const privateName = (x: string) => {
  const p = PRIVATE.find(([prefix]) => x.startsWith(prefix));
  return p ? p[1] + x.slice(p[0].length) : null;
};

/**
 * What the layer dirs hold beyond the world's own dirs, as model/mountSequence.ts footprint()
 * names it: every other name ("w1/work/incompat") and every P.* xattr ("u0@origin",
 * "u0@user.origin"), sorted.
 * Read on the layers themselves (never through a mount, whose lookups may write, S22.1).
 */
export function layerFootprint(sys: Sys, root: string): string[] {
  const out: string[] = [];
  for (const top of SEQUENCE_DIRS.filter((d) => !d.includes('/'))) {
    for (const [rel, e] of sys.walk(`${root}/${top}`)) {
      const name = rel === '/' ? top : top + rel;
      if (rel !== '/' && !SEQUENCE_DIRS.includes(name)) out.push(name);
      for (const x of Object.keys(e.xattrs ?? {})) {
        const p = privateName(x);
        if (p !== null) out.push(`${name}@${p}`);
      }
    }
  }
  return out.sort();
}

/** mount(2) of an overlay at root/m<at>, with paths relative to root. */
export function mountAt(sys: Sys, root: string, at: number, options: string): Outcome {
  const outcome = sys.mount('overlay', `m${at}`, 'overlay', 0, options, root);
  if (outcome === 'ok') sys.sandbox.track(`${root}/m${at}`); // torn down on every exit path
  return outcome;
}

/** Unmount whatever a sequence left mounted, then the world itself. */
export function closeSequenceWorld(sys: Sys, root: string, live: Iterable<number>): void {
  for (const at of live) sys.sandbox.unmount(`${root}/m${at}`);
  sys.sandbox.unmount(root);
  sys.run({ c: 'rmdir', path: root });
}
