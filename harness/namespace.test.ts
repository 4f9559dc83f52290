import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { inPrivateNamespace } from './namespace.js';

describe('inPrivateNamespace', () => {
  it('is true only when the recorded parent namespace differs from ours', () => {
    const own = fs.readlinkSync('/proc/self/ns/mnt');
    const saved = process.env.OVLCHECK_NS_PARENT;
    try {
      process.env.OVLCHECK_NS_PARENT = own;
      expect(inPrivateNamespace()).toBe(false);
      delete process.env.OVLCHECK_NS_PARENT;
      expect(inPrivateNamespace()).toBe(false);
      process.env.OVLCHECK_NS_PARENT = 'mnt:[1]';
      expect(inPrivateNamespace()).toBe(true);
    } finally {
      if (saved === undefined) delete process.env.OVLCHECK_NS_PARENT;
      else process.env.OVLCHECK_NS_PARENT = saved;
    }
  });
});
