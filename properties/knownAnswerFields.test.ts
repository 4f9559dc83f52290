// The known-answer fields of identity and layers (inode identity, st_dev class, st_ino high bits,
// owners, lower and data-only layer views, the errno of a listed name): each is checked on the
// model and on the implementation, so a right answer passes on both and a deliberately wrong one
// fails on both, with a line naming the field. A field that cannot fail would prove nothing.
import { describe, expect, it } from 'vitest';
import { hasFeature } from '../model/index.js';
import { runningKernel } from '../harness/sys.js';
import { ModelDriver } from '../harness/drivers/model.js';
import { useKernelDriver } from '../harness/drivers/kernelForTests.js';
import { inPrivateNamespace } from '../harness/namespace.js';
import type { Driver } from '../harness/driver.js';
import { parseCase, type CaseFile } from './caseFile.js';
import { formatFailure } from './report.js';
import { replayCase } from './replay.js';

/** Where a known answer goes: after the mount, after the one step (a chmod of /a), after the final remount. */
type Point = 'mount' | 'step' | 'remount';

interface Probe {
  what: string;
  profile: string;
  point: Point;
  right: Record<string, unknown>;
  wrong: Record<string, unknown>;
  /** What the failure line says. */
  says: RegExp;
  /** More upper entries. */
  upper?: Record<string, unknown>;
}

/** A lower hard link (/a, /b), a lower dir, an upper file; with data-only, a data layer blob; the step copies /a up. */
function caseWith(profile: string, point: Point, expectation: Record<string, unknown>, upper: Record<string, unknown> = {}): CaseFile {
  const dataOnly = profile === 'data-only';
  const c = {
    ovlcheck: 1,
    profile,
    layers: {
      lowers: [{ '/a': { type: 'file', data: 'x' }, '/b': { type: 'link', to: '/a' }, '/d/f': { type: 'file' } }, { '/g': { type: 'file' } }],
      upper: { '/u': { type: 'file', data: 'u' }, ...upper },
      ...(dataOnly ? { data: [{ '/blob': { type: 'file', data: 'blob' } }] } : {}),
    },
    ...(point === 'mount' ? { expect: expectation } : {}),
    steps: [{ op: 'chmod', path: '/a', mode: 0o600, ...(point === 'step' ? { expect: expectation } : {}) }],
    ...(point === 'remount' ? { expectAfterRemount: expectation } : {}),
  };
  return parseCase(JSON.stringify(c), `${profile} ${point}`);
}

const PROBES: Probe[] = [
  { what: 'sameInode', profile: 'default', point: 'mount', right: { sameInode: [['/a', '/b']] }, wrong: { sameInode: [['/a', '/g']] }, says: /\/a, \/g are not all one object/ },
  { what: 'sameInode across views', profile: 'default', point: 'mount', right: { distinctInode: [['/a', 'lower0:/a']] }, wrong: { sameInode: [['/a', 'lower0:/a']] }, says: /are not all one object/ },
  { what: 'distinctInode', profile: 'default', point: 'step', right: { distinctInode: [['/a', '/b']] }, wrong: { distinctInode: [['/b', 'lower0:/b', '/g', '/b']] }, says: /include one object twice/ },
  { what: 'sameIno', profile: 'default', point: 'mount', right: { sameIno: [['/a', 'lower0:/a'], ['/', 'upper:/']] }, wrong: { sameIno: [['/a', 'lower1:/g']] }, says: /do not all show one st_ino/ },
  { what: 'inoSince same', profile: 'default', point: 'step', right: { inoSince: { '/b': 'same' } }, wrong: { inoSince: { '/a': 'same' } }, says: /\/a st_ino is not the one it showed after the mount/ },
  { what: 'inoSince changed', profile: 'default', point: 'step', right: { inoSince: { '/a': 'changed' } }, wrong: { inoSince: { '/b': 'changed' } }, says: /\/b st_ino is the one it showed/ },
  { what: 'inoSince a name', profile: 'default', point: 'remount', right: { inoSince: { '/b': '/a' } }, wrong: { inoSince: { '/a': '/b' } }, says: /\/a st_ino is not the one \/b showed/ },
  { what: 'inoSinceStep', profile: 'default', point: 'remount', right: { inoSince: { '/a': 'same' }, inoSinceStep: 1 }, wrong: { inoSince: { '/a': 'same' } }, says: /not the one it showed after the mount/ },
  { what: 'dev overlay', profile: 'split-fs', point: 'mount', right: { merged: { '/d': { dev: 'overlay' } } }, wrong: { merged: { '/d': { dev: 'pseudo' } } }, says: /merged \/d dev = "overlay", known answer "pseudo"/ },
  { what: 'dev pseudo', profile: 'split-fs', point: 'mount', right: { merged: { '/a': { dev: 'pseudo' } } }, wrong: { merged: { '/a': { dev: 'overlay' } } }, says: /merged \/a dev = "pseudo"/ },
  { what: 'dev layer', profile: 'split-fs', point: 'mount', right: { upper: { '/u': { dev: 'layer' } } }, wrong: { upper: { '/u': { dev: 'pseudo' } } }, says: /upper \/u dev = "layer"/ },
  { what: 'inoHigh', profile: 'xino-on-split', point: 'mount', right: { merged: { '/a': { inoHigh: 0x80000000 }, '/u': { inoHigh: 0 } } }, wrong: { merged: { '/a': { inoHigh: 0 } } }, says: /merged \/a inoHigh = 2147483648, known answer 0/ },
  { what: 'uid', profile: 'default', point: 'mount', right: { merged: { '/a': { uid: 0 } } }, wrong: { merged: { '/a': { uid: 1000 } } }, says: /merged \/a uid = 0, known answer 1000/ },
  { what: 'gid', profile: 'default', point: 'step', right: { upper: { '/a': { gid: 0 } } }, wrong: { upper: { '/a': { gid: 1 } } }, says: /upper \/a gid = 0, known answer 1/ },
  { what: 'lowers', profile: 'default', point: 'step', right: { lowers: [{ '/a': { mode: 0o644, nlink: 2 } }, { '/g': {}, '/a': null }] }, wrong: { lowers: [{}, { '/a': {} }] }, says: /lower1 \/a is absent/ },
  { what: 'lowers unchanged by a step', profile: 'default', point: 'step', right: { lowers: [{ '/a': { mode: 0o644 } }] }, wrong: { lowers: [{ '/a': { mode: 0o600 } }] }, says: /lower0 \/a mode = 420, known answer 384/ },
  { what: 'a lower view the stack lacks', profile: 'default', point: 'mount', right: { lowers: [{}, {}, {}] }, wrong: { lowers: [{}, {}, { '/a': {} }] }, says: /no lower2 view/ },
  // S3.4, S3.5, S22.9: an xattr whiteout in the upper is listed, and its lookup fails with ENOENT.
  {
    what: 'errno of a listed name', profile: 'default', point: 'mount', upper: { '/v/w': { type: 'file', xattrs: { 'trusted.overlay.whiteout': 'y' } } },
    right: { merged: { '/v/w': { kind: 'error', errno: 'ENOENT' } } }, wrong: { merged: { '/v/w': { kind: 'error', errno: 'EPERM' } } }, says: /merged \/v\/w errno = "ENOENT", known answer "EPERM"/,
  },
  {
    what: 'no identity for a listed name', profile: 'default', point: 'mount', upper: { '/v/w': { type: 'file', xattrs: { 'trusted.overlay.whiteout': 'y' } } },
    right: { distinctInode: [['/a', '/u']] }, wrong: { distinctInode: [['/v/w', '/u']] }, says: /\/v\/w is listed but its lookup fails \(ENOENT\)/,
  },
  { what: 'data', profile: 'data-only', point: 'mount', right: { data: [{ '/blob': { data: 'blob' } }], merged: { '/blob': null } }, wrong: { data: [{ '/blob': { data: 'other' } }] }, says: /data0 \/blob data = "blob"/ },
];

/** The known-answer lines of a replay; fails on a divergence, which no probe is about. */
async function answers(c: CaseFile, driver: Driver): Promise<string[]> {
  const k = runningKernel();
  const r = await replayCase(c, driver, k, 'test');
  expect(r.failure ? formatFailure(r.failure) : '').toBe('');
  return r.knownAnswerErrors;
}

function probeAll(driver: () => Driver, side: string): void {
  for (const p of PROBES) {
    it.skipIf(p.upper !== undefined && !hasFeature(runningKernel(), 'xattrWhiteouts'))(`${p.what}: the right answer holds, a wrong one fails on both sides`, async () => {
      expect(await answers(caseWith(p.profile, p.point, p.right, p.upper), driver())).toEqual([]);
      const wrong = await answers(caseWith(p.profile, p.point, p.wrong, p.upper), driver());
      // One line from each side (the model's, the driver's: both "model" against the model driver).
      expect(wrong.filter((l) => l.includes(' model:') && p.says.test(l))).toHaveLength(side === 'model' ? 2 : 1);
      expect(wrong.filter((l) => l.includes(` ${side}:`) && p.says.test(l))).toHaveLength(side === 'model' ? 2 : 1);
      expect(wrong.filter((l) => !p.says.test(l))).toEqual([]);
    });
  }
}

describe('known-answer fields: model against model', () => {
  probeAll(() => new ModelDriver(runningKernel()), 'model');
  it('no known answer holds for an overlay-private st_ino across a mount (S8.2)', async () => {
    for (const how of ['same', 'changed']) {
      const lines = await answers(caseWith('split-fs', 'remount', { inoSince: { '/d': how, '/b': 'same' }, distinctInode: [['/a', '/b']] }), new ModelDriver(runningKernel()));
      expect(lines).toEqual(['after remount model: /d shows an st_ino the overlay hands out for one mount (S8.2): whether it is the same after another mount is not known']
        .flatMap((l) => [l, l]));
    }
  });
  it('an earlier point must come before', () => {
    expect(() => parseCase(JSON.stringify({ ovlcheck: 1, layers: { lowers: [{}] }, expect: { inoSince: { '/': 'same' } }, steps: [] }), 'c'))
      .toThrow(/expect.inoSince: right after the mount there is no earlier point/);
    expect(() => parseCase(JSON.stringify({ ovlcheck: 1, layers: { lowers: [{}] }, steps: [{ op: 'remount', expect: { inoSince: { '/': 'same' }, inoSinceStep: 1 } }] }), 'c'))
      .toThrow(/steps\[0\]\.expect\.inoSinceStep: 1 is not before this point: 0 \(the mount\) to 0/);
    expect(() => parseCase(JSON.stringify({ ovlcheck: 1, layers: { lowers: [{}] }, expect: { sameInode: [['/a', 'up:/b']] }, steps: [] }), 'c'))
      .toThrow(/expect.sameInode\[0\]\[1\]: "up:\/b" is not a name/);
    expect(() => parseCase(JSON.stringify({ ovlcheck: 1, layers: { lowers: [{}] }, expect: { merged: { '/': { dev: 'anon' } } }, steps: [] }), 'c'))
      .toThrow(/unknown device class "anon" \(one of: overlay, pseudo, layer\)/);
  });
});

describe.skipIf(!inPrivateNamespace())('known-answer fields: model against kernel', () => {
  const kernel = useKernelDriver();
  probeAll(kernel, 'kernel');
});
