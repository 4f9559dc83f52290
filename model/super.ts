// What mounting writes to the upper layer (super.c, and namei.c's fix-ups that the first
// full walk of the merged tree triggers).

import { cloneLayer, findInLayer, parentPath } from './layerFs.js';
import { hasOrigin, isDir, lookupChild, rootDentry, type OvlDentry } from './lookup.js';
import { atLeast, privatePrefix } from './profile.js';
import { positiveNames } from './readdir.js';
import type { OvlState } from './state.js';

export function mount(s: OvlState): OvlState {
  const P = privatePrefix(s.profile);
  const s2 = { ...s, upper: cloneLayer(s.upper) };
  const root = s2.upper.root.xattrs;
  // S1.5, S8.9: uuid=on, or uuid=auto on an upper not yet marked impure, stores P.uuid (6.6+).
  const wantsUuid = s.profile.uuid === 'on' || (s.profile.uuid === 'auto' && !(`${P}impure` in root));
  if (atLeast(s.kernel, 6, 6) && wantsUuid && !(`${P}uuid` in root)) root[`${P}uuid`] = '<uuid>';
  fixOrigins(s2);
  return s2;
}

/**
 * S22.1: looking up a merged dir whose upper has no P.origin records the lower dir as its
 * origin and marks the parent impure (namei.c ovl_fix_origin). Every run walks the whole
 * merged tree right after mounting, so the model applies it to every such dir at mount.
 */
function fixOrigins(s: OvlState): void {
  const P = privatePrefix(s.profile);
  const visit = (d: OvlDentry) => {
    if (!isDir(d)) return;
    if (d.path !== '/' && d.upper && d.lowers.length > 0 && !hasOrigin(s, d.upper)) {
      d.upper.xattrs[`${P}origin`] = d.lowers[0].inode.id;
      findInLayer(s.upper, parentPath(d.path))!.xattrs[`${P}impure`] = 'y';
    }
    for (const name of positiveNames(s, d)) visit(lookupChild(s, d, name));
  };
  visit(rootDentry(s));
}
