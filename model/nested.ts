// An overlay as a lower layer of another overlay (S18.1): the stack's lowers are mounted as an
// inner overlay (read-only, over them and one empty layer below, as two lowers are the least a
// mount without upper takes, S1.13), and its merged dir is the outer overlay's one lower layer.
// The outer sees what the inner shows: its private xattrs hidden, escaped P.overlay.X shown as
// P.X (S10.2), so an escaped P.overlay.whiteout file or P.overlay.opaque dir of a raw layer is a
// whiteout or an opaque dir to the outer (S3.8); a real whiteout is consumed by the inner.

import { emptyLayer, findInLayer, newInode, type Inode, type LayerFs } from './layerFs.js';
import { mergedView } from './views.js';
import type { KernelVersion, LayerSpec, Profile, SnapEntry } from './types.js';
import { createState } from './state.js';
import { resolveProfile } from './params.js';
import { lookupPath, realInode } from './lookup.js';
import { pagesOf } from './sparse.js';

/** The inner overlay's options: no upper, everything else the upstream defaults (S1.6, S14.1). */
export const INNER_PROFILE: Profile = { ...resolveProfile('inner', '', false), readonly: 'no-upper' };

/** The inner overlay's layers: the stack's lowers, and an empty one at the bottom. */
export function innerLayers(lowers: readonly LayerSpec[]): LayerSpec[] {
  return [...lowers, {}];
}

/**
 * The inner overlay's merged view as one layer of the outer: every name it lists and can look
 * up, with what stat, readlink, read and listxattr return there; names that share an inode
 * there share one here. The nlink it reports (1 for a merged dir, S8.5) is kept as it is.
 */
export function innerView(name: string, lowers: readonly LayerSpec[], kernel: KernelVersion): LayerFs {
  const inner = createState({ lowers: innerLayers(lowers), upper: {} }, INNER_PROFILE, kernel);
  const snap = mergedView(inner);
  const layer = emptyLayer(name);
  const byIno = new Map<string, Inode>();
  const of = (path: string, e: SnapEntry): Inode => {
    const key = String(e.ino);
    let ino = byIno.get(key);
    if (!ino) {
      ino = newInode(layer, e.kind as Inode['type'], e.mode);
      ino.data = e.data ?? '';
      // The inner passes SEEK_DATA and st_blocks through to the file below it (S17.6).
      if (e.kind === 'file') {
        const d = lookupPath(inner, path)!;
        ino.pages = pagesOf(d.dataLower ?? realInode(d));
      }
      ino.target = e.target ?? '';
      ino.xattrs = { ...e.xattrs };
      ino.nlink = e.nlink;
      // Owners and mtime as the inner shows them (S6.10: kept from its layers).
      ino.uid = e.uid;
      ino.gid = e.gid;
      if (e.mtime !== undefined) ino.mtime = e.mtime;
      byIno.set(key, ino);
    }
    return ino;
  };
  const root = snap.get('/')!;
  Object.assign(layer.root, { mode: root.mode, uid: root.uid, gid: root.gid, xattrs: { ...root.xattrs }, nlink: root.nlink });
  if (root.mtime !== undefined) layer.root.mtime = root.mtime;
  byIno.set(String(root.ino), layer.root);
  const dirs = new Map<string, Inode>([['/', layer.root]]);
  // Parents come before children in the walk.
  for (const [path, e] of snap) {
    if (path === '/') continue;
    const cut = path.lastIndexOf('/');
    const parent = dirs.get(cut === 0 ? '/' : path.slice(0, cut));
    if (!parent) continue;
    // A name listed but not found (S22.9): to the outer it is listed, and never found.
    const listed = () => inner.lowers.map((l) => findInLayer(l, path)).find((x) => x !== undefined)?.type ?? 'file';
    const ino = e.kind === 'error' ? { ...newInode(layer, 'whiteout', 0), ghost: e.errno ?? 'ENOENT', ghostType: listed() } : of(path, e);
    parent.children!.set(path.slice(cut + 1), ino);
    if (ino.type === 'dir') dirs.set(path, ino);
  }
  return layer;
}
