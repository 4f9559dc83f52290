import fs from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { applyOp } from './apply.js';
import { inPrivateNamespace } from './namespace.js';
import { lgetxattr } from './native.js';
import { openSandbox, type Sandbox } from './sandbox.js';

const SKIP = inPrivateNamespace() ? '' : ' [skipped: needs root in a private mount namespace; run `npm test`]';

describe.skipIf(SKIP !== '')(`applyOp on plain tmpfs${SKIP}`, () => {
  let sandbox: Sandbox;
  let mnt: string;
  beforeAll(() => {
    sandbox = openSandbox();
  });
  afterAll(() => sandbox?.close());
  beforeEach(() => {
    mnt = sandbox.newDir('tree-');
    fs.mkdirSync(`${mnt}/d`);
    fs.writeFileSync(`${mnt}/d/f`, 'x');
    fs.writeFileSync(`${mnt}/g`, 'g');
    fs.mkdirSync(`${mnt}/empty`);
  });

  it('reports errno names as outcomes', () => {
    expect(applyOp(mnt, { op: 'unlink', path: '/nope' })).toBe('ENOENT');
    expect(applyOp(mnt, { op: 'mkdir', path: '/d', mode: 0o755 })).toBe('EEXIST');
    expect(applyOp(mnt, { op: 'open', path: '/d', flags: ['O_WRONLY'] })).toBe('EISDIR');
    expect(applyOp(mnt, { op: 'rmdir', path: '/d' })).toBe('ENOTEMPTY');
    expect(applyOp(mnt, { op: 'rmdir', path: '/g' })).toBe('ENOTDIR');
    expect(applyOp(mnt, { op: 'truncate', path: '/d', size: 0 })).toBe('EISDIR');
    expect(applyOp(mnt, { op: 'link', src: '/d', dst: '/d2' })).toBe('EPERM');
    expect(applyOp(mnt, { op: 'open', path: '/g', flags: ['O_CREAT', 'O_EXCL', 'O_WRONLY'] })).toBe('EEXIST');
  });

  it('creates with the umask applied and writes data once', () => {
    expect(applyOp(mnt, { op: 'open', path: '/n', flags: ['O_CREAT', 'O_WRONLY'], mode: 0o666, data: 'd\xe9' })).toBe('ok');
    expect(fs.readFileSync(`${mnt}/n`, 'latin1')).toBe('d\xe9');
    expect(fs.statSync(`${mnt}/n`).mode & 0o7777).toBe(0o644);
    expect(applyOp(mnt, { op: 'open', path: '/n', flags: ['O_WRONLY', 'O_APPEND'], data: '+' })).toBe('ok');
    expect(fs.readFileSync(`${mnt}/n`, 'latin1')).toBe('d\xe9+');
    expect(applyOp(mnt, { op: 'open', path: '/g', flags: ['O_RDONLY'], data: 'z' })).toBe('EBADF');
  });

  it('renames with flags through renameat2', () => {
    expect(applyOp(mnt, { op: 'rename', src: '/g', dst: '/d/f', flags: ['RENAME_NOREPLACE'] })).toBe('EEXIST');
    expect(applyOp(mnt, { op: 'rename', src: '/g', dst: '/d/f', flags: ['RENAME_EXCHANGE'] })).toBe('ok');
    expect(fs.readFileSync(`${mnt}/g`, 'utf8')).toBe('x');
    expect(applyOp(mnt, { op: 'rename', src: '/g', dst: '/nope', flags: ['RENAME_EXCHANGE'] })).toBe('ENOENT');
    expect(applyOp(mnt, { op: 'rename', src: '/g', dst: '/h', flags: ['RENAME_NOREPLACE', 'RENAME_EXCHANGE'] })).toBe('EINVAL');
    expect(applyOp(mnt, { op: 'rename', src: '/g', dst: '/h' })).toBe('ok');
  });

  it('never blocks on a fifo and makes whiteouts with mknod', () => {
    expect(applyOp(mnt, { op: 'mknod', path: '/p', kind: 'fifo', mode: 0o644 })).toBe('ok');
    expect(applyOp(mnt, { op: 'open', path: '/p', flags: ['O_WRONLY'] })).toBe('ENXIO'); // no reader
    expect(applyOp(mnt, { op: 'open', path: '/p', flags: ['O_RDONLY'] })).toBe('ok');
    expect(applyOp(mnt, { op: 'mknod', path: '/w', kind: 'whiteout', mode: 0 })).toBe('ok');
    const st = fs.lstatSync(`${mnt}/w`);
    expect(st.isCharacterDevice() && st.rdev === 0).toBe(true);
  });

  it('follows symlinks for chmod, truncate and xattrs', () => {
    expect(applyOp(mnt, { op: 'symlink', target: 'g', path: '/s' })).toBe('ok');
    expect(applyOp(mnt, { op: 'chmod', path: '/s', mode: 0o600 })).toBe('ok');
    expect(fs.statSync(`${mnt}/g`).mode & 0o7777).toBe(0o600);
    expect(applyOp(mnt, { op: 'truncate', path: '/s', size: 0 })).toBe('ok');
    expect(fs.statSync(`${mnt}/g`).size).toBe(0);
    expect(applyOp(mnt, { op: 'setxattr', path: '/s', name: 'user.a', value: '1', flags: 'XATTR_CREATE' })).toBe('ok');
    expect(lgetxattr(`${mnt}/g`, 'user.a')).toEqual({ ok: true, value: '1' });
    expect(applyOp(mnt, { op: 'setxattr', path: '/s', name: 'user.a', value: '2', flags: 'XATTR_CREATE' })).toBe('EEXIST');
    expect(applyOp(mnt, { op: 'setxattr', path: '/g', name: 'user.b', value: '2', flags: 'XATTR_REPLACE' })).toBe('ENODATA');
    expect(applyOp(mnt, { op: 'removexattr', path: '/s', name: 'user.a' })).toBe('ok');
    expect(applyOp(mnt, { op: 'removexattr', path: '/s', name: 'user.a' })).toBe('ENODATA');
  });

  it('leaves remount to the driver', () => {
    expect(() => applyOp(mnt, { op: 'remount' })).toThrow(/driver/);
  });
});
