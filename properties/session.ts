// One case, run step by step against the model and a driver, compared after every step.
// This is the checker: the property, `replay` and the known-answer cases all go through it.

import { applyOp, createState, lowerView, mergedView, privatePrefix, upperView, walkEffects } from '../model/index.js';
import type { KernelVersion, Op, Outcome, Profile, Snapshot, StackSpec } from '../model/index.js';
import type { OvlState, Step } from '../model/state.js';
import { diffSnapshots, InodeMap, maskedXattrs, type Difference } from '../harness/compare.js';
import type { Driver, MountFacts } from '../harness/driver.js';

export interface StepRecord {
  op: Op;
  expected: Outcome;
  actual: Outcome;
  rule: string;
}

export interface DivergenceInfo {
  /** 'mount' (before any step), 'step' or 'remount' (the final unmount + mount). */
  phase: 'mount' | 'step' | 'remount';
  /** 1-based index of the step after which the views differ (0 for mount). */
  step: number;
  op?: Op;
  expected?: Outcome;
  actual?: Outcome;
  rule?: string;
  differences: Difference[];
}

export class Divergence extends Error {
  constructor(readonly info: DivergenceInfo) {
    super(`divergence at ${info.phase} ${info.step}`);
  }
}

/** Both sides' views after a step, for known-answer expectations. */
export interface Views {
  expected: Map<string, Snapshot>;
  actual: Map<string, Snapshot>;
}

export class Session {
  readonly history: StepRecord[] = [];
  facts: MountFacts | null = null;
  private model!: OvlState;
  /** The state before the walk's own writes: what the walk's listings see (see settle). */
  private listed!: OvlState;
  private readonly inodes = new InodeMap();
  private masked: Set<string>;

  constructor(
    readonly driver: Driver,
    readonly profile: Profile,
    readonly kernel: KernelVersion,
    /** The model's step function; a mutation replaces it to prove the suite has teeth. */
    private readonly modelStep: (s: OvlState, op: Op) => Step = applyOp,
  ) {
    this.masked = maskedXattrs(privatePrefix(profile));
  }

  get state(): OvlState {
    return this.model;
  }

  async start(stack: StackSpec): Promise<Views> {
    this.settle(createState(stack, this.profile, this.kernel)); // throws on an impossible spec
    this.facts = await this.driver.setup(stack, this.profile);
    return this.compare({ phase: 'mount', step: 0 });
  }

  async step(op: Op): Promise<Views> {
    const want = this.modelStep(this.model, op);
    const got = await this.driver.apply(op);
    this.history.push({ op, expected: want.outcome, actual: got, rule: want.rule });
    this.settle(want.state);
    const at = { phase: 'step' as const, step: this.history.length, op, expected: want.outcome, actual: got, rule: want.rule };
    const layersMoved = op.op === 'rotate' || op.op === 'remount';
    return this.compare(at, want.outcome !== got, layersMoved || (this.driver.lowersChanged?.() ?? true));
  }

  /** Unmount, mount again, and compare every view once more (S6.5, S8.1: state persists). */
  async finish(): Promise<Views> {
    const want = this.modelStep(this.model, { op: 'remount' });
    const got = await this.driver.apply({ op: 'remount' });
    this.settle(want.state);
    const at = { phase: 'remount' as const, step: this.history.length, expected: want.outcome, actual: got, rule: want.rule };
    return this.compare(at, want.outcome !== got);
  }

  async close(): Promise<void> {
    await this.driver.teardown();
  }

  /**
   * The snapshot walks the merged tree, and that walk writes to the upper (walkEffects). A
   * dir is listed before its children are looked up, so listings see the state from before
   * those writes; the upper view and the next step see the state after them.
   */
  private settle(s: OvlState): void {
    this.listed = s;
    this.model = walkEffects(s);
  }

  private compare(at: Omit<DivergenceInfo, 'differences'>, outcomeDiffers = false, lowers = true): Views {
    const expected = new Map<string, Snapshot>([['merged', mergedView(this.model, this.listed)]]);
    const actual = new Map<string, Snapshot>([['merged', this.driver.snapshot('merged')]]);
    if (this.profile.readonly !== 'no-upper') {
      expected.set('upper', upperView(this.model));
      actual.set('upper', this.driver.snapshot('upper'));
    }
    const nLowers = this.model.lowers.length;
    for (let i = 0; lowers && i < nLowers + this.model.dataLayers.length; i++) {
      const view = i < nLowers ? `lower${i}` : `data${i - nLowers}`;
      expected.set(view, lowerView(this.model, i));
      actual.set(view, this.driver.snapshot(i));
    }
    const differences: Difference[] = [];
    for (const [view, snap] of expected) {
      differences.push(...diffSnapshots(view, snap, actual.get(view)!, this.inodes, this.masked));
    }
    if (outcomeDiffers || differences.length > 0) throw new Divergence({ ...at, differences });
    return { expected, actual };
  }
}
