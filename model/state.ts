// The whole overlay as the model sees it (ovl_fs + the layers), and the Step result.

import { buildLayer, cloneLayer, walkLayer, type Inode, type LayerFs } from './layerFs.js';
import { privatePrefix } from './profile.js';
import { mount } from './super.js';
import type { KernelVersion, Outcome, Profile, StackSpec } from './types.js';

export interface OvlState {
  readonly profile: Profile;
  readonly kernel: KernelVersion;
  /** lowers[0] is the top lower layer (S2.1). Lowers are never written. */
  readonly lowers: readonly LayerFs[];
  upper: LayerFs;
  /** Lower inodes by id, to follow an origin xattr back to its lower object. */
  readonly lowerById: ReadonlyMap<string, Inode>;
}

/** The result of one operation: the state after it and its outcome, with the rule that decided it. */
export interface Step {
  state: OvlState;
  outcome: Outcome;
  rule: string;
}

export function createState(stack: StackSpec, profile: Profile, kernel: KernelVersion): OvlState {
  const prefix = privatePrefix(profile);
  const lowers = stack.lowers.map((spec, i) => buildLayer(`L${i}`, spec, prefix));
  const lowerById = new Map<string, Inode>();
  for (const l of lowers) walkLayer(l, (_p, ino) => lowerById.set(ino.id, ino));
  return mount({ profile, kernel, lowers, upper: buildLayer('U', stack.upper, prefix), lowerById });
}

/** A private copy of the state for an operation to modify (lowers are shared: read-only). */
export function forWrite(s: OvlState): OvlState {
  return { ...s, upper: cloneLayer(s.upper) };
}

export function ok(state: OvlState, rule: string): Step {
  return { state, outcome: 'ok', rule };
}

export function fail(state: OvlState, errno: Outcome, rule: string): Step {
  return { state, outcome: errno, rule };
}
