// Forwarding of names outside the cluster zone: UDP to each upstream in turn, TCP when the UDP
// answer comes back truncated, and a small cache of upstream answers (never of cluster answers).
import { createSocket, type Socket } from 'node:dgram';
import { connect } from 'node:net';
import { isIPv6 } from 'node:net';
import { readFileSync } from 'node:fs';
import { FLAG_TC, HEADER_LEN, RCODE, TYPE, WireError, readName, skipName } from './wire.js';

export interface Upstream {
  host: string;
  port: number;
}

/** Parses `host`, `host:port`, `[v6]:port` or a bare IPv6 address. */
export function parseHostPort(s: string, defaultPort: number): Upstream {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (m) return { host: m[1]!, port: m[2] ? Number(m[2]) : defaultPort };
  if (isIPv6(s)) return { host: s, port: defaultPort };
  const i = s.lastIndexOf(':');
  if (i > 0 && /^\d+$/.test(s.slice(i + 1))) return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
  return { host: s, port: defaultPort };
}

/** The `nameserver` lines of a resolv.conf file (port 53). */
export function resolvConfUpstreams(path = '/etc/resolv.conf'): Upstream[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const out: Upstream[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m) out.push({ host: m[1]!, port: 53 });
  }
  return out;
}

export class UpstreamError extends Error {
  override name = 'UpstreamError';
  readonly code = 'DNS_UPSTREAM';
}

interface Pending {
  resolve: (b: Buffer) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  qname: string;
  qtype: number;
}

/** Reads the (single) question of a response: lowercased name and type, or undefined. */
function questionOf(buf: Buffer): { name: string; type: number } | undefined {
  try {
    if (buf.length < HEADER_LEN || buf.readUInt16BE(4) !== 1) return undefined;
    const r = readName(buf, HEADER_LEN);
    if (r.next + 4 > buf.length) return undefined;
    return { name: r.name, type: buf.readUInt16BE(r.next) };
  } catch {
    return undefined;
  }
}

export class Forwarder {
  private readonly sockets = new Map<'udp4' | 'udp6', Socket>();
  private readonly pending = new Map<number, Pending>();
  private closed = false;

  constructor(readonly upstreams: Upstream[], readonly timeoutMs = 2000) {}

  private socket(family: 'udp4' | 'udp6'): Socket {
    let s = this.sockets.get(family);
    if (s) return s;
    s = createSocket(family);
    s.on('message', (msg) => this.onMessage(msg));
    s.on('error', () => undefined);
    s.unref();
    this.sockets.set(family, s);
    return s;
  }

  private onMessage(msg: Buffer): void {
    if (msg.length < HEADER_LEN) return;
    const p = this.pending.get(msg.readUInt16BE(0));
    if (!p) return;
    const q = questionOf(msg);
    if (!q || q.name !== p.qname || q.type !== p.qtype) return; // not the answer to this question
    this.pending.delete(msg.readUInt16BE(0));
    clearTimeout(p.timer);
    p.resolve(msg);
  }

  private freeId(): number {
    for (;;) {
      const id = (Math.random() * 0x10000) | 0;
      if (!this.pending.has(id)) return id;
    }
  }

  private udp(up: Upstream, packet: Buffer, qname: string, qtype: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const id = this.freeId();
      const out = Buffer.from(packet);
      out.writeUInt16BE(id, 0);
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new UpstreamError(`no answer from ${up.host}:${up.port} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(id, { resolve, reject, timer, qname, qtype });
      this.socket(isIPv6(up.host) ? 'udp6' : 'udp4').send(out, up.port, up.host, (err) => {
        if (!err) return;
        this.pending.delete(id);
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  private tcp(up: Upstream, packet: Buffer, qname: string, qtype: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const id = (Math.random() * 0x10000) | 0;
      const out = Buffer.alloc(packet.length + 2);
      out.writeUInt16BE(packet.length, 0);
      packet.copy(out, 2);
      out.writeUInt16BE(id, 2);
      const sock = connect({ host: up.host, port: up.port });
      let acc = Buffer.alloc(0);
      const done = (err: Error | undefined, b?: Buffer): void => {
        sock.destroy();
        if (err) reject(err);
        else resolve(b!);
      };
      sock.setTimeout(this.timeoutMs, () => done(new UpstreamError(`TCP timeout from ${up.host}:${up.port}`)));
      sock.on('error', (e) => done(e));
      sock.on('connect', () => sock.write(out));
      sock.on('data', (d) => {
        acc = Buffer.concat([acc, d]);
        if (acc.length < 2) return;
        const len = acc.readUInt16BE(0);
        if (acc.length < 2 + len) return;
        const msg = acc.subarray(2, 2 + len);
        const q = questionOf(msg);
        if (msg.length < HEADER_LEN || msg.readUInt16BE(0) !== id || !q || q.name !== qname || q.type !== qtype) {
          done(new UpstreamError(`mismatched TCP answer from ${up.host}:${up.port}`));
          return;
        }
        done(undefined, Buffer.from(msg));
      });
      sock.on('end', () => done(new UpstreamError(`connection closed by ${up.host}:${up.port}`)));
    });
  }

  /**
   * Sends `packet` (a query for qname/qtype; its ID is replaced) to the upstreams in order until one
   * answers; a truncated UDP answer is retried over TCP. The answer's ID is whatever was sent.
   */
  async exchange(packet: Buffer, qname: string, qtype: number): Promise<Buffer> {
    let last: Error = new UpstreamError('no upstream resolvers configured');
    for (const up of this.upstreams) {
      if (this.closed) break;
      try {
        const ans = await this.udp(up, packet, qname, qtype);
        if (ans.readUInt16BE(2) & FLAG_TC) return await this.tcp(up, packet, qname, qtype);
        return ans;
      } catch (e) {
        last = e instanceof Error ? e : new UpstreamError(String(e));
      }
    }
    throw last;
  }

  close(): void {
    this.closed = true;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new UpstreamError('forwarder closed'));
    }
    this.pending.clear();
    for (const s of this.sockets.values()) s.close();
    this.sockets.clear();
  }
}

interface CacheEntry {
  msg: Buffer;
  /** Offsets of the TTL fields of every record but OPT, with their original values. */
  ttlAt: number[];
  ttls: number[];
  stored: number;
  lifetime: number;
}

/**
 * Upstream answer cache, keyed by question (and EDNS/DO presence). Lifetimes are the smallest
 * record TTL (the SOA minimum for negative answers), capped at `maxTtl`; insertion-ordered eviction.
 */
export class AnswerCache {
  private readonly map = new Map<string, CacheEntry>();
  hits = 0;
  misses = 0;

  constructor(readonly maxEntries = 10000, readonly maxTtl = 30, private readonly now: () => number = () => Date.now() / 1000) {}

  /** A copy of the cached answer with TTLs aged, or undefined. The caller sets the ID and question. */
  get(key: string): Buffer | undefined {
    const e = this.map.get(key);
    if (!e) {
      this.misses++;
      return undefined;
    }
    const age = Math.floor(this.now() - e.stored);
    if (age >= e.lifetime) {
      this.map.delete(key);
      this.misses++;
      return undefined;
    }
    this.hits++;
    const out = Buffer.from(e.msg);
    for (let i = 0; i < e.ttlAt.length; i++) out.writeUInt32BE(Math.max(0, Math.min(e.ttls[i]!, e.lifetime) - age), e.ttlAt[i]!);
    return out;
  }

  /** Stores an answer if it is cacheable (NOERROR or NXDOMAIN, not truncated, lifetime > 0). */
  set(key: string, msg: Buffer): void {
    const scan = scanTtls(msg);
    if (!scan) return;
    const rcode = msg.readUInt16BE(2) & 0xf;
    if ((rcode !== RCODE.NOERROR && rcode !== RCODE.NXDOMAIN) || msg.readUInt16BE(2) & FLAG_TC) return;
    const lifetime = Math.min(this.maxTtl, scan.min);
    if (!(lifetime > 0)) return;
    if (this.map.size >= this.maxEntries) {
      const first = this.map.keys().next();
      if (!first.done) this.map.delete(first.value);
    }
    this.map.set(key, { msg: Buffer.from(msg), ttlAt: scan.ttlAt, ttls: scan.ttls, stored: this.now(), lifetime });
  }

  get size(): number {
    return this.map.size;
  }
}

/** TTL offsets of a message's records (OPT excluded) and the lifetime they allow, or undefined if malformed. */
export function scanTtls(msg: Buffer): { ttlAt: number[]; ttls: number[]; min: number } | undefined {
  try {
    if (msg.length < HEADER_LEN) return undefined;
    const qd = msg.readUInt16BE(4);
    const an = msg.readUInt16BE(6);
    const total = an + msg.readUInt16BE(8) + msg.readUInt16BE(10);
    let pos = HEADER_LEN;
    for (let i = 0; i < qd; i++) {
      pos = skipName(msg, pos) + 4;
      if (pos > msg.length) return undefined;
    }
    const ttlAt: number[] = [];
    const ttls: number[] = [];
    let min = Infinity;
    let soaMin = Infinity;
    for (let i = 0; i < total; i++) {
      const h = skipName(msg, pos);
      if (h + 10 > msg.length) return undefined;
      const type = msg.readUInt16BE(h);
      const rdlen = msg.readUInt16BE(h + 8);
      if (h + 10 + rdlen > msg.length) return undefined;
      if (type !== TYPE.OPT) {
        const ttl = msg.readUInt32BE(h + 4);
        ttlAt.push(h + 4);
        ttls.push(ttl);
        if (i < an) min = Math.min(min, ttl);
        if (type === TYPE.SOA && rdlen >= 22) soaMin = Math.min(soaMin, ttl, msg.readUInt32BE(h + 10 + rdlen - 4));
      }
      pos = h + 10 + rdlen;
    }
    if (min === Infinity) min = soaMin === Infinity ? 0 : soaMin;
    return { ttlAt, ttls, min };
  } catch (e) {
    if (e instanceof WireError) return undefined;
    throw e;
  }
}
