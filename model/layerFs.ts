// One real layer (a lower or the upper) as a tree of inodes: what is on disk, before
// overlay interprets it. Hard links are one Inode object under several names.

import type { EntrySpec, LayerSpec } from './types.js';

export type InodeType = 'dir' | 'file' | 'symlink' | 'fifo' | 'whiteout';

export interface Inode {
  /** Abstract identity: "<layer>:<n>", stable for the life of the object. */
  id: string;
  type: InodeType;
  mode: number;
  /** Owner (S11, S4.5); 0 (root) unless a spec or a caller made it otherwise. */
  uid: number;
  gid: number;
  /** st_mtime in seconds where the model knows it (set by a spec or utimensat, kept by copy-up, S6.3); else undefined. */
  mtime?: number;
  data: string;
  target: string;
  /** Every xattr on the real inode, overlay-private ones included. */
  xattrs: Record<string, string>;
  children: Map<string, Inode> | null;
  /** The st_nlink the layer's fs reports, where it is not the count of names (an overlay as a layer, S8.5, S18.1). */
  nlink?: number;
  /**
   * A name the layer lists but cannot look up (an overlay as a layer lists a whiteout it hides,
   * S22.9, S18.1), with the errno of its lookup: held as a whiteout, which below every other
   * layer hides nothing and is never found, but which listings show and emptiness counts.
   */
  ghost?: string;
  /** A ghost's d_type: the type of the entry the inner layer lists (a file for an xattr whiteout). */
  ghostType?: InodeType;
  /** A regular file's allocated 4 KiB pages, ascending; undefined: every page of its data (model/sparse.ts). Replaced, never changed in place. */
  pages?: number[];
}

export interface LayerFs {
  /** "L0".."Ln" for lowers (L0 = top), "U" for the upper. */
  name: string;
  root: Inode;
  next: number;
  /**
   * The upper's workdir index (S6.6, S12.3): the origin's id -> the copied-up inode, a hard
   * link on the upper fs that keeps a lower hard-link set together (for a dir, with
   * nfs_export=on, an entry of its own that names it). Absent without index=on.
   */
  index?: Map<string, Inode>;
  /**
   * Index entries that a failed copy-up left in the workdir without P.origin (S10.3, S12.3:
   * an indexed symlink or special file with userxattr): an index=on mount cannot verify
   * them and fails ENODATA until they are removed. The origins' ids.
   */
  unverifiable?: Set<string>;
  /**
   * The upper's shared whiteout (S3.2): the whiteout in the workdir that every whiteout an
   * unlink or rmdir leaves during this mount is a hard link of (dir.c ovl_whiteout). Absent
   * until the first one, and at each mount (the workdir is emptied, S15.1a).
   */
  whiteout?: Inode;
}

const DEFAULT_MODE = { dir: 0o755, file: 0o644, fifo: 0o644, symlink: 0o777, whiteout: 0 } as const;

export function newInode(layer: LayerFs, type: InodeType, mode: number): Inode {
  return {
    id: `${layer.name}:${layer.next++}`,
    type,
    mode,
    uid: 0,
    gid: 0,
    data: '',
    target: '',
    xattrs: {},
    children: type === 'dir' ? new Map() : null,
  };
}

export function emptyLayer(name: string): LayerFs {
  const layer: LayerFs = { name, root: undefined as unknown as Inode, next: 1 };
  layer.root = newInode(layer, 'dir', 0o755);
  return layer;
}

export function splitPath(path: string): string[] {
  return path.split('/').filter((c) => c !== '' && c !== '.');
}

export function joinPath(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`;
}

export function parentPath(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** The inode at a raw path in one layer (no symlinks followed), or undefined. */
export function findInLayer(layer: LayerFs, path: string): Inode | undefined {
  let cur: Inode | undefined = layer.root;
  for (const c of splitPath(path)) {
    cur = cur?.children?.get(c);
    if (!cur) return undefined;
  }
  return cur;
}

/** Build a layer from its spec; throws on a spec that cannot exist on disk. */
export function buildLayer(name: string, spec: LayerSpec, prefix: string): LayerFs {
  const layer = emptyLayer(name);
  const paths = Object.keys(spec).sort();
  const put = (path: string, ino: Inode) => {
    const parent = ensureDirs(layer, parentPath(path));
    const base = baseName(path);
    if (!base) throw new Error(`layer ${name}: the root cannot be an entry`);
    if (parent.children!.has(base) && ino.type !== 'dir') throw new Error(`layer ${name}: ${path} given twice`);
    const existing = parent.children!.get(base);
    if (existing?.type === 'dir' && ino.type === 'dir') {
      existing.mode = ino.mode;
      existing.uid = ino.uid;
      existing.gid = ino.gid;
      existing.mtime = ino.mtime;
      existing.xattrs = ino.xattrs;
    } else parent.children!.set(base, ino);
  };
  for (const path of paths) {
    const e = spec[path];
    // A link's dirs are made in path order, the link itself last (as harness/materialize.ts
    // does): the order names are made in is the order tmpfs lists them in (S9.3).
    if (e.type === 'link') ensureDirs(layer, parentPath(path));
    else put(path, inodeFromSpec(layer, e, prefix));
  }
  for (const path of paths) {
    const e = spec[path];
    if (e.type !== 'link') continue;
    const to = findInLayer(layer, e.to);
    if (!to || to.type === 'dir') throw new Error(`layer ${name}: link ${path} -> ${e.to}: not a non-directory in this layer`);
    ensureDirs(layer, parentPath(path)).children!.set(baseName(path), to);
  }
  return layer;
}

function inodeFromSpec(layer: LayerFs, e: Exclude<EntrySpec, { type: 'link' }>, prefix: string): Inode {
  const mode = 'mode' in e && e.mode !== undefined ? e.mode & 0o7777 : DEFAULT_MODE[e.type];
  const ino = newInode(layer, e.type, mode);
  ino.uid = e.uid ?? 0;
  ino.gid = e.gid ?? 0;
  if (e.mtime !== undefined) ino.mtime = e.mtime;
  if (e.type === 'file') ino.data = e.data ?? '';
  if (e.type === 'symlink') ino.target = e.target;
  if ((e.type === 'file' || e.type === 'dir') && e.xattrs) ino.xattrs = { ...e.xattrs };
  if (e.type === 'dir' && e.opaque) ino.xattrs[`${prefix}opaque`] = 'y';
  return ino;
}

function ensureDirs(layer: LayerFs, path: string): Inode {
  let cur = layer.root;
  for (const c of splitPath(path)) {
    let next = cur.children!.get(c);
    if (!next) {
      next = newInode(layer, 'dir', 0o755);
      cur.children!.set(c, next);
    }
    if (next.type !== 'dir') throw new Error(`layer ${layer.name}: ${path} is under a non-directory`);
    cur = next;
  }
  return cur;
}

/** Deep copy that keeps hard links shared. */
export function cloneLayer(layer: LayerFs): LayerFs {
  const seen = new Map<Inode, Inode>();
  const copy = (ino: Inode): Inode => {
    const done = seen.get(ino);
    if (done) return done;
    const c: Inode = { ...ino, xattrs: { ...ino.xattrs }, children: null };
    seen.set(ino, c);
    if (ino.children) c.children = new Map([...ino.children].map(([k, v]) => [k, copy(v)]));
    return c;
  };
  const index = layer.index && new Map([...layer.index].map(([k, v]) => [k, copy(v)]));
  const whiteout = layer.whiteout && copy(layer.whiteout);
  const unverifiable = layer.unverifiable && new Set(layer.unverifiable);
  return { name: layer.name, root: copy(layer.root), next: layer.next, ...(index ? { index } : {}), ...(whiteout ? { whiteout } : {}), ...(unverifiable ? { unverifiable } : {}) };
}

/** Real link counts: names per non-directory inode, 2 + subdirectories per directory. */
export function linkCounts(layer: LayerFs): Map<Inode, number> {
  const counts = new Map<Inode, number>();
  const walk = (dir: Inode) => {
    let subdirs = 0;
    for (const child of dir.children!.values()) {
      if (child.type === 'dir') {
        subdirs++;
        walk(child);
      } else counts.set(child, (counts.get(child) ?? 0) + 1);
    }
    counts.set(dir, 2 + subdirs);
  };
  walk(layer.root);
  for (const ino of counts.keys()) if (ino.nlink !== undefined) counts.set(ino, ino.nlink);
  for (const ino of layer.index?.values() ?? []) if (ino.type !== 'dir') counts.set(ino, (counts.get(ino) ?? 0) + 1);
  if (layer.whiteout) counts.set(layer.whiteout, (counts.get(layer.whiteout) ?? 0) + 1); // its own name in the workdir
  return counts;
}

/** Visit every (path, inode) of the layer, parents before children. */
export function walkLayer(layer: LayerFs, visit: (path: string, ino: Inode) => void): void {
  const walk = (path: string, dir: Inode) => {
    visit(path, dir);
    for (const [name, child] of dir.children!) {
      const p = joinPath(path, name);
      if (child.type === 'dir') walk(p, child);
      else visit(p, child);
    }
  };
  walk('/', layer.root);
}
