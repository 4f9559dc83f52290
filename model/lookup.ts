// Name resolution over the layer stack (namei.c) and path walking with symlinks (VFS).

import { cover } from './coverage.js';
import { joinPath, splitPath, type Inode } from './layerFs.js';
import { privateXattr } from './profile.js';
import { hasFeature } from './versions.js';
import { activeIndex, callerOf, hasUpper, NotModelled, type OvlState } from './state.js';
import { mayLookup } from './creds.js';
import type { Errno } from './types.js';

export interface LowerRef {
  layer: number;
  inode: Inode;
  /** A dir marked P.opaque=x, found in a layer that was not the last one searched (S3.5, S22.3). */
  xwhiteouts?: boolean;
}

/** An overlay dentry: what one merged path resolves to (ovl_entry + upper). */
export interface OvlDentry {
  path: string;
  /** The upper object, if any (never a whiteout). */
  upper: Inode | null;
  /** The upper holds a whiteout at this name: the dentry is negative (S2.5). */
  upperWhiteout: boolean;
  /** Lower stack: every merged lower dir, or the one lower non-dir (its origin, if upper). */
  lowers: LowerRef[];
  /** A metacopy file: the lower file that holds its data (S7.1, S2.8). */
  dataLower?: Inode;
  /** A metacopy upper file: the first lower found below it (ovl_dentry_lower), maybe a metacopy too. */
  firstLower?: Inode;
  /** The lookup itself failed with this errno (S2.8, S22.2): listed by readdir, nothing else works. */
  error?: Errno;
  /** `upper` is the index entry of this lower name (S6.6): no upper alias at this name yet. */
  indexOnly?: boolean;
}

export function isPositive(d: OvlDentry): boolean {
  return d.error === undefined && (d.upper !== null || d.lowers.length > 0);
}

/** The object that answers stat: upper if present, else the top lower. */
export function realInode(d: OvlDentry): Inode {
  return d.upper ?? d.lowers[0].inode;
}

export function isDir(d: OvlDentry): boolean {
  return isPositive(d) && realInode(d).type === 'dir';
}

export function isOpaque(s: OvlState, ino: Inode): boolean {
  return ino.type === 'dir' && ino.xattrs[privateXattr(s.profile, 'opaque')] === 'y'; // S2.6: only "y"
}

/** The catalog item a failed lookup's errno comes from: a name too long (S2.9), else a lookup error (S2.8). */
export function lookupRule(errno: Errno): string {
  return errno === 'ENAMETOOLONG' ? 'S2.9' : 'S2.8';
}

/** S2.9, S1.20: longer than the layers' namelen (bytes: names are ASCII). */
export function nameTooLong(name: string): boolean {
  return name.length > NAME_MAX;
}

/** A whiteout: char device 0/0, or (6.7+) a zero-size file with P.whiteout (S2.5, S3.4). */
export function isWhiteout(s: OvlState, ino: Inode): boolean {
  if (ino.type === 'whiteout') return true;
  return isXattrWhiteout(s, ino);
}

export function isXattrWhiteout(s: OvlState, ino: Inode): boolean {
  const is = ino.type === 'file' && ino.data.length === 0 && privateXattr(s.profile, 'whiteout') in ino.xattrs && hasFeature(s.kernel, 'xattrWhiteouts');
  if (is) cover('S3.4');
  return is;
}

/** P.opaque=x: a dir holding xattr whiteouts, not opaque (S3.5), 6.7+. */
function isXwhiteoutsDir(s: OvlState, ino: Inode): boolean {
  const is = ino.type === 'dir' && ino.xattrs[privateXattr(s.profile, 'opaque')] === 'x' && hasFeature(s.kernel, 'xattrWhiteouts');
  if (is) cover('S3.5');
  return is;
}

export function hasOrigin(s: OvlState, ino: Inode): boolean {
  return privateXattr(s.profile, 'origin') in ino.xattrs;
}

/** ovl_path_type MERGE for dirs: upper + lower, or several lowers. */
export function isMergedDir(d: OvlDentry): boolean {
  return isDir(d) && (d.upper ? d.lowers.length > 0 : d.lowers.length > 1);
}

/** ovl_type_merge_or_lower: anything but a pure-upper dir or a fully copied-up file. */
export function isMergeOrLower(d: OvlDentry): boolean {
  return d.upper === null || isMergedDir(d) || d.dataLower !== undefined;
}

export function rootDentry(s: OvlState): OvlDentry {
  return {
    path: '/',
    upper: hasUpper(s) ? s.upper.root : null,
    upperWhiteout: false,
    lowers: s.lowers.map((l, i) => ({ layer: i, inode: l.root })),
  };
}

/** NAME_MAX of every layer's fs (tmpfs): the overlay's namelen is the largest of its layers' (S1.20). */
export const NAME_MAX = 255;

/** ovl_lookup of one name in a merged parent directory. */
export function lookupChild(s: OvlState, parent: OvlDentry, name: string): OvlDentry {
  const d: OvlDentry = { path: joinPath(parent.path, name), upper: null, upperWhiteout: false, lowers: [] };
  // S2.9: a name longer than the overlay's namelen fails its lookup, before any layer is looked at.
  if (nameTooLong(name)) {
    cover('S2.9');
    return { ...d, error: 'ENAMETOOLONG' };
  }
  let stop = false;
  let foundDir = false;
  // What is looked up below: the name in the parent's lower dirs, or where a redirect points.
  let target: string[] = [name];
  let stack = parent.lowers;
  const u = parent.upper?.children?.get(name);
  if (u) {
    if (isWhiteout(s, u)) {
      d.upperWhiteout = true; // S2.5
      stop = true;
      cover('S2.5');
    } else {
      d.upper = u;
      foundDir = u.type === 'dir';
      stop = !foundDir || isOpaque(s, u); // S2.2, S2.6
      if (stop) cover(foundDir ? 'S2.6' : 'S2.2');
      if (!foundDir && parent.lowers[0]?.inode.children?.get(name)?.type === 'dir') cover('S2.12a'); // a non-dir over a lower dir
      if (isMetacopy(s, u)) return withDataLower(s, d, parent, name, u);
      const redirect = foundDir && !stop ? redirectOf(s, u) : undefined;
      if (redirect !== undefined) {
        if (s.profile.redirect_dir === 'nofollow') return refuseRedirect(s, d, parent, redirect);
        // S2.7, S13.1: relative = a sibling name; absolute = a path from every lower layer's root.
        cover('S2.7'); cover('S13.1');
        if (redirect.startsWith('/')) {
          target = splitPath(redirect);
          stack = s.lowers.map((l, layer) => ({ layer, inode: l.root }));
        } else target = [redirect];
      }
    }
  }
  const roots = () => s.lowers.map((l, layer) => ({ layer, inode: l.root }));
  for (let i = 0; i < stack.length && !stop; i++) {
    const pl = stack[i];
    if (pl.inode.type !== 'dir') break;
    const found = findBelow(s, pl.inode, target, pl.layer === s.lowers.length - 1);
    if (found === 'stop') break;
    if (found.path) {
      target = found.path;
      if (found.absolute) {
        stack = roots();
        i = pl.layer;
      }
    }
    const l = found.inode;
    if (!l) {
      if (found.stopAfter) break;
      continue;
    }
    if (isWhiteout(s, l)) {
      cover('S2.5');
      break; // S2.5, S3.4: hides every layer below
    }
    if (foundDir && l.type !== 'dir') {
      cover('S2.3');
      break; // S2.3: a non-dir below a dir stops the merge
    }
    // S2.12, S16.3: with nfs_export=on (verify_lower), an upper dir is merged only with the lower
    // dir its P.origin names (namei.c ovl_verify_origin; one without, ovl_fix_origin records first).
    if (d.upper && d.lowers.length === 0 && s.profile.nfs_export && !originNames(s, d.upper, l)) {
      cover('S2.12');
      cover('S16.3');
      break;
    }
    // d.last (namei.c): following redirects, the bottom layer of the whole stack; not following
    // them, the last layer below this parent.
    const last = s.profile.redirect_dir === 'nofollow' ? i === stack.length - 1 : pl.layer === s.lowers.length - 1;
    cover(foundDir && (d.upper || d.lowers.length > 0) ? 'S2.4' : 'S2.1'); // merged with what is above, or found in layer order
    d.lowers.push({ layer: pl.layer, inode: l, xwhiteouts: !last && isXwhiteoutsDir(s, l) });
    if (isMetacopy(s, l) && !d.upper) {
      // S2.8, S7.3: following a metacopy file into the layers below needs metacopy=on; only
      // from the last regular layer of the stack into data-only layers it does not (S7.4,
      // 6.16+), with redirect_dir=nofollow too (found by run --option-sets: not d.last there).
      const lastRegular = pl.layer === s.lowers.length - 1;
      if (!s.profile.metacopy && !(lastRegular && s.dataLayers.length > 0)) {
        cover('S7.3');
        d.error = 'EPERM';
        return d;
      }
      cover('S2.8');
      // S7.1: a lower metacopy file (an earlier upper, rotated, or an image's) takes its data from below.
      const found = findData(s, stack.slice(i + 1), target, l, pl.layer + 1);
      if (!found) {
        d.error = noData(s);
        return d;
      }
      d.dataLower = found.data;
      break; // on to the index: a hard-linked metacopy file may have an index entry (S6.6)
    }
    foundDir = l.type === 'dir';
    stop = !foundDir || isOpaque(s, l) || found.stopAfter; // S2.2, S2.6
    if (stop) cover(foundDir ? 'S2.6' : 'S2.2');
    const redirect = foundDir && !isOpaque(s, l) ? redirectOf(s, l) : undefined;
    if (redirect === undefined) continue;
    if (s.profile.redirect_dir === 'nofollow') {
      // S2.7: the redirect of a lower dir is read unless it is the last layer searched.
      if (!last) {
        cover('S13.3');
        d.error = 'EPERM';
        return d;
      }
      continue;
    }
    if (redirect.startsWith('/')) {
      // S13.1: an absolute redirect restarts from the layer roots below, and resets a stop.
      cover('S2.7'); cover('S13.1');
      target = splitPath(redirect);
      stack = roots();
      i = pl.layer;
      stop = false;
    } else {
      cover('S2.7'); cover('S13.1');
      target = [...target.slice(0, -1), redirect];
    }
  }
  if (d.upper && d.upper.type !== 'dir') d.lowers = originOf(s, d.upper, d.path); // non-dir: origin, not name
  // S6.6 (namei.c ovl_lookup_index): a lower non-dir whose origin is indexed shows the index entry.
  const indexed = !d.upper && d.lowers.length > 0 && d.lowers[0].inode.type !== 'dir' ? activeIndex(s)?.get(d.lowers[0].inode.id) : undefined;
  if (indexed) {
    cover('S6.6');
    if (isMetacopy(s, indexed) && !s.profile.metacopy && hasFeature(s.kernel, 'consistentRedirectMetacopyRejection')) {
      // S7.3: the index entry is this name's upper, and one copied up metadata-only refuses
      // lookup without metacopy=on (6.16+: ovl_check_follow_redirect after the index), as a
      // metacopy upper at the name does (found by run --seed 501). Before, the lookup took it
      // as the upper, its data this lower (observed on 6.12.117 by the matrix).
      cover('S7.3');
      d.error = 'EPERM';
      return d;
    }
    d.upper = indexed;
    d.indexOnly = true;
    // S6.6, S7.1: an index entry copied up metadata-only takes its data from this lower (or
    // from where this lower, a metacopy file itself, finds its own); once it has data, its own.
    if (isMetacopy(s, indexed)) d.dataLower ??= d.lowers[0].inode;
    else d.dataLower = undefined;
  }
  return d;
}

/** Whether an upper dir's P.origin, if it has one, names this lower dir (an empty one names none: "origin unknown"). */
function originNames(s: OvlState, upper: Inode, lower: Inode): boolean {
  const origin = upper.xattrs[privateXattr(s.profile, 'origin')];
  return origin === undefined || origin === lower.id;
}

export function isMetacopy(s: OvlState, ino: Inode): boolean {
  return ino.type === 'file' && privateXattr(s.profile, 'metacopy') in ino.xattrs;
}

/**
 * S2.8, S7.1: a metacopy upper file finds its data below, at its name or where its redirect
 * points (S5.6); its st_ino still comes from its origin only.
 */
function withDataLower(s: OvlState, d: OvlDentry, parent: OvlDentry, name: string, u: Inode): OvlDentry {
  cover('S2.8');
  if (!s.profile.metacopy) {
    cover('S7.3');
    // S7.3: an upper metacopy file (from a metacopy=on mount) refuses lookup: at once (6.16+),
    // or, before, EPERM if a regular file is found below it and EIO ("no lower data") if not.
    if (hasFeature(s.kernel, 'consistentRedirectMetacopyRejection')) d.error = 'EPERM';
    else d.error = firstBelow(s, parent, [name], redirectRead(s, parent) ? redirectOf(s, u) : undefined, (l) => l.type === 'file') ? 'EPERM' : 'EIO';
    return d;
  }
  const found = findData(s, parent.lowers, [name], u, 0);
  if (!found) {
    d.error = noData(s);
    return d;
  }
  d.dataLower = found.data;
  d.firstLower = found.first;
  d.lowers = originOf(s, u, d.path);
  return d;
}

/**
 * The data of a metacopy file: the first regular file that is not itself a metacopy, looked
 * up in `layers` at the name, or where the metacopy file's redirect points (S5.6); an
 * absolute redirect searches every layer from `below` down, from its root.
 */
function findData(s: OvlState, layers: readonly LowerRef[], target: string[], meta: Inode, below: number): { data: Inode; first: Inode } | undefined {
  let comps = target;
  let first: Inode | undefined;
  for (;;) {
    const redirect = redirectOf(s, meta);
    if (redirect !== undefined) cover('S13.2');
    if (redirect?.startsWith('/')) {
      comps = splitPath(redirect);
      layers = s.lowers.map((l, layer) => ({ layer, inode: l.root })).filter((l) => l.layer >= below);
    } else if (redirect !== undefined) comps = [...comps.slice(0, -1), redirect];
    let next: { ino: Inode; at: number } | undefined;
    for (let k = 0; k < layers.length; k++) {
      const pl = layers[k];
      const found = findBelow(s, pl.inode, comps, pl.layer === s.lowers.length - 1);
      if (found === 'stop') break;
      if (found.inode) {
        if (found.inode.type === 'file' && !isWhiteout(s, found.inode)) next = { ino: found.inode, at: k };
        break;
      }
      if (found.stopAfter) break;
      if (found.path) {
        comps = found.path;
        if (found.absolute) layers = [...layers.slice(0, k + 1), ...s.lowers.map((l, layer) => ({ layer, inode: l.root })).filter((l) => l.layer > pl.layer)];
      }
    }
    if (!next && redirect?.startsWith('/')) {
      // S7.4: an absolute redirect that no lower layer satisfies is looked up in the data-only
      // layers, the first one holding a regular file at that path.
      for (const dl of s.dataLayers) {
        const found = findBelow(s, dl.root, comps);
        if (found === 'stop' || found.inode?.type !== 'file' || isMetacopy(s, found.inode)) continue;
        cover('S7.4');
        return { data: found.inode, first: first ?? found.inode };
      }
    }
    if (!next) return undefined;
    first ??= next.ino;
    if (!isMetacopy(s, next.ino)) return { data: next.ino, first };
    cover('S7.1'); // a chain of metacopy files
    meta = next.ino;
    below = layers[next.at].layer + 1;
    layers = layers.slice(next.at + 1);
  }
}

/**
 * A metacopy file whose data is nowhere below: the lookup fails EIO (S2.8, "metacopy with no
 * lower data found"). With data-only layers the data is looked up lazily at first access
 * instead (S7.4: stat works, open fails ENOENT), which the model does not hold yet.
 */
function noData(s: OvlState): Errno {
  cover('S2.8');
  if (s.dataLayers.length > 0) throw new NotModelled('a metacopy file whose data is missing, with data-only layers (ENOENT at open)', 'S7.4');
  return 'EIO';
}

/**
 * Whether the lookup of an upper object reads its redirect (namei.c: not when d.last, which
 * not following redirects is "the parent has no lower dir", and from 6.16 only without
 * data-only layers). Found by the matrix on 6.12, and checked on 6.18: a dir with a redirect
 * in a pure upper dir is an ordinary dir under nofollow (redirect-nofollow-pure-upper-parent).
 */
function redirectRead(s: OvlState, parent: OvlDentry): boolean {
  if (s.profile.redirect_dir !== 'nofollow' || parent.lowers.length > 0) return true;
  return hasFeature(s.kernel, 'consistentRedirectMetacopyRejection') && s.dataLayers.length > 0;
}

/**
 * S2.7: not following redirects, an upper dir whose redirect is read (redirectRead) refuses
 * lookup (EPERM) at once (6.16+): in the parent's lower dirs, from the root's for an absolute
 * redirect, or after the loop when there is nothing below. Before, the lookup went on to the
 * redirect's target: a lower dir found there is taken as the dir's origin (ovl_fix_origin:
 * walkEffects records it) before the EPERM; nothing there leaves an ordinary upper dir.
 */
function refuseRedirect(s: OvlState, d: OvlDentry, parent: OvlDentry, redirect: string): OvlDentry {
  cover('S2.7'); cover('S13.3');
  if (!redirectRead(s, parent)) return d;
  if (hasFeature(s.kernel, 'consistentRedirectMetacopyRejection')) {
    d.error = 'EPERM';
    return d;
  }
  const found = firstBelow(s, parent, [], redirect, (l) => l.type === 'dir');
  if (found) {
    d.lowers = [found];
    d.error = 'EPERM';
  }
  return d;
}

/**
 * What the lookup of an upper object (a dir or a metacopy file) meets first below it, before
 * 6.16: the object at its name in the parent's lower dirs, or at its redirect (relative: a
 * sibling; absolute: from the roots), the first layer holding something there; a whiteout or an
 * object that is not `wanted` ends it with nothing (namei.c ovl_lookup_single, d->stop).
 */
function firstBelow(s: OvlState, parent: OvlDentry, name: string[], redirect: string | undefined, wanted: (l: Inode) => boolean): LowerRef | undefined {
  let target = name;
  let layers: readonly LowerRef[] = parent.lowers;
  if (redirect?.startsWith('/')) {
    target = splitPath(redirect);
    layers = s.lowers.map((l, layer) => ({ layer, inode: l.root }));
  } else if (redirect !== undefined) target = [redirect];
  for (const pl of layers) {
    if (pl.inode.type !== 'dir') return undefined;
    const found = findBelow(s, pl.inode, target);
    if (found === 'stop') return undefined;
    if (found.inode) return !isWhiteout(s, found.inode) && wanted(found.inode) ? { layer: pl.layer, inode: found.inode } : undefined;
    if (found.stopAfter) return undefined;
  }
  return undefined;
}

export function redirectOf(s: OvlState, ino: Inode): string | undefined {
  return ino.xattrs[privateXattr(s.profile, 'redirect')];
}

/**
 * One lower layer's object at a (possibly multi-component, absolute-redirect) path below
 * base (namei.c ovl_lookup_layer): a missing component means "not in this layer"; a whiteout
 * or a non-dir on the way stops the whole lookup; an opaque dir on the way stops it after
 * this layer.
 */
function findBelow(s: OvlState, base: Inode, comps: string[], last = true): Below | 'stop' {
  let cur = base;
  let stopAfter = false;
  let path = comps; // what the layers below look up: rewritten by redirects on the way
  let absolute = false;
  for (const [i, c] of comps.entries()) {
    const next = cur.children?.get(c);
    if (!next || i === comps.length - 1) return path === comps ? { inode: next, stopAfter } : { inode: next, stopAfter, path, absolute };
    if (isWhiteout(s, next) || next.type !== 'dir') return 'stop';
    if (isOpaque(s, next)) stopAfter = true;
    // S13.1 (ovl_lookup_single, ovl_check_redirect): a dir on the way that has a redirect
    // rewrites the path the layers below look up (not the rest of this layer's walk), except
    // in the last layer (d->last) and below an opaque dir.
    const redirect = !last && !isOpaque(s, next) ? redirectOf(s, next) : undefined;
    if (redirect !== undefined) cover('S13.1');
    if (redirect?.startsWith('/')) {
      path = [...splitPath(redirect), ...comps.slice(i + 1)];
      absolute = true;
    } else if (redirect !== undefined) {
      const at = path.length - (comps.length - i); // this component, counted from the end
      path = [...path.slice(0, at), redirect, ...path.slice(at + 1)];
    }
    cur = next;
  }
  return { stopAfter };
}

/** What findBelow met in one layer; path: what the layers below look up instead (absolute: from their roots). */
interface Below {
  inode?: Inode;
  stopAfter: boolean;
  path?: string[];
  absolute?: boolean;
}

/** A copied-up non-dir finds its lower through P.origin, not by name (namei.c ovl_check_origin). */
function originOf(s: OvlState, upper: Inode, path: string): LowerRef[] {
  const mem = s.memOrigin.get(path);
  // An empty origin: copied up from a lower that cannot encode file handles, origin unknown
  // (ovl_get_fh, S18.1): only the dentry copied up in this mount still knows its lower.
  const id = upper.xattrs[privateXattr(s.profile, 'origin')] || (mem?.upper === upper.id ? mem.lower : undefined);
  const ref = id === undefined ? undefined : s.lowerById.get(id);
  return ref ? [ref] : [];
}

/** Look up a canonical path (no symlinks followed); null if a component is missing or not a dir. */
export function lookupPath(s: OvlState, path: string): OvlDentry | null {
  let d = rootDentry(s);
  for (const c of splitPath(path)) {
    if (!isDir(d)) return null;
    d = lookupChild(s, d, c);
    if (!isPositive(d)) return null;
  }
  return d;
}

const MAXSYMLINKS = 40;

export type Walk =
  | { ok: true; parent: OvlDentry; name: string; child: OvlDentry }
  | { ok: false; errno: Errno };

/**
 * Path walk as the VFS does it: intermediate symlinks are followed; the last component
 * is followed only if `followLast`. The result names the final parent and child
 * (the child may be negative). Symlink targets are relative to their directory.
 */
export function walkPath(s: OvlState, path: string, followLast: boolean): Walk {
  const budget = { links: 0 };
  return walkFrom(s, rootDentry(s), splitPath(path), followLast, budget);
}

function walkFrom(
  s: OvlState, start: OvlDentry, comps: string[], followLast: boolean, budget: { links: number },
): Walk {
  let dir = start;
  if (comps.length === 0) return { ok: true, parent: dir, name: '', child: dir };
  for (let i = 0; i < comps.length; i++) {
    const last = i === comps.length - 1;
    if (!isDir(dir)) return { ok: false, errno: 'ENOTDIR' };
    const denied = mayLookup(callerOf(s), realInode(dir)); // S11.3: search permission on every dir walked
    if (denied) return { ok: false, errno: denied };
    const name = comps[i];
    const child = name === '..' ? parentDentry(s, dir) : lookupChild(s, dir, name);
    // A failed lookup fails the walk; of the last name, only when it is followed: otherwise
    // the caller meets it where its syscall looks that name up.
    if (child.error && (!last || followLast)) return { ok: false, errno: child.error };
    const ino = isPositive(child) ? realInode(child) : null;
    if (ino?.type === 'symlink' && (!last || followLast)) {
      if (++budget.links > MAXSYMLINKS) return { ok: false, errno: 'ELOOP' };
      cover('S2.12b'); // followed from the topmost layer, never copied up
      const target = ino.target;
      const base = target.startsWith('/') ? rootDentry(s) : dir;
      const r = walkFrom(s, base, splitPath(target), true, budget);
      if (!r.ok) return r;
      if (last) return r;
      if (!isPositive(r.child)) return { ok: false, errno: 'ENOENT' };
      dir = r.child;
      continue;
    }
    if (last) return { ok: true, parent: dir, name, child };
    if (!ino) return { ok: false, errno: 'ENOENT' };
    dir = child;
  }
  throw new Error('unreachable');
}

function parentDentry(s: OvlState, d: OvlDentry): OvlDentry {
  const comps = splitPath(d.path);
  comps.pop();
  return lookupPath(s, '/' + comps.join('/')) ?? rootDentry(s);
}

/**
 * ovl_lower_positive: does the name exist in the lower layers below this dentry's parent?
 * A negative dentry is lower-positive iff an upper whiteout hides something (dir.c).
 */
export function lowerPositive(s: OvlState, parent: OvlDentry, d: OvlDentry): boolean {
  if (!isPositive(d)) return d.upperWhiteout;
  if (!d.upper) return true;
  const name = d.path.slice(d.path.lastIndexOf('/') + 1);
  for (const pl of parent.lowers) {
    if (pl.inode.type !== 'dir') break;
    const l = pl.inode.children!.get(name);
    if (l) return !isWhiteout(s, l);
  }
  return false;
}
