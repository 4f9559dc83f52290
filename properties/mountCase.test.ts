// Mount case files (properties/mountCase.ts): the format; every properties/cases/mount-*.json
// on the model at each kernel version of the matrix and on the running kernel, with its known
// answers; and a divergence of either mount property, saved as a case, replays to the same
// divergence. Fixed run counts and seeds: nothing here depends on the machine's speed.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { KernelVersion } from '../model/types.js';
import { predictMount } from '../model/mountCheck.js';
import { coverageContext } from '../model/coverage.js';
import { useCoverage } from './coverageForTests.js';
import { stepSequence, type StepSequence } from '../model/mountSequence.js';
import { inPrivateNamespace } from '../harness/namespace.js';
import { openSandbox } from '../harness/sandbox.js';
import { localSys, runningKernel } from '../harness/sys.js';
import { CaseError } from './caseFile.js';
import {
  isMountCase, modelKnownAnswerErrors, mountCaseRefusal, mountCaseSchema, mountFailureCase, parseMountCase, replayMountCase,
  sequenceFailureCase, type MountCase,
} from './mountCase.js';
import {
  formatMountFailure, formatSequenceFailure, mountSignature, runMountSequences, runMountValidation, sequenceSignature,
} from './mountValidation.js';

const dir = join(import.meta.dirname, 'cases');
const files = readdirSync(dir).filter((f) => /^mount-.*\.json$/.test(f)).sort();
const cases = files.map((file) => ({ file, c: parseMountCase(readFileSync(join(dir, file), 'utf8'), file) }));
const KERNELS: KernelVersion[] = [[6, 1, 192], [6, 12, 117], [6, 18, 44], runningKernel()];
const title = (file: string, c: MountCase) => `${(c.cites ?? []).join(' ')} ${file}`;

useCoverage('mountCases'); // npm test's coverage table (reports/coverage)

/** The same case through JSON, as the CLI saves it and replay reads it. */
const saved = (c: unknown): MountCase => parseMountCase(JSON.stringify(c, null, 2), 'saved');

/** What a model before issue 11 did: a mount that fails writes nothing. */
const forgetful: StepSequence = (st, a, k) => {
  const r = stepSequence(st, a, k);
  return r.outcome === 'ok' ? r : { ...r, state: st };
};

describe('mount case files: format', () => {
  it('there are regression cases, each a mount case with a name, description and cites', () => {
    expect(files.length).toBeGreaterThanOrEqual(6);
    for (const { file, c } of cases) {
      expect(isMountCase(JSON.parse(readFileSync(join(dir, file), 'utf8'))), file).toBe(true);
      expect([c.name, c.description, c.cites?.length].every(Boolean), file).toBe(true);
    }
  });

  it('isMountCase goes by kind: the other case files are not mount cases', () => {
    expect(isMountCase({ ovlcheck: 1, kind: 'mount-request' })).toBe(true);
    expect(isMountCase({ ovlcheck: 1, layers: { lowers: [{}] }, steps: [] })).toBe(false);
    expect(isMountCase(null)).toBe(false);
  });

  it('every field of the schema is described', () => {
    const undescribed: string[] = [];
    const walk = (s: unknown, where: string) => {
      if (!s || typeof s !== 'object') return;
      const node = s as { description?: string; properties?: Record<string, unknown>; items?: unknown; anyOf?: unknown[]; oneOf?: unknown[] };
      for (const [k, v] of Object.entries(node.properties ?? {})) {
        if (!(v as { description?: string }).description) undescribed.push(`${where}.${k}`);
        walk(v, `${where}.${k}`);
      }
      walk(node.items, `${where}[]`);
      for (const [i, v] of [...(node.anyOf ?? []), ...(node.oneOf ?? [])].entries()) walk(v, `${where}|${i}`);
    };
    walk(z.toJSONSchema(mountCaseSchema, { io: 'input' }), 'case');
    expect(undescribed).toEqual([]);
  });

  const refused: [string, unknown, RegExp][] = [
    ['an unknown key', { ovlcheck: 1, kind: 'mount-request', request: { lowers: ['l0'], options: [] }, bogus: 1 }, /^x\.json: bogus: unknown key/],
    ['an unknown key in a step', { ovlcheck: 1, kind: 'mount-sequence', steps: [{ do: 'umount', at: 0, pick: 1 }] }, /steps\[0\]\.pick: unknown key/],
    ['an unknown kind', { ovlcheck: 1, kind: 'mount-what' }, /kind/],
    ['a dir outside the sequence world', { ovlcheck: 1, kind: 'mount-sequence', steps: [{ do: 'mount', lower: 'l9', upper: 'u0', work: 'w0' }] }, /steps\[0\]\.lower/],
    ['an upper outside the world', { ovlcheck: 1, kind: 'mount-request', request: { lowers: ['l0'], upper: '../x', work: 'w', options: [] } }, /must not leave the sandbox/],
    ['an absolute lower behind a colon', { ovlcheck: 1, kind: 'mount-request', request: { lowers: ['l0:/etc'], options: [] } }, /must not leave/],
    ['a layer given as an option', { ovlcheck: 1, kind: 'mount-request', request: { lowers: ['l0'], options: ['metacopy=on,upperdir=/tmp'] } }, /not in options/],
    ['a bad outcome', { ovlcheck: 1, kind: 'mount-request', request: { lowers: ['l0'], options: [] }, expect: 'fine' }, /expect: an outcome/],
    ['a bad kernels condition', { ovlcheck: 1, kind: 'mount-request', request: { lowers: ['l0'], options: [] }, kernels: '>=six' }, /kernels: ">=six" is not a comparison/],
    ['no steps', { ovlcheck: 1, kind: 'mount-sequence', steps: [] }, /steps/],
  ];
  for (const [what, raw, message] of refused) {
    it(`refuses ${what} with one line of at most 200 characters`, () => {
      let err: unknown;
      try {
        parseMountCase(JSON.stringify(raw), 'x.json');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CaseError);
      const m = (err as Error).message;
      expect(m).toMatch(/^x\.json: /);
      expect(m).toMatch(message);
      expect(m.includes('\n') || m.length > 200, m).toBe(false);
    });
  }
  it('refuses text that is not JSON', () => expect(() => parseMountCase('{', 'y')).toThrow(/^y: not JSON/));
});

describe('mount case files: model', () => {
  for (const { file, c } of cases) {
    for (const k of KERNELS) {
      const why = mountCaseRefusal(c, k);
      it.skipIf(why !== null)(`${title(file, c)} at ${k.join('.')}${why ? ` [not on this version: ${why}]` : ''}`, () => {
        coverageContext(`${file} (model at ${k.join('.')})`);
        expect(modelKnownAnswerErrors(c, k)).toEqual([]);
      });
    }
  }
  it('every case holds for at least one of the matrix kernels', () => {
    expect(cases.filter(({ c }) => KERNELS.every((k) => mountCaseRefusal(c, k) !== null)).map(({ file }) => file)).toEqual([]);
  });
});

describe.skipIf(!inPrivateNamespace())('mount case files: running kernel', () => {
  const withSys = async <T>(fn: (sys: ReturnType<typeof localSys>) => Promise<T>): Promise<T> => {
    const sandbox = openSandbox();
    try {
      return await fn(localSys(sandbox));
    } finally {
      sandbox.close();
    }
  };

  for (const { file, c } of cases) {
    const why = mountCaseRefusal(c, runningKernel());
    it.skipIf(why !== null)(`${title(file, c)}${why ? ` [not on this kernel: ${why}]` : ''}`, async () => {
      coverageContext(file);
      const r = await withSys((sys) => replayMountCase(c, sys));
      expect(r.divergence ?? '').toBe('');
      expect(r.knownAnswerErrors).toEqual([]);
      expect(r.skipped).toBeUndefined();
    });
  }

  it('a case outside its kernels is not replayed, and says why', async () => {
    const c = parseMountCase(JSON.stringify({ ovlcheck: 1, kind: 'mount-request', request: { lowers: ['l0', 'l1'], options: [] }, kernels: '<6.0' }));
    const r = await withSys((sys) => replayMountCase(c, sys));
    expect(r.skipped).toMatch(/kernels <6.0/);
  });

  it('a wrong known answer is reported on both sides, and is not a divergence', async () => {
    const c = parseMountCase(JSON.stringify({
      ovlcheck: 1, kind: 'mount-sequence',
      steps: [{ do: 'mount', lower: 'l0', upper: 'u0', work: 'w0', index: true, expect: 'EBUSY', leaves: { 'u0@origin': false } }],
    }));
    const r = await withSys((sys) => replayMountCase(c, sys));
    expect(r.divergence).toBeUndefined();
    expect(r.knownAnswerErrors).toEqual([
      'step 1 model: outcome ok, known answer EBUSY', 'step 1 kernel: outcome ok, known answer EBUSY',
      'step 1 model: u0@origin present, known answer: absent', 'step 1 kernel: u0@origin present, known answer: absent',
    ]);
  });

  it('unmounting a mount point that is not mounted is an error of the case', async () => {
    const c = parseMountCase(JSON.stringify({ ovlcheck: 1, kind: 'mount-sequence', steps: [{ do: 'umount', at: 1 }] }), 'z');
    await expect(withSys((sys) => replayMountCase(c, sys))).rejects.toThrow(/steps\[0\]: nothing is mounted at m1 there/);
  });

  it('has teeth (mount sequences): a model whose failed mounts write nothing fails, and its case file replays to the same divergence', async () => {
    const { q, r, plain } = await withSys(async (sys) => {
      const q = await runMountSequences(sys, 200, 11, { step: forgetful });
      if (!q.failure) return { q };
      const c = saved(sequenceFailureCase(q.failure, { seed: q.seed, path: q.path, kernel: q.kernel, date: '2026-12-01T00:00:00.000Z' }));
      return { q, r: await replayMountCase(c, sys, { step: forgetful }), plain: await replayMountCase(c, sys) };
    });
    expect(q.failure, 'not caught').not.toBeNull();
    expect(r!.divergence).toBe(formatSequenceFailure(q.failure!, q.seed, q.path));
    expect(r!.signature).toBe(sequenceSignature(q.failure!));
    expect(r!.knownAnswerErrors).toEqual([]);
    expect(plain!.divergence ?? '').toBe(''); // the real model agrees with the kernel on it
  });

  it('has teeth (mount sequences, errno): a model where index=on does not make the upper exclusive fails, and its case replays to the same divergence', async () => {
    const loose: StepSequence = (st, a, k) => {
      const r = stepSequence(st, a, k);
      return r.outcome === 'EBUSY' ? stepSequence(st, { ...a, index: false } as typeof a, k) : r;
    };
    const { q, r } = await withSys(async (sys) => {
      const q = await runMountSequences(sys, 300, 1, { step: loose });
      if (!q.failure) return { q };
      const c = saved(sequenceFailureCase(q.failure, { seed: q.seed, path: q.path, kernel: q.kernel, date: '2026-12-01T00:00:00.000Z' }));
      return { q, r: await replayMountCase(c, sys, { step: loose }) };
    });
    expect(q.failure?.field).toBe('outcome');
    expect(r!.divergence).toBe(formatSequenceFailure(q.failure!, q.seed, q.path));
    expect(r!.signature).toBe(sequenceSignature(q.failure!));
  });

  it('has teeth (mount-time validation): a broken model fails, and its case file replays to the same divergence', async () => {
    const broken: typeof predictMount = (w, req, k) =>
      req.upper !== undefined && req.lowers.includes(req.upper) && predictMount(w, req, k).outcome === 'ELOOP' ? { outcome: 'ok', rule: 'broken' } : predictMount(w, req, k);
    const { m, r, plain } = await withSys(async (sys) => {
      const m = await runMountValidation(sys, 600, 1, { predict: broken });
      if (!m.failure) return { m };
      const c = saved(mountFailureCase(m.failure, { seed: m.seed, path: m.path, kernel: m.kernel, date: '2026-12-01T00:00:00.000Z' }));
      return { m, r: await replayMountCase(c, sys, { predict: broken }), plain: await replayMountCase(c, sys) };
    });
    expect(m.failure, 'not caught').not.toBeNull();
    expect(r!.divergence).toBe(formatMountFailure(m.failure!, m.seed, m.path));
    expect(r!.signature).toBe(mountSignature(m.failure!));
    expect(plain!.divergence ?? '').toBe('');
  });
});
