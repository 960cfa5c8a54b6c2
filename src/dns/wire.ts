// DNS wire format (RFC 1035, RFC 6891 EDNS0), hand-written for the hot path.
//
// Two readers: `parseQuery` is the lean one the server runs on every packet (header, the single
// question, the OPT record); `decodeMessage` reads a whole message (tests, upstream answers). Both
// check every bound and never throw out of their entry point: bad input is reported as a value.
// One writer: `Writer`, a growable buffer with name compression, used to pre-render answers.
import { isIPv4, isIPv6 } from 'node:net';

export const TYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  IXFR: 251,
  AXFR: 252,
  ANY: 255,
} as const;

export const CLASS_IN = 1;
export const CLASS_ANY = 255;

export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  /** Extended (OPT) rcode 16: the upper 8 bits go in the OPT TTL. */
  BADVERS: 16,
} as const;

export const TYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(TYPE).map(([k, v]) => [v, k]));
export const RCODE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(RCODE).map(([k, v]) => [v, k]));

export const HEADER_LEN = 12;
export const FLAG_QR = 0x8000;
export const FLAG_AA = 0x0400;
export const FLAG_TC = 0x0200;
export const FLAG_RD = 0x0100;
export const FLAG_RA = 0x0080;
export const FLAG_CD = 0x0010;
/** Longest name on the wire (RFC 1035 3.1), counting length octets and the root. */
export const MAX_NAME_WIRE = 255;
/** The UDP payload size this server advertises in its OPT record. */
export const SERVER_UDP_SIZE = 1232;

export class WireError extends Error {
  override name = 'WireError';
  readonly code = 'DNS_WIRE';
}

// ---------------------------------------------------------------------------------------------
// Names

const DOT = 0x2e;
const BACKSLASH = 0x5c;

/**
 * Appends one label to a presentation-form name, lowercased. Bytes that would make the text
 * ambiguous ('.', '\\', non-printable) are escaped as \DDD, so distinct wire names never collide.
 */
function labelText(buf: Buffer, start: number, len: number): string {
  let s = '';
  for (let i = start; i < start + len; i++) {
    let c = buf[i]!;
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if (c <= 0x20 || c >= 0x7f || c === DOT || c === BACKSLASH) s += '\\' + String(c).padStart(3, '0');
    else s += String.fromCharCode(c);
  }
  return s;
}

export interface NameRead {
  /** Lowercased presentation form without the trailing dot; '' is the root. */
  name: string;
  /** Offset just past the name where it sits (past the first pointer if compressed). */
  next: number;
}

/**
 * Reads a possibly compressed name. Rejects pointers that do not point strictly backwards (which
 * rules out loops), more than 127 hops, reserved label types, and names over 255 octets.
 */
export function readName(buf: Buffer, offset: number): NameRead {
  let pos = offset;
  let next = -1;
  let wireLen = 1;
  let hops = 0;
  let name = '';
  let limit = offset; // a pointer must point below the start of the label run it appears in
  for (;;) {
    if (pos >= buf.length) throw new WireError('name runs past the end of the message');
    const len = buf[pos]!;
    if (len === 0) {
      if (next < 0) next = pos + 1;
      return { name, next };
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= buf.length) throw new WireError('truncated compression pointer');
      const target = ((len & 0x3f) << 8) | buf[pos + 1]!;
      if (target >= limit) throw new WireError('compression pointer does not point backwards');
      if (++hops > 127) throw new WireError('too many compression pointers');
      if (next < 0) next = pos + 2;
      pos = target;
      limit = target;
      continue;
    }
    if (kind !== 0) throw new WireError(`reserved label type 0x${kind.toString(16)}`);
    if (pos + 1 + len > buf.length) throw new WireError('label runs past the end of the message');
    wireLen += len + 1;
    if (wireLen > MAX_NAME_WIRE) throw new WireError('name longer than 255 octets');
    name += (name ? '.' : '') + labelText(buf, pos + 1, len);
    pos += len + 1;
  }
}

/** Skips a name without building its text (same checks as readName). */
export function skipName(buf: Buffer, offset: number): number {
  let pos = offset;
  let wireLen = 1;
  for (;;) {
    if (pos >= buf.length) throw new WireError('name runs past the end of the message');
    const len = buf[pos]!;
    if (len === 0) return pos + 1;
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= buf.length) throw new WireError('truncated compression pointer');
      const target = ((len & 0x3f) << 8) | buf[pos + 1]!;
      if (target >= pos) throw new WireError('compression pointer does not point backwards');
      // The rest of the name was validated when the earlier copy was read or is checked on decode.
      return pos + 2;
    }
    if (kind !== 0) throw new WireError(`reserved label type 0x${kind.toString(16)}`);
    if (pos + 1 + len > buf.length) throw new WireError('label runs past the end of the message');
    wireLen += len + 1;
    if (wireLen > MAX_NAME_WIRE) throw new WireError('name longer than 255 octets');
    pos += len + 1;
  }
}

// ---------------------------------------------------------------------------------------------
// The hot-path query reader

export interface ParsedQuery {
  id: number;
  flags: number;
  opcode: number;
  /** Lowercased presentation name of the question, no trailing dot. */
  qname: string;
  /** Offset just past the question name (the question starts at 12). */
  qnameEnd: number;
  qtype: number;
  qclass: number;
  /** Offset just past the question section. */
  questionEnd: number;
  edns: boolean;
  /** The client's advertised UDP payload size (>= 512), or 512 without EDNS. */
  udpSize: number;
  ednsVersion: number;
  /** The DNSSEC OK bit of the client's OPT record. */
  dnssecOk: boolean;
}

export type QueryParse =
  | { ok: true; query: ParsedQuery }
  /** `drop`: not worth an answer (too short, or a response). Otherwise answer with `rcode`. */
  | { ok: false; drop: true; reason: string }
  | { ok: false; drop: false; rcode: number; id: number; flags: number; reason: string; query?: ParsedQuery };

/** Parses a query; never throws. */
export function parseQuery(buf: Buffer): QueryParse {
  if (buf.length < HEADER_LEN) return { ok: false, drop: true, reason: 'shorter than a header' };
  const id = buf.readUInt16BE(0);
  const flags = buf.readUInt16BE(2);
  if (flags & FLAG_QR) return { ok: false, drop: true, reason: 'a response, not a query' };
  const opcode = (flags >> 11) & 0xf;
  const qd = buf.readUInt16BE(4);
  const an = buf.readUInt16BE(6);
  const ns = buf.readUInt16BE(8);
  const ar = buf.readUInt16BE(10);
  const fail = (rcode: number, reason: string, query?: ParsedQuery): QueryParse =>
    query ? { ok: false, drop: false, rcode, id, flags, reason, query } : { ok: false, drop: false, rcode, id, flags, reason };
  if (opcode !== 0) return fail(RCODE.NOTIMP, `opcode ${opcode} not implemented`);
  if (qd !== 1) return fail(RCODE.FORMERR, `${qd} questions`);
  let q: ParsedQuery;
  try {
    // The question name: plain labels only (nothing earlier to point at).
    let pos = HEADER_LEN;
    let qname = '';
    for (;;) {
      if (pos >= buf.length) return fail(RCODE.FORMERR, 'question name runs past the end');
      const len = buf[pos]!;
      if (len === 0) {
        pos++;
        break;
      }
      if (len > 63) return fail(RCODE.FORMERR, 'bad label in question');
      if (pos + 1 + len > buf.length) return fail(RCODE.FORMERR, 'question label runs past the end');
      if (pos + 1 + len - HEADER_LEN + 1 > MAX_NAME_WIRE) return fail(RCODE.FORMERR, 'question name too long');
      qname += (qname ? '.' : '') + labelText(buf, pos + 1, len);
      pos += len + 1;
    }
    const qnameEnd = pos;
    if (pos + 4 > buf.length) return fail(RCODE.FORMERR, 'question runs past the end');
    const qtype = buf.readUInt16BE(pos);
    const qclass = buf.readUInt16BE(pos + 2);
    pos += 4;
    q = {
      id, flags, opcode, qname, qnameEnd, qtype, qclass, questionEnd: pos,
      edns: false, udpSize: 512, ednsVersion: 0, dnssecOk: false,
    };
    // Answer and authority sections of a query are ignored, but must be well-formed.
    for (let i = 0; i < an + ns; i++) pos = skipRR(buf, pos);
    for (let i = 0; i < ar; i++) {
      const owner = pos;
      const end = skipName(buf, pos);
      if (end + 10 > buf.length) return fail(RCODE.FORMERR, 'record header runs past the end', q);
      const type = buf.readUInt16BE(end);
      const rdlen = buf.readUInt16BE(end + 8);
      if (end + 10 + rdlen > buf.length) return fail(RCODE.FORMERR, 'rdata runs past the end', q);
      if (type === TYPE.OPT) {
        if (q.edns) return fail(RCODE.FORMERR, 'more than one OPT record', q);
        if (end !== owner + 1) return fail(RCODE.FORMERR, 'OPT owner is not the root', q);
        // Options must tile the rdata exactly.
        let o = end + 10;
        const rdEnd = o + rdlen;
        while (o < rdEnd) {
          if (o + 4 > rdEnd) return fail(RCODE.FORMERR, 'truncated EDNS option', q);
          o += 4 + buf.readUInt16BE(o + 2);
          if (o > rdEnd) return fail(RCODE.FORMERR, 'EDNS option runs past the OPT record', q);
        }
        q.edns = true;
        q.udpSize = Math.max(512, buf.readUInt16BE(end + 2));
        q.ednsVersion = buf[end + 5]!;
        q.dnssecOk = (buf[end + 6]! & 0x80) !== 0;
      }
      pos = end + 10 + rdlen;
    }
  } catch (err) {
    return fail(RCODE.FORMERR, err instanceof Error ? err.message : String(err));
  }
  if (q.edns && q.ednsVersion > 0) return fail(RCODE.BADVERS, `EDNS version ${q.ednsVersion}`, q);
  return { ok: true, query: q };
}

function skipRR(buf: Buffer, pos: number): number {
  const end = skipName(buf, pos);
  if (end + 10 > buf.length) throw new WireError('record header runs past the end');
  const rdlen = buf.readUInt16BE(end + 8);
  if (end + 10 + rdlen > buf.length) throw new WireError('rdata runs past the end');
  return end + 10 + rdlen;
}

// ---------------------------------------------------------------------------------------------
// Full messages (tests, upstream answers)

export interface SoaData {
  mname: string;
  rname: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
}

export interface SrvData {
  priority: number;
  weight: number;
  port: number;
  target: string;
}

export interface MxData {
  preference: number;
  exchange: string;
}

/** rdata by type: a string for A/AAAA (address) and names (NS/CNAME/PTR), structured otherwise, raw bytes for the rest. */
export type RData = string | string[] | SoaData | SrvData | MxData | Buffer;

export interface RR {
  name: string;
  type: number;
  class: number;
  ttl: number;
  data: RData;
}

export interface Question {
  name: string;
  type: number;
  class: number;
}

export interface Message {
  id: number;
  flags: number;
  /** The full rcode (header 4 bits + OPT extended bits). */
  rcode: number;
  questions: Question[];
  answers: RR[];
  authority: RR[];
  /** Additional records, without the OPT record. */
  additional: RR[];
  /** The OPT record if present: its UDP size, version and DO bit. */
  edns?: { udpSize: number; version: number; dnssecOk: boolean; extendedRcode: number };
}

function readRData(buf: Buffer, type: number, start: number, len: number): RData {
  const end = start + len;
  const nameIn = (off: number): NameRead => {
    const r = readName(buf, off);
    if (r.next > end) throw new WireError('name runs past its rdata');
    return r;
  };
  switch (type) {
    case TYPE.A:
      if (len !== 4) throw new WireError('A rdata is not 4 octets');
      return `${buf[start]}.${buf[start + 1]}.${buf[start + 2]}.${buf[start + 3]}`;
    case TYPE.AAAA:
      if (len !== 16) throw new WireError('AAAA rdata is not 16 octets');
      return formatIPv6(buf.subarray(start, end));
    case TYPE.NS:
    case TYPE.CNAME:
    case TYPE.PTR: {
      const r = nameIn(start);
      if (r.next !== end) throw new WireError('trailing octets after name');
      return r.name;
    }
    case TYPE.MX: {
      if (len < 3) throw new WireError('short MX rdata');
      const r = nameIn(start + 2);
      if (r.next !== end) throw new WireError('trailing octets after name');
      return { preference: buf.readUInt16BE(start), exchange: r.name };
    }
    case TYPE.SRV: {
      if (len < 7) throw new WireError('short SRV rdata');
      const r = nameIn(start + 6);
      if (r.next !== end) throw new WireError('trailing octets after name');
      return { priority: buf.readUInt16BE(start), weight: buf.readUInt16BE(start + 2), port: buf.readUInt16BE(start + 4), target: r.name };
    }
    case TYPE.SOA: {
      const m = nameIn(start);
      const r = nameIn(m.next);
      if (r.next + 20 !== end) throw new WireError('bad SOA rdata length');
      const o = r.next;
      return {
        mname: m.name, rname: r.name,
        serial: buf.readUInt32BE(o), refresh: buf.readUInt32BE(o + 4), retry: buf.readUInt32BE(o + 8),
        expire: buf.readUInt32BE(o + 12), minimum: buf.readUInt32BE(o + 16),
      };
    }
    case TYPE.TXT: {
      const out: string[] = [];
      let o = start;
      while (o < end) {
        const l = buf[o]!;
        if (o + 1 + l > end) throw new WireError('TXT string runs past its rdata');
        out.push(buf.toString('latin1', o + 1, o + 1 + l));
        o += 1 + l;
      }
      return out;
    }
    default:
      return Buffer.from(buf.subarray(start, end));
  }
}

/** Decodes a whole message; throws WireError on any malformed input. */
export function decodeMessage(buf: Buffer): Message {
  if (buf.length < HEADER_LEN) throw new WireError('shorter than a header');
  const flags = buf.readUInt16BE(2);
  const counts = [buf.readUInt16BE(4), buf.readUInt16BE(6), buf.readUInt16BE(8), buf.readUInt16BE(10)] as const;
  const msg: Message = { id: buf.readUInt16BE(0), flags, rcode: flags & 0xf, questions: [], answers: [], authority: [], additional: [] };
  let pos = HEADER_LEN;
  for (let i = 0; i < counts[0]; i++) {
    const r = readName(buf, pos);
    if (r.next + 4 > buf.length) throw new WireError('question runs past the end');
    msg.questions.push({ name: r.name, type: buf.readUInt16BE(r.next), class: buf.readUInt16BE(r.next + 2) });
    pos = r.next + 4;
  }
  const sections = [msg.answers, msg.authority, msg.additional];
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < counts[s + 1]!; i++) {
      const r = readName(buf, pos);
      const h = r.next;
      if (h + 10 > buf.length) throw new WireError('record header runs past the end');
      const type = buf.readUInt16BE(h);
      const klass = buf.readUInt16BE(h + 2);
      const ttl = buf.readUInt32BE(h + 4);
      const rdlen = buf.readUInt16BE(h + 8);
      if (h + 10 + rdlen > buf.length) throw new WireError('rdata runs past the end');
      if (type === TYPE.OPT && s === 2) {
        if (msg.edns) throw new WireError('more than one OPT record');
        if (r.name !== '') throw new WireError('OPT owner is not the root');
        const ext = buf[h + 4]!;
        msg.edns = { udpSize: klass, version: buf[h + 5]!, dnssecOk: (buf[h + 6]! & 0x80) !== 0, extendedRcode: ext };
        msg.rcode |= ext << 4;
      } else {
        sections[s]!.push({ name: r.name, type, class: klass, ttl, data: readRData(buf, type, h + 10, rdlen) });
      }
      pos = h + 10 + rdlen;
    }
  }
  return msg;
}

// ---------------------------------------------------------------------------------------------
// Addresses

/** 16 octets of an IPv6 address in text form (with ::, and an embedded IPv4 tail). Throws on bad input. */
export function parseIPv6(text: string): Buffer {
  const out = Buffer.alloc(16);
  let s = text;
  const pct = s.indexOf('%');
  if (pct >= 0) s = s.slice(0, pct);
  let tail: number[] = [];
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.', lastColon)) {
    const v4 = s.slice(lastColon + 1);
    if (!isIPv4(v4)) throw new WireError(`bad IPv6 address ${text}`);
    tail = v4.split('.').map(Number);
    s = s.slice(0, lastColon + 1) + '0:0';
  }
  const halves = s.split('::');
  if (halves.length > 2) throw new WireError(`bad IPv6 address ${text}`);
  const groups = (h: string): number[] => (h === '' ? [] : h.split(':').map((g) => {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) throw new WireError(`bad IPv6 address ${text}`);
    return parseInt(g, 16);
  }));
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  const total = head.length + rest.length;
  if ((halves.length === 1 && total !== 8) || total > (halves.length === 2 ? 7 : 8)) throw new WireError(`bad IPv6 address ${text}`);
  head.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  rest.forEach((g, i) => out.writeUInt16BE(g, (8 - rest.length + i) * 2));
  if (tail.length === 4) tail.forEach((b, i) => (out[12 + i] = b));
  return out;
}

/** RFC 5952 text form of 16 octets. */
export function formatIPv6(b: Uint8Array): string {
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((b[i]! << 8) | b[i + 1]!);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

/** The reverse-lookup name of an address (`d.c.b.a.in-addr.arpa` or the 32-nibble `ip6.arpa` form), or undefined. */
export function reverseName(ip: string): string | undefined {
  if (isIPv4(ip)) return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
  if (!isIPv6(ip)) return undefined;
  const b = parseIPv6(ip);
  const nibbles: string[] = [];
  for (let i = 15; i >= 0; i--) {
    nibbles.push((b[i]! & 0xf).toString(16), (b[i]! >> 4).toString(16));
  }
  return `${nibbles.join('.')}.ip6.arpa`;
}

// ---------------------------------------------------------------------------------------------
// The writer

export class Writer {
  buf: Buffer;
  len = 0;
  /** Lowercased name suffix -> absolute offset in the final message. */
  private readonly names = new Map<string, number>();

  /**
   * @param base absolute offset in the final message at which this writer's first byte will sit
   *   (pre-rendered answer sections start after the question).
   */
  constructor(readonly base = 0, size = 512) {
    this.buf = Buffer.allocUnsafe(size);
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.len++] = v & 0xff;
  }
  u16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(v & 0xffff, this.len);
    this.len += 2;
  }
  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.len);
    this.len += 4;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  /** Makes `name` (and its suffixes) available for compression at absolute offset `at`. */
  seedName(name: string, at: number): void {
    if (!name) return;
    const labels = name.split('.');
    let off = at;
    for (let i = 0; i < labels.length; i++) {
      const suffix = labels.slice(i).join('.');
      if (off < 0x4000 && !this.names.has(suffix)) this.names.set(suffix, off);
      off += labels[i]!.length + 1;
    }
  }

  /** Writes a name (presentation form, plain ASCII labels, no escapes), compressing against earlier names. */
  name(name: string, compress = true): void {
    if (!name) {
      this.u8(0);
      return;
    }
    const labels = name.split('.');
    for (let i = 0; i < labels.length; i++) {
      const suffix = i === 0 ? name : labels.slice(i).join('.');
      const key = suffix.toLowerCase();
      if (compress) {
        const at = this.names.get(key);
        if (at !== undefined) {
          this.u16(0xc000 | at);
          return;
        }
        const here = this.base + this.len;
        if (here < 0x4000) this.names.set(key, here);
      }
      const l = labels[i]!;
      if (l.length === 0 || l.length > 63) throw new WireError(`bad label in ${JSON.stringify(name)}`);
      this.u8(l.length);
      this.ensure(l.length);
      this.len += this.buf.write(l, this.len, 'latin1');
    }
    this.u8(0);
  }

  /** Writes a record whose owner is a pointer to an absolute offset (0x0c: the question name). */
  ownerPointer(at: number): void {
    this.u16(0xc000 | at);
  }

  /** Writes type, class, TTL and rdata of one record (owner already written). */
  rrBody(type: number, ttl: number, rdata: (w: Writer) => void): void {
    this.u16(type);
    this.u16(CLASS_IN);
    this.u32(ttl);
    const lenAt = this.len;
    this.u16(0);
    rdata(this);
    this.buf.writeUInt16BE(this.len - lenAt - 2, lenAt);
  }

  /** Writes one record with typed rdata. */
  rr(owner: string | number, rr: Omit<RR, 'name'>): void {
    if (typeof owner === 'number') this.ownerPointer(owner);
    else this.name(owner);
    this.u16(rr.type);
    this.u16(rr.class);
    this.u32(rr.ttl);
    const lenAt = this.len;
    this.u16(0);
    writeRData(this, rr.type, rr.data);
    this.buf.writeUInt16BE(this.len - lenAt - 2, lenAt);
  }

  result(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

export function writeRData(w: Writer, type: number, data: RData): void {
  if (Buffer.isBuffer(data)) {
    w.bytes(data);
    return;
  }
  switch (type) {
    case TYPE.A:
      for (const part of String(data).split('.')) w.u8(Number(part));
      return;
    case TYPE.AAAA:
      w.bytes(parseIPv6(String(data)));
      return;
    case TYPE.NS:
    case TYPE.CNAME:
    case TYPE.PTR:
      w.name(String(data));
      return;
    case TYPE.TXT:
      for (const s of Array.isArray(data) ? data : [String(data)]) {
        const b = Buffer.from(s, 'latin1');
        for (let i = 0; i < b.length || i === 0; i += 255) {
          const chunk = b.subarray(i, i + 255);
          w.u8(chunk.length);
          w.bytes(chunk);
        }
      }
      return;
    case TYPE.SRV: {
      const d = data as SrvData;
      w.u16(d.priority);
      w.u16(d.weight);
      w.u16(d.port);
      w.name(d.target, false); // RFC 2782: no compression of the target
      return;
    }
    case TYPE.MX: {
      const d = data as MxData;
      w.u16(d.preference);
      w.name(d.exchange);
      return;
    }
    case TYPE.SOA: {
      const d = data as SoaData;
      w.name(d.mname);
      w.name(d.rname);
      w.u32(d.serial);
      w.u32(d.refresh);
      w.u32(d.retry);
      w.u32(d.expire);
      w.u32(d.minimum);
      return;
    }
    default:
      throw new WireError(`cannot encode rdata of type ${type} from a non-buffer value`);
  }
}

/** Encodes a whole message (tests, the fake upstream, built queries). */
export function encodeMessage(msg: Message): Buffer {
  const w = new Writer(0);
  w.u16(msg.id);
  w.u16((msg.flags & ~0xf) | (msg.rcode & 0xf));
  w.u16(msg.questions.length);
  w.u16(msg.answers.length);
  w.u16(msg.authority.length);
  w.u16(msg.additional.length + (msg.edns ? 1 : 0));
  for (const q of msg.questions) {
    w.name(q.name);
    w.u16(q.type);
    w.u16(q.class);
  }
  for (const rr of [...msg.answers, ...msg.authority, ...msg.additional]) w.rr(rr.name, rr);
  if (msg.edns) writeOpt(w, msg.edns.udpSize, (msg.rcode >> 4) & 0xff, msg.edns.version, msg.edns.dnssecOk);
  return Buffer.from(w.result());
}

/** Appends an OPT record (11 octets, no options). */
export function writeOpt(w: Writer, udpSize: number, extendedRcode: number, version: number, dnssecOk: boolean): void {
  w.u8(0);
  w.u16(TYPE.OPT);
  w.u16(udpSize);
  w.u8(extendedRcode);
  w.u8(version);
  w.u16(dnssecOk ? 0x8000 : 0);
  w.u16(0);
}

/** Fills an 11-octet OPT record into `buf` at `at`. */
export function putOpt(buf: Buffer, at: number, extendedRcode: number, dnssecOk: boolean): void {
  buf[at] = 0;
  buf.writeUInt16BE(TYPE.OPT, at + 1);
  buf.writeUInt16BE(SERVER_UDP_SIZE, at + 3);
  buf[at + 5] = extendedRcode;
  buf[at + 6] = 0;
  buf.writeUInt16BE(dnssecOk ? 0x8000 : 0, at + 7);
  buf.writeUInt16BE(0, at + 9);
}
export const OPT_LEN = 11;

/** A query for (name, type) with RD set and an OPT record advertising `udpSize`. */
export function buildQuery(id: number, name: string, type: number, udpSize = SERVER_UDP_SIZE): Buffer {
  return encodeMessage({
    id, flags: FLAG_RD, rcode: 0,
    questions: [{ name, type, class: CLASS_IN }],
    answers: [], authority: [], additional: [],
    edns: { udpSize, version: 0, dnssecOk: false, extendedRcode: 0 },
  });
}
