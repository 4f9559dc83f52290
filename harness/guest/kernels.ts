// Debian kernels for guests: found in apt's lists, fetched with `apt-get download`, unpacked
// once into the cache (the kernel image, and the modules a guest needs, in load order), and an
// initramfs built around them with busybox, the init script and the executor.

import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { execa } from 'execa';
import { buildExecutor, cacheDir, packageRoot, SetupError } from './executor.js';

/** Modules a guest loads (with what they depend on): the executor's port, 9p, overlay, ext4 on a virtio disk. */
const MODULES = ['virtio_pci', 'virtio_console', 'virtio_blk', '9pnet_virtio', '9p', 'overlay', 'ext4'];

export interface GuestKernel {
  /** The Debian package, e.g. linux-image-6.12.117+deb12-amd64. */
  pkg: string;
  /** Its Debian version, e.g. 6.12.117-1~deb12u1. */
  debVersion: string;
  /** uname -r inside the guest. */
  release: string;
  /** The cache dir: vmlinux (ELF, booted through its PVH note), vmlinuz, initrd.gz. */
  dir: string;
}

async function run(cmd: string, args: string[], what: string): Promise<string> {
  const r = await execa(cmd, args, { reject: false });
  if (r.exitCode !== 0) throw new SetupError(`${what}: ${cmd} ${args.join(' ')} failed: ${String(r.stderr || r.shortMessage).trim().split('\n').pop()}`);
  return String(r.stdout);
}

/** Version sort of Debian package names (6.12.9 before 6.12.117). */
function byVersion(a: string, b: string): number {
  const pa = a.split(/(\d+)/), pb = b.split(/(\d+)/);
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    if (pa[i] === pb[i]) continue;
    return i % 2 ? Number(pa[i]) - Number(pb[i]) : pa[i] < pb[i] ? -1 : 1;
  }
  return pa.length - pb.length;
}

/**
 * A kernel line ("6.1", "6.12") to the newest amd64 image package apt knows of, or a package
 * name to itself. apt's lists are refreshed once if they hold no candidate.
 */
export async function resolveKernelPackage(spec: string): Promise<string> {
  if (spec.startsWith('linux-image-')) return spec;
  const m = /^(\d+)\.(\d+)$/.exec(spec);
  if (!m) throw new SetupError(`kernel "${spec}": give a line such as 6.1 or 6.12, a package name such as linux-image-6.1.0-57-amd64, or "host"`);
  const pattern = `^linux-image-${m[1]}\\.${m[2]}\\.[0-9]+(-[0-9]+)?(\\+deb[0-9]+)?-amd64$`;
  const search = async () => (await run('apt-cache', ['search', '--names-only', pattern], 'looking for kernels'))
    .split('\n').map((l) => l.split(' ')[0]).filter((n) => new RegExp(pattern).test(n)).sort(byVersion);
  let found = await search();
  if (found.length === 0) {
    await run('apt-get', ['update', '-qq'], 'refreshing apt\'s lists');
    found = await search();
  }
  if (found.length === 0) throw new SetupError(`no Debian kernel package of the ${spec} line in apt's lists (pattern ${pattern})`);
  return found[found.length - 1];
}

/** The kernel's image and modules in the cache, downloading and unpacking it the first time. */
export async function prepareKernel(pkg: string, say: (line: string) => void = () => {}): Promise<GuestKernel> {
  const show = await run('apt-cache', ['show', '--no-all-versions', pkg], `kernel ${pkg}`);
  const debVersion = /^Version: (.+)$/m.exec(show)?.[1];
  if (!debVersion) throw new SetupError(`apt knows no version of ${pkg}`);
  const dir = path.join(cacheDir(), 'kernels', `${pkg}_${debVersion.replace(/[^\w.+-]/g, '_')}`);
  const ready = () => ({ pkg, debVersion, release: fs.readFileSync(path.join(dir, 'release'), 'utf8').trim(), dir });
  if (fs.existsSync(dir)) return ready();
  // Prepared aside and renamed into place: two runs preparing the same kernel do not mix.
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const work = fs.mkdtempSync(`${dir}.prepare-`);
  const tmp = path.join(work, 'unpack');
  const out = path.join(work, 'kernel');
  fs.mkdirSync(tmp);
  fs.mkdirSync(out);
  try {
    say(`${pkg}: apt-get download`);
    await execa('apt-get', ['download', pkg], { cwd: tmp, reject: true }).catch((e) => {
      throw new SetupError(`apt-get download ${pkg} failed: ${String(e.stderr || e.shortMessage).trim().split('\n').pop()}`);
    });
    const deb = fs.readdirSync(tmp).find((f) => f.endsWith('.deb'));
    if (!deb) throw new SetupError(`apt-get download ${pkg} left no .deb`);
    say(`${pkg}: unpacking`);
    const root = path.join(tmp, 'root');
    await run('dpkg-deb', ['-x', path.join(tmp, deb), root], 'unpacking the kernel');
    const release = fs.readdirSync(path.join(root, 'lib', 'modules'))[0];
    await run('depmod', ['-b', root, release], 'depmod'); // the .deb ships no modules.dep
    fs.copyFileSync(path.join(root, 'boot', `vmlinuz-${release}`), path.join(out, 'vmlinuz'));
    await extractElf(path.join(out, 'vmlinuz'), path.join(out, 'vmlinux'));
    const mods = path.join(out, 'modules');
    fs.mkdirSync(mods);
    const order: string[] = [];
    for (const m of MODULES) {
      // "insmod /path/x.ko.xz" lines, dependencies first; built-in modules print "builtin".
      const plan = await run('modprobe', ['-d', root, '-S', release, '--show-depends', m], `modules for ${m}`);
      for (const line of plan.split('\n')) {
        const file = /^insmod (\S+)/.exec(line)?.[1];
        if (!file) continue;
        const name = path.basename(file).replace(/\.(xz|zst|gz)$/, '');
        if (order.includes(name)) continue;
        order.push(name);
        await decompress(file, path.join(mods, name));
      }
    }
    fs.writeFileSync(path.join(mods, 'order'), order.join('\n') + '\n');
    fs.writeFileSync(path.join(out, 'release'), release + '\n');
    try {
      fs.renameSync(out, dir);
    } catch (e) {
      if (!fs.existsSync(dir)) throw e; // else another run got there first: theirs is as good
    }
    return ready();
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

async function decompress(src: string, dst: string): Promise<void> {
  if (src.endsWith('.xz')) fs.writeFileSync(dst, (await execa('xz', ['-dc', src], { encoding: 'buffer' })).stdout);
  else if (src.endsWith('.zst')) fs.writeFileSync(dst, (await execa('zstd', ['-dcq', src], { encoding: 'buffer' })).stdout);
  else if (src.endsWith('.gz')) fs.writeFileSync(dst, zlib.gunzipSync(fs.readFileSync(src)));
  else fs.copyFileSync(src, dst);
}

/**
 * The uncompressed ELF inside a bzImage: qemu boots it through its PVH note, a few seconds
 * sooner than the compressed image under emulation (setup header: setup_sects at 0x1f1, the
 * payload's offset and length at 0x248).
 */
async function extractElf(bzImage: string, out: string): Promise<void> {
  const b = fs.readFileSync(bzImage);
  const setup = ((b[0x1f1] || 4) + 1) * 512;
  const payload = b.subarray(setup + b.readUInt32LE(0x248), setup + b.readUInt32LE(0x248) + b.readUInt32LE(0x24c));
  let elf: Buffer;
  if (payload.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) {
    elf = Buffer.from((await execa('xz', ['-dc', '--single-stream'], { input: payload, encoding: 'buffer', reject: false })).stdout);
  } else if (payload.readUInt32LE(0) === 0xfd2fb528) {
    elf = Buffer.from((await execa('zstd', ['-dcq'], { input: payload, encoding: 'buffer', reject: false })).stdout);
  } else if (payload[0] === 0x1f && payload[1] === 0x8b) {
    elf = zlib.gunzipSync(payload);
  } else return; // unknown: the bzImage is booted instead
  if (elf.subarray(0, 4).equals(Buffer.from('\x7fELF', 'latin1'))) fs.writeFileSync(out, elf);
}

// ------------------------------------------------------------------ initramfs

interface CpioEntry {
  name: string;
  mode: number;
  data?: Buffer;
  rdev?: [number, number];
}

/** A cpio "newc" archive (the initramfs format). */
function cpio(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  const pad = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  const hex = (n: number) => n.toString(16).padStart(8, '0');
  let ino = 1;
  for (const e of [...entries, { name: 'TRAILER!!!', mode: 0 }]) {
    const data = e.data ?? Buffer.alloc(0);
    const [rmaj, rmin] = e.rdev ?? [0, 0];
    const header = '070701' + [ino++, e.mode, 0, 0, 1, 0, data.length, 0, 0, rmaj, rmin, e.name.length + 1, 0].map(hex).join('');
    const head = Buffer.from(header + e.name + '\0', 'latin1');
    parts.push(head, pad(head.length), data, pad(data.length));
  }
  return Buffer.concat(parts);
}

/** An ELF executable without a program interpreter (PT_INTERP): it runs without a libc beside it. */
function isStaticElf(b: Buffer): boolean {
  if (!b.subarray(0, 4).equals(Buffer.from('\x7fELF', 'latin1'))) return false;
  const phoff = Number(b.readBigUInt64LE(0x20)), size = b.readUInt16LE(0x36), count = b.readUInt16LE(0x38);
  for (let i = 0; i < count; i++) if (b.readUInt32LE(phoff + i * size) === 3) return false;
  return true;
}

const BUSYBOX_APPLETS = ['sh', 'mount', 'umount', 'insmod', 'mkdir', 'cat', 'echo', 'poweroff', 'chroot', 'sync', 'cut', 'uname', 'sleep', 'ls'];

/** initrd.gz for this kernel: busybox, the executor, the modules, init.sh as /init. Rebuilt when any of them changes. */
export async function buildInitramfs(k: GuestKernel): Promise<string> {
  const busybox = '/bin/busybox';
  if (!fs.existsSync(busybox) || !isStaticElf(fs.readFileSync(busybox))) throw new SetupError('guests need a static busybox (apt-get install busybox-static)');
  const exe = await buildExecutor();
  const init = path.join(packageRoot(), 'harness', 'guest', 'init.sh');
  const out = path.join(k.dir, `initrd-${path.basename(exe)}-${fs.statSync(init).mtimeMs | 0}.gz`);
  if (fs.existsSync(out)) return out;
  const file = (p: string, mode = 0o100755) => ({ mode, data: fs.readFileSync(p) });
  const mods = path.join(k.dir, 'modules');
  const entries: CpioEntry[] = [
    ...['bin', 'dev', 'proc', 'sys', 'mods', 'tmp', 'run', 'mnt'].map((d) => ({ name: d, mode: 0o40755 })),
    { name: 'dev/console', mode: 0o20600, rdev: [5, 1] },
    { name: 'init', ...file(init) },
    { name: 'bin/busybox', ...file(busybox) },
    { name: 'bin/ovlexec', ...file(exe) },
    ...BUSYBOX_APPLETS.map((a) => ({ name: `bin/${a}`, mode: 0o120777, data: Buffer.from('busybox') })),
    ...fs.readdirSync(mods).sort().map((m) => ({ name: `mods/${m}`, ...file(path.join(mods, m), 0o100644) })),
  ];
  const tmp = `${out}.${process.pid}`;
  fs.writeFileSync(tmp, zlib.gzipSync(cpio(entries), { level: 1 }));
  fs.renameSync(tmp, out);
  return out;
}
