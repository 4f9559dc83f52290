// A driver backed by the model itself: the self-test of the checker, and a way to check
// a case file's known answers against the model alone. Not a conformance target.

import { applyOp, createState, lowerView, mergedView, upperView, walkEffects } from '../../model/index.js';
import type { Dirent, FdObserved, KernelVersion, Op, Outcome, Profile, Snapshot, StackSpec } from '../../model/index.js';
import { InodeMap, StreamReads } from '../compare.js';
import type { OvlState } from '../../model/state.js';
import type { Driver, MountFacts } from '../driver.js';

export class ModelDriver implements Driver {
  readonly name = 'model';
  readonly remountOptions = true;
  private s: OvlState | null = null;
  private listed: OvlState | null = null; // before the walk's own writes, as the session does
  private readonly streams = new StreamReads();
  private readonly inodes = new InodeMap();
  private read: Dirent[] | null = null;
  private lastObserved: FdObserved | undefined;
  constructor(private readonly kernel: KernelVersion) {}

  async setup(stack: StackSpec, profile: Profile): Promise<MountFacts> {
    this.settle(createState(stack, profile, this.kernel));
    return { options: '(model)', moduleDefaults: {}, shown: '' };
  }

  apply(op: Op): Outcome {
    this.read = null;
    const step = applyOp(this.s!, op);
    this.lastObserved = step.observed;
    this.settle(step.state); // a real mount is walked after every step, too
    if (op.op === 'readdir' && step.dirRead) {
      // The entries it may read, by name: the model has no order of its own (S9.3).
      const had = new Set(this.streams.namesRead(op.dir));
      this.read = step.dirRead.pool.filter((e) => !had.has(e.name)).sort((a, b) => (a.name < b.name ? -1 : 1)).slice(0, op.n);
    }
    this.streams.step(op, step.outcome, undefined, this.read, this.inodes);
    return step.outcome;
  }

  dirents(): Dirent[] | null {
    return this.read;
  }

  observed(): FdObserved | undefined {
    return this.lastObserved;
  }

  snapshot(view: 'merged' | 'upper' | number): Snapshot {
    if (view === 'merged') return mergedView(this.s!, this.listed!);
    if (view === 'upper') return upperView(this.s!);
    return lowerView(this.s!, view);
  }

  private settle(s: OvlState): void {
    this.listed = s;
    this.s = walkEffects(s);
  }

  async remount(): Promise<void> {
    this.apply({ op: 'remount' });
  }

  async teardown(): Promise<void> {
    this.s = null;
  }
}
