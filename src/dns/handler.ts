// The per-query path shared by the server process and its UDP workers: parse, look up, build the
// response, forward what is not ours; plus the metrics it records and the UDP socket wiring.
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { lookup as dnsLookup } from 'node:dns';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { Counter, Histogram, Registry } from 'prom-client';
import {
  FLAG_AA, FLAG_QR, FLAG_RA, FLAG_RD, FLAG_TC, HEADER_LEN, OPT_LEN, RCODE, RCODE_NAMES, TYPE_NAMES,
  buildQuery, decodeMessage, parseQuery, putOpt, type ParsedQuery,
} from './wire.js';
import type { Rendered, ZoneIndex } from './zone.js';
import type { AnswerCache, Forwarder } from './upstream.js';

export const MAX_TCP_MSG = 0xffff;

/** Builds a response: header, the query's question, `body` (answers + additional), an SOA, an OPT; truncated to `limit`. */
export function buildResponse(
  raw: Buffer, q: ParsedQuery, rcode: number, aa: boolean, body: Rendered | null, soa: Buffer | null, limit: number,
): Buffer {
  const qlen = q.questionEnd - HEADER_LEN;
  const opt = q.edns ? OPT_LEN : 0;
  let bodyLen = body ? body.body.length : 0;
  let an = body ? body.ancount : 0;
  let ar = body ? body.arcount : 0;
  const soaLen = soa ? soa.length : 0;
  let tc = false;
  if (HEADER_LEN + qlen + bodyLen + soaLen + opt > limit && body) {
    // Drop the additional section first (no TC needed), then whole answers from the end.
    ar = 0;
    tc = true;
    const room = limit - HEADER_LEN - qlen - soaLen - opt;
    const ends = body.answerEnds;
    let k = an;
    if (k > 0 && ends[k - 1]! <= room) tc = false;
    while (k > 0 && ends[k - 1]! > room) k--;
    an = k;
    bodyLen = k > 0 ? ends[k - 1]! : 0;
  }
  const out = Buffer.allocUnsafe(HEADER_LEN + qlen + bodyLen + soaLen + opt);
  out.writeUInt16BE(raw.readUInt16BE(0), 0);
  const flags = FLAG_QR | (q.opcode << 11) | (aa ? FLAG_AA : 0) | (tc ? FLAG_TC : 0) | (q.flags & FLAG_RD) | FLAG_RA | (rcode & 0xf);
  out.writeUInt16BE(flags, 2);
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(an, 6);
  out.writeUInt16BE(soa ? 1 : 0, 8);
  out.writeUInt16BE(ar + (opt ? 1 : 0), 10);
  raw.copy(out, HEADER_LEN, HEADER_LEN, q.questionEnd);
  let at = HEADER_LEN + qlen;
  if (body && bodyLen) {
    body.body.copy(out, at, 0, bodyLen);
    at += bodyLen;
  }
  if (soa) {
    soa.copy(out, at);
    at += soaLen;
  }
  if (opt) putOpt(out, at, rcode >> 4, q.dnssecOk);
  return out;
}

/** A reply that echoes the ID (and the question when it parsed) with only an rcode. */
function errorReply(raw: Buffer, id: number, flags: number, rcode: number, q: ParsedQuery | undefined): Buffer {
  if (q) return buildResponse(raw, q, rcode, false, null, null, MAX_TCP_MSG);
  const out = Buffer.alloc(HEADER_LEN);
  out.writeUInt16BE(id, 0);
  out.writeUInt16BE(FLAG_QR | (flags & 0x7800) | (flags & FLAG_RD) | FLAG_RA | (rcode & 0xf), 2);
  return out;
}

/** The request counters and latency histogram; the hot path only bumps plain numbers. */
export class DnsMetrics {
  readonly registry = new Registry();
  /** index: min(qtype, 256) * 32 + rcode */
  private readonly counts = new Float64Array(257 * 32);
  private readonly duration: Histogram;

  constructor(cache: AnswerCache) {
    const counts = this.counts;
    new Counter({
      name: 'portico_dns_requests_total',
      help: 'DNS requests answered, by query type and response code.',
      labelNames: ['type', 'rcode'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (let i = 0; i < counts.length; i++) {
          const v = counts[i]!;
          if (!v) continue;
          const t = i >> 5;
          this.inc({ type: t === 256 ? 'other' : (TYPE_NAMES[t] ?? `TYPE${t}`), rcode: RCODE_NAMES[i & 31] ?? String(i & 31) }, v);
        }
      },
    });
    new Counter({
      name: 'portico_dns_cache_hits_total', help: 'Upstream answers served from the cache.', registers: [this.registry],
      collect() {
        this.reset();
        this.inc(cache.hits);
      },
    });
    new Counter({
      name: 'portico_dns_cache_misses_total', help: 'Forwarded queries not found in the cache.', registers: [this.registry],
      collect() {
        this.reset();
        this.inc(cache.misses);
      },
    });
    this.duration = new Histogram({
      name: 'portico_dns_request_duration_seconds',
      help: 'Time from receiving a query to handing its answer to the socket.',
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2],
      registers: [this.registry],
    });
  }

  record(qtype: number, rcode: number, startMs: number): void {
    this.counts[(qtype > 256 ? 256 : qtype) * 32 + (rcode & 31)]!++;
    this.duration.observe((performance.now() - startMs) / 1000);
  }
}

/** A UDP reply rendered once for the exact query bytes after the ID. */
interface CachedReply {
  reply: Buffer;
  qtype: number;
  rcode: number;
}

/** Queries longer than this are answered without the whole-reply cache (a normal query is < 100 bytes). */
const MAX_CACHED_QUERY = 300;
const MAX_CACHED_REPLIES = 10_000;

export class DnsHandler {
  /**
   * Whole UDP replies of zone answers, keyed by the query's bytes after the ID (flags, question as
   * spelled, EDNS size and DO bit all included, so equal keys get byte-equal replies but for the
   * ID). Valid for one zone generation; an in-zone hit skips parse, lookup and build.
   */
  private readonly replies = new Map<string, CachedReply>();
  private repliesGen = -1;

  constructor(
    readonly zone: ZoneIndex,
    private readonly forwarder: Forwarder,
    private readonly cache: AnswerCache,
    private readonly metrics: DnsMetrics,
    private readonly log: Logger,
  ) {}

  /**
   * Answers one query; null means drop. Never throws or rejects. `raw` need only stay valid for
   * this call (what answers later keeps a copy).
   */
  handle(raw: Buffer, tcp: boolean): Buffer | null | Promise<Buffer | null> {
    const start = performance.now();
    let key: string | undefined;
    if (!tcp && raw.length <= MAX_CACHED_QUERY && raw.length > HEADER_LEN) {
      if (this.repliesGen !== this.zone.generation) {
        this.replies.clear();
        this.repliesGen = this.zone.generation;
      }
      key = raw.toString('latin1', 2);
      const hit = this.replies.get(key);
      if (hit) {
        const out = Buffer.allocUnsafe(hit.reply.length);
        hit.reply.copy(out);
        out[0] = raw[0]!;
        out[1] = raw[1]!;
        this.metrics.record(hit.qtype, hit.rcode, start);
        return out;
      }
    }
    const p = parseQuery(raw);
    if (!p.ok) {
      if (p.drop) return null;
      this.metrics.record(p.query?.qtype ?? 256, p.rcode, start);
      return errorReply(raw, p.id, p.flags, p.rcode, p.query);
    }
    const q = p.query;
    const limit = tcp ? MAX_TCP_MSG : Math.min(q.edns ? q.udpSize : 512, MAX_TCP_MSG);
    try {
      const a = this.zone.lookup(q.qname, q.qtype, q.qclass);
      if (a.t !== 'forward' && !this.zone.synced()) return this.done(raw, q, RCODE.SERVFAIL, false, null, null, limit, start);
      switch (a.t) {
        case 'answer':
          return this.remember(key, q, RCODE.NOERROR, this.done(raw, q, RCODE.NOERROR, true, a.r, null, limit, start));
        case 'nodata':
          return this.remember(key, q, RCODE.NOERROR, this.done(raw, q, RCODE.NOERROR, true, null, this.zone.soaRecord(), limit, start));
        case 'nxdomain':
          return this.remember(key, q, RCODE.NXDOMAIN, this.done(raw, q, RCODE.NXDOMAIN, true, null, this.zone.soaRecord(), limit, start));
        case 'refused':
          return this.remember(key, q, RCODE.REFUSED, this.done(raw, q, RCODE.REFUSED, false, null, null, limit, start));
        // Copies: these answer later, and `raw` may be a view of a receive ring reused meanwhile.
        case 'external':
          return this.external(Buffer.from(raw), q, a.hops, a.target, limit, start);
        case 'forward':
          return this.forward(Buffer.from(raw), q, limit, start);
      }
    } catch (err) {
      this.log.error({ err, qname: q.qname, qtype: q.qtype }, 'dns: failed to answer');
      return this.done(raw, q, RCODE.SERVFAIL, false, null, null, limit, start);
    }
  }

  /** Keeps a copy of a zone reply for the same query bytes (UDP only: `key` is unset for TCP). */
  private remember(key: string | undefined, q: ParsedQuery, rcode: number, out: Buffer): Buffer {
    if (key !== undefined) {
      if (this.replies.size >= MAX_CACHED_REPLIES) this.replies.clear();
      this.replies.set(key, { reply: Buffer.from(out), qtype: q.qtype, rcode });
    }
    return out;
  }

  private done(raw: Buffer, q: ParsedQuery, rcode: number, aa: boolean, body: Rendered | null, soa: Buffer | null, limit: number, start: number): Buffer {
    const out = buildResponse(raw, q, rcode, aa, body, soa, limit);
    this.metrics.record(q.qtype, rcode, start);
    return out;
  }

  private cacheKey(name: string, q: ParsedQuery, qtype = q.qtype): string {
    return `${name}|${qtype}|${q.qclass}|${q.edns ? 1 : 0}${q.dnssecOk ? 1 : 0}`;
  }

  private async forward(raw: Buffer, q: ParsedQuery, limit: number, start: number): Promise<Buffer | null> {
    const key = this.cacheKey(q.qname, q);
    let ans = this.cache.get(key);
    if (!ans) {
      try {
        ans = await this.forwarder.exchange(raw, q.qname, q.qtype);
      } catch (err) {
        this.log.debug({ err, qname: q.qname }, 'dns: upstream failed');
        return this.done(raw, q, RCODE.SERVFAIL, false, null, null, limit, start);
      }
      this.cache.set(key, ans);
    }
    // The client's ID and question spelling (the cached copy may carry another client's case).
    ans.writeUInt16BE(raw.readUInt16BE(0), 0);
    if (ans.length >= q.questionEnd) raw.copy(ans, HEADER_LEN, HEADER_LEN, q.qnameEnd);
    const rcode = ans.readUInt16BE(2) & 0xf;
    if (ans.length > limit) {
      const tc = buildResponse(raw, q, rcode, false, null, null, limit);
      tc.writeUInt16BE(tc.readUInt16BE(2) | FLAG_TC, 2);
      this.metrics.record(q.qtype, rcode, start);
      return tc;
    }
    this.metrics.record(q.qtype, rcode, start);
    return ans;
  }

  private async external(raw: Buffer, q: ParsedQuery, hops: string[], target: string, limit: number, start: number): Promise<Buffer | null> {
    const key = `ext|${this.cacheKey(target, q)}`;
    let ans = this.cache.get(key);
    if (!ans) {
      try {
        ans = await this.forwarder.exchange(buildQuery(0, target, q.qtype), target, q.qtype);
        this.cache.set(key, ans);
      } catch (err) {
        this.log.debug({ err, target }, 'dns: upstream failed for ExternalName target');
      }
    }
    let tail: ReturnType<typeof decodeMessage>['answers'] = [];
    if (ans) {
      try {
        tail = decodeMessage(ans).answers;
      } catch {
        tail = [];
      }
    }
    return this.done(raw, q, RCODE.NOERROR, true, this.zone.renderExternal(q.qname, hops, tail), null, limit, start);
  }
}

/**
 * dgram's `send` resolves the destination through `dns.lookup` even for an address literal, which
 * costs a closure and a `process.nextTick` per reply; replies always go to the literal address a
 * query came from, so answer those synchronously.
 */
function literalLookup(address: string, family: unknown, cb: (err: Error | null, address: string, family: number) => void): void {
  const f = isIP(address);
  if (f) cb(null, address, f);
  else dnsLookup(address, family as number, cb as (err: NodeJS.ErrnoException | null, address: string, family: number) => void);
}

/** A UDP socket whose replies skip the per-send DNS lookup (see `literalLookup`). */
export function createUdpSocket(type: 'udp4' | 'udp6'): UdpSocket {
  return createSocket({ type, lookup: literalLookup as never });
}

/** Answers every datagram arriving on `sock` through `handler`. */
export function serveUdp(sock: UdpSocket, handler: DnsHandler): void {
  sock.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
    const r = handler.handle(msg, false);
    if (r instanceof Promise) {
      void r.then((out) => {
        if (out) sock.send(out, rinfo.port, rinfo.address);
      });
    } else if (r) {
      sock.send(r, rinfo.port, rinfo.address);
    }
  });
}
