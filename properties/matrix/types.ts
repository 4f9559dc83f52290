// What a matrix worker is asked to do, and what it reports: plain JSON, written by one process
// (harness/guest: one per kernel) and read by the orchestrator that writes reports/matrix/.

import type { ProbeResult } from '../probeReport.js';
import type { PropertyResult } from '../suite.js';
import type { CrossReadCase } from '../crossKernel.js';

export interface WorkerJob {
  /** "host", or a kernel spec ("6.1", a linux-image-* package). */
  kernel: string;
  runs: number;
  steps: number;
  seed: number;
  rotate: number;
  profiles: string[];
  /** Known-answer case files to replay. */
  caseFiles: string[];
  /** Where this worker writes: result.json, the guest's console, images. */
  dir: string;
  /** Where the minimal cases of its failures go (in the report). */
  casesDir: string;
  /** Cross-kernel: write this many cases onto a fresh image (phase 1) ... */
  crossWrite?: { cases: number; image: string; manifest: string };
  /** ... or read what other kernels wrote (phase 2): a copy of each image, with its manifest. */
  crossRead?: { image: string; manifest: string }[];
}

export interface ProfileRow {
  name: string;
  status: 'pass' | 'fail' | 'skipped' | 'refused' | 'not-modelled' | 'crash' | 'hang' | 'gone';
  why?: string;
  cases: number;
  steps: number;
  elapsedMs: number;
  /** A failure: the report as printed, the case file and how to replay it. */
  text?: string;
  caseFile?: string;
  replay?: string;
  signature?: string;
}

export interface KnownAnswerRow {
  file: string;
  name?: string;
  status: 'ok' | 'diverges' | 'wrong known answer' | 'skipped' | 'error';
  why?: string;
  detail?: string;
}

export interface CrossReadRow {
  /** The kernel that wrote the layers. */
  writer: string;
  cases: CrossReadCase[];
}

export interface KernelResult {
  spec: string;
  /** uname -r, once known. */
  release?: string;
  /** major.minor.sublevel, once known. */
  version?: string;
  where: 'host' | 'guest';
  package?: string;
  debVersion?: string;
  /**
   * done: every part ran; boot failed; hang: the guest stopped answering or went away outside
   * a profile (a profile's own hang is its row's); error: the worker itself failed (a bug);
   * timeout: the worker ran past its limit.
   */
  status: 'done' | 'boot-failed' | 'hang' | 'error' | 'timeout';
  why?: string;
  /** What the guest's console said at the end (a panic line, or its last lines). */
  console?: string;
  bootMs?: number;
  elapsedMs: number;
  probe?: ProbeResult;
  profiles: ProfileRow[];
  properties: PropertyResult[];
  knownAnswers: KnownAnswerRow[];
  /** The cross-kernel cases this kernel wrote, and those on which it diverged itself (as printed). */
  crossWritten?: { cases: number; skipped: number; divergences: string[] };
  crossRead?: CrossReadRow[];
  /** How the reading worker ended, if not well. */
  crossReadStatus?: string;
}

/** A progress line on the worker's stdout (JSON, one per line). */
export interface WorkerProgress {
  kernel: string;
  what: string;
}
