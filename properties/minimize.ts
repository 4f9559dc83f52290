// A second shrinking pass on the concrete case fast-check ends with: drop steps, layers and
// layer entries one at a time while the case still diverges. fast-check shrinks the
// generated values; this pass shrinks what they turned into, and removes what its shrinker
// leaves behind (steps that changed nothing, entries nobody looked at).

import type { KernelVersion, LayerSpec, Op, Profile, StackSpec } from '../model/index.js';
import type { Driver } from '../harness/driver.js';
import type { Failure } from './report.js';
import { Divergence, Session, type SessionOptions } from './session.js';

interface Candidate {
  stack: StackSpec;
  steps: Op[];
}

/** A smaller case counts only if it diverges with the same signature (so it stays the same finding). */
export async function minimizeFailure(
  f: Failure, driver: Driver, kernel: KernelVersion, options: SessionOptions = {}, budgetMs = 20_000,
): Promise<Failure> {
  const started = Date.now();
  let best: Candidate = { stack: f.stack, steps: f.history.map((h) => h.op) };
  let bestFailure = f;
  const tryOne = async (c: Candidate): Promise<boolean> => {
    const r = await diverges(c, driver, f.profile, kernel, options);
    if (!r || r.info.signature !== f.info.signature) return false;
    best = c;
    bestFailure = { ...f, stack: c.stack, history: r.history, info: r.info, options: r.options ?? f.options };
    return true;
  };
  let progress = true;
  while (progress && Date.now() - started < budgetMs) {
    progress = false;
    for (const c of smaller(best)) {
      if (Date.now() - started >= budgetMs) break;
      if (await tryOne(c)) {
        progress = true;
        break;
      }
    }
  }
  return bestFailure;
}

/** Every case one removal smaller: a step, a lower layer, one entry of a layer, or one of an entry's xattrs (random ACLs among them). */
function* smaller(c: Candidate): Generator<Candidate> {
  for (let i = c.steps.length - 1; i >= 0; i--) yield { ...c, steps: c.steps.filter((_, j) => j !== i) };
  if (c.stack.lowers.length > 1) {
    for (let i = 0; i < c.stack.lowers.length; i++) {
      yield { ...c, stack: { ...c.stack, lowers: c.stack.lowers.filter((_, j) => j !== i) } };
    }
  }
  const layers: LayerSpec[] = [...c.stack.lowers, c.stack.upper];
  for (const [li, layer] of layers.entries()) {
    for (const path of Object.keys(layer).sort().reverse()) {
      const without = withoutEntry(layer, path);
      if (!without) continue;
      const lowers = c.stack.lowers.map((l, j) => (j === li ? without : l));
      yield { ...c, stack: { ...c.stack, lowers, upper: li === c.stack.lowers.length ? without : c.stack.upper } };
    }
  }
  for (const [li, layer] of layers.entries()) {
    for (const [path, e] of Object.entries(layer)) {
      if (!('xattrs' in e) || !e.xattrs) continue;
      for (const name of Object.keys(e.xattrs)) {
        const { [name]: _dropped, ...xattrs } = e.xattrs;
        const smaller: LayerSpec = { ...layer, [path]: { ...e, xattrs } as typeof e };
        const lowers = c.stack.lowers.map((l, j) => (j === li ? smaller : l));
        yield { ...c, stack: { ...c.stack, lowers, upper: li === c.stack.lowers.length ? smaller : c.stack.upper } };
      }
    }
  }
}

/** The layer without the entry and anything below it; null if a link elsewhere needs it. */
function withoutEntry(layer: LayerSpec, path: string): LayerSpec | null {
  const out: LayerSpec = {};
  for (const [p, e] of Object.entries(layer)) {
    if (p === path || p.startsWith(path + '/')) continue;
    if (e.type === 'link' && (e.to === path || e.to.startsWith(path + '/'))) return null;
    out[p] = e;
  }
  return out;
}

async function diverges(
  c: Candidate, driver: Driver, profile: Profile, kernel: KernelVersion, options: SessionOptions,
): Promise<{ history: Session['history']; info: Divergence['info']; options?: string } | null> {
  const session = new Session(driver, profile, kernel, options);
  try {
    await session.start(c.stack);
    for (const op of c.steps) await session.step(op);
    await session.finish();
    return null;
  } catch (e) {
    if (e instanceof Divergence) return { history: [...session.history], info: e.info, options: session.facts?.options };
    return null; // a smaller case that cannot even be set up does not count
  } finally {
    await session.close();
  }
}
