import fs from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FdTable } from './fds.js';
import { inPrivateNamespace } from './namespace.js';
import { openSandbox, type Sandbox } from './sandbox.js';

const SKIP = inPrivateNamespace() ? '' : ' [skipped: needs root in a private mount namespace; run `npm test`]';

describe.skipIf(SKIP !== '')(`FdTable on plain tmpfs${SKIP}`, () => {
  let sandbox: Sandbox;
  let mnt: string;
  let fds: FdTable;
  beforeAll(() => {
    sandbox = openSandbox();
  });
  afterAll(() => sandbox?.close());
  beforeEach(() => {
    mnt = sandbox.newDir('tree-');
    fs.writeFileSync(`${mnt}/f`, 'abc');
    fs.mkdirSync(`${mnt}/d`);
    fds = new FdTable();
  });

  it('a closed slot is EBADF without touching the real fd number it had, now someone else\'s', () => {
    expect(fds.run(mnt, { op: 'fdopen', slot: 0, path: '/f', flags: ['O_RDONLY'] }).outcome).toBe('ok');
    expect(fds.run(mnt, { op: 'fdclose', slot: 0 }).outcome).toBe('ok');
    const other = fs.openSync(`${mnt}/f`, 'r'); // most likely the number slot 0 had
    try {
      expect(fds.run(mnt, { op: 'fdread', slot: 0 }).outcome).toBe('EBADF');
      expect(fds.run(mnt, { op: 'fdclose', slot: 0 }).outcome).toBe('EBADF');
      expect(fs.fstatSync(other).size).toBe(3); // still open
    } finally {
      fs.closeSync(other);
    }
  });

  it('reads advance the offset, pwrite does not; fstat reads the content through the fd', () => {
    fds.run(mnt, { op: 'fdopen', slot: 1, path: '/f', flags: ['O_RDWR'] });
    expect(fds.run(mnt, { op: 'fdread', slot: 1 })).toEqual({ outcome: 'ok', observed: { read: 'abc' } });
    expect(fds.run(mnt, { op: 'fdpwrite', slot: 1, data: 'Z', offset: 0 }).outcome).toBe('ok');
    expect(fds.run(mnt, { op: 'fdwrite', slot: 1, data: 'd' }).outcome).toBe('ok');
    const r = fds.run(mnt, { op: 'fdstat', slot: 1 });
    expect(r.observed && 'stat' in r.observed ? [r.observed.stat.kind, r.observed.stat.data, r.observed.stat.nlink] : r).toEqual(['file', 'Zbcd', 1]);
  });

  it('O_TMPFILE, then linkat(AT_EMPTY_PATH) gives it a name; closeAll closes every slot', () => {
    expect(fds.run(mnt, { op: 'fdopen', slot: 2, path: '/d', flags: ['O_RDWR', 'O_TMPFILE'], mode: 0o600 }).outcome).toBe('ok');
    expect(fs.readdirSync(`${mnt}/d`)).toEqual([]);
    fds.run(mnt, { op: 'fdwrite', slot: 2, data: 't' });
    expect(fds.run(mnt, { op: 'fdlink', slot: 2, path: '/d/t' }).outcome).toBe('ok');
    expect(fs.readFileSync(`${mnt}/d/t`, 'latin1')).toBe('t');
    fds.run(mnt, { op: 'fdopen', slot: 3, path: '/d', flags: ['O_RDONLY', 'O_DIRECTORY'] });
    expect(fds.run(mnt, { op: 'fdread', slot: 3 }).outcome).toBe('EISDIR');
    fds.closeAll();
    for (const slot of [0, 1, 2, 3] as const) expect(fds.run(mnt, { op: 'fdstat', slot }).outcome).toBe('EBADF');
  });
});
