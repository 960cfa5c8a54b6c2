// Serving DNS over UDP: through the batched native shim (native/udpmmsg.c: recvmmsg into a ring,
// one JavaScript call per batch, sendmmsg of the replies) when it is built, else through dgram.
// Either way every datagram goes through the same DnsHandler.
import { createRequire } from 'node:module';
import type { Socket as UdpSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { Logger } from 'pino';
import { createUdpSocket, serveUdp, type DnsHandler } from './handler.js';

interface MmsgSocket {
  readonly in: Uint8Array;
  readonly inLen: Int32Array;
  readonly out: Uint8Array;
  readonly outLen: Int32Array;
  readonly port: number;
  readonly slot: number;
  readonly ring: number;
}

interface MmsgAddon {
  open(host: string, port: number, onBatch: (n: number) => void): MmsgSocket;
  peer(sock: MmsgSocket, i: number): Uint8Array;
  sendTo(sock: MmsgSocket, data: Uint8Array, peer: Uint8Array): boolean;
  stats(sock: MmsgSocket): number[];
  close(sock: MmsgSocket): void;
}

let addon: MmsgAddon | null | undefined;
let loadError: Error | undefined;

/** The batched UDP addon, or null when it was not built (the reason: `udpBatchingUnavailable()`). */
export function mmsgAddon(): MmsgAddon | null {
  if (addon !== undefined) return addon;
  const require = createRequire(import.meta.url);
  // dist/src/dns/ (or src/dns/) → repository root.
  for (const c of ['../../../build/Release/portico_udpmmsg.node', '../../build/Release/portico_udpmmsg.node']) {
    try {
      addon = require(new URL(c, import.meta.url).pathname) as MmsgAddon;
      return addon;
    } catch (err) {
      loadError = err as Error;
    }
  }
  addon = null;
  return addon;
}

export function udpBatchingUnavailable(): string | undefined {
  return mmsgAddon() ? undefined : (loadError?.message ?? 'not built');
}

/** How a UDP address is served: `recvmmsg` (the addon) or `dgram`. */
export type UdpIo = 'recvmmsg' | 'dgram';

export interface UdpServing {
  readonly port: number;
  readonly io: UdpIo;
  /** [wake-ups, batches, datagrams, replies sent, replies refused] (recvmmsg only). */
  stats(): number[] | undefined;
  close(): Promise<void>;
}

/**
 * Binds `host:port` (0: a free port) for UDP and answers every datagram through `handler`.
 * `io` picks the path; by default the addon when it loads, else dgram.
 */
export async function serveUdpOn(handler: DnsHandler, host: string, port: number, log: Logger, io?: UdpIo): Promise<UdpServing> {
  const a = io === 'dgram' ? null : mmsgAddon();
  if (io === 'recvmmsg' && !a) throw new Error(`dns: batched UDP I/O unavailable: ${udpBatchingUnavailable()}`);
  // The addon throws synchronously (bind errors carry the errno name as `code`, as dgram's do).
  return a ? Promise.resolve().then(() => serveBatched(a, handler, host, port, log)) : serveDgram(handler, host, port, log);
}

interface Ring {
  sock: MmsgSocket;
  inBuf: Buffer;
  outBuf: Buffer;
  inLen: Int32Array;
  outLen: Int32Array;
  slot: number;
}

function serveBatched(a: MmsgAddon, handler: DnsHandler, host: string, port: number, log: Logger): UdpServing {
  let open = true;
  // Set once open() returns; the batch callback only runs later, from the event loop.
  const state: { ring?: Ring } = {};
  const sendLater = (out: Buffer | null, peer: Uint8Array): void => {
    if (out && open && state.ring) a.sendTo(state.ring.sock, out, peer);
  };
  const onBatch = (n: number): void => {
    const { sock, inBuf, outBuf, inLen, outLen, slot } = state.ring!;
    for (let i = 0; i < n; i++) {
      const len = inLen[i]!;
      // -1: larger than a slot (4 KiB); no DNS client sends such a query over UDP.
      if (len < 0) continue;
      const off = i * slot;
      // A view of the ring: the handler copies what it keeps past this call.
      const r = handler.handle(inBuf.subarray(off, off + len), false);
      if (r === null) continue;
      if (r instanceof Promise) {
        const peer = a.peer(sock, i);
        void r.then((out) => sendLater(out, peer));
      } else if (r.length <= slot) {
        r.copy(outBuf, off);
        outLen[i] = r.length;
      } else {
        a.sendTo(sock, r, a.peer(sock, i));
      }
    }
  };
  const sock = a.open(host, port, onBatch);
  state.ring = {
    sock,
    inBuf: Buffer.from(sock.in.buffer, sock.in.byteOffset, sock.in.byteLength),
    outBuf: Buffer.from(sock.out.buffer, sock.out.byteOffset, sock.out.byteLength),
    inLen: sock.inLen,
    outLen: sock.outLen,
    slot: sock.slot,
  };
  log.debug({ host, port: sock.port }, 'dns: UDP through recvmmsg/sendmmsg');
  return {
    port: sock.port,
    io: 'recvmmsg',
    stats: () => (open ? a.stats(sock) : undefined),
    close() {
      if (open) {
        open = false;
        a.close(sock);
      }
      return Promise.resolve();
    },
  };
}

function serveDgram(handler: DnsHandler, host: string, port: number, log: Logger): Promise<UdpServing> {
  const sock: UdpSocket = createUdpSocket(isIPv6(host) ? 'udp6' : 'udp4');
  return new Promise((resolve, reject) => {
    const onErr = (e: Error): void => reject(e);
    sock.once('error', onErr);
    sock.bind({ address: host, port, exclusive: true }, () => {
      sock.off('error', onErr);
      sock.on('error', (err) => log.warn({ err }, 'dns: UDP socket error'));
      serveUdp(sock, handler);
      resolve({
        port: sock.address().port,
        io: 'dgram',
        stats: () => undefined,
        close: () => new Promise<void>((r) => sock.close(() => r())),
      });
    });
  });
}
