// Cross case files (properties/crossCase.ts, issue 11): the format; a case file round-trips;
// what is refused is refused in one short line naming the field; and a real divergence of the
// cross-implementation property, found with a small seed search, saved as a case, replays to
// the same divergence, while a case without one replays clean. Fixed case counts and seeds:
// nothing here depends on the machine's speed.
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { makeDriver, probeDriver } from '../harness/drivers/index.js';
import { inPrivateNamespace } from '../harness/namespace.js';
import { openSandbox, type Sandbox } from '../harness/sandbox.js';
import { CaseError } from './caseFile.js';
import { CASE_KINDS } from './caseFormat.js';
import {
  crossCaseSchema, crossFailureCase, crossSignature, isCrossCase, parseCrossCase, replayCrossCase, type CrossCase,
  type CrossImplementation,
} from './crossCase.js';
import { runCrossUpper, type CrossFailure, type CrossResult } from './crossUpper.js';
import { isMountCase } from './mountCase.js';

/** The same case through JSON, as the CLI saves it and replay reads it. */
const saved = (c: unknown): CrossCase => parseCrossCase(JSON.stringify(c, null, 2), 'saved');

const DATE = '2026-12-01T00:00:00.000Z';

/** A failure as runCrossUpper reports one (made up: the format does not care). */
const FAILURE: CrossFailure = {
  stack: { lowers: [{ '/d/a': { type: 'file', data: 'x', mode: 0o640 }, '/d/l': { type: 'symlink', target: 'a' } }, { '/e': { type: 'dir', xattrs: { 'user.a': '1' } } }], upper: { '/d/b': { type: 'whiteout' } } },
  steps: [{ op: 'mkdir', path: '/d/n1', mode: 0o755 }, { op: 'unlink', path: '/d/a' }],
  outcomes: ['ok', 'ok'],
  differences: [
    { view: 'merged', path: '/d/n1/.wh..wh..opq', what: 'unexpected', actual: 'file 0000 ""' },
    { view: 'merged', path: '/d/a', what: 'unexpected', actual: 'chardev 0000' },
  ],
  formatDifferences: [{ view: 'upper', path: '/d/a', what: 'kind', expected: 'whiteout', actual: 'chardev' }],
};

/** A small valid cross case, changed by `edit`. */
function crossWith(edit: (c: Record<string, any>) => void = () => {}): Record<string, any> {
  const c: Record<string, any> = {
    ovlcheck: 1, kind: 'cross', from: 'fuse-overlayfs', to: 'unionfs-fuse',
    layers: { lowers: [{ '/d/a': { type: 'file', data: 'x' } }] }, steps: [{ op: 'unlink', path: '/d/a' }],
  };
  edit(c);
  return c;
}

/** The message parseCrossCase refuses a document with; fails the test if it accepts it or throws anything else. */
function refusal(text: string): string {
  try {
    parseCrossCase(text, 'x.json');
  } catch (e) {
    if (!(e instanceof CaseError)) throw e;
    return e.message;
  }
  throw new Error(`accepted: ${text.slice(0, 200)}`);
}

describe('cross case files: format', () => {
  it('is a kind of case file of the documentation, with its JSON Schema', () => {
    const kind = CASE_KINDS.find((k) => k.name === 'cross-case');
    expect(kind?.schema).toBe(crossCaseSchema);
    const js = JSON.parse(readFileSync(new URL('./cross-case.schema.json', import.meta.url), 'utf8')) as { properties: Record<string, unknown> };
    expect(Object.keys(js.properties)).toEqual(expect.arrayContaining(['ovlcheck', 'kind', 'from', 'to', 'layers', 'steps', 'found', 'divergence']));
  });

  it('every field of the schema is described', () => {
    const js = z.toJSONSchema(crossCaseSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, any>;
    const defs = (js.$defs ?? {}) as Record<string, any>;
    const described = (v: any) => typeof v?.description === 'string' || typeof defs[String(v?.$ref).replace('#/$defs/', '')]?.description === 'string';
    const undescribed: string[] = [];
    const walk = (s: any, where: string) => {
      if (!s || typeof s !== 'object') return;
      for (const [k, v] of Object.entries((s.properties ?? {}) as Record<string, unknown>)) {
        if (!described(v)) undescribed.push(`${where}.${k}`);
        walk(v, `${where}.${k}`);
      }
      walk(s.items, `${where}[]`);
      for (const [i, v] of [...(s.anyOf ?? []), ...(s.oneOf ?? [])].entries()) walk(v, `${where}|${i}`);
    };
    walk(js, 'case');
    for (const [id, d] of Object.entries(defs)) walk(d, id);
    expect(undescribed).toEqual([]);
  });

  it('isCrossCase goes by kind: ordinary and mount cases are not cross cases, nor cross cases mount cases', () => {
    expect(isCrossCase(crossWith())).toBe(true);
    expect(isCrossCase({ ovlcheck: 1, layers: { lowers: [{}] }, steps: [] })).toBe(false);
    expect(isCrossCase({ ovlcheck: 1, kind: 'mount-request' })).toBe(false);
    expect(isCrossCase(null)).toBe(false);
    expect(isCrossCase([{ kind: 'cross' }])).toBe(false);
    expect(isMountCase(crossWith())).toBe(false);
  });

  it('a saved divergence round-trips: crossFailureCase -> JSON -> parseCrossCase', () => {
    const c = crossFailureCase(FAILURE, { from: 'fuse-overlayfs', to: 'unionfs-fuse', seed: 7, path: '3:1:0', kernelRelease: '6.12.0-test', date: DATE });
    expect(saved(c)).toEqual(c);
    expect(c).toMatchObject({
      ovlcheck: 1, kind: 'cross', from: 'fuse-overlayfs', to: 'unionfs-fuse', layers: FAILURE.stack, steps: FAILURE.steps,
      found: { seed: 7, path: '3:1:0', kernel: '6.12.0-test', date: DATE, fromVersion: expect.stringMatching(/^fuse-overlayfs /), toVersion: expect.stringMatching(/^unionfs-fuse /) },
    });
    expect(c.divergence?.signature).toBe(crossSignature(FAILURE, 'fuse-overlayfs', 'unionfs-fuse'));
    expect(c.divergence?.text).toMatch(/^CROSS-IMPLEMENTATION DIVERGENCE: upper written by fuse-overlayfs, mounted by unionfs-fuse {2}seed=7 path="3:1:0"/);
    expect(c.divergence?.differences).toHaveLength(2);
    expect(c.divergence?.outcomes).toEqual(['ok', 'ok']);
    // Its own copy: the case does not change with the failure it was made from.
    expect(c.layers).not.toBe(FAILURE.stack);
    // Without a path, and the smallest hand-written case, parse too.
    expect(saved(crossFailureCase(FAILURE, { from: 'kernel', to: 'unionfs-fuse', seed: 1, kernelRelease: 'k', date: DATE })).found?.path).toBe('');
    expect(saved(crossWith()).layers.upper).toEqual({});
  });

  it('the signature leaves out generated names and keeps an implementation\'s own', () => {
    expect(crossSignature(FAILURE, 'fuse-overlayfs', 'unionfs-fuse'))
      .toBe('cross fuse-overlayfs -> unionfs-fuse: unexpected chardev; unexpected file .wh..wh..opq (the formats differ)');
    const renamed: CrossFailure = { ...FAILURE, differences: FAILURE.differences.map((d) => ({ ...d, path: d.path.replace('/d/', '/e/') })) };
    expect(crossSignature(renamed, 'fuse-overlayfs', 'unionfs-fuse')).toBe(crossSignature(FAILURE, 'fuse-overlayfs', 'unionfs-fuse'));
    const xattr: CrossFailure = { ...FAILURE, differences: [{ view: 'merged', path: '/b', what: 'xattr user.c', expected: '(absent)', actual: '"1"' }], formatDifferences: [] };
    expect(crossSignature(xattr, 'kernel', 'unionfs-fuse')).toBe('cross kernel -> unionfs-fuse: xattr user.* (the formats read alike)');
  });

  it('crossFailureCase takes only the implementations cross moves an upper between', () => {
    expect(() => crossFailureCase(FAILURE, { from: 'memfs-unionfs', to: 'kernel', seed: 1, kernelRelease: 'k', date: DATE })).toThrow(/not an implementation of cross/);
  });

  const refused: [string, string, RegExp][] = [
    ['text that is not JSON', '{"ovlcheck": 1,', /^x\.json: not JSON \(/],
    ['a document without "ovlcheck"', JSON.stringify(crossWith((c) => delete c.ovlcheck)), /^x\.json: "ovlcheck": 1 is missing \(not a case file\?\)$/],
    ['another kind', JSON.stringify(crossWith((c) => { c.kind = 'crossed'; })), /^x\.json: kind: must be "cross", not "crossed"$/],
    ['an implementation cross does not have', JSON.stringify(crossWith((c) => { c.from = 'memfs-unionfs'; })), /^x\.json: from: must be one of "kernel", "fuse-overlayfs", "unionfs-fuse", not "memfs-unionfs"$/],
    ['no "to"', JSON.stringify(crossWith((c) => delete c.to)), /^x\.json: to: missing$/],
    ['"to" the same as "from"', JSON.stringify(crossWith((c) => { c.to = c.from; })), /^x\.json: to: "fuse-overlayfs", as "from": a cross case moves an upper between two implementations$/],
    ['an unknown key', JSON.stringify(crossWith((c) => { c.profile = 'index'; })), /^x\.json: profile: unknown key \(known: ovlcheck, kind, /],
    ['a rotate step', JSON.stringify(crossWith((c) => { c.steps.push({ op: 'rotate' }); })), /^x\.json: steps\[1\]\.op: "rotate" has no place in a cross case/],
    ['a remount step', JSON.stringify(crossWith((c) => { c.steps.unshift({ op: 'remount' }); })), /^x\.json: steps\[0\]\.op: "remount" has no place in a cross case/],
    ['a known answer on a step', JSON.stringify(crossWith((c) => { c.steps[0].expect = { outcome: 'ok' }; })), /^x\.json: steps\[0\]\.expect: a cross case has no known answers/],
    ['data-only layers', JSON.stringify(crossWith((c) => { c.layers.data = [{ '/f': { type: 'file' } }]; })), /^x\.json: layers\.data: a cross case mounts the default profile/],
    ['an unknown op (ordinary steps\' message)', JSON.stringify(crossWith((c) => { c.steps[0].op = 'delete'; })), /^x\.json: steps\[0\]\.op: unknown op "delete" \(one of: open, /],
    ['a relative path in a layer (ordinary layers\' message)', JSON.stringify(crossWith((c) => { c.layers.lowers[0] = { 'd/a': { type: 'file' } }; })), /^x\.json: layers\.lowers\[0\]\["d\/a"\]: "d\/a" is not absolute/],
    ['a hard link to nothing', JSON.stringify(crossWith((c) => { c.layers.lowers[0]['/h'] = { type: 'link', to: '/nope' }; })), /^x\.json: layers\.lowers\[0\]\["\/h"\]\.to: "\/nope" is not an entry of this layer/],
    ['a divergence without its signature', JSON.stringify(crossWith((c) => { c.divergence = { text: 'x' }; })), /^x\.json: divergence\.signature: missing$/],
    ['found with an unknown key', JSON.stringify(crossWith((c) => { c.found = { seed: 1, path: '', kernel: 'k', date: DATE, fromVersion: 'a', toVersion: 'b', options: '' }; })), /^x\.json: found\.options: unknown key/],
    ['a list', '[]', /^x\.json: must be an object, not a list$/],
    ['a very long unknown op', JSON.stringify(crossWith((c) => { c.steps[0].op = 'x'.repeat(5000); })), /^x\.json: steps\[0\]\.op: unknown op "x+…"/],
  ];
  for (const [what, text, message] of refused) {
    it(`refuses ${what} with one line of at most 200 characters`, () => {
      const line = refusal(text);
      expect(line).toMatch(message);
      expect(line.length).toBeLessThanOrEqual(200);
      expect(line).not.toContain('\n');
    });
  }
});

/** Overlay or FUSE mounts left under root. */
function mountsUnder(root: string): string[] {
  return readFileSync('/proc/self/mounts', 'utf8').split('\n').filter((l) => /^\S+ \S+ (overlay|fuse\.)/.test(l) && l.includes(root));
}

/** null if both implementations run here, else why not. */
function unavailable(...names: CrossImplementation[]): string | null {
  for (const n of names) {
    const why = probeDriver(n);
    if (why) return `${n}: ${why}`;
  }
  return null;
}

const FROM: CrossImplementation = 'fuse-overlayfs';
const TO: CrossImplementation = 'unionfs-fuse';
const pairWhy = inPrivateNamespace() ? unavailable(FROM, TO) : 'not in a private mount namespace (node dist/harness/namespace.js npx vitest run ...)';

describe.skipIf(!inPrivateNamespace())('cross case files: replay', () => {
  let sandbox: Sandbox;
  beforeAll(() => {
    sandbox = openSandbox();
  });
  afterAll(() => sandbox?.close());

  /** The first divergence of FROM -> TO over a few seeds, each a fixed number of cases. */
  async function findDivergence(): Promise<CrossResult | undefined> {
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const writer = makeDriver(FROM, sandbox);
      const reader = makeDriver(TO, sandbox);
      try {
        const r = await runCrossUpper({ writer, reader, runs: 30, steps: 6, seed });
        if (r.failure) return r;
      } finally {
        await writer.teardown();
        await reader.teardown();
      }
    }
    return undefined;
  }

  it.skipIf(pairWhy !== null)(`a real divergence (${FROM} -> ${TO}), saved as a case file, replays to the same divergence${pairWhy ? ` (skipped: ${pairWhy})` : ''}`, async () => {
    const r = await findDivergence();
    expect(r?.failure, `no divergence of ${FROM} -> ${TO} in 6 seeds of 30 cases`).toBeTruthy();
    const f = r!.failure!;
    const c = saved(crossFailureCase(f, { from: FROM, to: TO, seed: r!.seed, path: r!.path, kernelRelease: release(), date: DATE }));
    expect(c.layers).toEqual({ ...f.stack, upper: f.stack.upper ?? {} });
    expect(c.steps).toEqual(f.steps);

    const first = await replayCrossCase(c, sandbox);
    expect(first.skipped).toBeUndefined();
    expect(first.signature).toBe(c.divergence!.signature);
    expect(first.signature).toBe(crossSignature(f, FROM, TO));
    expect(first.divergence).toBe(c.divergence!.text);
    // Once more: a replay leaves nothing behind that changes the next one.
    const again = await replayCrossCase(c, sandbox);
    expect(again.signature).toBe(first.signature);
    expect(again.divergence).toBe(first.divergence);
    expect(mountsUnder(sandbox.root)).toEqual([]);
  }, 300_000);

  it.skipIf(pairWhy !== null)(`a case without a divergence replays clean${pairWhy ? ` (skipped: ${pairWhy})` : ''}`, async () => {
    // A file written through the mount and a new dir with a file: copied up, read alike by both.
    const c = saved(crossWith((x) => {
      x.layers.lowers = [{ '/d/a': { type: 'file', data: 'x' }, '/d/b': { type: 'file', data: 'yz', mode: 0o600 } }];
      x.steps = [{ op: 'open', path: '/d/a', flags: ['O_WRONLY', 'O_TRUNC'], data: 'new' }, { op: 'chmod', path: '/d/b', mode: 0o640 }];
    }));
    const r = await replayCrossCase(c, sandbox);
    expect(r).toEqual({});
    expect(mountsUnder(sandbox.root)).toEqual([]);
  }, 120_000);

  it('an implementation this machine cannot run is a skip with the reason, not a failure', async () => {
    // FUSE implementations are found on PATH: without one, neither runs.
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      const r = await replayCrossCase(saved(crossWith((x) => { x.from = 'kernel'; x.to = 'fuse-overlayfs'; })), sandbox);
      expect(r.skipped).toMatch(/^(kernel|fuse-overlayfs) cannot run here: /);
      expect(r.divergence).toBeUndefined();
    } finally {
      process.env.PATH = path;
    }
  });
});
