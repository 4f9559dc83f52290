// What /proc/mounts shows of an overlay mount after its layer paths (super.c / params.c
// ovl_show_options, S1.4): the VFS flags, then each option the mount runs with that differs
// from its default, in a fixed order. The module's parameters are the defaults (S1.2), so
// they are an input; so is whether the kernel knows fsync= (S1.7), which a probe finds: it came
// to 6.12.y and 6.18.y as a stable backport, at a sublevel not pinned down.

import { cover } from './coverage.js';
import { fsLayout } from './inodeNumbers.js';
import { privatePrefix } from './profile.js';
import { hasUpper, type OvlState } from './state.js';
import type { Profile } from './types.js';
import { hasFeature } from './versions.js';

export interface ShowFacts {
  /** /sys/module/overlay/parameters/* when the mount was made: "Y" or "N" for the booleans. */
  moduleDefaults: Readonly<Record<string, string>>;
  /** The kernel takes fsync=: volatile is then an alias of fsync=volatile, and shown so (S1.7). */
  fsyncOption: boolean;
}

/**
 * The uuid mode a mount runs with (S1.5, super.c ovl_fill_super, ovl_init_uuid_xattr), from
 * the upper root before the mount: uuid=off needs one fs (else uuid=null; before 6.6,
 * uuid=on, then the only other value); uuid=auto keeps a P.uuid it finds, else turns on at the first mount of a new upper
 * (root not impure) and null on an old one.
 */
export function mountedUuid(before: OvlState): Profile['uuid'] {
  const { uuid } = before.profile;
  const oneFs = fsLayout(before).sameFs;
  if (!hasFeature(before.kernel, 'uuidAutoNull')) return uuid === 'off' && oneFs ? 'off' : 'on'; // a bool, "on" its default
  if (uuid === 'off' && !oneFs) return 'null';
  if (uuid !== 'auto' || !hasUpper(before)) return uuid;
  const P = privatePrefix(before.profile);
  const root = before.upper.root.xattrs;
  if (`${P}uuid` in root) return 'auto';
  cover('S1.5');
  return `${P}impure` in root ? 'null' : 'on';
}

/** The options /proc/mounts shows for the mount the state is in, paths left out: "rw,relatime,...". */
export function shownOptions(s: OvlState, facts: ShowFacts): string {
  cover('S1.4');
  const p = s.profile;
  const y = (param: string) => facts.moduleDefaults[param] === 'Y';
  const onOff = (b: boolean) => (b ? 'on' : 'off');
  const noUpper = p.readonly === 'no-upper';
  const out = [p.readonly ? 'ro' : 'rw', 'relatime'];
  if (hasFeature(s.kernel, 'newMountApi')) {
    const mode = noUpper && p.redirect_dir === 'follow' ? 'on' : p.redirect_dir; // S1.6
    if (mode !== (y('redirect_dir') ? 'on' : y('redirect_always_follow') ? 'follow' : 'nofollow')) out.push(`redirect_dir=${mode}`);
  } else if (p.redirect_dir !== (y('redirect_dir') ? 'on' : 'off')) {
    out.push(`redirect_dir=${p.redirect_dir}`); // before 6.5: the string given, against "on" or "off"
  }
  // Without an upper there is no workdir, and index is shown off whatever nfs_export made it
  // (super.c: "Show index=off in /proc/mounts for forced r/o mount"; found by run, lower-only).
  const index = p.index && !noUpper;
  if (index !== y('index')) out.push(`index=${onOff(index)}`);
  const uuid = s.uuidMode ?? p.uuid;
  if (uuid !== (hasFeature(s.kernel, 'uuidAutoNull') ? 'auto' : 'on')) out.push(`uuid=${uuid}`);
  if (p.nfs_export !== y('nfs_export')) out.push(`nfs_export=${onOff(p.nfs_export)}`);
  if (!fsLayout(s).sameFs && p.xino !== (y('xino_auto') ? 'auto' : 'off')) out.push(`xino=${p.xino}`);
  if (p.metacopy !== y('metacopy')) out.push(`metacopy=${onOff(p.metacopy)}`);
  if (p.volatile && !noUpper) {
    if (facts.fsyncOption) cover('S1.7');
    out.push(facts.fsyncOption ? 'fsync=volatile' : 'volatile');
  }
  if (p.userxattr) out.push('userxattr');
  return out.join(',');
}
