// One kernel of the matrix, in a process of its own (`ovlcheck matrix-worker JOB.json`): boot it
// (or take the running one), probe it, run every profile it can hold and the mount properties,
// replay the known-answer cases, and write or read the cross-kernel layers. Progress goes to
// stdout as JSON lines; the result to JOB's dir/result.json, whatever ends the work.

import fs from 'node:fs';
import path from 'node:path';
import { namedProfile } from '../../model/index.js';
import { KernelDriver } from '../../harness/drivers/kernel.js';
import { createImage, mountImage } from '../../harness/guest/images.js';
import { openTarget, type Target } from '../../harness/guest/target.js';
import { consoleVerdict } from '../../harness/guest/vm.js';
import { probeLayerFs } from '../../harness/probe.js';
import { openSandbox } from '../../harness/sandbox.js';
import { kernelOf, type Sys } from '../../harness/sys.js';
import { CaseError, parseCase } from '../caseFile.js';
import { isMountCase, parseMountCase, replayMountCase, type MountCase, type MountReplay } from '../mountCase.js';
import { crossCases, formatWriterDivergence, readCrossCases, writeCrossCases, type CrossManifest } from '../crossKernel.js';
import { probe } from '../probeReport.js';
import { replayOnKernel, type CaseVerdict } from '../replay.js';
import { failureCase, formatFailure } from '../report.js';
import { runSuite, type ProfileResult } from '../suite.js';
import type { KernelResult, ProfileRow, WorkerJob } from './types.js';

function say(job: WorkerJob, what: string): void {
  process.stdout.write(JSON.stringify({ kernel: job.kernel, what }) + '\n');
}

/** A profile's result as a row of the report; a failure's case saved for replay on this kernel. */
function profileRow(job: WorkerJob, r: ProfileResult): ProfileRow {
  const row: ProfileRow = { name: r.profile.name, status: r.status, cases: r.cases, steps: r.steps, elapsedMs: r.elapsedMs, ...(r.why ? { why: r.why } : {}) };
  if (r.failure) {
    const file = path.join(job.casesDir, `${r.profile.name}.json`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify(failureCase(r.failure, new Date().toISOString()), null, 2) + '\n');
    Object.assign(row, { text: formatFailure(r.failure, file), caseFile: file, replay: `npx ovlcheck replay --kernel ${job.kernel} ${file}`, signature: r.failure.info.signature });
  } else if (r.error) {
    row.text = [r.error, r.errorCase].filter(Boolean).join('\n');
  }
  return row;
}

export async function runWorker(job: WorkerJob): Promise<KernelResult> {
  const started = Date.now();
  const result: KernelResult = {
    spec: job.kernel, where: job.kernel === 'host' ? 'host' : 'guest', status: 'done', elapsedMs: 0, profiles: [], properties: [], knownAnswers: [],
  };
  fs.mkdirSync(job.dir, { recursive: true });
  const write = () => {
    result.elapsedMs = Date.now() - started;
    fs.writeFileSync(path.join(job.dir, 'result.json'), JSON.stringify(result, null, 2) + '\n');
  };
  const sandbox = openSandbox();
  const disks = job.crossWrite ? [job.crossWrite.image] : (job.crossRead ?? []).map((r) => r.image);
  let target: Target | undefined;
  const open = async (): Promise<Sys> => {
    if (target) {
      say(job, 'booting again (the last one hung or went away)');
      await target.kill();
    } else say(job, job.kernel === 'host' ? 'starting' : 'booting');
    target = await openTarget(job.kernel, sandbox, { workDir: job.dir, disks, say: (l) => say(job, l) });
    return target.sys;
  };
  try {
    if (job.crossWrite) await createImage(job.crossWrite.image);
    let sys: Sys;
    try {
      sys = await open();
    } catch (e) {
      result.status = 'boot-failed';
      result.why = (e as Error).message.split('\n')[0];
      return result;
    }
    const t = target!;
    Object.assign(result, {
      release: sys.release(), version: kernelOf(sys).join('.'), bootMs: t.guest?.bootMs,
      ...(t.kernel ? { package: t.kernel.pkg, debVersion: t.kernel.debVersion } : {}),
    });
    say(job, 'probing');
    result.probe = probe(sys);
    write();
    if (job.profiles.length) {
      let last = 0;
      await runSuite(sys, {
        runs: job.runs, steps: job.steps, maxLowers: 4, entries: 12, seed: job.seed, rotate: job.rotate,
        profiles: job.profiles.map(namedProfile),
        onCase: (name, p) => {
          if (Date.now() - last < 2000) return;
          last = Date.now();
          say(job, `profile ${name}: ${p.shrinking ? 'shrinking' : `${p.cases}/${job.runs} cases`}, ${p.steps} steps`);
        },
        onResult: (r) => {
          if (r.kind === 'profile') result.profiles.push(profileRow(job, r));
          else result.properties.push(r);
          say(job, r.kind === 'profile' ? `profile ${r.profile.name}: ${r.status}${r.status === 'skipped' ? '' : ` (${r.cases} cases, ${r.steps} steps)`}` : `${r.name}: ${r.status}`);
          write();
        },
        reopen: open,
      });
    }
    await knownAnswers(job, result, () => target!.sys, open);
    if (job.caseFiles.length) {
      const tally = (s: string) => result.knownAnswers.filter((c) => c.status === s).length;
      say(job, `known answers: ${tally('ok')} ok, ${tally('skipped')} skipped, ${result.knownAnswers.length - tally('ok') - tally('skipped')} not ok`);
    }
    sys = target!.sys;
    if (job.crossWrite) {
      say(job, 'writing the cross-kernel layers');
      const base = path.join(sandbox.root, 'xk');
      const dir = job.kernel === 'host' ? base : '/xk';
      await mountImage(sys, sys.sandbox, { file: job.crossWrite.image, ...(job.kernel === 'host' ? {} : { disk: 0 }) }, dir);
      const manifest = writeCrossCases(sys, dir, crossCases(job.crossWrite.cases, job.seed), (n) => say(job, `cross-kernel: wrote ${n}/${job.crossWrite!.cases} cases`));
      sys.sandbox.unmount(dir);
      fs.writeFileSync(job.crossWrite.manifest, JSON.stringify(manifest) + '\n');
      result.crossWritten = {
        cases: manifest.cases.length, skipped: manifest.cases.filter((c) => c.skipped).length,
        divergences: manifest.cases.filter((c) => c.divergence).map((c) => formatWriterDivergence(c, manifest.kernel)),
      };
    }
    for (const [k, r] of (job.crossRead ?? []).entries()) {
      const manifest = JSON.parse(fs.readFileSync(r.manifest, 'utf8')) as CrossManifest;
      say(job, `cross-kernel: reading what ${manifest.kernel} wrote`);
      const dir = job.kernel === 'host' ? path.join(sandbox.root, `xk${k}`) : `/xk${k}`;
      await mountImage(sys, sys.sandbox, { file: r.image, ...(job.kernel === 'host' ? {} : { disk: k }) }, dir);
      const cases = readCrossCases(sys, dir, manifest);
      sys.sandbox.unmount(dir);
      (result.crossRead ??= []).push({ writer: manifest.kernel, cases });
      write();
    }
  } catch (e) {
    const fatal = (e as { fatal?: boolean }).fatal === true; // the guest hung or went away
    result.status = fatal ? 'hang' : 'error';
    result.why = fatal ? (e as Error).message : ((e as Error).stack ?? String(e));
  } finally {
    if (target?.guest) result.console = consoleVerdict(target.guest.console());
    try {
      await target?.close();
    } catch {
      /* a hung guest is killed by close */
    }
    sandbox.close();
    write();
  }
  return result;
}

/** Every known-answer case on this kernel, against the model at its version. */
async function knownAnswers(job: WorkerJob, result: KernelResult, sys: () => Sys, reopen: () => Promise<Sys>): Promise<void> {
  let driver = new KernelDriver(sys());
  const layerFs = probeLayerFs(sys());
  for (const [n, file] of job.caseFiles.entries()) {
    if (n % 10 === 0) say(job, `known answers: ${n}/${job.caseFiles.length}`);
    const text = fs.readFileSync(file, 'utf8');
    const c = isMountCase(JSON.parse(text)) ? parseMountCase(text, file) : parseCase(text, file);
    const v = 'kind' in c ? await mountCaseVerdict(c, sys()) : await replayOnKernel(c, driver, layerFs);
    result.knownAnswers.push({ file: path.basename(file), ...(c.name ? { name: c.name } : {}), status: v.status, ...(v.why ? { why: v.why } : {}), ...(v.detail ? { detail: v.detail } : {}) });
    if (v.fatal) driver = new KernelDriver(await reopen());
  }
  await driver.teardown().catch(() => {});
}

/** A mount case (properties/mountCase.ts) on this kernel, as a known-answer verdict. */
async function mountCaseVerdict(c: MountCase, sys: Sys): Promise<CaseVerdict> {
  let r: MountReplay;
  try {
    r = await replayMountCase(c, sys);
  } catch (e) {
    const fatal = (e as { fatal?: boolean }).fatal === true;
    if (fatal || e instanceof CaseError) return { status: 'error', why: (e as Error).message, ...(fatal ? { fatal } : {}) };
    throw e;
  }
  if (r.skipped) return { status: 'skipped', why: r.skipped };
  const detail = [...(r.divergence ? [r.divergence] : []), ...r.knownAnswerErrors.map((e) => `known answer: ${e}`)].join('\n');
  if (r.divergence) return { status: 'diverges', detail, ...(r.signature ? { signature: r.signature } : {}) };
  return r.knownAnswerErrors.length ? { status: 'wrong known answer', detail } : { status: 'ok' };
}

/** The entry point of `ovlcheck matrix-worker JOB.json`. */
export async function workerMain(jobFile: string): Promise<number> {
  const job = JSON.parse(fs.readFileSync(jobFile, 'utf8')) as WorkerJob;
  const r = await runWorker(job);
  return r.status === 'done' ? 0 : 1;
}
