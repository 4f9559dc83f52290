// Mount options as the model takes them (params.c): named profiles, parsing of an option
// string, and the dependency rules between options (S1.15).

import { cover } from './coverage.js';
import { DEFAULT_PROFILE } from './profile.js';
import type { KernelVersion, Profile } from './types.js';
import { hasFeature, unsupportedBy } from './versions.js';

/** The kernel the option rules default to when none is given. */
const LATEST: KernelVersion = [6, 18, 0];

export class ParamError extends Error {}

/**
 * Named profiles. `modelled: false` marks options whose semantics the model does not hold yet:
 * a run refuses them rather than report divergences the model cannot explain.
 */
export const PROFILES: Record<string, { options: string; modelled: boolean; about: string; noUpper?: boolean; dataOnly?: boolean; split?: boolean; nested?: boolean }> = {
  default: { options: '', modelled: true, about: 'the upstream defaults: redirect_dir=follow, everything else off' },
  'redirect-nofollow': { options: 'redirect_dir=nofollow', modelled: true, about: 'redirects are neither written nor followed (S2.7, S13.3)' },
  'xino-on': { options: 'xino=on', modelled: true, about: 'ignored on one filesystem, but disallows offline changes (S4.4, S8.3)' },
  'uuid-null': { options: 'uuid=null', modelled: true, about: 'no persistent uuid on the upper root (S8.9)' },
  'uuid-off': { options: 'uuid=off', modelled: true, about: 'null uuid, in file handles too (S8.9)' },
  userxattr: { options: 'userxattr', modelled: true, about: 'private xattrs in user.overlay.*, redirect_dir=nofollow (S10.3, S1.15)' },
  ro: { options: 'ro', modelled: true, about: 'an upper mounted read-only: every change is EROFS (S14.2)' },
  'data-only': { options: '', dataOnly: true, modelled: true, about: 'a data-only layer ("::") reached through metacopy files\' absolute redirects (S7.4)' },
  'data-only-metacopy': { options: 'metacopy=on', dataOnly: true, modelled: true, about: 'data-only layers with metacopy=on, as composefs mounts them (S7.4; before 6.16 they need it)' },
  'lower-only': { options: '', noUpper: true, modelled: true, about: 'no upper layer: read-only, every change is EROFS (S14.1)' },
  'redirect-on': { options: 'redirect_dir=on', modelled: true, about: 'directory renames with redirects (S5.3, S13)' },
  index: { options: 'index=on', modelled: true, about: 'hard links kept across copy-up (S6.6, S12)' },
  metacopy: { options: 'metacopy=on', modelled: true, about: 'metadata-only copy-up (S7.1-7.3)' },
  'nfs-export': { options: 'nfs_export=on', modelled: true, about: 'index=on plus file handles (S12.3, S12.4)' },
  volatile: { options: 'volatile', modelled: true, about: 'no syncs; the upper cannot be mounted again (S14.3)' },
  'split-fs': { options: '', split: true, modelled: true, about: 'lowers on a filesystem of their own: dirs numbered by the overlay, pseudo st_dev per fs (S8.2)' },
  'xino-on-split': { options: 'xino=on', split: true, modelled: true, about: 'lowers on a filesystem of their own; the fsid in the high st_ino bits, one st_dev (S8.3)' },
  nested: { options: '', split: true, nested: true, modelled: true, about: 'the lowers are an overlay of their own (read-only), whose merged dir is the one lower: escaped whiteouts and opaque dirs pass through (S18.1, S3.8, S10.2)' },
  'xino-auto-split': { options: 'xino=auto', split: true, modelled: true, about: 'as xino-on-split, where every fs has file handles (S8.3)' },
};

const VALUES: Record<string, string[]> = {
  redirect_dir: ['on', 'follow', 'nofollow', 'off'],
  index: ['on', 'off'],
  metacopy: ['on', 'off'],
  xino: ['on', 'auto', 'off'],
  nfs_export: ['on', 'off'],
  uuid: ['on', 'auto', 'null', 'off'],
};
const FLAGS = new Set(['userxattr', 'volatile', 'ro']);

/** The values an option takes on this kernel: before 6.6, uuid is only on or off (S1.5, S20). */
function valuesOf(key: string, kernel: KernelVersion): string[] | undefined {
  if (key === 'uuid' && !hasFeature(kernel, 'uuidAutoNull')) return ['on', 'off'];
  return VALUES[key];
}

/** Parse "k=v,k2,..." into explicit settings as a kernel of this version knows them; throws ParamError naming the bad part. */
export function parseOptions(text: string, kernel: KernelVersion = LATEST): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of text.split(',').filter((p) => p !== '')) {
    const [key, value] = part.split('=', 2);
    const values = valuesOf(key, kernel);
    if (FLAGS.has(key) && value === undefined) out.set(key, 'on');
    else if (values?.includes(value ?? '')) out.set(key, value);
    else if (values) throw new ParamError(`bad value for ${key}: "${value ?? ''}" (one of ${values.join(', ')})`);
    else throw new ParamError(`unknown or unsupported mount option "${part}"`);
  }
  return out;
}

/**
 * The effective profile of explicit options, following params.c ovl_fs_params_verify (S1.15)
 * step by step; explicit options that conflict fail the mount with EINVAL: ParamError here.
 * `hasUpper` false: a mount without upper, where index and some dependencies are dropped.
 */
export function resolveProfile(name: string, text: string, hasUpper = true, kernel: KernelVersion = LATEST): Profile {
  const o = parseOptions(text, kernel);
  const set = (k: string) => o.has(k);
  const p: Profile = { ...DEFAULT_PROFILE, name };
  if (set('redirect_dir')) p.redirect_dir = o.get('redirect_dir') === 'off' ? 'follow' : (o.get('redirect_dir') as Profile['redirect_dir']); // S1.3
  if (o.get('redirect_dir') === 'off') cover('S1.3');
  p.index = o.get('index') === 'on';
  p.metacopy = o.get('metacopy') === 'on';
  if (set('xino')) p.xino = o.get('xino') as Profile['xino'];
  p.nfs_export = o.get('nfs_export') === 'on';
  if (set('uuid')) p.uuid = o.get('uuid') as Profile['uuid'];
  p.userxattr = set('userxattr');
  if (set('volatile')) p.volatile = true;
  if (set('ro')) p.readonly = 'ro';
  let indexSet = set('index');
  const conflict = (why: string) => new ParamError(`conflicting options (S1.15): ${why}`);
  if (!hasUpper) {
    if (p.redirect_dir === 'follow') p.redirect_dir = 'on'; // S1.6: redirect_dir=on is only used for upper
    cover('S1.6'); cover('S1.15');
    if (p.index) indexSet = false; // "index=on is useless in a non-upper mount"
    p.index = false;
    p.volatile = undefined;
    if (p.uuid === 'on') p.uuid = 'null';
  }
  if (p.metacopy && p.redirect_dir !== 'on') {
    if (set('redirect_dir')) throw conflict(`metacopy=on,redirect_dir=${o.get('redirect_dir')}`);
    p.redirect_dir = 'on';
    cover('S1.15');
  }
  if (p.nfs_export && !p.index) {
    if (!hasUpper && p.redirect_dir !== 'nofollow') p.nfs_export = false; // silently off
    else if (indexSet) throw conflict('nfs_export=on,index=off');
    else p.index = true;
    cover('S1.15');
  }
  if (p.nfs_export && p.metacopy) throw conflict('nfs_export=on,metacopy=on');
  if (p.userxattr) {
    if (set('redirect_dir') && p.redirect_dir !== 'nofollow') throw conflict(`userxattr,redirect_dir=${o.get('redirect_dir')}`);
    if (p.metacopy) throw conflict('userxattr,metacopy=on');
    p.redirect_dir = 'nofollow';
    p.metacopy = false;
    cover('S1.15'); cover('S10.3');
  }
  return p;
}

/**
 * The profile of a remount of the same layers with other options (the catalog's rules for
 * what an earlier mount left: metacopy files without metacopy=on S7.3, redirects under
 * nofollow S2.7, index and nfs_export over an existing upper S12). What belongs to the layers
 * stays (data-only, split, no upper, ro); userxattr stays too: the private xattrs' namespace
 * is the layers' format (S10.3). Throws ParamError for options the kernel would refuse.
 */
export function profileForRemount(cur: Profile, options: string, kernel: KernelVersion = LATEST): Profile {
  const p = resolveProfile(cur.name, options, cur.readonly !== 'no-upper', kernel);
  if (p.userxattr !== cur.userxattr) throw new ParamError(`a remount keeps userxattr ${cur.userxattr ? 'on' : 'off'}, as the layers' xattrs are written (S10.3)`);
  if (p.readonly === 'ro' && cur.readonly !== 'ro') throw new ParamError('a remount keeps ro as the case mounts it');
  const out: Profile = { ...p, ...(cur.dataOnly ? { dataOnly: true } : {}), ...(cur.split ? { split: true } : {}), ...(cur.nested ? { nested: true } : {}), ...(cur.readonly ? { readonly: cur.readonly } : {}) };
  if (cur.nested) {
    // S18.1, S12.1: an overlay lower has no file handles: index and nfs_export fall back to off,
    // xino=auto to off (super.c ovl_get_fsid, "falling back to ..."; seen on 6.18). xino=on
    // stays on, with bits the model does not hold over a nested lower.
    if (out.xino === 'on' || out.metacopy) throw new ParamError(`${out.metacopy ? 'metacopy=on' : 'xino=on'} over a nested lower is not modelled yet`);
    Object.assign(out, { index: false, nfs_export: false, xino: 'off' });
  }
  const why = unsupportedBy(out, kernel);
  if (why) throw new ParamError(why);
  return out;
}

export function namedProfile(name: string): Profile {
  const entry = PROFILES[name];
  if (!entry) throw new ParamError(`unknown profile "${name}" (one of: ${Object.keys(PROFILES).join(', ')})`);
  const p = resolveProfile(name, entry.options);
  if (entry.noUpper) p.readonly = 'no-upper';
  if (entry.dataOnly) p.dataOnly = true;
  if (entry.split) p.split = true;
  if (entry.nested) p.nested = true;
  return p;
}

/** Why the model cannot run this profile yet, or null. */
export function notModelled(_p: Profile): string | null {
  return null;
}
