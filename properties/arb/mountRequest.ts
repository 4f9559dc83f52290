// Random mount requests: layers that are missing, files, the same dir twice, nested in each
// other or in the upper, a workdir on another filesystem or inside the upper, bad
// separators and escapes, too many layers, unknown and conflicting options.

import fc from 'fast-check';
import type { MountRequest } from '../../model/mountCheck.js';

const layer = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('l0', 'l1', 'l2', 'l3') },
  { weight: 3, arbitrary: fc.constantFrom('l0/sub', 'u', 'u/sub', 'w', 'w2', 'other', 'other/w', 'other/u') },
  { weight: 2, arbitrary: fc.constantFrom('file', 'missing', 'c\\:1', 'c:1') },
);
const upper = fc.oneof({ weight: 6, arbitrary: fc.constant('u') }, { weight: 3, arbitrary: layer });
const work = fc.oneof({ weight: 6, arbitrary: fc.constant('w') }, { weight: 3, arbitrary: layer });
// Options that leave nothing behind a successful mount (index=on would tie the upper to its
// lower, S12.1; volatile would block the workdir, S14.3).
const option = fc.constantFrom(
  'metacopy=on', 'redirect_dir=follow', 'redirect_dir=nofollow', 'redirect_dir=on', 'userxattr', 'xino=auto',
  'uuid=null', 'nfs_export=on,index=off', 'bogus=1', 'index=maybe',
);

const ordinary: fc.Arbitrary<MountRequest> = fc.record({
  lowers: fc.array(layer, { maxLength: 4 }),
  separator: fc.oneof(
    { weight: 10, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constantFrom('leading', 'trailing', 'triple') as fc.Arbitrary<MountRequest['separator']> },
  ),
  upper: fc.option(upper, { freq: 4, nil: undefined }),
  work: fc.option(work, { freq: 5, nil: undefined }),
  options: fc.oneof({ weight: 3, arbitrary: fc.constant([] as string[]) }, { weight: 2, arbitrary: fc.array(option as fc.Arbitrary<string>, { minLength: 1, maxLength: 2 }) }),
}, { requiredKeys: ['lowers', 'options'] });

/** 500 lowers mount; 501 do not (S1.12). */
const many: fc.Arbitrary<MountRequest> = fc.constantFrom(500, 501).map((n) => ({
  lowers: Array.from({ length: n }, (_, i) => `m${i}`), upper: 'u', work: 'w', options: [],
}));

export const mountRequest: fc.Arbitrary<MountRequest> = fc.oneof({ weight: 30, arbitrary: ordinary }, { weight: 1, arbitrary: many });
