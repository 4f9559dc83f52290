// A driver backed by the model itself: the self-test of the checker, and a way to check
// a case file's known answers against the model alone. Not a conformance target.

import { applyOp, createState, lowerView, mergedView, mount, upperView, walkEffects } from '../../model/index.js';
import type { FdObserved, KernelVersion, Op, Outcome, Profile, Snapshot, StackSpec } from '../../model/index.js';
import type { OvlState } from '../../model/state.js';
import type { Driver, MountFacts } from '../driver.js';

export class ModelDriver implements Driver {
  readonly name = 'model';
  private s: OvlState | null = null;
  private listed: OvlState | null = null; // before the walk's own writes, as the session does
  private lastObserved: FdObserved | undefined;
  constructor(private readonly kernel: KernelVersion) {}

  async setup(stack: StackSpec, profile: Profile): Promise<MountFacts> {
    this.settle(createState(stack, profile, this.kernel));
    return { options: '(model)', moduleDefaults: {}, shown: '' };
  }

  apply(op: Op): Outcome {
    if (op.op === 'remount') {
      this.settle(mount(this.s!));
      return 'ok';
    }
    const step = applyOp(this.s!, op);
    this.lastObserved = step.observed;
    this.settle(step.state); // a real mount is walked after every step, too
    return step.outcome;
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
    this.settle(mount(this.s!));
  }

  async teardown(): Promise<void> {
    this.s = null;
  }
}
