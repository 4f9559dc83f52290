import { describe, expect, it } from 'vitest';
import { errnoName, errnoOf } from './native.js';

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
