// Known-answer cases (properties/cases/*.json): each is run against the model alone and
// against the kernel; both must give the case's known answers and agree step by step.
import { readdirSync, readFileSync } from 'node:fs';
import { runningKernel } from '../harness/sys.js';
import { release } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelDriver } from '../harness/drivers/model.js';
import { useKernelDriver } from '../harness/drivers/kernelForTests.js';
import { inPrivateNamespace } from '../harness/namespace.js';
import { parseCase } from './caseFile.js';
import { formatFailure } from './report.js';
import { replayCase } from './replay.js';

const dir = join(import.meta.dirname, 'cases');
const cases = readdirSync(dir).filter((f) => f.endsWith('.json')).sort()
  .map((f) => ({ file: f, c: parseCase(readFileSync(join(dir, f), 'utf8'), f) }));
const kernelRelease = release();
const kernel = runningKernel();

describe('known answers: model', () => {
  it('has at least 26 cases', () => expect(cases.length).toBeGreaterThanOrEqual(26));
  for (const { file, c } of cases) {
    it(`${(c.cites ?? []).join(' ')} ${file}`, async () => {
      const r = await replayCase(c, new ModelDriver(kernel), kernel, 'model');
      expect(r.failure ? formatFailure(r.failure) : '').toBe('');
      expect(r.knownAnswerErrors).toEqual([]);
    });
  }
});

describe.skipIf(!inPrivateNamespace())('known answers: kernel', () => {
  const kernelDriver = useKernelDriver();
  for (const { file, c } of cases) {
    it(`${(c.cites ?? []).join(' ')} ${file}`, async () => {
      const r = await replayCase(c, kernelDriver(), kernel, kernelRelease);
      expect(r.failure ? formatFailure(r.failure) : '').toBe('');
      expect(r.knownAnswerErrors).toEqual([]);
    });
  }
});
