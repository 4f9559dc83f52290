// Who makes a step (S11): root most of the time, else one of a few users, with their own
// groups and umask; and the owners and modes layer entries get so that their checks matter.

import fc from 'fast-check';
import type { Caller, TimeSpec } from '../../model/index.js';

/** The callers a generated step may run as (index 0 is root: no `as`). 1001 is also in group 1000. */
export const CALLERS: readonly (Caller | undefined)[] = [
  undefined,
  { uid: 1000, gid: 1000, groups: [1000] },
  { uid: 1001, gid: 1001, groups: [1001, 1000] },
  { uid: 1000, gid: 1000, groups: [1000], umask: 0o077 },
];

/** An index into CALLERS: root about two steps in three. */
export const callerPick = fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 3, arbitrary: fc.integer({ min: 1, max: CALLERS.length - 1 }) });

/** Owners of layer entries: mostly root, else one of the callers. */
export const ownerArb = fc.constantFrom(0, 0, 0, 1000, 1001);

/** Dir modes that make the checks matter: private, shared, sticky (like /tmp), setgid (S4.5). */
export const dirModeArb = fc.constantFrom(0o755, 0o755, 0o700, 0o777, 0o1777, 0o2775, 0o750);

/** chown targets: each id kept (-1), root, or a caller's. */
export const ownerIdArb = fc.constantFrom(-1, 0, 1000, 1001);

/** Explicit times (whole seconds), or UTIME_NOW / UTIME_OMIT. */
export const timeArb: fc.Arbitrary<TimeSpec> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(1_000_000_000, 1_200_000_000, 1_500_000_000) },
  { weight: 1, arbitrary: fc.constantFrom<TimeSpec>('now', 'omit') },
);
