// The implementation and version a report is about ("fuse-overlayfs 1.10"), from the Debian
// package database (no process per call: read once per report).

import { readFileSync } from 'node:fs';
import { release } from 'node:os';

const PACKAGES: Record<string, string> = { 'fuse-overlayfs': 'fuse-overlayfs', 'unionfs-fuse': 'unionfs-fuse' };

function debianVersion(pkg: string): string | null {
  try {
    const db = readFileSync('/var/lib/dpkg/status', 'utf8');
    const block = db.split('\n\n').find((b) => b.startsWith(`Package: ${pkg}\n`));
    return /^Version: (\S+)/m.exec(block ?? '')?.[1] ?? null;
  } catch {
    return null;
  }
}

function npmVersion(pkg: string): string | null {
  try {
    return (JSON.parse(readFileSync(new URL(`../../../node_modules/${pkg}/package.json`, import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return null;
  }
}

export function implementationVersion(driver: string): string {
  if (driver === 'kernel') return `kernel overlayfs ${release()}`;
  if (driver === 'memfs-unionfs') return `npm unionfs ${npmVersion('unionfs') ?? '?'} over memfs ${npmVersion('memfs') ?? '?'}`;
  if (driver in PACKAGES) return `${driver} ${debianVersion(PACKAGES[driver]) ?? '(version unknown)'}`;
  return driver;
}
