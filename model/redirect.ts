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
  let redirect = baseName(d.path);
  if (absolute) {
    redirect = '';
    for (let p = d.path; p !== '/'; p = parentPath(p)) {
      const at = lookupPath(s, p)!;
      const name = (at.upper && redirectOf(s, at.upper)) || baseName(p);
      redirect = (name.startsWith('/') ? name : `/${name}`) + redirect;
      if (name.startsWith('/')) break;
    }
    if (redirect.length > REDIRECT_MAX) return 'EXDEV';
  }
  d.upper!.xattrs[privateXattr(s.profile, 'redirect')] = redirect;
  return 'ok';
}


function lowerNlink(s: OvlState, ino: Inode): number {
  for (const l of s.lowers) {
    const n = linkCounts(l).get(ino);
    if (n !== undefined) return n;
  }
  return 1;
}
