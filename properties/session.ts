// One case, run step by step against the model and a driver, compared after every step.
// This is the checker: the property, `replay` and the known-answer cases all go through it.

import { applyOp, createState, lowerView, mergedView, privatePrefix, upperView, walkEffects } from '../model/index.js';
import type { KernelVersion, Op, Outcome, Profile, Snapshot, StackSpec } from '../model/index.js';
import type { OvlState, Step } from '../model/state.js';
import { diffSnapshots, InodeMap, maskedXattrs, type Difference } from '../harness/compare.js';
import { kernelCodec, type LayerCodec } from '../harness/codecs.js';
import type { Driver, MountFacts } from '../harness/driver.js';
import { StepTimeout } from '../harness/watchdog.js';
import { differenceSignature, outcomeSignature, type Tolerance } from './signature.js';

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
  /** What went differently, without the generated names (properties/signature.ts). */
  signature?: string;
  /** Known divergences (tolerated) this case showed before it diverged anew. */
  known?: string[];
}

export class Divergence extends Error {
  constructor(readonly info: DivergenceInfo) {
    super(`divergence at ${info.phase} ${info.step}`);
  }
}

/** An outcome differed in a way already known: the case ends there, neither passed nor failed. */
export class KnownDivergence extends Error {
  constructor(readonly signature: string) {
    super(`known divergence: ${signature}`);
  }
}

export interface SessionOptions {
  /** The model's step function; a mutation replaces it to prove the suite has teeth. */
  modelStep?: (s: OvlState, op: Op) => Step;
  /**
   * Another implementation as the reference (compare --against kernel): its outcomes and
   * views are the expected ones. The model still runs beside it (for the rule names).
   */
  reference?: Driver;
  /** Divergences already known: such a difference is left out, such an outcome ends the case. */
  known?: Tolerance;
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
  private readonly modelStep: (s: OvlState, op: Op) => Step;
  private readonly reference?: Driver;
  private readonly known?: Tolerance;
  /** Layers in another format than the kernel's are compared decoded, on both sides (harness/codecs.ts). */
  private readonly codecs?: { expected: LayerCodec; actual: LayerCodec };
  /** The reference's views at the last comparison: the layer situation for signatures. */
  private readonly before = new Map<string, Snapshot>();
  private readonly seenKnown = new Set<string>();
  /** Mounts so far (remounts and rotations): a reference's st_dev holds for one mount. */
  private mounts = 0;

  constructor(
    readonly driver: Driver,
    readonly profile: Profile,
    readonly kernel: KernelVersion,
    options: SessionOptions | ((s: OvlState, op: Op) => Step) = {},
  ) {
    const o = typeof options === 'function' ? { modelStep: options } : options;
    this.modelStep = o.modelStep ?? applyOp;
    this.reference = o.reference;
    this.known = o.known;
    this.masked = maskedXattrs(privatePrefix(profile));
    const native = kernelCodec(privatePrefix(profile));
    if (driver.codec || o.reference?.codec) this.codecs = { expected: o.reference?.codec ?? native, actual: driver.codec ?? native };
  }

  /** Known divergences this case has shown so far. */
  get knownSeen(): ReadonlySet<string> {
    return this.seenKnown;
  }

  /** Who the expected side is, for reports. */
  get against(): string {
    return this.reference?.name ?? 'model';
  }

  get state(): OvlState {
    return this.model;
  }

  async start(stack: StackSpec): Promise<Views> {
    this.settle(createState(stack, this.profile, this.kernel)); // throws on an impossible spec
    if (this.reference) await this.reference.setup(stack, this.profile);
    this.facts = await this.driver.setup(stack, this.profile);
    return this.compare({ phase: 'mount', step: 0 });
  }

  async step(op: Op): Promise<Views> {
    const want = this.modelStep(this.model, op);
    const expected = this.reference ? await this.reference.apply(op) : want.outcome;
    const rule = this.reference ? this.reference.name : want.rule;
    const got = await this.applyActual(op, expected, rule, 'step');
    this.history.push({ op, expected, actual: got, rule });
    this.settle(want.state);
    const at = { phase: 'step' as const, step: this.history.length, op, expected, actual: got, rule };
    const layersMoved = op.op === 'rotate' || op.op === 'remount';
    if (layersMoved) this.mounts++;
    const lowersMoved = layersMoved || (this.driver.lowersChanged?.() ?? true) || (this.reference?.lowersChanged?.() ?? false);
    return this.compare(at, expected !== got, lowersMoved);
  }

  /** Unmount, mount again, and compare every view once more (S6.5, S8.1: state persists). */
  async finish(): Promise<Views> {
    const op = { op: 'remount' } as const;
    this.mounts++;
    const want = this.modelStep(this.model, op);
    const expected = this.reference ? await this.reference.apply(op) : want.outcome;
    const rule = this.reference ? this.reference.name : want.rule;
    const got = await this.applyActual(op, expected, rule, 'remount');
    this.settle(want.state);
    const at = { phase: 'remount' as const, step: this.history.length, expected, actual: got, rule };
    return this.compare(at, expected !== got);
  }

  async close(): Promise<void> {
    try {
      await this.driver.teardown();
    } finally {
      await this.reference?.teardown();
    }
  }

  /** A step the implementation does not answer in time is a divergence of its own. */
  private async applyActual(op: Op, expected: Outcome, rule: string, phase: 'step' | 'remount'): Promise<Outcome> {
    try {
      return await this.driver.apply(op);
    } catch (e) {
      if (!(e instanceof StepTimeout)) throw e;
      if (phase === 'step') this.history.push({ op, expected, actual: 'TIMEOUT', rule });
      const signature = `${op.op}: no answer (${e.message.replace(/ \(pid \d+\)/, '')})`;
      if (this.known?.has(signature)) throw new KnownDivergence(signature);
      const at = { phase, step: this.history.length, ...(phase === 'step' ? { op } : {}), expected, actual: 'TIMEOUT', rule };
      throw new Divergence({ ...at, differences: [], signature, known: [...this.seenKnown] });
    }
  }

  /** The driver's snapshot, or a divergence if its daemon hung. */
  private actualSnapshot(view: 'merged' | 'upper' | number, at: Omit<DivergenceInfo, 'differences'>): Snapshot {
    try {
      return this.driver.snapshot(view);
    } catch (e) {
      if (!(e instanceof StepTimeout)) throw e;
      const d: Difference = { view: String(view), path: '/', what: 'timeout', expected: 'an answer', actual: e.message };
      const signature = `${view}: no answer to a walk`;
      if (this.known?.has(signature)) throw new KnownDivergence(signature); // the daemon is gone: the case ends
      throw new Divergence({ ...at, differences: [d], signature, known: [...this.seenKnown] });
    }
  }

  private expectedSnapshot(view: 'merged' | 'upper' | number): Snapshot {
    if (this.reference && view === 'merged') return perMount(this.reference.snapshot(view), this.mounts);
    if (this.reference) return this.reference.snapshot(view);
    if (view === 'merged') return mergedView(this.model, this.listed);
    return view === 'upper' ? upperView(this.model) : lowerView(this.model, view);
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
    const actual = new Map<string, Snapshot>([['merged', this.actualSnapshot('merged', at)]]);
    const expected = new Map<string, Snapshot>([['merged', this.expectedSnapshot('merged')]]);
    const decode = (side: 'expected' | 'actual', snap: Snapshot) => (this.codecs ? this.codecs[side].decode(snap) : snap);
    if (this.profile.readonly !== 'no-upper') {
      expected.set('upper', decode('expected', this.expectedSnapshot('upper')));
      actual.set('upper', decode('actual', this.actualSnapshot('upper', at)));
    }
    const nLowers = this.model.lowers.length;
    for (let i = 0; lowers && i < nLowers + this.model.dataLayers.length; i++) {
      const view = i < nLowers ? `lower${i}` : `data${i - nLowers}`;
      expected.set(view, decode('expected', this.expectedSnapshot(i)));
      actual.set(view, decode('actual', this.actualSnapshot(i, at)));
    }
    // The situation of a name is where it was before this step (at mount: where it is).
    const before = at.phase === 'mount' ? expected : this.before;
    let differences: Difference[] = [];
    for (const [view, snap] of expected) {
      differences.push(...diffSnapshots(view, snap, actual.get(view)!, this.inodes, this.masked));
    }
    let signature: string | undefined;
    if (outcomeDiffers) {
      signature = at.op ? outcomeSignature(at.op, at.expected!, at.actual!, before) : `${at.phase}: expected ${at.expected}, actual ${at.actual}`;
      if (this.known?.has(signature)) throw new KnownDivergence(signature);
    }
    if (this.known) {
      differences = differences.filter((d) => {
        const sig = differenceSignature(d, before);
        // What a rotation moved from the upper into a lower is the same divergence.
        const asUpper = sig.replace(/^lower:/, 'upper:');
        if (!this.known!.has(sig) && !this.known!.has(asUpper)) return true;
        this.seenKnown.add(sig);
        return false;
      });
    }
    if (outcomeDiffers || differences.length > 0) {
      signature ??= differenceSignature(differences[0], before);
      throw new Divergence({ ...at, differences, signature, known: [...this.seenKnown] });
    }
    for (const [view, snap] of expected) this.before.set(view, snap); // `before` may be this map: last
    return { expected, actual };
  }
}

/**
 * A reference implementation's merged view with st_dev scoped to one mount: each mount gets
 * an anonymous device, and which numbers two implementations get back after a remount
 * depends on the order they mount in, not on either of them (harness/compare.ts: "@N").
 */
function perMount(snap: Snapshot, mount: number): Snapshot {
  const out: Snapshot = new Map();
  for (const [path, e] of snap) out.set(path, e.dev === undefined ? e : { ...e, dev: `${e.dev}@${mount}` });
  return out;
}
