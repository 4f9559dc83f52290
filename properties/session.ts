// One case, run step by step against the model and a driver, compared after every step.
// This is the checker: the property, `replay` and the known-answer cases all go through it.

import { applyOp, createState, lowerView, mergedView, privatePrefix, upperView, walkEffects } from '../model/index.js';
import { shownOptions } from '../model/mountShown.js';
import type { DirReadSpec, Dirent, FdObserved, KernelVersion, Op, Outcome, Profile, SnapEntry, Snapshot, StackSpec } from '../model/index.js';
import type { OvlState, Step } from '../model/state.js';
import { diffSnapshots, InodeMap, maskedXattrs, StreamReads, withoutTimes, type Difference } from '../harness/compare.js';
import { kernelCodec, withImplicitStopsOpaque, withoutRedundantWhiteouts, type LayerCodec } from '../harness/codecs.js';
import type { Driver, MountFacts } from '../harness/driver.js';
import { kernelReadsUpper, writesKernelFormat } from './kernelReading.js';
import { StepTimeout } from '../harness/watchdog.js';
import type { HarmClass } from './harm.js';
import { carryKey, differencePart, outcomePart, worstPart, type Moment, type Part, type Tolerance } from './signature.js';

export interface StepRecord {
  op: Op;
  expected: Outcome;
  actual: Outcome;
  rule: string;
  /**
   * readdir: what the model said it may return, what it did, and the names the stream had
   * read since its start before it (harness/compare.ts StreamReads).
   */
  result?: { expected: DirReadSpec; actual: Dirent[]; before: string[] };
}

export interface DivergenceInfo {
  /**
   * 'mount' (before any step), 'step', 'remount' (the final unmount + mount), or
   * 'kernel-read' (the kernel mounting the implementation's layers at the end).
   */
  phase: 'mount' | 'step' | 'remount' | 'kernel-read';
  /** 1-based index of the step after which the views differ (0 for mount). */
  step: number;
  op?: Op;
  expected?: Outcome;
  actual?: Outcome;
  rule?: string;
  differences: Difference[];
  /** What went differently, without the generated names (properties/signature.ts): its worst part's. */
  signature?: string;
  /** How much harm the worst part shows (properties/harm.ts), and its rank within the class. */
  harm?: HarmClass;
  rank?: number;
  /** The signatures of every part not tolerated (the outcome, each difference), worst first. */
  parts?: string[];
  /** Known divergences (tolerated) this case showed before it diverged anew. */
  known?: string[];
}

export class Divergence extends Error {
  constructor(readonly info: DivergenceInfo) {
    super(`divergence at ${info.phase} ${info.step}`);
  }
}

/**
 * An outcome differed in a way already known, and the reference cannot follow the
 * implementation past it (see Session.step): the case ends there, neither passed nor failed.
 */
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
  /**
   * Divergences already known: such a difference is left out; after such an outcome the case
   * goes on where the reference can follow (see Session.step), else it ends there.
   */
  known?: Tolerance;
  /**
   * The kernel driver, to mount the implementation's layers at the end of every case where
   * they are in the kernel's format (properties/kernelReading.ts); absent: not done.
   */
  kernelReader?: Driver;
}

/** Both sides' views after a step, for known-answer expectations: merged, upper, and every layer's (lower<i>, data<i>). */
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
  private readonly streamReads = new StreamReads();
  private masked: Set<string>;
  private readonly modelStep: (s: OvlState, op: Op) => Step;
  private readonly reference?: Driver;
  private readonly known?: Tolerance;
  private readonly kernelReader?: Driver;
  /** Layers in another format than the kernel's are compared decoded, on both sides (harness/codecs.ts). */
  private readonly codecs?: { expected: LayerCodec; actual: LayerCodec };
  /** The reference's views at the last comparison: the layer situation for signatures. */
  private readonly before = new Map<string, Snapshot>();
  private readonly seenKnown = new Set<string>();
  /** Mounts so far (remounts and rotations): a reference's st_dev holds for one mount. */
  private mounts = 0;
  /** Per view, the differences tolerated at its last comparison (carryKey -> signature). */
  private carried = new Map<string, Map<string, string>>();
  /** The implementation's layer views as last read (lower<i>, data<i>): see withLayersUnread. */
  private readonly layersRead = new Map<string, Snapshot>();
  /** Tolerated outcomes the case went on past. */
  continued = 0;
  /** The last fd step's observations (fdread's bytes, fdstat's entry), for compare(). */
  private observed: { slot: number; expected: FdObserved; actual: FdObserved | undefined } | undefined;

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
    this.kernelReader = o.kernelReader && writesKernelFormat(driver) ? o.kernelReader : undefined;
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
    const read = this.driver.dirents?.() ?? null;
    // With another implementation as the reference, what its streams read is not compared (harness/compare.ts).
    const spec = this.reference || expected !== got ? undefined : want.dirRead;
    const before = op.op === 'readdir' ? this.streamReads.namesRead(op.dir) : [];
    const readDiffs = this.streamReads.step(op, got, spec, read, this.inodes);
    // What an fd step saw beyond its errno, compared when both sides answered alike (S17).
    const observedWant = this.reference ? this.reference.observed?.() : want.observed;
    this.observed = observedWant && expected === got && 'slot' in op ? { slot: op.slot, expected: observedWant, actual: this.driver.observed?.() } : undefined;
    this.history.push({ op, expected, actual: got, rule, ...(spec && read ? { result: { expected: spec, actual: read, before } } : {}) });
    const at = { phase: 'step' as const, step: this.history.length, op, expected, actual: got, rule };
    const layersMoved = op.op === 'rotate' || op.op === 'remount';
    if (layersMoved) this.mounts++;
    if (op.op === 'rotate') this.carryIntoLowers();
    let outcomeDiffers = expected !== got;
    let next = want.state;
    let consequence: ((path: string) => boolean) | undefined;
    if (outcomeDiffers) {
      const followed = this.followActual(op, want.state, expected, got);
      const signature = outcomePart(at, this.before).signature;
      if (this.known?.has(signature)) {
        this.seenKnown.add(signature);
        if (!followed) throw new KnownDivergence(signature);
        this.continued++;
        outcomeDiffers = false;
      }
      if (followed) next = followed;
      else consequence = footprint(op); // what the reference did and the implementation did not, or the reverse
    }
    this.settle(next);
    const lowersMoved = layersMoved || (this.driver.lowersChanged?.() ?? true) || (this.reference?.lowersChanged?.() ?? false);
    return this.compare(at, outcomeDiffers, lowersMoved, consequence, readDiffs);
  }

  /**
   * After an outcome that differs, the state the model goes on from, so that what the call
   * left behind is compared on its own, and the rest of the case can still be checked once
   * the outcome is tolerated:
   *   - the implementation failed where the model succeeded: the model's state before the
   *     step (a failed call must leave nothing behind);
   *   - both failed: the model's state after its own failure;
   *   - the implementation succeeded where the model refused: the model's step under the
   *     profile in which the call succeeds, if there is one (a lower dir renamed where
   *     redirect_dir is off: as with redirect_dir=on, S5.2), which the case then keeps.
   * null where the model cannot follow: a success with no such profile, or a reference
   * implementation that already did (or refused) the call, unless both failed.
   */
  private followActual(op: Op, failedState: OvlState, expected: Outcome, got: Outcome): OvlState | null {
    const gotFailed = got !== 'ok' && got !== 'TIMEOUT';
    if (gotFailed && expected !== 'ok') return failedState;
    if (this.reference) return null;
    if (gotFailed) return this.model;
    for (const over of SUCCEEDING_PROFILES) {
      const alt = this.modelStep({ ...this.model, profile: { ...this.model.profile, ...over } }, op);
      if (alt.outcome === 'ok') return alt.state;
    }
    return null;
  }

  /** A rotation moves the upper into the top lower, and each lower one down: so do their tolerated differences. */
  private carryIntoLowers(): void {
    const moved = new Map<string, Map<string, string>>();
    for (const [view, keys] of this.carried) {
      if (view === 'upper') moved.set('lower0', keys);
      else if (/^lower\d+$/.test(view)) moved.set(`lower${Number(view.slice(5)) + 1}`, keys);
      else moved.set(view, keys);
    }
    this.carried = moved;
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
    const known = expected !== got ? outcomePart(at, this.before).signature : undefined;
    if (known !== undefined && this.known?.has(known)) throw new KnownDivergence(known);
    const views = this.compare(at, expected !== got);
    await this.kernelRead(views.expected.get('merged')!);
    return views;
  }

  /**
   * The kernel mounts the implementation's layers as the case left them: it must show the
   * merged view the case ended with (Docker and Podman hand uppers between the two).
   */
  private async kernelRead(expectedMerged: Snapshot): Promise<void> {
    if (!this.kernelReader) return;
    const at: Moment = { phase: 'kernel-read' };
    const parts: Part[] = [];
    const differences: Difference[] = [];
    for (const d of await kernelReadsUpper(this.kernelReader, this.driver, this.profile, expectedMerged)) {
      const part = differencePart(d, at, this.before);
      if (this.known?.has(part.signature)) this.seenKnown.add(part.signature);
      else {
        parts.push(part);
        differences.push(d);
      }
    }
    if (parts.length === 0) return;
    const worst = worstPart(parts);
    const signatures = [...new Set([worst, ...parts].map((p) => p.signature))];
    throw new Divergence({ phase: 'kernel-read', step: this.history.length, differences, signature: worst.signature, harm: worst.harm, rank: worst.rank, parts: signatures, known: [...this.seenKnown] });
  }

  async close(): Promise<void> {
    try {
      await this.driver.teardown();
    } finally {
      await this.reference?.teardown();
      await this.kernelReader?.teardown();
    }
  }

  /** A step the implementation does not answer in time is a divergence of its own. */
  private async applyActual(op: Op, expected: Outcome, rule: string, phase: 'step' | 'remount'): Promise<Outcome> {
    try {
      return await this.driver.apply(op);
    } catch (e) {
      if (!(e instanceof StepTimeout)) throw e;
      if (phase === 'step') this.history.push({ op, expected, actual: 'TIMEOUT', rule });
      const signature = `hang: ${op.op}: no answer (${e.message.replace(/ \(pid \d+\)/, '')})`;
      if (this.known?.has(signature)) throw new KnownDivergence(signature);
      const at = { phase, step: this.history.length, ...(phase === 'step' ? { op } : {}), expected, actual: 'TIMEOUT', rule };
      throw new Divergence({ ...at, differences: [], signature, harm: 'hang', parts: [signature], known: [...this.seenKnown] });
    }
  }

  /**
   * Right after a mount (set-up, a remount or rotation that succeeded): the options
   * /proc/mounts shows against the model's (model/mountShown.ts), where the driver shows them.
   */
  private mountsDiffs(at: Omit<DivergenceInfo, 'differences'>): Difference[] {
    if (this.reference || !this.driver.shownOptions) return [];
    const mounted = at.phase === 'mount' || ((at.phase === 'remount' || at.op?.op === 'remount' || at.op?.op === 'rotate') && at.actual === 'ok');
    if (!mounted) return [];
    const { shown, facts } = this.driver.shownOptions();
    const expected = shownOptions(this.model, facts);
    return shown === expected ? [] : [{ view: 'mounts', path: '/', what: 'options', expected, actual: shown }];
  }

  /** The driver's snapshot, or a divergence if its daemon hung. */
  private actualSnapshot(view: 'merged' | 'upper' | number, at: Omit<DivergenceInfo, 'differences'>): Snapshot {
    try {
      return this.driver.snapshot(view);
    } catch (e) {
      if (!(e instanceof StepTimeout)) throw e;
      const d: Difference = { view: String(view), path: '/', what: 'timeout', expected: 'an answer', actual: e.message };
      const signature = `hang: ${view}: no answer to a walk`;
      if (this.known?.has(signature)) throw new KnownDivergence(signature); // the daemon is gone: the case ends
      throw new Divergence({ ...at, differences: [d], signature, harm: 'hang', parts: [signature], known: [...this.seenKnown] });
    }
  }

  private expectedSnapshot(view: 'merged' | 'upper' | number): Snapshot {
    if (this.reference && view === 'merged') return withoutTimes(perMount(this.reference.snapshot(view), this.mounts));
    if (this.reference) return withoutTimes(this.reference.snapshot(view));
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

  /**
   * An fd step's observations (harness/compare.ts): fdstat's entry as a name of its own in
   * view "fd" ("/fd<slot>", inode identity through the same map as every view), fdread's
   * bytes as its "data".
   */
  private observedDifferences(): { differences: Difference[]; expected?: Snapshot; actual?: Snapshot } {
    const o = this.observed;
    this.observed = undefined;
    if (!o) return { differences: [] };
    const path = `/fd${o.slot}`;
    const asSnap = (x: FdObserved | undefined): Snapshot => {
      if (!x) return new Map();
      // fdread's bytes as the content of a name of its own (case files: expect.fd["/fd0"].data)
      const entry: SnapEntry = 'stat' in x ? x.stat : { kind: 'file', mode: 0, uid: 0, gid: 0, nlink: 0, ino: 0, data: x.read, xattrs: {} };
      return new Map([[path, entry]]);
    };
    // A reference's st_dev holds for one mount, as in its merged view (perMount).
    const expected = this.reference ? perMount(asSnap(o.expected), this.mounts) : asSnap(o.expected);
    const actual = asSnap(o.actual);
    if ('read' in o.expected) {
      const got = actual.get(path)?.data ?? '(nothing read)';
      const differences = got === o.expected.read ? [] : [{ view: 'fd', path, what: 'data', expected: o.expected.read, actual: got }];
      return { differences, expected, actual };
    }
    return { differences: diffSnapshots('fd', expected, actual, this.inodes, this.masked), expected, actual };
  }

  /**
   * Compares every view. With an outcome that differs, differences at the names in the
   * step's `consequence` (what the reference's outcome did and the implementation's did not,
   * or the reverse) belong to the outcome: they are reported with it, not as parts of their own.
   */
  private compare(at: Omit<DivergenceInfo, 'differences'>, outcomeDiffers = false, lowers = true, consequence?: (path: string) => boolean, readDiffs: Difference[] = []): Views {
    const actual = new Map<string, Snapshot>([['merged', this.actualSnapshot('merged', at)]]);
    const expected = new Map<string, Snapshot>([['merged', this.expectedSnapshot('merged')]]);
    // Whiteouts below an opaque dir are left out only where the implementation's format cannot hold them.
    const normalize = this.codecs && !this.codecs.actual.kernelFormat ? withoutRedundantWhiteouts : (x: Snapshot) => x;
    const decode = (side: 'expected' | 'actual', snap: Snapshot) => (this.codecs ? normalize(this.codecs[side].decode(snap)) : snap);
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
    if (this.codecs?.actual.explicitStops && expected.has('upper')) {
      // Where the kernel stops a merge at a non-dir below a dir (S2.3), such a format marks the dir: say so on the model's side
      // too. Every layer decides where, compared this step or not.
      const layers = [expected.get('upper')!, ...Array.from({ length: nLowers }, (_, i) => expected.get(`lower${i}`) ?? decode('expected', this.expectedSnapshot(i)))];
      const marked = withImplicitStopsOpaque(layers).map(normalize); // whiteouts below a dir so marked hide nothing more
      expected.set('upper', marked[0]);
      for (let i = 0; lowers && i < nLowers; i++) expected.set(`lower${i}`, marked[i + 1]);
    }
    // The situation of a name is where it was before this step (at mount: where it is).
    const before = at.phase === 'mount' ? expected : this.before;
    const moment: Moment = at;
    const parts: (Part & { difference?: Difference })[] = [];
    const outcome: (Part & { differences: Difference[] }) | undefined = outcomeDiffers ? { ...outcomePart(moment, before), differences: [] } : undefined;
    if (outcome) parts.push(outcome);
    const viewDiffs: [string, Difference[]][] = [...expected].map(([view, snap]) => [view, diffSnapshots(view, snap, actual.get(view)!, this.inodes, this.masked)]);
    viewDiffs.push(['readdir', readDiffs]); // what a dir stream read (S9)
    viewDiffs.push(['mounts', this.mountsDiffs(at)]); // what /proc/mounts shows of a new mount (S1.4)
    for (const [view, diffs] of viewDiffs) {
      const carried = this.carried.get(view);
      const tolerated = new Map<string, string>();
      for (const d of diffs) {
        if (outcome && consequence?.(d.path)) {
          outcome.differences.push(d);
          continue;
        }
        const key = carryKey(d);
        // Still there, unchanged, since the last comparison tolerated it: the same divergence.
        const was = this.known ? carried?.get(key) : undefined;
        const part = differencePart(d, moment, before, expected);
        const sig = was ?? (this.known?.has(part.signature) ? part.signature : undefined);
        if (sig === undefined) parts.push({ ...part, difference: d });
        else {
          tolerated.set(key, sig);
          this.seenKnown.add(sig);
        }
      }
      this.carried.set(view, tolerated);
    }
    const fd = this.observedDifferences();
    for (const d of fd.differences) {
      const part = differencePart(d, moment, before, expected);
      if (this.known?.has(part.signature)) this.seenKnown.add(part.signature);
      else parts.push({ ...part, difference: d });
    }
    if (parts.length > 0) {
      const worst = worstPart(parts);
      const ordered = [worst, ...parts.filter((p) => p !== worst)];
      const signatures = [...new Set(ordered.map((p) => p.signature))];
      const differences = [...(outcome?.differences ?? []), ...parts.flatMap((p) => (p.difference ? [p.difference] : []))];
      throw new Divergence({ ...at, differences, signature: worst.signature, harm: worst.harm, rank: worst.rank, parts: signatures, known: [...this.seenKnown] });
    }
    for (const [view, snap] of expected) this.before.set(view, snap); // `before` may be this map: last
    if (fd.expected) expected.set('fd', fd.expected); // for known answers only: no situation of later steps
    if (fd.actual) actual.set('fd', fd.actual);
    return this.withLayersUnread(expected, actual, nLowers + this.model.dataLayers.length);
  }

  /**
   * The views with every layer's: where a layer was not read again (unchanged since the last
   * comparison), the snapshots of that comparison, so that known answers can name any layer.
   */
  private withLayersUnread(expected: Map<string, Snapshot>, actual: Map<string, Snapshot>, layers: number): Views {
    const nLowers = this.model.lowers.length;
    for (let i = 0; i < layers; i++) {
      const view = i < nLowers ? `lower${i}` : `data${i - nLowers}`;
      if (actual.has(view)) this.layersRead.set(view, actual.get(view)!);
      else {
        const [e, a] = [this.before.get(view), this.layersRead.get(view)];
        if (e && a) {
          expected.set(view, e);
          actual.set(view, a);
        }
      }
    }
    return { expected, actual };
  }
}

/**
 * The names an operation acts on: its paths, what is below them (a rename moves a tree),
 * and their parent dirs (link counts). Where the outcome differs, what the reference's
 * outcome did there and the implementation's did not is the outcome's consequence.
 */
function footprint(op: Op): (path: string) => boolean {
  const roots = ['path' in op ? op.path : undefined, 'src' in op ? op.src : undefined, 'dst' in op ? op.dst : undefined].filter((p): p is string => p !== undefined);
  if (roots.length === 0) return () => true; // remount, rotate: the whole tree
  const parents = new Set(roots.map((p) => p.slice(0, p.lastIndexOf('/')) || '/'));
  return (path) => parents.has(path) || roots.some((r) => path === r || path.startsWith(r + '/'));
}

/** Where a call the reference refuses succeeds (Session.followActual), tried in order. */
const SUCCEEDING_PROFILES: Partial<Profile>[] = [{ redirect_dir: 'on' }];

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
