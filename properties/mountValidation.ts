// The mount-time validation property: random mount requests against a fixed world of
// directories; the errno of mount(2) must be the model's (S1.8-S1.15, S15). Shrinks to a
// minimal request.

import fc from 'fast-check';
import { predictMount, requestOptions, type MountRequest } from '../model/mountCheck.js';
import type { Outcome } from '../model/types.js';
import { buildSequenceWorld, buildWorld, closeSequenceWorld, closeWorld, mountAt, tryRequest } from '../harness/mountWorld.js';
import { emptySequence, MOUNT_POINTS, seqOptions, stepSequence, type SeqAction } from '../model/mountSequence.js';
import { kernelOf, type Sys } from '../harness/sys.js';
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

export function runMountValidation(sys: Sys, runs: number, seed: number, predict = predictMount): MountSummary {
  const w = buildWorld(sys);
  const kernel = kernelOf(sys);
  const outcomes: Record<string, number> = {};
  let requests = 0;
  let failure: MountFailure | null = null;
  try {
    const result = fc.check(
      fc.property(mountRequest, (r) => {
        requests++;
        const want = predict(w.world, r, kernel);
        const got = tryRequest(sys, w, r);
        outcomes[got] = (outcomes[got] ?? 0) + 1;
        if (got === want.outcome) return true;
        failure = { request: r, options: requestOptions(r), expected: want.outcome, rule: want.rule, actual: got };
        return false;
      }),
      { numRuns: runs, seed },
    );
    return { requests, outcomes, failure: result.failed ? failure : null, seed, path: result.counterexamplePath ?? undefined };
  } finally {
    closeWorld(sys, w);
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

// ------------------------------------------------------------------ mount sequences

const dir = (names: string[]) => fc.constantFrom(...names);
const seqAction: fc.Arbitrary<SeqAction> = fc.oneof(
  { weight: 3, arbitrary: fc.record({
    do: fc.constant('mount' as const), lower: dir(['l0', 'l1', 'u0', 'u1']), upper: dir(['u0', 'u1']),
    work: dir(['w0', 'w1']), index: fc.boolean(),
  }) },
  { weight: 1, arbitrary: fc.record({ do: fc.constant('umount' as const), pick: fc.nat(2) }) },
);

export interface SequenceFailure {
  actions: SeqAction[];
  /** What each action did up to the divergence: "m1: lowerdir=...  ok". */
  done: string[];
  expected: Outcome;
  rule: string;
  actual: Outcome;
}

export interface SequenceSummary {
  sequences: number;
  outcomes: Record<string, number>;
  failure: SequenceFailure | null;
  seed: number;
  path?: string;
}

/**
 * Mounts that depend on earlier ones (S12.1, S12.2): random sequences of mounts and
 * unmounts over two lowers, two uppers and two workdirs, each on a fresh tmpfs; every
 * mount(2) must give the model's errno. Shrinks to the shortest sequence.
 */
export function runMountSequences(sys: Sys, runs: number, seed: number, step = stepSequence): SequenceSummary {
  const outcomes: Record<string, number> = {};
  let sequences = 0;
  let failure: SequenceFailure | null = null;
  const result = fc.check(
    fc.property(fc.array(seqAction, { minLength: 1, maxLength: 6 }), (actions) => {
      sequences++;
      const root = buildSequenceWorld(sys, MOUNT_POINTS);
      let st = emptySequence();
      const done: string[] = [];
      try {
        for (const a of actions) {
          const want = step(st, a);
          if (want.at === null) continue;
          if (a.do === 'umount') {
            sys.sandbox.unmount(`${root}/m${want.at}`);
            done.push(`umount m${want.at}`);
            st = want.state;
            continue;
          }
          const got = mountAt(sys, root, want.at, seqOptions(a));
          outcomes[got] = (outcomes[got] ?? 0) + 1;
          done.push(`mount m${want.at}: ${seqOptions(a)}  ${got}`);
          if (got !== want.outcome) {
            failure = { actions, done, expected: want.outcome, rule: want.rule, actual: got };
            if (got === 'ok') sys.sandbox.unmount(`${root}/m${want.at}`);
            return false;
          }
          st = want.state;
        }
        return true;
      } finally {
        closeSequenceWorld(sys, root, st.live.keys());
      }
    }),
    { numRuns: runs, seed },
  );
  return { sequences, outcomes, failure: result.failed ? failure : null, seed, path: result.counterexamplePath ?? undefined };
}

export function formatSequenceFailure(f: SequenceFailure, seed: number, path?: string): string {
  return [
    `DIVERGENCE kernel vs model: mount sequence  seed=${seed} path=${JSON.stringify(path ?? '')}`,
    'world: empty dirs l0 l1 u0 u1 w0 w1 on a fresh tmpfs, mount points m0..m2; each mount stays until unmounted',
    ...f.done.map((d, i) => `  ${i + 1}. ${d}`),
    `  expected: ${f.expected} [${f.rule}]  actual: ${f.actual}`,
  ].join('\n');
}
