// What the running kernel accepts: mount a two-entry stack with given options and report
// the outcome and what /proc/mounts shows (S1.4). Used by `ovlcheck probe` and to skip
// profiles the kernel refuses.

import fs from 'node:fs';
import type { Outcome } from '../model/types.js';
import { moduleDefaults } from './drivers/kernel.js';
import { mount } from './native.js';
import type { Sandbox } from './sandbox.js';

export interface MountTry {
  options: string;
  outcome: Outcome;
  /** The non-path options /proc/mounts shows (empty if the mount failed). */
  shown: string;
}

/** withUpper false: a mount of the two lowers alone (S14.1); split: the lowers on a tmpfs of their own (S8.2). */
export function tryMount(sandbox: Sandbox, options: string, withUpper = true, split = false): MountTry {
  const root = sandbox.newDir('probe-');
  sandbox.mountTmpfs(root);
  const lowerFs = `${root}/lfs`;
  try {
    for (const d of ['lfs', 'u', 'w', 'm']) fs.mkdirSync(`${root}/${d}`);
    if (split) sandbox.mountTmpfs(lowerFs);
    for (const d of ['l0', 'l1']) fs.mkdirSync(`${lowerFs}/${d}`);
    fs.writeFileSync(`${lowerFs}/l0/f`, 'f');
    const layers = [`lowerdir=${lowerFs}/l0:${lowerFs}/l1`, ...(withUpper ? [`upperdir=${root}/u`, `workdir=${root}/w`] : [])];
    const full = [...layers, options].filter(Boolean).join(',');
    const outcome = mount('overlay', `${root}/m`, 'overlay', 0, full);
    let shown = '';
    if (outcome === 'ok') {
      const line = fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').find((l) => l.split(' ')[1] === `${root}/m`) ?? '';
      shown = (line.split(' ')[3] ?? '').split(',').filter((o) => !/^(lowerdir|upperdir|workdir)[+]?=/.test(o)).join(',');
      sandbox.unmount(`${root}/m`);
    }
    return { options, outcome, shown };
  } finally {
    if (split) sandbox.unmount(lowerFs);
    sandbox.unmount(root);
    fs.rmdirSync(root);
  }
}

export { moduleDefaults };
