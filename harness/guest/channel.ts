// The host's end of the executor's channel: framed requests and replies over a pair of file
// descriptors (a qemu virtio-serial port's fifos, or a local executor's), synchronous like
// every other syscall of the harness, each reply awaited with poll(2) under a deadline. A
// guest that stops answering is a GuestTimeout; one that went away (qemu exited, the kernel
// panicked) is a GuestGone. Neither is an outcome: the caller decides what it means.

import fs from 'node:fs';
import koffi from 'koffi';
import { errnoName, libcBindings } from '../native.js';

const POLLIN = 0x1, POLLOUT = 0x4, POLLERR = 0x8, POLLHUP = 0x10;

const load = libcBindings<{ poll: (fds: Buffer, n: number, timeout: number) => number }>({
  poll: 'int poll(_Inout_ void *fds, unsigned long nfds, int timeout)',
});

/**
 * The guest stopped answering, or went away: the kernel hung or panicked. Fatal to the run on
 * that guest (nothing more can be asked of it), so the case is reported as it was, unshrunk.
 */
export class GuestTimeout extends Error {
  readonly fatal = true;
}
export class GuestGone extends Error {
  readonly fatal = true;
}

/** One token: a string (latin1, so any byte) or raw bytes. */
export type Token = string | Buffer;

export function encodeFrame(tokens: Token[]): Buffer {
  const bufs = tokens.map((t) => (typeof t === 'string' ? Buffer.from(t, 'latin1') : t));
  let n = 0;
  for (const b of bufs) n += 4 + b.length;
  const out = Buffer.allocUnsafe(4 + n);
  out.writeUInt32LE(n, 0);
  let at = 4;
  for (const b of bufs) {
    out.writeUInt32LE(b.length, at);
    b.copy(out, at + 4);
    at += 4 + b.length;
  }
  return out;
}

/** The tokens of one frame's payload, as latin1 strings. */
export function decodeTokens(payload: Buffer): string[] {
  const out: string[] = [];
  for (let at = 0; at + 4 <= payload.length; ) {
    const n = payload.readUInt32LE(at);
    out.push(payload.toString('latin1', at + 4, at + 4 + n));
    at += 4 + n;
  }
  return out;
}

export class Channel {
  private pending = Buffer.alloc(0);
  private readonly pollFd = Buffer.alloc(8);
  private readonly chunk = Buffer.allocUnsafe(1 << 20);

  /**
   * readFd must be non-blocking; writeFd too. `describe` tells, when the peer is gone or
   * silent, what became of it (a panic line from the guest's console).
   */
  constructor(
    private readonly readFd: number,
    private readonly writeFd: number,
    private readonly deadlineMs: number,
    private readonly describe: () => string = () => '',
  ) {}

  /** Sends a request and waits for its reply; returns the reply's tokens. */
  request(tokens: Token[], deadlineMs = this.deadlineMs): string[] {
    const until = Date.now() + deadlineMs;
    this.writeAll(encodeFrame(tokens), until, tokens[0]);
    return decodeTokens(this.readFrame(until, tokens[0]));
  }

  private wait(fd: number, events: number, until: number, what: Token): void {
    for (;;) {
      const left = until - Date.now();
      if (left <= 0) throw new GuestTimeout(`no answer to "${what}" within ${Math.round(this.deadlineMs / 1000)} s${this.tell()}`);
      this.pollFd.writeInt32LE(fd, 0);
      this.pollFd.writeInt16LE(events, 4);
      this.pollFd.writeInt16LE(0, 6);
      const rc = load().poll(this.pollFd, 1, Math.min(left, 1000));
      if (rc < 0) {
        const e = errnoName(koffi.errno());
        if (e === 'EINTR') continue;
        throw new Error(`poll failed with ${e}`);
      }
      const revents = this.pollFd.readInt16LE(6);
      if (revents & events) return;
      if (revents & (POLLERR | POLLHUP)) throw new GuestGone(`the guest went away during "${what}"${this.tell()}`);
    }
  }

  private tell(): string {
    const why = this.describe();
    return why ? `: ${why}` : '';
  }

  private writeAll(buf: Buffer, until: number, what: Token): void {
    for (let at = 0; at < buf.length; ) {
      this.wait(this.writeFd, POLLOUT, until, what);
      try {
        at += fs.writeSync(this.writeFd, buf, at, buf.length - at);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') continue;
        if (code === 'EPIPE') throw new GuestGone(`the guest went away during "${what}"${this.tell()}`);
        throw e;
      }
    }
  }

  /** Reads until one whole frame is buffered; returns its payload. */
  private readFrame(until: number, what: Token): Buffer {
    const chunk = this.chunk;
    for (;;) {
      if (this.pending.length >= 4) {
        const n = this.pending.readUInt32LE(0);
        if (this.pending.length >= 4 + n) {
          const payload = this.pending.subarray(4, 4 + n);
          this.pending = this.pending.subarray(4 + n);
          return payload;
        }
      }
      this.wait(this.readFd, POLLIN, until, what);
      let got: number;
      try {
        got = fs.readSync(this.readFd, chunk, 0, chunk.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
        throw e;
      }
      if (got === 0) throw new GuestGone(`the guest went away during "${what}"${this.tell()}`);
      this.pending = Buffer.concat([this.pending, chunk.subarray(0, got)]); // copies: chunk is reused
    }
  }
}
