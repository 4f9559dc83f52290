// Mount-time validation (params.c parsing and verification, super.c layer set-up): what
// mount(2) returns for a request, in the order the kernel checks (S1.8-S1.15, S15).

import { cover, covered } from './coverage.js';
import { ParamError, parseOptions, resolveProfile } from './params.js';
import type { KernelVersion, Outcome } from './types.js';
import { hasFeature } from './versions.js';

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

/**
 * What mount(2) returns, in the order a kernel of this version checks: from 6.5 each option is
 * checked, and its paths resolved, as it is parsed (params.c); before, the legacy parser
 * matched every option first and resolved paths in ovl_fill_super (S1.1, S20.1).
 */
export function predictMount(world: World, r: MountRequest, kernel: KernelVersion = [6, 18, 0]): MountVerdict {
  return covered(hasFeature(kernel, 'newMountApi') ? predictNewApi(world, r, kernel) : predictLegacy(world, r, kernel));
}

const fail = (outcome: Outcome, rule: string): MountVerdict => ({ outcome, rule });

/** A path's lookup (kern_path, then "not a directory"): null if it is a dir. */
function resolve(world: World, p: string): MountVerdict | null {
  if (p === '') return fail('EINVAL', 'S1.8'); // "empty lowerdir"
  if (world.files.has(p)) return fail('EINVAL', 'S15.3'); // "... is not a directory"
  if (!world.dirs.has(p)) return fail('ENOENT', 'S15.3');
  return null;
}

/** Every option is known and well-formed on this kernel (S1.1). */
function checkOptions(r: MountRequest, kernel: KernelVersion): MountVerdict | null {
  try {
    for (const o of r.options) parseOptions(o, kernel);
    return null;
  } catch (e) {
    if (e instanceof ParamError) return fail('EINVAL', 'S1.1');
    throw e;
  }
}

/** The options agree with each other (S1.15). */
function checkConflicts(r: MountRequest, kernel: KernelVersion): MountVerdict | null {
  try {
    resolveProfile('request', r.options.join(','), r.upper !== undefined, kernel);
    return null;
  } catch (e) {
    if (e instanceof ParamError) return fail('EINVAL', 'S1.15');
    throw e;
  }
}

function predictNewApi(world: World, r: MountRequest, kernel: KernelVersion): MountVerdict {
  // Parsing, option by option (params.c ovl_parse_param): lowerdir= is split and resolved first.
  const lowers = splitLowerdir(lowerdirValue(r));
  if (lowers === null) return fail('EINVAL', 'S1.8'); // "only single ':' or double '::'", leading/trailing ':'
  if (lowers.length > OVL_MAX_STACK) return fail('EINVAL', 'S1.12');
  for (const p of [...lowers, ...(r.upper !== undefined ? [unescape(r.upper)] : []), ...(r.work !== undefined ? [unescape(r.work)] : [])]) {
    const bad = resolve(world, p);
    if (bad) return bad;
  }
  const badOption = checkOptions(r, kernel);
  if (badOption) return badOption;
  // Verification (ovl_fs_params_verify).
  const upper = r.upper !== undefined ? unescape(r.upper) : undefined;
  const work = r.work !== undefined ? unescape(r.work) : undefined;
  if (lowers.length === 0) return fail('EINVAL', 'S1.13'); // missing 'lowerdir'
  if (upper !== undefined && work === undefined) return fail('EINVAL', 'S1.13'); // missing 'workdir'
  if (upper === undefined && lowers.length < 2) return fail('EINVAL', 'S1.13'); // at least 2 lowerdir
  const conflict = checkConflicts(r, kernel);
  if (conflict) return conflict;
  const upperWork = checkUpperWork(world, upper, work);
  if (upperWork) return upperWork;
  return checkLayers(world, lowers, upper, work);
}

/** Before 6.5 (super.c ovl_parse_opt, then ovl_fill_super): options first, then the paths. */
function predictLegacy(world: World, r: MountRequest, kernel: KernelVersion): MountVerdict {
  // "ro" and the like are mount flags to the legacy parser, not options: unrecognized (S20.1);
  // so is a path option with an empty value (match_token's %s never matches an empty string).
  if (r.options.some((o) => o.split(',').includes('ro'))) return fail('EINVAL', 'S1.1');
  if (lowerdirValue(r) === '' || r.upper === '' || r.work === '') return fail('EINVAL', 'S1.1');
  const badOption = checkOptions(r, kernel);
  if (badOption) return badOption;
  const conflict = checkConflicts(r, kernel);
  if (conflict) return conflict;
  // ovl_split_lowerdirs splits at every unescaped ':' ("::" is an empty layer, not data-only).
  const lowers = splitAll(lowerdirValue(r));
  if (lowers.length > OVL_MAX_STACK) return fail('EINVAL', 'S1.12');
  const upper = r.upper !== undefined ? unescape(r.upper) : undefined;
  const work = r.work !== undefined ? unescape(r.work) : undefined;
  if (upper !== undefined) {
    if (work === undefined) return fail('EINVAL', 'S1.13'); // missing 'workdir'
    const bad = resolve(world, upper) ?? resolve(world, work) ?? checkUpperWork(world, upper, work);
    if (bad) return bad;
  }
  if (upper === undefined && lowers.length === 1) return fail('EINVAL', 'S1.13'); // at least 2 lowerdir
  for (const p of lowers) {
    const bad = resolve(world, p);
    if (bad) return bad;
  }
  return checkLayers(world, lowers, upper, work);
}

/** The workdir is on the upper's mount and neither is inside the other (S15.1). */
function checkUpperWork(world: World, upper: string | undefined, work: string | undefined): MountVerdict | null {
  if (upper === undefined) return null;
  if (mountOf(world, work!) !== mountOf(world, upper)) return fail('EINVAL', 'S15.1'); // same mount
  if (work === upper || isAncestor(world, work!, upper) || isAncestor(world, upper, work!)) return fail('EINVAL', 'S15.1');
  return null;
}

/** Layer set-up (super.c): upper, workdir, then each lower is a "trap" inode; no lower below another layer. */
function checkLayers(world: World, lowers: string[], upper: string | undefined, work: string | undefined): MountVerdict {
  const traps: string[] = upper !== undefined ? [upper, work!] : [];
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

/** Split at every unescaped ':' and remove the escapes, keeping empty entries (the legacy parser). */
function splitAll(value: string): string[] {
  if (value.includes('\\')) cover('S1.8'); // an escaped character
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
  return out;
}

/**
 * Split lowerdir= on unescaped ':' and remove the escapes (S1.8); null for an empty entry
 * (leading, trailing or tripled ':'). A single '::' (data-only layers, S7.4) is never
 * generated here and counts as malformed too.
 */
export function splitLowerdir(value: string): string[] | null {
  if (value === '') return [];
  const out = splitAll(value);
  return out.includes('') ? null : out;
}

/** Backslash escapes: "\:" is a literal colon (S1.8). */
export function unescape(p: string): string {
  if (p.includes('\\')) cover('S1.8');
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
