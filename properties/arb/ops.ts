// Random operations. Paths are picks, resolved when the step runs against the current
// model state: mostly names that exist somewhere in the stack, sometimes fresh ones.

import fc from 'fast-check';
import type { OpenFlag, OpName, RenameFlag, XattrFlag } from '../../model/index.js';
import { NAMES } from './layerStack.js';

/** A pick among existing paths, or a fresh name under a picked directory. */
export interface PathPick {
  pick: number;
  fresh?: string;
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
}

const pathPick: fc.Arbitrary<PathPick> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ pick: fc.nat(1000) }) },
  { weight: 1, arbitrary: fc.record({ pick: fc.nat(1000), fresh: fc.constantFrom(...NAMES, 'n1', 'n2') }) },
);

/** For names an operation creates: fresh half the time. */
const newPathPick: fc.Arbitrary<PathPick> = fc.oneof(
  { weight: 1, arbitrary: fc.record({ pick: fc.nat(1000) }) },
  { weight: 1, arbitrary: fc.record({ pick: fc.nat(1000), fresh: fc.constantFrom(...NAMES, 'n1', 'n2') }) },
);

const accMode = fc.constantFrom<OpenFlag>('O_RDONLY', 'O_WRONLY', 'O_RDWR');
const openExtras = fc.subarray<OpenFlag>(['O_CREAT', 'O_EXCL', 'O_TRUNC', 'O_APPEND', 'O_NOFOLLOW']);
const renameFlags = fc.oneof(
  { weight: 6, arbitrary: fc.constant<RenameFlag[]>([]) },
  { weight: 2, arbitrary: fc.constant<RenameFlag[]>(['RENAME_NOREPLACE']) },
  { weight: 2, arbitrary: fc.constant<RenameFlag[]>(['RENAME_EXCHANGE']) },
  { weight: 1, arbitrary: fc.constant<RenameFlag[]>(['RENAME_WHITEOUT']) },
);
const xattrFlag = fc.constantFrom<(XattrFlag | 'none')[]>(['none'], ['none'], ['XATTR_CREATE'], ['XATTR_REPLACE']);

function op(name: OpName, nPaths: number | fc.Arbitrary<PathPick[]>, extra: Partial<Record<'flags' | 'mode' | 'data' | 'size' | 'name' | 'value', fc.Arbitrary<unknown>>> = {}) {
  return fc.record({
    op: fc.constant(name),
    paths: typeof nPaths === 'number' ? fc.array(pathPick, { minLength: nPaths, maxLength: nPaths }) : nPaths,
    flags: (extra.flags ?? fc.constant([])) as fc.Arbitrary<string[]>,
    mode: (extra.mode ?? fc.constant(0o644)) as fc.Arbitrary<number>,
    data: (extra.data ?? fc.constant(undefined)) as fc.Arbitrary<string | undefined>,
    size: (extra.size ?? fc.constant(0)) as fc.Arbitrary<number>,
    name: (extra.name ?? fc.constant('')) as fc.Arbitrary<string>,
    value: (extra.value ?? fc.constant('')) as fc.Arbitrary<string>,
  });
}

const data = fc.string({ unit: fc.constantFrom('p', 'q', 'r', '\n'), minLength: 1, maxLength: 5 });
/** Ordinary names in user.* (or trusted.* where the layers have no user.*, S20.1), a few private ones. */
const xname = (ns: string) => fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(`${ns}.a`, `${ns}.b`) },
  { weight: 1, arbitrary: fc.constantFrom('trusted.a', 'trusted.overlay.opaque', 'trusted.overlay.x') },
);

/**
 * Weighted like the workloads overlay sees: opens and renames most. `rotateWeight` sets how
 * often the upper is rotated into a new lower layer (0 never).
 */
export function opArbitrary(rotateWeight = 1, remountWeight = 1, userXattrs = true): fc.Arbitrary<AbstractOp> {
  const ns = userXattrs ? 'user' : 'trusted';
  return fc.oneof(
  ...(remountWeight > 0 ? [{ weight: remountWeight, arbitrary: op('remount', 0) }] : []),
  ...(rotateWeight > 0 ? [{ weight: rotateWeight, arbitrary: op('rotate', 0) }] : []),
  { weight: 6, arbitrary: op('open', 1, { flags: fc.tuple(accMode, openExtras).map(([a, e]) => [a, ...e]), data: fc.option(data, { nil: undefined }), mode: fc.constantFrom(0o644, 0o600) }) },
  { weight: 2, arbitrary: op('truncate', 1, { size: fc.nat(6) }) },
  { weight: 3, arbitrary: op('unlink', 1) },
  { weight: 2, arbitrary: op('mkdir', fc.tuple(newPathPick), { mode: fc.constantFrom(0o755, 0o700) }) },
  { weight: 2, arbitrary: op('rmdir', 1) },
  { weight: 4, arbitrary: op('rename', fc.tuple(pathPick, newPathPick), { flags: renameFlags }) },
  { weight: 1, arbitrary: op('symlink', fc.tuple(newPathPick, pathPick)) },
  { weight: 2, arbitrary: op('link', fc.tuple(pathPick, newPathPick)) },
  { weight: 2, arbitrary: op('chmod', 1, { mode: fc.constantFrom(0o600, 0o644, 0o755, 0o700) }) },
  { weight: 1, arbitrary: op('mknod', fc.tuple(newPathPick), { flags: fc.constantFrom(['fifo'], ['fifo'], ['fifo'], ['whiteout']) }) },
  { weight: 2, arbitrary: op('setxattr', 1, { name: xname(ns), value: fc.constantFrom('1', '2', 'v'), flags: xattrFlag }) },
  { weight: 1, arbitrary: op('removexattr', 1, { name: xname(ns) }) },
  );
}

export const abstractOp = opArbitrary();
