// What a kernel accepts: mount a small stack with given options and report the outcome and
// what /proc/mounts shows (S1.4); and what the layers' filesystem can hold. Used by
// `ovlcheck probe`, to skip profiles a kernel refuses, and to shape the generator.

import fs from 'node:fs';
import type { Outcome } from '../model/types.js';
import { mountsLineOf } from './drivers/kernel.js';
import { mountFlags, overlayOptions } from './drivers/kernelOptions.js';
import { INNER_PROFILE } from '../model/nested.js';
import { kernelOf } from './sys.js';
import type { Sys } from './sys.js';

export interface MountTry {
  options: string;
  outcome: Outcome;
  /** The non-path options /proc/mounts shows (empty if the mount failed). */
  shown: string;
}

export interface TryShape {
  /** false: a mount of the two lowers alone (S14.1). */
  upper?: boolean;
  /** The lowers on a tmpfs of their own (S8.2). */
  split?: boolean;
  /** A data-only layer below the lowers, "::" (S7.4). */
  dataOnly?: boolean;
  /** mount(2) flags (MS_RDONLY). */
  flags?: number;
  /** The lowers mounted as an inner overlay, read-only, whose merged dir is the one lower (S18.1). */
  nested?: boolean;
}

export function tryMount(sys: Sys, options: string, shape: TryShape = {}): MountTry {
  const { sandbox } = sys;
  const root = sandbox.newDir('probe-');
  sandbox.mountTmpfs(root);
  const lowerFs = `${root}/lfs`;
  const mkdir = (d: string) => sys.run({ c: 'mkdir', path: d, mode: 0o755 });
  let innerMounted = false;
  try {
    for (const d of ['lfs', 'u', 'w', 'm', 'in']) mkdir(`${root}/${d}`);
    if (shape.split) sandbox.mountTmpfs(lowerFs);
    for (const d of ['l0', 'l1', 'd0']) mkdir(`${lowerFs}/${d}`);
    sys.run({ c: 'open', path: `${lowerFs}/l0/f`, flags: fs.constants.O_WRONLY | fs.constants.O_CREAT, mode: 0o644, data: 'f' });
    let lowerdir = `lowerdir=${lowerFs}/l0:${lowerFs}/l1${shape.dataOnly ? `::${lowerFs}/d0` : ''}`;
    if (shape.nested) {
      const inner = sys.mount('overlay', `${root}/in`, 'overlay', mountFlags(INNER_PROFILE), overlayOptions([`${lowerFs}/l0`, `${lowerFs}/l1`], '', '', INNER_PROFILE, kernelOf(sys)));
      if (inner !== 'ok') return { options, outcome: inner, shown: '' };
      sandbox.track(`${root}/in`);
      innerMounted = true;
      lowerdir = `lowerdir=${root}/in`;
    }
    const layers = [lowerdir, ...(shape.upper !== false ? [`upperdir=${root}/u`, `workdir=${root}/w`] : [])];
    const full = [...layers, options].filter(Boolean).join(',');
    const outcome = sys.mount('overlay', `${root}/m`, 'overlay', shape.flags ?? 0, full);
    let shown = '';
    if (outcome === 'ok') {
      shown = nonPathOptions(mountsLineOf(sys, `${root}/m`));
      sandbox.unmount(`${root}/m`);
    }
    return { options, outcome, shown };
  } finally {
    if (innerMounted) sandbox.unmount(`${root}/in`);
    if (shape.split) sandbox.unmount(lowerFs);
    sandbox.unmount(root);
    sys.run({ c: 'rmdir', path: root });
  }
}

/** The options of a mounts line (its fourth field) without the layer paths. */
export function nonPathOptions(line: string): string {
  return (line.split(' ')[3] ?? '').split(',').filter((o) => !/^(lowerdir|upperdir|workdir|datadir)[+]?=/.test(o)).join(',');
}

const fsyncOptions = new Map<string, boolean>();

/** Whether the kernel takes fsync= (S1.7: a stable backport to 6.12.y and 6.18.y), probed once per kernel. */
export function takesFsyncOption(sys: Sys): boolean {
  const release = kernelOf(sys).join('.');
  let known = fsyncOptions.get(release);
  if (known === undefined) fsyncOptions.set(release, (known = tryMount(sys, 'fsync=strict').outcome === 'ok'));
  return known;
}

/**
 * What the filesystem the layers are built on (a tmpfs) can hold, and what overlayfs gets of
 * it. Absent (false only where probed so): yes, as root in the initial user namespace has it.
 */
export interface LayerFsFacts {
  /** user.* xattrs: tmpfs has them from 6.6 on (S20.1). */
  userXattrs: boolean;
  /**
   * trusted.* xattrs: only CAP_SYS_ADMIN in the initial user namespace sets them (EPERM in
   * rootless mode), and overlayfs without userxattr keeps its own there.
   */
  trustedXattrs?: boolean;
  /**
   * Entries owned by the callers' ids (1000, 1001; properties/arb/callers.ts): a user namespace
   * whose map leaves them out refuses the chown (EINVAL).
   */
  callerIds?: boolean;
  /**
   * overlayfs encodes file handles of its layers (index, nfs_export, xino=auto): it asks for
   * CAP_DAC_READ_SEARCH in the initial user namespace, and without it falls back to off.
   */
  fileHandles?: boolean;
}

export function probeLayerFs(sys: Sys): LayerFsFacts {
  const { sandbox } = sys;
  const root = sandbox.newDir('fs-');
  sandbox.mountTmpfs(root);
  let facts: LayerFsFacts;
  try {
    const set = sys.run({ c: 'setxattr', path: root, name: 'user.ovlcheck', value: 'probe', flags: 0, nofollow: true });
    if (set !== 'ok' && set !== 'EOPNOTSUPP') throw new Error(`probing user xattrs on tmpfs: setxattr failed with ${set}`);
    const trusted = sys.run({ c: 'setxattr', path: root, name: 'trusted.ovlcheck', value: 'probe', flags: 0, nofollow: true });
    if (trusted !== 'ok' && trusted !== 'EPERM') throw new Error(`probing trusted xattrs on tmpfs: setxattr failed with ${trusted}`);
    const owned = [1000, 1001].map((id) => sys.run({ c: 'chown', path: root, uid: id, gid: id, nofollow: true }));
    const refused = owned.find((o) => o !== 'ok');
    if (refused && refused !== 'EINVAL') throw new Error(`probing the callers' ids on tmpfs: chown failed with ${refused}`);
    facts = { userXattrs: set === 'ok', trustedXattrs: trusted === 'ok', callerIds: !refused };
  } finally {
    sandbox.unmount(root);
    sys.run({ c: 'rmdir', path: root });
  }
  // index=on as /proc/mounts shows it: the kernel drops it where it gets no file handles.
  const index = tryMount(sys, `${facts.trustedXattrs ? '' : 'userxattr,'}index=on`);
  facts.fileHandles = index.outcome === 'ok' && index.shown.split(',').includes('index=on');
  return facts;
}
