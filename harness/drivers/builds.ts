// Which binary a FUSE driver runs, and which version it is. `--driver fuse-overlayfs` runs the
// one on PATH; `--driver fuse-overlayfs@1.16` a known build (the Debian package, or a vendored
// release that ci/build-implementations.sh built into the cache); `--binary PATH` any other.
// The version is what the binary itself prints (`--version`, once per binary and process).

import fs from 'node:fs';
import { spawnSync } from 'node:child_process';

export type FuseName = 'fuse-overlayfs' | 'unionfs-fuse';

/** Where ci/build-implementations.sh puts the releases it builds. */
export function buildCache(): string {
  return process.env.OVLCHECK_IMPL_CACHE || '/var/cache/ovlcheck-impl';
}

interface KnownBuild {
  binary: () => string;
  /** How to get it, for the line that says it is missing. */
  how: string;
}

/** The builds `NAME@VERSION` names: Debian 12's packages and the vendored latest releases. */
export const KNOWN_BUILDS: Record<FuseName, Record<string, KnownBuild>> = {
  'fuse-overlayfs': {
    '1.10': { binary: () => '/usr/bin/fuse-overlayfs', how: 'apt-get install fuse-overlayfs (Debian 12)' },
    '1.16': { binary: () => `${buildCache()}/fuse-overlayfs-1.16/bin/fuse-overlayfs`, how: 'ci/build-implementations.sh' },
  },
  'unionfs-fuse': {
    '1.0': { binary: () => '/usr/bin/unionfs', how: 'apt-get install unionfs-fuse (Debian 12)' },
    '3.7': { binary: () => `${buildCache()}/unionfs-fuse-3.7/bin/unionfs`, how: 'ci/build-implementations.sh' },
  },
};

/** The command each implementation's binary is called on PATH. */
export const BINARY_NAMES: Record<FuseName, string> = { 'fuse-overlayfs': 'fuse-overlayfs', 'unionfs-fuse': 'unionfs' };

const VERSION_LINE: Record<FuseName, RegExp> = {
  'fuse-overlayfs': /fuse-overlayfs: version (\S+)/, // "fuse-overlayfs: version 1.16"
  'unionfs-fuse': /unionfs-fuse version: (\S+)/, // "unionfs-fuse version: 3.7"
};

const versions = new Map<string, string | null>();

/** What `BINARY --version` says its version is, or null if it says none. */
export function binaryVersion(name: FuseName, binary: string): string | null {
  const key = `${name}\0${binary}`;
  if (!versions.has(key)) {
    const r = spawnSync(binary, ['--version'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });
    versions.set(key, VERSION_LINE[name].exec(`${r.stdout ?? ''}\n${r.stderr ?? ''}`)?.[1] ?? null);
  }
  return versions.get(key)!;
}

/** The binary a driver runs and its version. */
export interface FuseBuild {
  binary: string;
  version: string;
}

function onPath(command: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(':')) if (dir && fs.existsSync(`${dir}/${command}`)) return `${dir}/${command}`;
  return null;
}

/** The build to run for NAME[@VERSION] or --binary, or a one-line reason it cannot run here. */
export function resolveBuild(name: FuseName, want: { version?: string; binary?: string }): FuseBuild | string {
  const known = want.version !== undefined ? KNOWN_BUILDS[name][want.version] : undefined;
  const binary = want.binary ?? known?.binary() ?? onPath(BINARY_NAMES[name]);
  if (binary === null) return `${BINARY_NAMES[name]} not found on PATH (Debian: apt-get install ${name})`;
  try {
    fs.accessSync(binary, fs.constants.X_OK);
  } catch {
    return `${binary} is not there or not executable${known ? ` (${name} ${want.version}: ${known.how})` : ''}`;
  }
  const version = binaryVersion(name, binary);
  if (version === null) return `${binary} --version does not say which ${name} it is`;
  if (want.version !== undefined && version !== want.version) return `${binary} is ${name} ${version}, not ${want.version}`;
  return { binary, version };
}

/** Debian's version of the package that owns the binary, if one does ("1.10-1"). */
export function debianPackageVersion(name: FuseName, binary: string): string | null {
  if (binary !== `/usr/bin/${BINARY_NAMES[name]}`) return null;
  try {
    const db = fs.readFileSync('/var/lib/dpkg/status', 'utf8');
    const block = db.split('\n\n').find((b) => b.startsWith(`Package: ${name}\n`));
    return /^Version: (\S+)/m.exec(block ?? '')?.[1] ?? null;
  } catch {
    return null;
  }
}

/** How a report names a build: "fuse-overlayfs 1.16 (/var/cache/...)", "unionfs-fuse 1.0 (Debian 1.0-1+b1)". */
export function describeBuild(name: FuseName, build: FuseBuild): string {
  const deb = debianPackageVersion(name, build.binary);
  return `${name} ${build.version} (${deb ? `Debian ${deb}` : build.binary})`;
}
