// ovl_set_redirect (dir.c): where a moved dir, or a moved or linked metacopy file, came from.

import { cover } from './coverage.js';
import { baseName, linkCounts, parentPath, type Inode } from './layerFs.js';
import { lookupPath, redirectOf, type OvlDentry } from './lookup.js';
import { privateXattr } from './profile.js';
import type { OvlState } from './state.js';

/** redirect_max, the module parameter's default (S1.16, S5.4). */
const REDIRECT_MAX = 256;

/**
 * ovl_set_redirect: relative (the old name) within the same dir, absolute (the old path,
 * through the redirects of its ancestors) across dirs; an existing redirect is kept when it
 * still fits. Sets P.redirect on the upper dir, or answers EXDEV when too long.
 */
export function setRedirect(s: OvlState, d: OvlDentry, samedir: boolean): 'ok' | 'EXDEV' {
  // ovl_need_absolute_redirect: across dirs, or for a file whose lower is hard-linked.
  const absolute = !samedir || (d.firstLower !== undefined && lowerNlink(s, d.firstLower) > 1);
  const existing = redirectOf(s, d.upper!);
  cover(d.upper!.type === 'dir' ? 'S5.3' : 'S5.6'); cover('S13.1');
  if (existing !== undefined && (!absolute || existing.startsWith('/'))) return 'ok';
  const redirect = absolute ? absoluteRedirect(s, parentPath(d.path), existing ?? baseName(d.path)) : baseName(d.path);
  if (redirect === 'EXDEV') return 'EXDEV';
  d.upper!.xattrs[privateXattr(s.profile, 'redirect')] = redirect;
  return 'ok';
}

/**
 * ovl_get_redirect, absolute: `name` (the dentry's own relative redirect, or its name) under
 * the merged dir `dir`, through the redirects of its ancestors (an absolute one ends the
 * walk up); EXDEV past redirect_max.
 */
export function absoluteRedirect(s: OvlState, dir: string, name: string): string | 'EXDEV' {
  let redirect = `/${name}`;
  for (let p = dir; p !== '/'; p = parentPath(p)) {
    const at = lookupPath(s, p)!;
    const step = (at.upper && redirectOf(s, at.upper)) || baseName(p);
    redirect = (step.startsWith('/') ? step : `/${step}`) + redirect;
    if (step.startsWith('/')) break;
  }
  return redirect.length > REDIRECT_MAX ? 'EXDEV' : redirect;
}


function lowerNlink(s: OvlState, ino: Inode): number {
  for (const l of s.lowers) {
    const n = linkCounts(l).get(ino);
    if (n !== undefined) return n;
  }
  return 1;
}
