// The implementation and version a report is about ("fuse-overlayfs 1.16 (/var/cache/...)"):
// a FUSE build's from its binary (harness/drivers/builds.ts), the others' from where they live.

import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { describeBuild, resolveBuild } from './builds.js';

function npmVersion(pkg: string): string | null {
  try {
    return (JSON.parse(readFileSync(new URL(`../../../node_modules/${pkg}/package.json`, import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return null;
  }
}

/** The implementation a report is about, with its exact version: a FUSE driver's from its build's binary. */
export function implementationVersion(driver: string, want: { version?: string; binary?: string } = {}): string {
  if (driver === 'kernel') return `kernel overlayfs ${release()}`;
  if (driver === 'memfs-unionfs') return `npm unionfs ${npmVersion('unionfs') ?? '?'} over memfs ${npmVersion('memfs') ?? '?'}`;
  if (driver === 'fuse-overlayfs' || driver === 'unionfs-fuse') {
    const build = resolveBuild(driver, want);
    return typeof build === 'string' ? `${driver} (version unknown: ${build})` : describeBuild(driver, build);
  }
  return driver;
}
