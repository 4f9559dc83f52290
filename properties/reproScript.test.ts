import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { opCall } from '../harness/calls.js';
import { inPrivateNamespace } from '../harness/namespace.js';
import { DEFAULT_PROFILE } from '../model/profile.js';
import { isDirStreamOp } from '../model/dirStream.js';
import { isFdOp } from '../model/fds.js';
import type { Op, StackSpec } from '../model/types.js';
import { runningKernel } from '../harness/sys.js';
import { fdWords, issueText, kernelRecipe } from './repro.js';
import { reproScript, type ReproInput } from './reproScript.js';

// The script's own machinery on the running kernel: layers in every kind, steps by tool and by
// the helper (one as another user), fds and a dir stream held across steps, a rotation and a remount, checks that hold and one that
// does not. The committed reproducers (repro.test.ts) cover the FUSE side.

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ovlcheck-reproscript-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const STACK: StackSpec = {
  lowers: [
    { '/d': { type: 'dir', mode: 0o750 }, '/d/f': { type: 'file', data: "a'b\\c%d\n\xff", xattrs: { 'user.x': '1' } }, '/s': { type: 'symlink', target: 'd/f' }, '/gone': { type: 'whiteout' } },
    { '/gone': { type: 'file', data: 'hidden' }, '/p': { type: 'fifo', mode: 0o600 } },
  ],
  upper: { '/u': { type: 'file', data: 'up', uid: 1000, gid: 1000, mtime: 1_000_000 } },
};
const OPS: Op[] = [
  { op: 'mkdir', path: '/n', mode: 0o700 },
  { op: 'open', path: '/n/f', flags: ['O_CREAT', 'O_WRONLY', 'O_EXCL'], mode: 0o640, data: 'new' },
  { op: 'rotate' },
  { op: 'rename', src: '/n/f', dst: '/n/g', flags: ['RENAME_NOREPLACE'] },
  { op: 'remount' },
  { op: 'unlink', path: '/d/f', as: { uid: 1000, gid: 1000 } },
  { op: 'fdopen', slot: 1, path: '/u', flags: ['O_RDWR', 'O_APPEND'] },
  { op: 'fdwrite', slot: 1, data: '+' },
  { op: 'opendir', path: '/d', dir: 0 },
  { op: 'readdir', dir: 0, n: 5 },
  { op: 'fdread', slot: 2 },
  { op: 'setxattr', path: '/u', name: 'user.y', value: '2' },
];

function input(expectedLast: string, contentOfG: string): ReproInput {
  const kernel = runningKernel();
  const recipe = kernelRecipe(STACK, DEFAULT_PROFILE, kernel);
  const steps = OPS.map((op, i) => ({
    call: op.op === 'rotate' || op.op === 'remount' ? { c: op.op } : isFdOp(op) || isDirStreamOp(op) ? { c: 'fd', args: fdWords(op) } : opCall('', op),
    text: op.op,
    expected: i === 5 ? 'EACCES' : i === 10 ? 'EBADF' : i === OPS.length - 1 ? expectedLast : 'ok',
  })) as ReproInput['steps'];
  const file = { kind: 'file' as const, mode: 0o640, uid: 0, gid: 0, nlink: 1, ino: 0, xattrs: {}, data: contentOfG };
  return {
    title: 'test', scriptName: 'test.sh', provenance: [], layerText: [], signature: 'test', lowers: 2, impl: recipe, kernel: recipe, steps,
    outcomeStep: OPS.length, finalRemount: false, kernelRead: false, checkAfter: OPS.length,
    checks: [
      { where: 'merged', path: '/n/g', what: 'data', expected: file },
      { where: 'merged', path: '/u', what: 'data', expected: { ...file, data: 'up+' } },
      { where: 'merged', path: '/n/f', what: 'absent', expected: null },
      { where: 'merged', path: '/gone', what: 'absent', expected: null },
      { where: 'merged', path: '/d/f', what: 'present', expected: { ...file, data: "a'b\\c%d\n\xff" } },
      // The first lower, second from the top after the rotation: unchanged (or, to see the check fail, said to hold other bytes).
      { where: 'lower', layer: 1, path: '/d/f', what: 'data', expected: { ...file, data: contentOfG === 'new' ? "a'b\\c%d\n\xff" : 'changed' } },
    ],
  };
}

async function run(r: ReproInput, name: string) {
  const script = path.join(dir, name);
  fs.writeFileSync(script, reproScript(r));
  return execa('sh', [script], { reject: false, env: { OVLCHECK_REPRO_NS: '' }, timeout: 120_000 });
}

describe.skipIf(!inPrivateNamespace())('a reproducer script on the kernel', () => {
  it('builds every kind of layer entry, runs tool and helper steps, rotates and remounts: no fault when all holds', async () => {
    const r = await run(input('ok', 'new'), 'holds.sh');
    expect(r.stdout).toContain('step 6: unlink: expected EACCES, got EACCES');
    expect(r.stdout).toContain('step 11: fdread: expected EBADF, got EBADF'); // slot 2 was never opened
    expect(r.stdout).toContain('no fault');
    expect(r.exitCode).toBe(0);
  });

  it('exits 1 when an outcome or a name differs, and says which', async () => {
    const r = await run(input('EPERM', 'other'), 'differs.sh');
    expect(r.stdout).toContain('step 12: setxattr: expected EPERM, got ok  <- differs');
    expect(r.stdout).toMatch(/DIFFERS {2}\/n\/g content/);
    expect(r.stdout).toMatch(/checking the lower layers[^]*DIFFERS {2}\/d\/f content/);
    expect(r.exitCode).toBe(1);
  });
});

describe('the text of an upstream report', () => {
  it('says what the implementation did beside what the kernel does: the outcome, and each name checked', () => {
    const r = input('EPERM', 'other');
    const file = r.checks[0].expected!;
    const text = issueText({
      ...r, outcomeActual: 'ok', checks: [
        { where: 'merged', path: '/b', what: 'data', expected: { ...file, data: 'x' }, actual: '' },
        { where: 'merged', path: '/n', what: 'absent', expected: null, actual: 'dir 0755' },
        { where: 'merged', path: '/m', what: 'mode', expected: file, actual: '0700' },
      ],
    });
    const [expected, actual] = text.split('## Actual');
    expect(expected).toContain('`setxattr` returns EPERM, as the kernel\'s overlayfs does.');
    expect(expected).toContain('in the merged view, `/b` has the content "x"');
    expect(actual).toContain('- `setxattr` returns ok');
    expect(actual).toContain('- in the merged view, `/b` has the content ""');
    expect(actual).toContain('- the merged view lists `/n` (dir 0755)');
    expect(actual).toContain('- in the merged view, `/m` has mode 0700');
  });
});
