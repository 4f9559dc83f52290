// Directory streams on a real directory: getdents64 one entry at a time, offsets, slots.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirStreams } from './dirStreams.js';

describe('dir streams (harness/dirStreams.ts)', () => {
  let root: string;
  // Names of every record size from 24 to 280 bytes: each read must still return exactly one.
  const names = Array.from({ length: 40 }, (_, i) => 'n'.repeat(1 + ((i * 37) % 255)) + i);

  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'ovlcheck-dirstreams-'));
    fs.mkdirSync(path.join(root, 'd'));
    for (const n of names) fs.writeFileSync(path.join(root, 'd', n), '');
    fs.mkdirSync(path.join(root, 'd', 'sub'));
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it('reads one entry per getdents64 whatever its name length, every entry once, with d_type and d_ino', () => {
    const s = new DirStreams();
    expect(s.apply(root, { op: 'opendir', path: '/d', dir: 0 })).toBe('ok');
    const got: string[] = [];
    for (;;) {
      expect(s.apply(root, { op: 'readdir', dir: 0, n: 1 })).toBe('ok');
      const read = s.dirents()!;
      expect(read.length).toBeLessThanOrEqual(1);
      if (read.length === 0) break;
      got.push(read[0].name);
      const st = fs.lstatSync(path.join(root, 'd', read[0].name));
      expect(read[0].ino).toBe(st.ino);
      expect(read[0].type).toBe(st.isDirectory() ? 'DT_DIR' : 'DT_REG');
    }
    expect(got.sort()).toEqual(['.', '..', ...names, 'sub'].sort());
    s.closeAll();
  });

  it('goes back to where an earlier read left it, or to the start; a closed slot is EBADF', () => {
    const s = new DirStreams();
    s.apply(root, { op: 'opendir', path: '/d', dir: 1 });
    s.apply(root, { op: 'readdir', dir: 1, n: 3 });
    const first = s.dirents()!.map((e) => e.name);
    s.apply(root, { op: 'readdir', dir: 1, n: 1000 });
    const rest = s.dirents()!.map((e) => e.name);
    expect(s.apply(root, { op: 'seekdir', dir: 1, to: 1 })).toBe('ok');
    s.apply(root, { op: 'readdir', dir: 1, n: 1000 });
    expect(s.dirents()!.map((e) => e.name)).toEqual(rest);
    s.apply(root, { op: 'seekdir', dir: 1, to: 0 });
    s.apply(root, { op: 'readdir', dir: 1, n: 3 });
    expect(s.dirents()!.map((e) => e.name)).toEqual(first);
    expect(s.apply(root, { op: 'closedir', dir: 1 })).toBe('ok');
    expect(s.apply(root, { op: 'readdir', dir: 1, n: 1 })).toBe('EBADF');
    expect(s.dirents()).toBeNull();
    expect(s.apply(root, { op: 'opendir', path: `/d/${names[0]}`, dir: 2 })).toBe('ENOTDIR');
    expect(s.apply(root, { op: 'readdir', dir: 2, n: 1 })).toBe('EBADF');
  });
});
