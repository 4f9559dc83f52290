// Random operations. Paths are picks, resolved when the step runs against the current
// model state: mostly names that exist somewhere in the stack, sometimes fresh ones, and
// (with locality) names near what the earlier steps of the case touched.

import fc from 'fast-check';
import type { FdOpenFlag, OpenFlag, OpName, RenameFlag, TimeSpec, XattrFlag } from '../../model/index.js';
import { callerPick, ownerIdArb, timeArb } from './callers.js';
import { NAMES } from './layerStack.js';

/** How a relative pick relates to a path an earlier step touched (properties/commands.ts). */
export type Near = 'same' | 'parent' | 'child' | 'sibling' | 'link';

/**
 * A pick among existing paths, or a fresh name under a picked directory. With `near`, the
 * pick is relative to the path touched `back` touches ago (0: the last one): that path, its
 * parent, a child, a sibling or another hard-link name of it; a fresh name goes into that
 * path if it is a dir, else beside it. Without touched paths (the first step) it is uniform.
 */
export interface PathPick {
  pick: number;
  fresh?: string;
  near?: Near;
  back?: number;
}

export interface AbstractOp {
  op: OpName;
  paths: PathPick[];
  flags: string[];
  mode: number;
  data?: string;
  size: number;
  name: string;
  value: string;
  /** Dir-stream steps: the slot (0..2). */
  dir?: number;
  /** An index into CALLERS (arb/callers.ts): who makes the step; absent or 0: root. */
  caller?: number;
  /** chown: the new uid and gid (-1 keeps one). */
  owner?: [number, number];
  /** utimensat: atime and mtime. */
  times?: [TimeSpec, TimeSpec];
  /** fd steps: which slot, resolved against the slots open when the step runs (properties/commands.ts). */
  slot?: number;
}

/** Names at NAME_MAX (255 bytes: allowed) and one byte past it (ENAMETOOLONG, S2.9). */
export const LONG_NAMES = ['l'.repeat(255), 'm'.repeat(256)] as const;
const freshName = fc.oneof({ weight: 14, arbitrary: fc.constantFrom(...NAMES, 'n1', 'n2') }, { weight: 1, arbitrary: fc.constantFrom(...LONG_NAMES) });
const nearArb = fc.constantFrom<Near>('same', 'same', 'parent', 'parent', 'child', 'child', 'child', 'sibling', 'sibling', 'sibling', 'link');
const uniform = fc.record({ pick: fc.nat(1000) });
const fresh = fc.record({ pick: fc.nat(1000), fresh: freshName });
const near = fc.record({ pick: fc.nat(1000), near: nearArb, back: fc.nat(3) });
const nearFresh = fc.record({ pick: fc.nat(1000), fresh: freshName, near: nearArb, back: fc.nat(3) });

/** The picks of one generator: names an operation uses, and names it creates. */
export interface Picks {
  path: fc.Arbitrary<PathPick>;
  newPath: fc.Arbitrary<PathPick>;
}

/** The generator as it was before locality (issue 10): uniform over the stack's names. */
const UNIFORM: Picks = {
  path: fc.oneof({ weight: 4, arbitrary: uniform }, { weight: 1, arbitrary: fresh }),
  newPath: fc.oneof({ weight: 1, arbitrary: uniform }, { weight: 1, arbitrary: fresh }),
};

/** About half the picks stay uniform, the rest lean toward recent steps' names. */
const LOCAL: Picks = {
  path: fc.oneof({ weight: 6, arbitrary: uniform }, { weight: 1, arbitrary: fresh }, { weight: 3, arbitrary: near }, { weight: 1, arbitrary: nearFresh }),
  newPath: fc.oneof({ weight: 2, arbitrary: uniform }, { weight: 2, arbitrary: fresh }, { weight: 1, arbitrary: near }, { weight: 2, arbitrary: nearFresh }),
};

/** Picks for the steps a scenario runs after its first: the last touched path, its parent or child. */
export const FOLLOW: Picks = {
  path: fc.record({ pick: fc.nat(1000), near: fc.constantFrom<Near>('same', 'same', 'same', 'parent', 'child'), back: fc.constant(0) }),
  newPath: fc.record({ pick: fc.nat(1000), fresh: freshName, near: fc.constantFrom<Near>('same', 'parent'), back: fc.constant(0) }),
};

const accMode = fc.constantFrom<OpenFlag>('O_RDONLY', 'O_WRONLY', 'O_RDWR');
const openExtras = fc.subarray<OpenFlag>(['O_CREAT', 'O_EXCL', 'O_TRUNC', 'O_APPEND', 'O_NOFOLLOW']);
const renameFlags = fc.oneof(
  { weight: 6, arbitrary: fc.constant<RenameFlag[]>([]) },
  { weight: 2, arbitrary: fc.constant<RenameFlag[]>(['RENAME_NOREPLACE']) },
  { weight: 2, arbitrary: fc.constant<RenameFlag[]>(['RENAME_EXCHANGE']) },
  { weight: 1, arbitrary: fc.constant<RenameFlag[]>(['RENAME_WHITEOUT']) },
);
const xattrFlag = fc.constantFrom<(XattrFlag | 'none')[]>(['none'], ['none'], ['XATTR_CREATE'], ['XATTR_REPLACE']);

type Extra = Partial<Record<'flags' | 'mode' | 'data' | 'size' | 'name' | 'value' | 'slot', fc.Arbitrary<unknown>>>;

function op(name: OpName, paths: fc.Arbitrary<PathPick[]>, extra: Extra = {}) {
  return fc.record({
    op: fc.constant(name),
    paths,
    flags: (extra.flags ?? fc.constant([])) as fc.Arbitrary<string[]>,
    mode: (extra.mode ?? fc.constant(0o644)) as fc.Arbitrary<number>,
    data: (extra.data ?? fc.constant(undefined)) as fc.Arbitrary<string | undefined>,
    size: (extra.size ?? fc.constant(0)) as fc.Arbitrary<number>,
    name: (extra.name ?? fc.constant('')) as fc.Arbitrary<string>,
    value: (extra.value ?? fc.constant('')) as fc.Arbitrary<string>,
    ...(extra.slot ? { slot: extra.slot as fc.Arbitrary<number> } : {}),
  });
}

export const data = fc.string({ unit: fc.constantFrom('p', 'q', 'r', '\n'), minLength: 1, maxLength: 5 });
/** Ordinary names in user.* (or trusted.* where the layers have no user.*, S20.1), a few private ones. */
export const xname = (ns: string, trusted = true) => fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(`${ns}.a`, `${ns}.b`) },
  // Not where only CAP_SYS_ADMIN in the initial user namespace may set them (rootless mode).
  ...(trusted ? [{ weight: 1, arbitrary: fc.constantFrom('trusted.a', 'trusted.overlay.opaque', 'trusted.overlay.x') }] : []),
);

/** The operations that change the namespace or an inode, with their own arguments, over the given picks. */
function changes(p: Picks, ns: string, trusted = true, whiteoutDevices = true) {
  const one = fc.tuple(p.path);
  return {
    open: op('open', one, { flags: fc.tuple(accMode, openExtras).map(([a, e]) => [a, ...e]), data: fc.option(data, { nil: undefined }), mode: fc.constantFrom(0o644, 0o600) }),
    // Sizes and offsets past a 4 KiB page make holes (S17.6): tmpfs allocates whole pages.
    truncate: op('truncate', one, { size: fc.oneof({ weight: 6, arbitrary: fc.nat(6) }, { weight: 1, arbitrary: fc.constantFrom(4096, 4097, 12290) }) }),
    pwrite: op('pwrite', one, { size: fc.constantFrom(0, 2, 4095, 4096, 8195, 12288), data }),
    unlink: op('unlink', one),
    mkdir: op('mkdir', fc.tuple(p.newPath), { mode: fc.constantFrom(0o755, 0o700) }),
    rmdir: op('rmdir', one),
    rename: op('rename', fc.tuple(p.path, p.newPath), { flags: renameFlags }),
    symlink: op('symlink', fc.tuple(p.newPath, p.path)),
    link: op('link', fc.tuple(p.path, p.newPath)),
    chmod: op('chmod', one, { mode: fc.constantFrom(0o600, 0o644, 0o755, 0o700) }),
    mknod: op('mknod', fc.tuple(p.newPath), { flags: whiteoutDevices ? fc.constantFrom(['fifo'], ['fifo'], ['fifo'], ['whiteout']) : fc.constant(['fifo']) }),
    setxattr: op('setxattr', one, { name: xname(ns, trusted), value: fc.constantFrom('1', '2', 'v'), flags: xattrFlag }),
    removexattr: op('removexattr', one, { name: xname(ns, trusted) }),
    lsetxattr: op('lsetxattr', one, { name: xname(ns, trusted), value: fc.constantFrom('1', '2'), flags: xattrFlag }),
    chown: fc.tuple(op('chown', one, { flags: nofollowArb }), ownerIdArb, ownerIdArb).map(([o, uid, gid]): AbstractOp => ({ ...o, owner: [uid, gid] })),
    utimes: fc.tuple(op('utimes', one, { flags: nofollowArb }), timeArb, timeArb).map(([o, a, m]): AbstractOp => ({ ...o, times: [a, m] })),
  };
}

const fdOpenFlags = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(accMode, fc.subarray<FdOpenFlag>(['O_CREAT', 'O_TRUNC', 'O_APPEND'])).map(([a, e]): FdOpenFlag[] => [a, ...e]) },
  { weight: 2, arbitrary: fc.constant<FdOpenFlag[]>(['O_RDONLY', 'O_DIRECTORY']) },
  { weight: 1, arbitrary: fc.constantFrom<FdOpenFlag[]>(['O_RDWR', 'O_TMPFILE'], ['O_WRONLY', 'O_TMPFILE']) },
);

/** Steps on open fds (model/fds.ts), over the given picks; `slot` picks among the open ones. */
export function fdSteps(p: Picks, ns: string, trusted = true) {
  const slot = { slot: fc.nat(7) };
  const one = fc.tuple(p.path); // the uses too: what to open when no fd is (properties/commands.ts)
  return {
    fdopen: op('fdopen', one, { ...slot, flags: fdOpenFlags, mode: fc.constantFrom(0o644, 0o600) }),
    fdread: op('fdread', one, slot),
    fdwrite: op('fdwrite', one, { ...slot, data }),
    fdpwrite: op('fdpwrite', one, { ...slot, data, size: fc.nat(6) }),
    fdstat: op('fdstat', one, slot),
    fdchmod: op('fdchmod', one, { ...slot, mode: fc.constantFrom(0o600, 0o644, 0o755, 0o700) }),
    fdchown: op('fdchown', one, slot),
    fdsetxattr: op('fdsetxattr', one, { ...slot, name: xname(ns, trusted), value: fc.constantFrom('1', '2', 'v') }),
    fdtruncate: op('fdtruncate', one, { ...slot, size: fc.nat(6) }),
    fdlink: op('fdlink', fc.tuple(p.newPath), slot),
    fdclose: op('fdclose', one, slot),
  };
}

/** The fd steps' share of the default generator: an open early, uses after other steps. */
function fdWeighted(p: Picks, ns: string, trusted = true) {
  const f = fdSteps(p, ns, trusted);
  return [
    { weight: 4, arbitrary: f.fdopen }, { weight: 2, arbitrary: f.fdread }, { weight: 3, arbitrary: f.fdstat },
    { weight: 1, arbitrary: f.fdwrite }, { weight: 1, arbitrary: f.fdpwrite }, { weight: 1, arbitrary: f.fdchmod },
    { weight: 1, arbitrary: f.fdchown }, { weight: 1, arbitrary: f.fdsetxattr }, { weight: 1, arbitrary: f.fdtruncate },
    { weight: 1, arbitrary: f.fdlink }, { weight: 1, arbitrary: f.fdclose },
  ];
}

/**
 * Directory streams (S9): open a dir into a slot, read a few entries or all, seek back to the
 * start or to an earlier read's offset, close. `size` is how many entries (99: to the end) or
 * which read to seek back to (0: rewinddir).
 */
function dirStreamOps(p: Picks) {
  const slot = fc.constantFrom(0, 0, 0, 1, 2);
  const stream = (name: OpName, size: fc.Arbitrary<number>, paths: fc.Arbitrary<PathPick[]> = fc.constant([])): fc.Arbitrary<AbstractOp> =>
    fc.record({ op: fc.constant(name), paths, flags: fc.constant([] as string[]), mode: fc.constant(0), size, name: fc.constant(''), value: fc.constant(''), dir: slot });
  return {
    opendir: stream('opendir', fc.constant(0), fc.tuple(p.path)),
    readdir: stream('readdir', fc.constantFrom(1, 1, 2, 3, 99)),
    seekdir: stream('seekdir', fc.constantFrom(0, 0, 1, 2)),
    closedir: stream('closedir', fc.constant(0)),
  };
}

const nofollowArb = fc.constantFrom([], [], ['nofollow']);

/** What a driver can run (Driver.cannot): the step families the generator may use. */
export interface Families {
  callers: boolean;
  chown: boolean;
  utimes: boolean;
  /** Directory streams held across steps (S9): only where every side can (Driver.cannotRun). */
  dirStreams?: boolean;
  /** Remounts with another option set (S1.15): only where every side can (Driver.remountOptions). */
  optionRemounts?: boolean;
  /** Steps on fds held open across steps (S17): only where every side can (Driver.observed). */
  fds?: boolean;
  /** false: no trusted.* xattr names, which only CAP_SYS_ADMIN in the initial user namespace sets (rootless mode, harness/probe.ts). */
  trustedXattrs?: boolean;
  /** false: no mknod of a chardev 0/0, which the implementation's format holds as a device, not a whiteout (LayerCodec.whiteoutDevice). */
  whiteoutDevices?: boolean;
}

export const ALL_FAMILIES: Families = { callers: true, chown: true, utimes: true };

/** Steps made by a random caller (S11), where the driver can switch credentials. */
/** Steps that run as root: mounts, and dir streams and fd steps, whose permission checks the model does not hold yet. */
const ROOT_ONLY = new Set<OpName>([
  'remount', 'rotate', 'opendir', 'readdir', 'seekdir', 'closedir',
  'fdopen', 'fdread', 'fdwrite', 'fdpwrite', 'fdstat', 'fdchmod', 'fdchown', 'fdsetxattr', 'fdtruncate', 'fdlink', 'fdclose',
]);

function byCallers(ops: fc.Arbitrary<AbstractOp>, f: Families): fc.Arbitrary<AbstractOp> {
  if (!f.callers) return ops;
  return fc.tuple(ops, callerPick).map(([o, caller]) => (caller && !ROOT_ONLY.has(o.op) ? { ...o, caller } : o));
}

/**
 * Weighted like the workloads overlay sees: opens and renames most. `rotateWeight` sets how
 * often the upper is rotated into a new lower layer (0 never). `locality` false: every pick
 * uniform, as before issue 10.
 */
export function opArbitrary(rotateWeight = 1, remountWeight = 1, userXattrs = true, locality = true, f: Families = ALL_FAMILIES): fc.Arbitrary<AbstractOp> {
  const picks = locality ? LOCAL : UNIFORM;
  const ns = userXattrs ? 'user' : 'trusted';
  const c = changes(picks, ns, f.trustedXattrs !== false, f.whiteoutDevices !== false);
  const d = dirStreamOps(picks);
  const none = fc.constant([] as PathPick[]);
  // A remount with other options: `size` picks the option set when the step runs (commands.ts).
  const withOptions = op('remount', none, { flags: fc.constant(['options']), size: fc.nat(1000) });
  return byCallers(fc.oneof(
    ...(f.dirStreams ? [
      { weight: 2, arbitrary: d.opendir }, { weight: 4, arbitrary: d.readdir }, { weight: 1, arbitrary: d.seekdir }, { weight: 1, arbitrary: d.closedir },
    ] : []),
    ...(remountWeight > 0 ? [{ weight: remountWeight, arbitrary: op('remount', none) }] : []),
    ...(remountWeight > 0 && f.optionRemounts ? [{ weight: remountWeight, arbitrary: withOptions }] : []),
    ...(rotateWeight > 0 ? [{ weight: rotateWeight, arbitrary: op('rotate', none) }] : []),
    { weight: 6, arbitrary: c.open },
    { weight: 2, arbitrary: c.truncate },
    { weight: 1, arbitrary: c.pwrite },
    { weight: 3, arbitrary: c.unlink },
    { weight: 2, arbitrary: c.mkdir },
    { weight: 2, arbitrary: c.rmdir },
    { weight: 4, arbitrary: c.rename },
    { weight: 1, arbitrary: c.symlink },
    { weight: 2, arbitrary: c.link },
    { weight: 2, arbitrary: c.chmod },
    { weight: 1, arbitrary: c.mknod },
    { weight: 2, arbitrary: c.setxattr },
    { weight: 1, arbitrary: c.removexattr },
    { weight: 1, arbitrary: c.lsetxattr },
    ...(f.chown ? [{ weight: 1, arbitrary: c.chown }] : []),
    ...(f.utimes ? [{ weight: 1, arbitrary: c.utimes }] : []),
    ...(f.fds ? fdWeighted(picks, ns, f.trustedXattrs !== false) : []),
  ), f);
}

/** A step that follows a scenario's first steps: on the last touched name, its parent or a child. */
export function followOp(userXattrs = true, f: Families = ALL_FAMILIES): fc.Arbitrary<AbstractOp> {
  const c = changes(FOLLOW, userXattrs ? 'user' : 'trusted', f.trustedXattrs !== false, f.whiteoutDevices !== false);
  const fd = fdSteps(FOLLOW, userXattrs ? 'user' : 'trusted', f.trustedXattrs !== false);
  return byCallers(fc.oneof(
    { weight: 4, arbitrary: c.open },
    { weight: 1, arbitrary: c.truncate },
    { weight: 2, arbitrary: c.unlink },
    { weight: 2, arbitrary: c.mkdir },
    { weight: 2, arbitrary: c.rmdir },
    { weight: 2, arbitrary: c.rename },
    { weight: 1, arbitrary: c.link },
    { weight: 2, arbitrary: c.chmod },
    { weight: 2, arbitrary: c.setxattr },
    { weight: 1, arbitrary: c.removexattr },
    ...(f.fds ? [{ weight: 2, arbitrary: fd.fdstat }, { weight: 1, arbitrary: fd.fdread }] : []), // what an open fd sees now
  ), f);
}

/**
 * Scenarios: several steps that deliberately follow each other (issue 10), resolved against
 * the model state when they run (properties/commands.ts). The names are the patterns
 * properties/patterns.ts detects in what a case did.
 */
export const SCENARIOS = [
  'empty-then-remove', 'child-then-parent', 'fail-then-look', 'delete-then-recreate', 'rename-dir-then-inside', 'link-then-modify',
  'dir-copy-up-then-inside', 'read-dir-while-changing', 'fd-across-change',
] as const;
export type ScenarioKind = (typeof SCENARIOS)[number];

export interface AbstractScenario {
  scenario: ScenarioKind;
  /** Chooses the name it works on among those that fit. */
  pick: number;
  /** Chooses among its ways (which change, which ending). */
  way: number;
  mode: number;
  data: string;
  name: string;
  value: string;
  /** Steps after it, on the name it ended on, its parent or a child. */
  then: AbstractOp[];
}

export function scenarioArbitrary(userXattrs = true, f: Families = ALL_FAMILIES): fc.Arbitrary<AbstractScenario> {
  const others = SCENARIOS.filter((k) => k !== 'fd-across-change' && (f.dirStreams || k !== 'read-dir-while-changing'));
  return fc.record({
    // fds across other steps: twice the weight of another scenario (S17.1 needs a write in between)
    scenario: f.fds
      ? fc.oneof({ weight: 7, arbitrary: fc.constantFrom(...others) }, { weight: 2, arbitrary: fc.constant<ScenarioKind>('fd-across-change') })
      : fc.constantFrom(...others),
    pick: fc.nat(1000),
    way: fc.nat(1 << 12),
    mode: fc.constantFrom(0o600, 0o700, 0o755),
    data,
    name: fc.constantFrom(...(userXattrs ? ['user.a', 'user.b'] : ['trusted.a', 'trusted.b'])),
    value: fc.constantFrom('1', '2'),
    then: fc.array(followOp(userXattrs, f), { maxLength: 2 }),
  });
}

export const abstractOp = opArbitrary();
