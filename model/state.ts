// The whole overlay as the model sees it (ovl_fs + the layers), and the Step result.

import { cover, coverRule } from './coverage.js';
import { buildLayer, cloneLayer, emptyLayer, walkLayer, type Inode, type LayerFs } from './layerFs.js';
import type { LowerRef } from './lookup.js';
import { privatePrefix } from './profile.js';
import { mount } from './super.js';
import { innerView } from './nested.js';
import type { DirReadSpec, FdObserved, KernelVersion, Outcome, Profile, StackSpec } from './types.js';
import type { FdRef } from './fds.js';
import type { DirStream } from './dirStream.js';
import { ROOT } from './creds.js';
import type { Caller } from './types.js';

export interface OvlState {
  readonly profile: Profile;
  readonly kernel: KernelVersion;
  /** lowers[0] is the top lower layer (S2.1). Lowers are never written. */
  readonly lowers: readonly LayerFs[];
  /** Data-only layers (S7.4): only metacopy files' absolute redirects reach them. */
  readonly dataLayers: readonly LayerFs[];
  upper: LayerFs;
  /** Lower inodes by id (and their layer), to follow an origin xattr back to its lower object. */
  readonly lowerById: ReadonlyMap<string, LowerRef>;
  /**
   * Non-dirs copied up during this mount without an origin xattr (S10.3: a fifo or symlink
   * cannot carry user.overlay.origin): the dentry that was copied up keeps its lower in
   * memory (inode.c OVL_CONST_INO) until the next mount; a new link to it does not.
   * Merged path -> the upper and lower inode ids.
   */
  memOrigin: Map<string, { upper: string; lower: string }>;
  /**
   * Lower layers in which a lookup has met a dir marked opaque=x since the mount (ovl_layer
   * has_xwhiteouts): only there are xattr whiteouts hidden from merged listings (S22.3).
   */
  xwLayers: Set<number>;
  /**
   * The nlink the overlay inode of an indexed file holds in memory (upper inode id -> nlink):
   * set when it is copied up or linked, then counted up and down by link and unlink; a new
   * mount reads it back from P.nlink (inode.c ovl_get_nlink, S6.6).
   */
  memNlink: Map<string, number>;
  /** How many times the stack was mounted before this mount: numbers that do not outlive a mount carry it. */
  mountGen: number;
  /** The uuid mode this mount runs with (S1.5, model/mountShown.ts); absent: the profile's. */
  uuidMode?: Profile['uuid'];
  /** Directory streams open in slots 0..2 (model/dirStream.ts); a mount closes them all. */
  streams?: readonly (DirStream | null)[];
  /** Merged dir path -> its version (ovl_dir_version_inc), kept while streams are open (model/dirStream.ts). */
  dirVersions?: ReadonlyMap<string, number>;
  /** Open fds by slot (model/fds.ts); absent: none open. A mount closes them all. */
  fds?: readonly (FdRef | null)[];
  /** Who makes the step being applied (model/creds.ts); absent: root. Only set while applyOp runs. */
  caller?: Caller;
}

/** The caller of the step being applied (S11.1). */
export function callerOf(s: OvlState): Caller {
  return s.caller ?? ROOT;
}

/** A rename moves dentries: their in-memory origins follow (and a replaced target's go). */
export function renameMemOrigin(s: OvlState, from: string, to: string, exchange: boolean): void {
  const under = (p: string, root: string) => p === root || p.startsWith(root + '/');
  const moved = new Map<string, { upper: string; lower: string }>();
  for (const [p, v] of s.memOrigin) {
    if (under(p, from)) moved.set(to + p.slice(from.length), v);
    else if (under(p, to)) {
      if (exchange) moved.set(from + p.slice(to.length), v);
    } else continue;
    s.memOrigin.delete(p);
  }
  for (const [p, v] of moved) s.memOrigin.set(p, v);
}

/** The result of one operation: the state after it and its outcome, with the rule that decided it. */
export interface Step {
  state: OvlState;
  outcome: Outcome;
  rule: string;
  /** readdir: what the read may return (model/dirStream.ts). */
  dirRead?: DirReadSpec;
  /** What an fd step saw beyond its errno (fdread's bytes, fdstat's entry), compared exactly. */
  observed?: FdObserved;
}

export function createState(stack: StackSpec, profile: Profile, kernel: KernelVersion): OvlState {
  const prefix = privatePrefix(profile);
  // S18.1: with nesting the outer's one lower is the inner overlay's merged view.
  const lowers = profile.nested ? [innerView('L0', stack.lowers, kernel)] : stack.lowers.map((spec, i) => buildLayer(`L${i}`, spec, prefix));
  const upper = buildLayer('U', stack.upper, prefix);
  const dataLayers = (stack.data ?? []).map((spec, i) => buildLayer(`D${i}`, spec, prefix));
  return mount({ profile, kernel, lowers, dataLayers, upper, lowerById: indexLowers(lowers), memOrigin: new Map(), xwLayers: new Set(), memNlink: new Map(), mountGen: -1 });
}

/**
 * The workdir's index (S6.6, S12.3) as this mount uses it: only with index=on. The entries
 * stay in the workdir across mounts without it (a remount with other options), and count in
 * the upper's link counts all the same.
 */
export function activeIndex(s: OvlState): Map<string, Inode> | undefined {
  return s.profile.index ? s.upper.index : undefined;
}

function indexLowers(lowers: readonly LayerFs[]): Map<string, LowerRef> {
  const byId = new Map<string, LowerRef>();
  lowers.forEach((l, layer) => walkLayer(l, (_p, inode) => byId.set(inode.id, { layer, inode })));
  return byId;
}

/**
 * Layer rotation, the way images are built (S15.5: an upper may become a lower): the upper
 * turns into the new top lower layer and a new empty upper with a new workdir starts. Inode
 * identities carry over (the upper dir is moved, not copied); the old workdir, with its
 * index links, is deleted. Then the stack is mounted again.
 */
export function rotate(s: OvlState): OvlState {
  const lowers = [{ name: s.upper.name, root: s.upper.root, next: s.upper.next }, ...s.lowers];
  const upper = emptyLayer(`U${upperGeneration(s) + 1}`);
  return mount({ ...s, lowers, upper, lowerById: indexLowers(lowers) });
}

function upperGeneration(s: OvlState): number {
  return Number(s.upper.name.slice(1) || '0');
}

/**
 * The model met a situation whose rule it does not hold yet. It says so rather than guess:
 * the CLI reports it as such, never as a divergence.
 */
export class NotModelled extends Error {
  constructor(what: string, readonly rule: string) {
    super(`the model does not hold this yet: ${what} (${rule})`);
  }
}

/** Whether the mount has an upper layer at all (S14.1). */
export function hasUpper(s: OvlState): boolean {
  return s.profile.readonly !== 'no-upper';
}

/** mnt_want_write on a read-only overlay: every modification fails EROFS (S4.11, S14.1, S14.2). */
export function isReadOnly(s: OvlState): boolean {
  if (s.profile.readonly !== undefined) cover(s.profile.readonly === 'ro' ? 'S14.2' : 'S14.1');
  return s.profile.readonly !== undefined;
}

/** A private copy of the state for an operation to modify (lowers are shared: read-only). */
export function forWrite(s: OvlState): OvlState {
  return { ...s, upper: cloneLayer(s.upper), memOrigin: new Map(s.memOrigin), memNlink: new Map(s.memNlink) };
}

export function ok(state: OvlState, rule: string): Step {
  coverRule(rule);
  return { state, outcome: 'ok', rule };
}

export function fail(state: OvlState, errno: Outcome, rule: string): Step {
  coverRule(rule);
  return { state, outcome: errno, rule };
}
