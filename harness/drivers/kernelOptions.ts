// How a profile is said to a kernel of a given version: every option explicit, so that no
// module default decides (S1.2), in the forms that version knows (S20).

import { MS_RDONLY } from '../native.js';
import { hasFeature } from '../../model/versions.js';
import type { KernelVersion, Profile } from '../../model/types.js';

/** The legacy option string escapes ',' and '\' everywhere and ':' inside lowerdir (S1.8). */
function escapeLayerPath(p: string, inLowerdir: boolean): string {
  return p.replace(inLowerdir ? /[\\,:]/g : /[\\,]/g, (c) => '\\' + c);
}

/** The option string for mount(2): layers, then the profile's options. */
export function overlayOptions(lowers: string[], upper: string, work: string, p: Profile, kernel: KernelVersion, data: string[] = []): string {
  return [
    `lowerdir=${lowers.map((l) => escapeLayerPath(l, true)).join(':')}${data.map((d) => '::' + escapeLayerPath(d, true)).join('')}`,
    ...(p.readonly === 'no-upper' ? [] : [`upperdir=${escapeLayerPath(upper, false)}`, `workdir=${escapeLayerPath(work, false)}`]),
    profileOptions(p, kernel),
  ].join(',');
}

/** The profile's options as "k=v,flag,...", as this kernel spells them. */
export function profileOptions(p: Profile, kernel: KernelVersion): string {
  return profileParams(p, kernel).filter(([k]) => k !== 'ro').map(([k, v]) => (v === null ? k : `${k}=${v}`)).join(',');
}

/**
 * The profile's options as fsconfig parameters (a null value is a flag). `ro` is among them
 * for the new mount API, where the VFS takes it as a superblock flag; mount(2) gets it as
 * MS_RDONLY instead (mountFlags): before 6.5 overlay's own parser refuses "ro" in its string.
 */
export function profileParams(p: Profile, kernel: KernelVersion): [string, string | null][] {
  const onOff = (b: boolean): string => (b ? 'on' : 'off');
  const params: [string, string | null][] = [
    ['redirect_dir', p.redirect_dir],
    ['index', onOff(p.index)],
    ['metacopy', onOff(p.metacopy)],
    ['xino', p.xino],
    ['nfs_export', onOff(p.nfs_export)],
  ];
  // Before 6.6 there is only uuid=on|off, and "on" is the default; uuid=auto, the later
  // default, then means saying nothing (S1.5, S20).
  if (hasFeature(kernel, 'uuidAutoNull') || p.uuid === 'on' || p.uuid === 'off') params.push(['uuid', p.uuid]);
  if (p.userxattr) params.push(['userxattr', null]);
  if (p.volatile) params.push(['volatile', null]);
  if (p.readonly === 'ro') params.push(['ro', null]);
  return params;
}

/** mount(2) flags of the profile: a read-only upper is MS_RDONLY (S14.2). */
export function mountFlags(p: Profile): number {
  return p.readonly === 'ro' ? MS_RDONLY : 0;
}
