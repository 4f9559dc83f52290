// Mount-time validation (params.c parsing and verification, super.c layer set-up): what
// mount(2) returns for a request, in the order the kernel checks (S1.8-S1.15, S15).

import { ParamError, parseOptions, resolveProfile } from './params.js';
import type { Outcome } from './types.js';

/** The directories and files a request can name, relative to the world's root. */
export interface World {
  dirs: ReadonlySet<string>;
  files: ReadonlySet<string>;
  /** Dirs that are the root of another filesystem mounted inside the world. */
  mounts: ReadonlySet<string>;
}

/** A mount request as written in the legacy option string (paths relative, as typed). */
export interface MountRequest {
  /** lowerdir= entries in order, with backslash escapes as typed ("c\\:1"). */
  lowers: string[];
  /** A fault in the separators of lowerdir= (S1.8). */
  separator?: 'leading' | 'trailing' | 'triple';
  upper?: string;
  work?: string;
  /** Further options, e.g. "metacopy=on", "userxattr", "bogus=1". */
  options: string[];
}

export interface MountVerdict {
  outcome: Outcome;
  rule: string;
}

const OVL_MAX_STACK = 500;

/** The lowerdir= value: entries joined with ':' plus the separator fault, if any. */
export function lowerdirValue(r: MountRequest): string {
  const joined = r.lowers.join(':');
  if (r.separator === 'leading') return ':' + joined;
  if (r.separator === 'trailing') return joined + ':';
  if (r.separator === 'triple') return r.lowers.length > 1 ? r.lowers[0] + ':::' + r.lowers.slice(1).join(':') : joined + ':::';
  return joined;
}

/** The whole option string, in the order the kernel parses it. */
export function requestOptions(r: MountRequest): string {
  return [
    `lowerdir=${lowerdirValue(r)}`,
    ...(r.upper !== undefined ? [`upperdir=${r.upper}`] : []),
    ...(r.work !== undefined ? [`workdir=${r.work}`] : []),
    ...r.options,
  ].join(',');
}

export function predictMount(world: World, r: MountRequest): MountVerdict {
  const fail = (outcome: Outcome, rule: string): MountVerdict => ({ outcome, rule });
  // Parsing, option by option (params.c ovl_parse_param).
  const lowers = splitLowerdir(lowerdirValue(r));
  if (lowers === null) return fail('EINVAL', 'S1.8'); // "only single ':' or double '::'", leading/trailing ':'
  if (lowers.length > OVL_MAX_STACK) return fail('EINVAL', 'S1.12');
  for (const p of [...lowers, ...(r.upper !== undefined ? [unescape(r.upper)] : []), ...(r.work !== undefined ? [unescape(r.work)] : [])]) {
    if (world.files.has(p)) return fail('EINVAL', 'S15.3'); // "... is not a directory"
    if (!world.dirs.has(p)) return fail('ENOENT', 'S15.3');
  }
  try {
    for (const o of r.options) parseOptions(o);
  } catch (e) {
    if (e instanceof ParamError) return fail('EINVAL', 'S1.1');
    throw e;
  }
  // Verification (ovl_fs_params_verify).
  const upper = r.upper !== undefined ? unescape(r.upper) : undefined;
  const work = r.work !== undefined ? unescape(r.work) : undefined;
  if (lowers.length === 0) return fail('EINVAL', 'S1.13'); // missing 'lowerdir'
  if (upper !== undefined && work === undefined) return fail('EINVAL', 'S1.13'); // missing 'workdir'
  if (upper === undefined && lowers.length < 2) return fail('EINVAL', 'S1.13'); // at least 2 lowerdir
  try {
    resolveProfile('request', r.options.join(','), upper !== undefined);
  } catch (e) {
    if (e instanceof ParamError) return fail('EINVAL', 'S1.15');
    throw e;
  }
  // Layer set-up (super.c): upper, then workdir, then lowers, each a "trap" inode.
  const traps: string[] = [];
  if (upper !== undefined) {
    traps.push(upper);
    if (mountOf(world, work!) !== mountOf(world, upper)) return fail('EINVAL', 'S15.1'); // same mount
    if (work === upper || isAncestor(world, work!, upper) || isAncestor(world, upper, work!)) return fail('EINVAL', 'S15.1');
    traps.push(work!);
  }
  for (const l of lowers) {
    if (traps.includes(l)) return fail('ELOOP', 'S15.2'); // "conflicting lowerdir path"
    traps.push(l);
  }
  // ovl_check_overlapping_layers: no lower may sit below another layer. An upper or workdir
  // below a lower is let through (S15.2); lookups into it then fail ELOOP (S2.11).
  for (const l of lowers) {
    if (traps.some((t) => isAncestor(world, t, l))) return fail('ELOOP', 'S15.2'); // "overlapping lowerdir path"
  }
  return { outcome: 'ok', rule: 'S15.2' };
}

/**
 * Split lowerdir= on unescaped ':' and remove the escapes (S1.8); null for an empty entry
 * (leading, trailing or tripled ':'). A single '::' (data-only layers, S7.4) is never
 * generated here and counts as malformed too.
 */
export function splitLowerdir(value: string): string[] | null {
  if (value === '') return [];
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    if (value[i] === '\\' && i + 1 < value.length) cur += value[++i];
    else if (value[i] === ':') {
      out.push(cur);
      cur = '';
    } else cur += value[i];
  }
  out.push(cur);
  return out.includes('') ? null : out;
}

/** Backslash escapes: "\:" is a literal colon (S1.8). */
export function unescape(p: string): string {
  return p.replace(/\\(.)/g, '$1');
}

function mountOf(world: World, p: string): string {
  for (const m of world.mounts) if (p === m || p.startsWith(m + '/')) return m;
  return '';
}

/** a is a strict ancestor of b within one filesystem (the walk up stops at a mount root). */
function isAncestor(world: World, a: string, b: string): boolean {
  return b.startsWith(a + '/') && mountOf(world, a) === mountOf(world, b);
}
