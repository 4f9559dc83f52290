// Deliberately broken models, to prove the suite has teeth: each breaks one rule, and
// `ovlcheck run --mutate NAME` must find a divergence quickly with a tiny case.

import { applyOp, type Op, type Step } from '../model/index.js';
import { baseName, cloneLayer, findInLayer, newInode, parentPath, walkLayer, type Inode } from '../model/layerFs.js';
import { ACL_ACCESS } from '../model/acl.js';
import { lookupPath } from '../model/lookup.js';
import { forWrite, type OvlState } from '../model/state.js';

export type StepFn = (s: OvlState, op: Op) => Step;

/** Apply the real step, then edit the resulting upper layer. */
function thenEditUpper(edit: (s: OvlState, op: Op) => void): StepFn {
  return (s, op) => {
    const r = applyOp(s, op);
    const s2 = forWrite(r.state);
    edit(s2, op);
    return { ...r, state: s2 };
  };
}

/** S8.9: a uuid appears on the upper root where the profile stores none. */
const writesUuid = thenEditUpper((s) => {
  s.upper.root.xattrs['trusted.overlay.uuid'] = '<uuid>';
});

/** S14.1, S14.2: a read-only mount lets mkdir through. */
const mkdirNotRefused: StepFn = (s, op) => {
  const r = applyOp(s, op);
  return op.op === 'mkdir' && r.outcome === 'EROFS' ? { ...r, outcome: 'ok' } : r;
};

/**
 * Step as if mounted with other options. `forOneStep`: only the step's writes follow them;
 * otherwise the state keeps them, so the predicted views (st_dev, st_ino) follow them too.
 */
function stepAs(over: Partial<OvlState['profile']>, forOneStep: boolean): StepFn {
  return (s, op) => {
    const r = applyOp({ ...s, profile: { ...s.profile, ...over } }, op);
    return forOneStep ? { ...r, state: { ...r.state, profile: s.profile } } : r;
  };
}

/** S9.10: a merged dir read through a stream lists no `.` and `..`. */
const noDotsInMergedDirs: StepFn = (s, op) => {
  const r = applyOp(s, op);
  if (op.op !== 'readdir' || !r.dirRead || !r.state.streams?.[op.dir]?.merged) return r;
  return { ...r, dirRead: { ...r.dirRead, pool: r.dirRead.pool.filter((e) => e.name !== '.' && e.name !== '..') } };
};

/** S10.5: a caller's step is refused where the mode alone would refuse it, whatever the access ACLs grant. */
const aclGrantsIgnored: StepFn = (s, op) => {
  const r = applyOp(s, op);
  if (!op.as) return r;
  const blind = forWrite(s);
  walkLayer(blind.upper, (_p, ino) => delete ino.xattrs[ACL_ACCESS]);
  const lowers = blind.lowers.map((l) => cloneLayer(l));
  for (const l of lowers) walkLayer(l, (_p, ino) => delete ino.xattrs[ACL_ACCESS]);
  const without = applyOp({ ...blind, lowers }, op);
  return without.outcome === 'EACCES' && r.outcome === 'ok' ? { ...r, outcome: 'EACCES', state: s } : r;
};

/** S9.7: a stream lists its merged dir afresh at every read, not from the snapshot of its first read. */
const noSnapshot: StepFn = (s, op) => {
  const st = op.op === 'readdir' ? s.streams?.[op.dir] : null;
  if (op.op !== 'readdir' || !st?.merged || st.marks.length === 0) return applyOp(s, op);
  const streams = [...s.streams!];
  streams[op.dir] = { ...st, cache: null }; // the cache is built again (or another open's shared), the cursor stays
  return applyOp({ ...s, streams }, op);
};

export const MUTATIONS: Record<string, { breaks: string; profile: string; step: StepFn; maxSteps?: number }> = {
  'no-dots-in-merged-dirs': {
    breaks: 'S9.10: `.` and `..` are entries of a merged dir too',
    profile: 'default',
    step: noDotsInMergedDirs,
  },
  'stream-without-snapshot': {
    breaks: 'S9.7: a stream reads its merged dir as it was at its first read, until a seek to 0',
    profile: 'default',
    step: noSnapshot,
    maxSteps: 5, // (a step that copies the dir up,) open, read part, change the dir, read on
  },
  'no-whiteout-on-unlink': {
    breaks: 'S4.7: unlink of a lower file leaves a whiteout',
    profile: 'default',
    step(s, op) {
      const r = applyOp(s, op);
      if (op.op !== 'unlink' || r.outcome !== 'ok') return r;
      const s2 = forWrite(r.state);
      const parent = findInLayer(s2.upper, parentPath(op.path));
      if (parent?.children?.get(baseName(op.path))?.type === 'whiteout') parent.children.delete(baseName(op.path));
      return { ...r, state: s2 };
    },
  },
  'no-origin-on-copy-up': {
    breaks: 'S6.4: copy-up records P.origin',
    profile: 'default',
    step(s, op) {
      const r = applyOp(s, op);
      const s2 = forWrite(r.state);
      walkLayer(s2.upper, (_p, ino) => delete ino.xattrs['trusted.overlay.origin']);
      return { ...r, state: s2 };
    },
  },
  'lower-dir-rename-allowed': {
    breaks: 'S5.2: renaming a lower directory is EXDEV',
    profile: 'default',
    step(s, op) {
      const r = applyOp(s, op);
      return op.op === 'rename' && r.outcome === 'EXDEV' ? { ...r, outcome: 'ok' } : r;
    },
  },
  'new-dir-not-opaque': {
    breaks: 'S4.4: with xino=on (offline changes disallowed) a new dir in a merged parent is opaque',
    profile: 'xino-on',
    step: thenEditUpper((s, op) => {
      if (op.op === 'mkdir') delete findInLayer(s.upper, op.path)?.xattrs['trusted.overlay.opaque'];
    }),
  },
  'uuid-written': {
    breaks: 'S8.9: uuid=null stores no uuid on the upper root',
    profile: 'uuid-null',
    step: writesUuid,
  },
  'origin-on-special-files': {
    breaks: 'S10.3: with userxattr a fifo or symlink cannot carry user.overlay.origin',
    profile: 'userxattr',
    step: thenEditUpper((s) => {
      for (const path of s.memOrigin.keys()) {
        const ino = findInLayer(s.upper, path);
        if (ino) ino.xattrs['user.overlay.origin'] = '?';
      }
    }),
  },
  'mkdir-on-readonly': {
    breaks: 'S14.1: a mount without an upper refuses every change with EROFS',
    profile: 'lower-only',
    step: mkdirNotRefused,
  },
  'no-redirect-on-rename': {
    breaks: 'S5.3: a lower dir renamed with redirect_dir=on records where it came from',
    profile: 'redirect-on',
    step: thenEditUpper((s, op) => {
      if (op.op === 'rename') walkLayer(s.upper, (_p, ino) => delete ino.xattrs['trusted.overlay.redirect']);
    }),
  },
  'volatile-remounts': {
    breaks: 'S14.3: after a volatile mount, mounting the same upper and workdir again fails EINVAL',
    profile: 'volatile',
    step(s, op) {
      const r = applyOp(s, op);
      return op.op === 'remount' && r.outcome === 'EINVAL' ? { ...r, outcome: 'ok' } : r;
    },
  },
  'remount-ignores-options': {
    breaks: 'S1.15: a remount with other options mounts with those options',
    profile: 'metacopy',
    step: (s, op) => applyOp(s, op.op === 'remount' ? { op: 'remount' } : op),
  },
  'metacopy-copies-data': {
    breaks: 'S7.1: with metacopy=on a chmod copies up the metadata only',
    profile: 'metacopy',
    step: thenEditUpper((s) => {
      walkLayer(s.upper, (_p, ino) => {
        if (ino.type === 'file' && 'trusted.overlay.metacopy' in ino.xattrs) delete ino.xattrs['trusted.overlay.metacopy'];
      });
    }),
  },
  'index-forgotten': {
    breaks: 'S6.6: with index=on a copied-up hard link stays one inode with its lower aliases',
    profile: 'index',
    step(s, op) {
      const r = applyOp(s, op);
      const s2 = forWrite(r.state);
      s2.upper.index = new Map();
      return { ...r, state: s2 };
    },
  },
  'nfs-export-indexes-hard-links-only': {
    breaks: 'S12.3: with nfs_export=on every copy-up goes through the index',
    profile: 'nfs-export',
    step: stepAs({ nfs_export: false }, true),
  },
  'split-fs-one-device': {
    breaks: 'S8.2: without xino, objects on different filesystems show different st_dev, dirs overlay-private st_ino',
    profile: 'split-fs',
    step: stepAs({ xino: 'on' }, false),
  },
  'xino-fsid-ignored': {
    breaks: 'S8.3: with xino=on every object shows the overlay st_dev and its layer\'s fsid in the high st_ino bits',
    profile: 'xino-on-split',
    step: stepAs({ xino: 'off' }, false),
  },
  'xino-auto-fsid-ignored': {
    breaks: 'S8.3: xino=auto, where every fs has file handles, acts as xino=on',
    profile: 'xino-auto-split',
    step: stepAs({ xino: 'off' }, false),
  },
  'nofollow-writes-redirects': {
    breaks: 'S13.3, S4.4: redirect_dir=nofollow writes no redirects and allows offline changes (no opaque new dirs)',
    profile: 'redirect-nofollow',
    step: stepAs({ redirect_dir: 'on' }, true),
  },
  'uuid-off-written': {
    breaks: 'S8.9: uuid=off stores no uuid on the upper root',
    profile: 'uuid-off',
    step: writesUuid,
  },
  'ro-upper-writable': {
    breaks: 'S14.2: an upper mounted read-only refuses every change with EROFS',
    profile: 'ro',
    step: mkdirNotRefused,
  },
  'metacopy-followed-anywhere': {
    breaks: 'S2.8, S7.4: without metacopy=on only the last regular layer may lead into a data-only layer',
    profile: 'data-only',
    step(s, op) {
      const r = applyOp(s, op);
      return r.outcome === 'EPERM' && op.op === 'open' ? { ...r, outcome: 'ok' } : r;
    },
  },
  'rmdir-whited-out-children-count': {
    breaks: 'S4.8: rmdir of a merged dir whose lower children were all whited out succeeds (ovl_check_empty_dir keeps the upper whiteouts aside, to clear them)',
    profile: 'default',
    step(s, op) {
      const r = applyOp(s, op);
      if (op.op !== 'rmdir' || r.outcome !== 'ok') return r;
      const d = lookupPath(s, op.path);
      const whiteouts = d?.upper && d.lowers.length > 0 && [...d.upper.children!.values()].some((c) => c.type === 'whiteout');
      return whiteouts ? { state: s, outcome: 'ENOTEMPTY', rule: 'S4.8 (broken: whiteouts counted)' } : r;
    },
  },
  'long-names-allowed': {
    breaks: 'S2.9: a name longer than NAME_MAX fails its lookup with ENAMETOOLONG',
    profile: 'default',
    step(s, op) {
      const r = applyOp(s, op);
      return r.outcome === 'ENAMETOOLONG' ? { ...r, outcome: 'ENOENT' } : r; // as if the name were merely missing
    },
  },
  'nested-origin-trusted': {
    breaks: 'S18.1: a copy-up from an overlay lower stores an empty origin (no file handles), so after a remount the copy shows its own st_ino',
    profile: 'nested',
    step: stepAs({ nested: false }, false), // copies up as from a plain lower: an origin the next mount follows
  },
  'copy-up-fills-holes': {
    breaks: 'S17.6: copy-up keeps the holes before the data (SEEK_DATA), and a metacopy upper is all hole',
    profile: 'metacopy',
    step: thenEditUpper((s) => {
      walkLayer(s.upper, (_p, ino) => {
        if (ino.type === 'file') delete ino.pages; // as if every byte had been written
      });
    }),
  },
  'whiteouts-not-shared': {
    breaks: 'S3.2: whiteouts left by unlink and rmdir are links of one shared whiteout inode',
    profile: 'default',
    step: thenEditUpper((s) => {
      const seen = new Set<Inode>();
      const dirs: Inode[] = [];
      walkLayer(s.upper, (_p, ino) => void (ino.type === 'dir' && dirs.push(ino)));
      for (const dir of dirs) {
        for (const [name, child] of dir.children!) {
          if (child.type !== 'whiteout') continue;
          if (seen.has(child)) dir.children!.set(name, newInode(s.upper, 'whiteout', 0)); // each its own
          seen.add(child);
        }
      }
    }),
  },
  'fd-reads-lower-after-copy-up': {
    breaks: 'S17.1: an fd opened read-only before copy-up reads the upper copy afterwards',
    profile: 'default',
    step(s, op) {
      const r = applyOp(s, op);
      const fd = (op.op === 'fdread' || op.op === 'fdstat') && r.outcome === 'ok' ? s.fds?.[op.slot] : undefined;
      const d = fd?.path && !fd.writable ? lookupPath(s, fd.path) : null;
      if (!fd || !r.observed || !d?.upper || d.lowers.length === 0 || d.lowers[0].inode.type !== 'file') return r;
      const lower = d.lowers[0].inode.data; // what the fd read before 4.19: the lower file it opened
      if ('read' in r.observed) return { ...r, observed: { read: lower.slice(fd.offset, fd.offset + 4096) } };
      return { ...r, observed: { stat: { ...r.observed.stat, data: lower } } };
    },
  },
  'data-layers-unseen': {
    breaks: 'S7.4: a metacopy file finds its data in a data-only layer through its absolute redirect',
    profile: 'data-only-metacopy',
    step(s, op) {
      const r = applyOp({ ...s, dataLayers: [] }, op); // the step decided as if there were none
      return { ...r, state: { ...r.state, dataLayers: s.dataLayers } };
    },
  },
  'new-objects-owned-by-root': {
    breaks: 'S4.5: an object a caller creates is owned by its fsuid/fsgid',
    profile: 'default',
    step: thenEditUpper((s, op) => {
      if (!op.as || !['open', 'mkdir', 'mknod', 'symlink'].includes(op.op) || !('path' in op)) return;
      const made = findInLayer(s.upper, op.path);
      if (made && made.uid === op.as.uid) [made.uid, made.gid] = [0, 0];
    }),
  },
  'caller-ignored': {
    breaks: 'S11.3: a step made by another user is checked against its own credentials',
    profile: 'default',
    step: (s, op) => applyOp(s, { ...op, as: undefined }),
  },
  'acl-grants-ignored': {
    breaks: 'S10.5: a named-user or group entry of an access ACL grants what the mode does not',
    profile: 'default',
    step: aclGrantsIgnored,
  },
  'utimes-times-swapped': {
    breaks: 'utimensat: times[1] is the mtime (times[0] the atime)',
    profile: 'default',
    step: (s, op) => (op.op === 'utimes' ? applyOp(s, { ...op, atime: op.mtime, mtime: op.atime }) : applyOp(s, op)),
  },
};
