// Known-answer cases (properties/cases/*.json): each is run against the model alone at every
// kernel version the matrix covers (the answers of the versions it holds for), and against the
// running kernel; both must give the case's known answers and agree step by step.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasFeature, type KernelVersion } from '../model/index.js';
import { coverageContext } from '../model/coverage.js';
import { useCoverage } from './coverageForTests.js';
import { ModelDriver } from '../harness/drivers/model.js';
import { useKernelDriver } from '../harness/drivers/kernelForTests.js';
import { inPrivateNamespace } from '../harness/namespace.js';
import { probeLayerFs, type LayerFsFacts } from '../harness/probe.js';
import { runningKernel } from '../harness/sys.js';
import { parseCase } from './caseFile.js';
import { formatFailure } from './report.js';
import { replayCase, replayOnKernel, replayRefusal } from './replay.js';

const dir = join(import.meta.dirname, 'cases');
// Mount cases ("kind": "mount-...") have their own replay: properties/mountCase.test.ts.
const cases = readdirSync(dir).filter((f) => f.endsWith('.json')).sort()
  .map((f) => ({ file: f, text: readFileSync(join(dir, f), 'utf8') }))
  .filter(({ text }) => !('kind' in JSON.parse(text)))
  .map(({ file, text }) => ({ file, c: parseCase(text, file) }));

/** The kernels of the matrix (Debian 6.1.0-57 is 6.1.192), and the running one. */
const KERNELS: KernelVersion[] = [[6, 1, 192], [6, 12, 117], [6, 18, 44], runningKernel()];
/** What a tmpfs of that version holds (the layers of a replay are on one). */
const tmpfsOf = (k: KernelVersion): LayerFsFacts => ({ userXattrs: hasFeature(k, 'tmpfsUserXattrs') });

useCoverage('knownAnswers'); // npm test's coverage table (reports/coverage)

describe('known answers: model', () => {
  it('has at least 26 cases', () => expect(cases.length).toBeGreaterThanOrEqual(26));
  for (const { file, c } of cases) {
    for (const k of KERNELS) {
      const why = replayRefusal(c, k, tmpfsOf(k));
      it.skipIf(why !== null)(`${(c.cites ?? []).join(' ')} ${file} at ${k.join('.')}${why ? ` [not on this version: ${why}]` : ''}`, async () => {
        coverageContext(`${file} (model at ${k.join('.')})`);
        const r = await replayCase(c, new ModelDriver(k), k, 'model');
        expect(r.failure ? formatFailure(r.failure) : '').toBe('');
        expect(r.knownAnswerErrors).toEqual([]);
      });
    }
  }
  it('every case holds for at least one of the matrix kernels', () => {
    const orphans = cases.filter(({ c }) => KERNELS.every((k) => replayRefusal(c, k, tmpfsOf(k)) !== null)).map(({ file }) => file);
    expect(orphans).toEqual([]);
  });
});

describe.skipIf(!inPrivateNamespace())('known answers: kernel', () => {
  const kernelDriver = useKernelDriver();
  const running = runningKernel();
  for (const { file, c } of cases) {
    // What this kernel cannot hold is skipped by name (the matrix covers the other versions);
    // what it can hold must be replayed and agree, never quietly skipped.
    const why = replayRefusal(c, running, tmpfsOf(running));
    it.skipIf(why !== null)(`${(c.cites ?? []).join(' ')} ${file}${why ? ` [not on this kernel: ${why}]` : ''}`, async () => {
      const driver = kernelDriver();
      coverageContext(file);
      const v = await replayOnKernel(c, driver, probeLayerFs(driver.sys));
      expect(v.detail ?? v.why ?? '').toBe('');
      expect(v.status).toBe('ok');
    });
  }
});
