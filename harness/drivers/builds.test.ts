import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeBuild, resolveBuild } from './builds.js';

// Which binary a FUSE driver runs and which version it says it is: stand-in binaries that
// print what the real ones print to --version (the real builds run in fuse.test.ts).

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ovlcheck-builds-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function fakeBinary(rel: string, versionText: string): string {
  const file = path.join(dir, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `#!/bin/sh\nprintf '%s\\n' '${versionText}' >&2\nexit 1\n`, { mode: 0o755 });
  return file;
}

describe('FUSE builds', () => {
  it('--binary: the version the binary prints, on stdout or stderr, whatever its exit status', () => {
    const fo = fakeBinary('a/fuse-overlayfs', 'fusermount3 version: 3.14.0\nfuse-overlayfs: version 1.13-dev');
    expect(resolveBuild('fuse-overlayfs', { binary: fo })).toEqual({ binary: fo, version: '1.13-dev' });
    const u = fakeBinary('b/unionfs', 'unionfs-fuse version: 3.7\n(compiled with xattr support)');
    expect(resolveBuild('unionfs-fuse', { binary: u })).toEqual({ binary: u, version: '3.7' });
    expect(describeBuild('unionfs-fuse', { binary: u, version: '3.7' })).toBe(`unionfs-fuse 3.7 (${u})`);
  });

  it('refuses, in one line, a binary that is not there, says no version, or is another version than asked for', () => {
    expect(resolveBuild('fuse-overlayfs', { binary: path.join(dir, 'none') })).toMatch(/^\/.*\/none is not there or not executable$/);
    const other = fakeBinary('c/unionfs', 'unionfs-fuse version: 3.7');
    expect(resolveBuild('fuse-overlayfs', { binary: other })).toBe(`${other} --version does not say which fuse-overlayfs it is`);
    const cache = path.join(dir, 'cache');
    fakeBinary('cache/fuse-overlayfs-1.16/bin/fuse-overlayfs', 'fuse-overlayfs: version 1.15');
    const was = process.env.OVLCHECK_IMPL_CACHE;
    process.env.OVLCHECK_IMPL_CACHE = cache;
    try {
      expect(resolveBuild('fuse-overlayfs', { version: '1.16' })).toBe(`${cache}/fuse-overlayfs-1.16/bin/fuse-overlayfs is fuse-overlayfs 1.15, not 1.16`);
      expect(resolveBuild('unionfs-fuse', { version: '3.7' })).toBe(`${cache}/unionfs-fuse-3.7/bin/unionfs is not there or not executable (unionfs-fuse 3.7: ci/build-implementations.sh)`);
    } finally {
      if (was === undefined) delete process.env.OVLCHECK_IMPL_CACHE;
      else process.env.OVLCHECK_IMPL_CACHE = was;
    }
  });
});
