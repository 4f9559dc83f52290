// Option sets as a random dimension of `run` (issue 12): besides the named profiles, every
// combination of redirect_dir x index x metacopy x xino x nfs_export x userxattr that the
// model accepts on this kernel (params.c's dependency rules, S1.15), each with extras drawn
// from the seed: uuid, volatile, ro, a data-only layer, split filesystems. Container engines
// pass such combinations of their own; each must be as trustworthy as a named profile.

import fc from 'fast-check';
import { ParamError, resolveProfile, unsupportedBy, type KernelVersion, type Profile } from '../model/index.js';
import { hasFeature } from '../model/versions.js';

const AXES: [string, string[]][] = [
  ['redirect_dir', ['on', 'follow', 'nofollow', 'off']],
  ['index', ['on', 'off']],
  ['metacopy', ['on', 'off']],
  ['xino', ['on', 'auto', 'off']],
  ['nfs_export', ['on', 'off']],
  ['userxattr', ['', 'userxattr']],
];

/** Every combination of the six options spelled explicitly, in a fixed order; those the model refuses are left out. */
export function optionCombinations(kernel: KernelVersion): string[] {
  let combos: string[][] = [[]];
  for (const [key, values] of AXES) {
    combos = combos.flatMap((c) => values.map((v) => [...c, key === 'userxattr' ? v : `${key}=${v}`]));
  }
  return combos.map((c) => c.filter(Boolean).join(',')).filter((o) => accepts(o, kernel));
}

function accepts(options: string, kernel: KernelVersion, layers: Pick<Profile, 'dataOnly' | 'split'> = {}): boolean {
  try {
    const p = resolveProfile(options, options, true, kernel);
    return unsupportedBy({ ...p, ...layers }, kernel) === null;
  } catch (e) {
    if (e instanceof ParamError) return false;
    throw e;
  }
}

/** What one combination adds: mount options beyond the six, and properties of the layers. */
interface Extras {
  uuid?: string;
  volatile: boolean;
  ro: boolean;
  dataOnly: boolean;
  split: boolean;
}

function extrasArb(kernel: KernelVersion): fc.Arbitrary<Extras> {
  const uuids = hasFeature(kernel, 'uuidAutoNull') ? ['on', 'auto', 'null', 'off'] : ['on', 'off'];
  const sometimes = (per10: number) => fc.integer({ min: 0, max: 9 }).map((n) => n < per10);
  return fc.record({
    uuid: fc.option(fc.constantFrom(...uuids), { nil: undefined }),
    volatile: sometimes(2),
    ro: sometimes(1),
    dataOnly: sometimes(2),
    split: sometimes(3),
  });
}

/**
 * One profile per combination the model accepts, with its extras drawn from the seed (an
 * extra that makes the set one the model refuses is dropped). Named by its options, in the
 * order a mount gets them, "+split" and "+data-only" for the layers.
 */
export function optionSetProfiles(kernel: KernelVersion, seed: number): Profile[] {
  const combos = optionCombinations(kernel);
  const extras = fc.sample(extrasArb(kernel), { seed, numRuns: combos.length });
  return combos.map((base, i) => {
    const x = extras[i];
    let options = base;
    const add = (part: string, layers: Pick<Profile, 'dataOnly' | 'split'> = {}) => {
      const next = options ? `${options},${part}` : part;
      if (accepts(next, kernel, layers)) options = next;
    };
    if (x.uuid) add(`uuid=${x.uuid}`);
    if (x.volatile) add('volatile');
    if (x.ro) add('ro');
    const layers = { dataOnly: x.dataOnly && accepts(options, kernel, { dataOnly: true }), split: x.split };
    const name = options + (layers.split ? '+split' : '') + (layers.dataOnly ? '+data-only' : '');
    const p = resolveProfile(name, options, true, kernel);
    if (layers.split) p.split = true;
    if (layers.dataOnly) p.dataOnly = true;
    return p;
  });
}

/** n cases spread over k option sets: the first n mod k get one more. */
export function casesPerSet(n: number, k: number): number[] {
  return Array.from({ length: k }, (_, i) => Math.floor(n / k) + (i < n % k ? 1 : 0));
}
