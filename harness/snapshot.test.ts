import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { coarseNow, lsetxattr, lremovexattr, mknod } from './native.js';
import { LayerReads, snapshotTree } from './snapshot.js';

// LayerReads lets the walk of an upper take again what an earlier walk read of an object
// whose inode and ctime have not changed. Every walk with it must equal a walk without it,
// right after any change, even one made in the same clock tick as the walk before.

let root = '';

beforeEach(() => {
  root = fs.mkdtempSync('/dev/shm/ovlcheck-reads-'); // tmpfs: the only filesystem reads are reused on
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

/** Waits until the clock ctime is stamped from has passed every ctime under root. */
function settle(): void {
  const latest = Math.max(...[...fs.readdirSync(root, { recursive: true }), '.'].map((p) => Number(fs.lstatSync(`${root}/${p}`, { bigint: true }).ctimeNs)));
  for (;;) {
    const [sec, nsec] = coarseNow();
    if (sec * 1e9 + nsec > latest + 1e6) return;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
  }
}

function build(): void {
  fs.mkdirSync(`${root}/d/e`, { recursive: true });
  fs.writeFileSync(`${root}/d/f`, 'abc');
  fs.writeFileSync(`${root}/d/e/g`, 'x'.repeat(5000));
  fs.symlinkSync('d/f', `${root}/s`);
  expect(mknod(`${root}/d/wh`, fs.constants.S_IFCHR, 0)).toBe('ok');
  expect(lsetxattr(`${root}/d`, 'trusted.overlay.opaque', 'y', 0)).toBe('ok');
  expect(lsetxattr(`${root}/d/f`, 'trusted.a', '1', 0)).toBe('ok');
}

describe('walk of a layer dir with LayerReads', () => {
  it('takes every unchanged object from the walk before', () => {
    build();
    settle();
    const reads = new LayerReads();
    const first = snapshotTree(root, reads);
    expect(reads.reused).toBe(0);
    const second = snapshotTree(root, reads);
    expect(second).toEqual(first);
    expect(second).toEqual(snapshotTree(root));
    expect(reads.reused).toBe(first.size); // root, d, d/e, d/e/g, d/f, d/wh, s
  });

  it('reads again what changed right after the walk before, whatever changed', () => {
    build();
    settle();
    const reads = new LayerReads();
    snapshotTree(root, reads);
    snapshotTree(root, reads); // every object now reused
    const times = fs.lstatSync(`${root}/d/f`);
    const changes: [string, () => void][] = [
      // same size, times put back: only ctime tells
      ['content', () => { fs.writeFileSync(`${root}/d/f`, 'xyz'); fs.utimesSync(`${root}/d/f`, times.atime, times.mtime); }],
      ['content deep down', () => fs.writeFileSync(`${root}/d/e/g`, 'y'.repeat(5000))],
      ['an xattr set', () => expect(lsetxattr(`${root}/d/f`, 'trusted.a', '2', 0)).toBe('ok')],
      ['an xattr removed', () => expect(lremovexattr(`${root}/d`, 'trusted.overlay.opaque')).toBe('ok')],
      ['an xattr on a whiteout', () => expect(lsetxattr(`${root}/d/wh`, 'trusted.b', 'w', 0)).toBe('ok')],
      ['a new name', () => fs.writeFileSync(`${root}/d/e/new`, '')],
      ['a rename', () => fs.renameSync(`${root}/d/e/new`, `${root}/d/e/renamed`)],
      ['an exchange of two files of one size', () => { fs.writeFileSync(`${root}/d/e/h`, 'zzz'); settle(); snapshotTree(root, reads); fs.renameSync(`${root}/d/f`, `${root}/d/tmp`); fs.renameSync(`${root}/d/e/h`, `${root}/d/f`); fs.renameSync(`${root}/d/tmp`, `${root}/d/e/h`); }],
      ['a symlink replaced', () => { fs.unlinkSync(`${root}/s`); fs.symlinkSync('d/e', `${root}/s`); }],
      ['a mode', () => fs.chmodSync(`${root}/d/e`, 0o700)],
      ['a hard link', () => fs.linkSync(`${root}/d/e/g`, `${root}/d/g2`)],
    ];
    for (const [what, change] of changes) {
      change(); // in the same clock tick as the walk before, most of the time
      expect(snapshotTree(root, reads), what).toEqual(snapshotTree(root));
      settle();
      expect(snapshotTree(root, reads), `${what}, settled`).toEqual(snapshotTree(root));
    }
  });

  it('does not take an object read in the tick it last changed in, which may change again in that tick', (ctx) => {
    // A change, a walk and a change of the same size within one clock tick (4 ms at HZ=250)
    // leave ctime as it was before 6.13: only the rule that a reused object's ctime is older
    // than the start of the walk that read it tells the second change apart. From 6.13 tmpfs
    // has multigrain timestamps: a ctime once read is followed by a later one, always.
    const file = `${root}/f`;
    const ctimeNs = () => fs.lstatSync(file, { bigint: true }).ctimeNs;
    let sameTick = 0;
    for (let round = 0; round < 200 && sameTick < 20; round++) {
      const reads = new LayerReads();
      fs.writeFileSync(file, `a${round % 10}`);
      const first = ctimeNs();
      snapshotTree(root, reads);
      fs.writeFileSync(file, `b${round % 10}`);
      if (ctimeNs() === first) sameTick++;
      expect(snapshotTree(root, reads).get('/f')?.data).toBe(`b${round % 10}`);
    }
    if (sameTick === 0) ctx.skip(); // never two changes with one ctime (6.13+): nothing shown either way
  });
});
