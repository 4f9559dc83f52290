// The mount-time validation property: random mount requests against a fixed world of
// directories; the errno of mount(2) must be the model's (S1.8-S1.15, S15). Shrinks to a
// minimal request.

import fc from 'fast-check';
import { predictMount, requestOptions, type MountRequest } from '../model/mountCheck.js';
import type { Outcome } from '../model/types.js';
import { buildWorld, closeWorld, tryRequest } from '../harness/mountWorld.js';
import type { Sandbox } from '../harness/sandbox.js';
import { mountRequest } from './arb/mountRequest.js';

export interface MountFailure {
  request: MountRequest;
  options: string;
  expected: Outcome;
  rule: string;
  actual: Outcome;
}

export interface MountSummary {
  requests: number;
  outcomes: Record<string, number>;
  failure: MountFailure | null;
  seed: number;
  path?: string;
}

export function runMountValidation(sandbox: Sandbox, runs: number, seed: number, predict = predictMount): MountSummary {
  const w = buildWorld(sandbox);
  const outcomes: Record<string, number> = {};
  let requests = 0;
  let failure: MountFailure | null = null;
  try {
    const result = fc.check(
      fc.property(mountRequest, (r) => {
        requests++;
        const want = predict(w.world, r);
        const got = tryRequest(w, r);
        outcomes[got] = (outcomes[got] ?? 0) + 1;
        if (got === want.outcome) return true;
        failure = { request: r, options: requestOptions(r), expected: want.outcome, rule: want.rule, actual: got };
        return false;
      }),
      { numRuns: runs, seed },
    );
    return { requests, outcomes, failure: result.failed ? failure : null, seed, path: result.counterexamplePath ?? undefined };
  } finally {
    closeWorld(sandbox, w);
  }
}

export function formatMountFailure(f: MountFailure, seed: number, path?: string): string {
  const opts = f.options.length > 300 ? `${f.options.slice(0, 300)}... (${f.request.lowers.length} lower layers)` : f.options;
  return [
    `DIVERGENCE kernel vs model: mount-time validation  seed=${seed} path=${JSON.stringify(path ?? '')}`,
    `world: dirs l0 l1 l2 l3 l0/sub u u/sub w w2 "c:1" m0..m500, file "file", another tmpfs at "other" (other/u, other/w); paths relative to it`,
    `mount -t overlay overlay -o '${opts}' mnt`,
    `  expected: ${f.expected} [${f.rule}]  actual: ${f.actual}`,
  ].join('\n');
}
