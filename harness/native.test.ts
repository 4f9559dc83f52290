import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import { errnoName, errnoOf, fgetxattr, flistxattr, lgetxattr, llistxattr, lsetxattr } from './native.js';

describe('errno names', () => {
  it('uses the errno.h primary name for Linux aliases', () => {
    expect(errnoName(2)).toBe('ENOENT');
    expect(errnoName(95)).toBe('EOPNOTSUPP');
    expect(errnoName(11)).toBe('EAGAIN');
    expect(errnoName(-39)).toBe('ENOTEMPTY');
    expect(errnoName(4095)).toBe('E4095');
  });

  it('reads a Node fs error, and only those', () => {
    const err = Object.assign(new Error('x'), { errno: -95, code: 'ENOTSUP', syscall: 'open' });
    expect(errnoOf(err)).toBe('EOPNOTSUPP');
    expect(errnoOf(new TypeError('not a syscall'))).toBeUndefined();
  });
});

describe('xattr reads past the first 1 KiB try', () => {
  // Each get/list asks for 1 KiB first, then for 64 KiB on ERANGE: values and lists of
  // every size must come back whole, and a missing one as its errno (trusted.* on tmpfs: ext4
  // holds one block of xattrs, tmpfs before 6.6 no user.*).
  it('reads small, larger and maximal values and long lists whole, by path and by fd', () => {
    const dir = fs.mkdtempSync('/dev/shm/ovlcheck-xattr-');
    const file = `${dir}/f`;
    fs.writeFileSync(file, '');
    try {
      const values = { 'trusted.small': 'v', 'trusted.edge': 'e'.repeat(1024), 'trusted.over': 'o'.repeat(1025), 'trusted.big': '\xff'.repeat(60000) };
      for (const [name, value] of Object.entries(values)) expect(lsetxattr(file, name, value, 0)).toBe('ok');
      const many = Array.from({ length: 120 }, (_, i) => `trusted.name-${String(i).padStart(3, '0')}`); // about 2 KiB of names
      for (const name of many) expect(lsetxattr(file, name, '', 0)).toBe('ok');
      const fd = fs.openSync(file, 'r');
      try {
        for (const [name, value] of Object.entries(values)) {
          expect(lgetxattr(file, name)).toEqual({ ok: true, value });
          expect(fgetxattr(fd, name)).toEqual({ ok: true, value });
        }
        expect(lgetxattr(file, 'trusted.none')).toEqual({ ok: false, errno: 'ENODATA' });
        const names = [...Object.keys(values), ...many].sort();
        for (const list of [llistxattr(file), flistxattr(fd)]) {
          expect(list.ok).toBe(true);
          if (list.ok) expect([...list.value].sort()).toEqual(names);
        }
      } finally {
        fs.closeSync(fd);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
