// One worker of `ovlcheck run --jobs N` (properties/workers.ts): started by the run in a mount
// namespace of its own, it runs its share of the suite's cases on a sandbox of its own and
// reports each result to the run over the IPC channel.

import { startCoverage, takeCoverage } from '../model/coverage.js';
import { dieWithParent } from '../harness/lifeline.js';
import { beforeSignalExit, openSandbox } from '../harness/sandbox.js';
import { localSys } from '../harness/sys.js';
import { runSuite } from './suite.js';
import type { ToParent, ToWorker, WorkerTask } from './workers.js';

const send = (m: ToParent): Promise<void> => new Promise((resolve, reject) => process.send!(m, undefined, {}, (e) => (e ? reject(e) : resolve())));

async function work(task: WorkerTask): Promise<void> {
  const bounds = new Map<string, number>();
  process.on('message', (m: ToWorker) => {
    if (m.kind === 'found' && m.caseIndex < (bounds.get(m.unit) ?? Infinity)) bounds.set(m.unit, m.caseIndex);
  });
  const sandbox = openSandbox();
  try {
    if (task.coverage) startCoverage();
    await runSuite(localSys(sandbox), {
      ...task.options,
      slice: {
        index: task.index, count: task.count,
        bound: (unit) => bounds.get(unit) ?? Infinity,
        onFound: (unit, caseIndex) => void send({ kind: 'found', unit, caseIndex }),
      },
      onCase: (profile, progress) => void send({ kind: 'case', profile, progress }),
      onResult: (result) => void send({ kind: 'result', result }),
    });
    await send({ kind: 'done', ...(task.coverage ? { coverage: takeCoverage() } : {}) });
  } finally {
    sandbox.close();
  }
}

if (!process.send) {
  console.error('ovlcheck: properties/worker.js is started by `ovlcheck run --jobs N`, not by hand');
  process.exit(2);
}
dieWithParent('SIGTERM'); // the run gone, this worker stops too (its handlers take its mounts down)
// A signal sent to this worker alone stops the whole run, as one to the run would: pass it on
// before this worker's handlers take its mounts down and exit (the run also sees the exit).
beforeSignalExit((signal) => {
  try {
    process.kill(process.ppid, signal);
  } catch {
    /* the run is gone already */
  }
});
process.once('message', (m: ToWorker) => {
  if (m.kind !== 'task') return;
  work(m.task).then(
    () => process.exit(0),
    (e) => {
      console.error(`ovlcheck: worker ${m.task.index + 1}: internal error: ${(e as Error).stack ?? e}`);
      process.exit(3);
    },
  );
});
