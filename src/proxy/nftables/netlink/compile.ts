// Encodes the renderer's transactions (tx.ts: commands with their rules' statements, set definitions,
// elements and endpoint-map windows as data) into one nf_tables netlink batch: the same commands,
// the same expressions `nft` would send (checked against `nft --debug=netlink` and by listing both
// results with `nft list`). No text on this path; `compile(text)` reads the printed subset back
// into transactions first (tests, cleanup). Pure.
//
// Stateful only in what `nft` would read from the kernel: the key and data types of named sets
// defined by earlier transactions (a partial sync adds elements to maps made by the full sync).
// Anything outside that subset throws UnsupportedError, and the applier hands the printed
// transaction to `nft -f`.
import { NftError, type AnonItem, type Expr, type Stmt, type Verdict } from '../fake.js';
import { forEachRange, parseTransactions, printCommand, type Elem, type NftCmd, type NftRule, type Range, type Transaction, type Window } from '../tx.js';
import { MSG, NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END, NFNL_SUBSYS_NFTABLES, NFPROTO, NLM_F_APPEND, NLM_F_CREATE, NLM_F_REQUEST, Writer } from './batch.js';

export class UnsupportedError extends Error {
  override name = 'UnsupportedError';
}

// ---- nf_tables attribute numbers ----
const TABLE_NAME = 1;
const CHAIN = { TABLE: 1, NAME: 3, HOOK: 4, POLICY: 5, TYPE: 7 } as const;
const HOOK = { NUM: 1, PRIORITY: 2 } as const;
const RULE = { TABLE: 1, CHAIN: 2, EXPRESSIONS: 4, USERDATA: 7 } as const;
const LIST_ELEM = 1;
const EXPR = { NAME: 1, DATA: 2 } as const;
const SET = { TABLE: 1, NAME: 2, FLAGS: 3, KEY_TYPE: 4, KEY_LEN: 5, DATA_TYPE: 6, DATA_LEN: 7, DESC: 9, ID: 10, TIMEOUT: 11, USERDATA: 13 } as const;
const SET_F = { ANONYMOUS: 1, CONSTANT: 2, INTERVAL: 4, MAP: 8, TIMEOUT: 16, EVAL: 32 } as const;
const ELEMS = { TABLE: 1, SET: 2, ELEMENTS: 3, SET_ID: 4 } as const;
const ELEM = { KEY: 1, DATA: 2, FLAGS: 3 } as const;
const ELEM_INTERVAL_END = 1;
const DATA = { VALUE: 1, VERDICT: 2 } as const;
const VERDICT = { CODE: 1, CHAIN: 2 } as const;
const VERDICT_CODE: Record<Verdict['k'], number> = { accept: 1, drop: 0, return: -5, jump: -3, goto: -4 };
const HOOKS: Record<string, number> = { prerouting: 0, input: 1, forward: 2, output: 3, postrouting: 4 };

// nft's datatype numbers (a concatenation is `(a << 6) | b`, left to right).
const TYPE = { verdict: 1, integer: 4, ipv4_addr: 7, ipv6_addr: 8, inet_proto: 12, inet_service: 13 } as const;
type TypeName = keyof typeof TYPE;
const TYPE_LEN: Record<TypeName, number> = { verdict: 0, integer: 4, ipv4_addr: 4, ipv6_addr: 16, inet_proto: 1, inet_service: 2 };
const VERDICT_DATA_TYPE = 0xffffff00;

/** Key (and map data) types of a set, as component type names. */
interface SetType {
  key: TypeName[];
  data?: TypeName[];
  /**
   * An interval map keyed by `numgen` (render.ts's endpoint maps): keys `lo-hi`, sent as a start
   * element and an end element (the first value past the range), big-endian because the rule turns
   * the host-order numgen value around (`byteorder hton`) before the lookup, as nft does.
   */
  numgenIntervals?: boolean;
}

/**
 * The one `typeof` map definition the renderer emits, per family: its types and the set userdata
 * `nft` attaches (key byte order, the typeof expressions), copied from `nft --debug=mnl` so that
 * `nft list` prints the map as it would have made it.
 */
const TYPEOF_MAPS = new Map<string, { type: SetType; userdata: Buffer }>();
for (const [kw, l3, daddrField, addrType] of [['ip', 0x0c, 0x0c, 'ipv4_addr'], ['ip6', 0x0d, 0x09, 'ipv6_addr']] as const) {
  for (const [proto, l4] of [['tcp', 0x08], ['udp', 0x06], ['sctp', 0x0a]] as const) {
    TYPEOF_MAPS.set(`numgen random mod 65536 : ${kw} daddr . ${proto} dport`, {
      type: { key: ['integer'], data: [addrType, 'inet_service'], numgenIntervals: true },
      userdata: typeofUserdata(l3, daddrField, l4),
    });
  }
}

/** nft's set userdata for `typeof numgen random mod 65536 : <l3> daddr . <l4> dport` (protocol and field ids vary). */
function typeofUserdata(l3: number, daddrField: number, l4: number): Buffer {
  return Buffer.from([
    0x00, 0x04, 0x01, 0x00, 0x00, 0x00, // key byte order: host
    0x01, 0x04, 0x00, 0x00, 0x00, 0x00, // data byte order: (concatenation)
    0x03, 0x1a, 0x00, 0x04, 0x17, 0x00, 0x00, 0x00, 0x01, 0x12, // key typeof: numgen
    0x00, 0x04, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x00, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x00, 0x00, 0x00, // random, mod 65536, offset 0
    0x04, 0x34, 0x00, 0x04, 0x0d, 0x00, 0x00, 0x00, 0x01, 0x2c, // data typeof: concatenation
    0x00, 0x14, 0x00, 0x04, 0x07, 0x00, 0x00, 0x00, 0x01, 0x0c, 0x00, 0x04, l3, 0x00, 0x00, 0x00, 0x01, 0x04, daddrField, 0x00, 0x00, 0x00, // payload <l3> daddr
    0x01, 0x14, 0x00, 0x04, 0x07, 0x00, 0x00, 0x00, 0x01, 0x0c, 0x00, 0x04, l4, 0x00, 0x00, 0x00, 0x01, 0x04, 0x02, 0x00, 0x00, 0x00, // payload <l4> dport
    0x06, 0x04, 0x00, 0x00, 0x00, 0x00,
  ]);
}

const PROTOS: Record<string, number> = { tcp: 6, udp: 17, sctp: 132, icmp: 1, icmpv6: 58 };

// ---- value encoding ----

function ipv4(s: string): Buffer {
  const b = Buffer.allocUnsafe(4);
  writeIPv4(b, 0, s);
  return b;
}

/** Writes the IPv4 address s[from, to) at b[at] (no substring made). */
function writeIPv4(b: Buffer, at: number, s: string, from = 0, to = s.length): void {
  let octet = 0;
  let digits = 0;
  let i = 0;
  for (let k = from; k <= to; k++) {
    const c = k < to ? s.charCodeAt(k) : 46;
    if (c === 46) {
      if (digits === 0 || octet > 255 || i > 3) throw new UnsupportedError(`bad IPv4 address ${s.slice(from, to)}`);
      b[at + i++] = octet;
      octet = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      octet = octet * 10 + (c - 48);
      digits++;
    } else throw new UnsupportedError(`bad IPv4 address ${s.slice(from, to)}`);
  }
  if (i !== 4) throw new UnsupportedError(`bad IPv4 address ${s.slice(from, to)}`);
}

function ipv6(s: string): Buffer {
  const b = Buffer.alloc(16);
  let head = s;
  let tail = '';
  const dbl = s.indexOf('::');
  if (dbl >= 0) {
    head = s.slice(0, dbl);
    tail = s.slice(dbl + 2);
  }
  const words = (x: string): number[] => {
    if (x === '') return [];
    const out: number[] = [];
    for (const part of x.split(':')) {
      if (part.includes('.')) {
        const v4 = ipv4(part);
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        const n = parseInt(part, 16);
        if (!/^[0-9a-fA-F]{1,4}$/.test(part)) throw new UnsupportedError(`bad IPv6 address ${s}`);
        out.push(n);
      }
    }
    return out;
  };
  const h = words(head);
  const t = words(tail);
  if (dbl < 0 && h.length !== 8) throw new UnsupportedError(`bad IPv6 address ${s}`);
  if (h.length + t.length > 8) throw new UnsupportedError(`bad IPv6 address ${s}`);
  h.forEach((w, i) => b.writeUInt16BE(w, i * 2));
  t.forEach((w, i) => b.writeUInt16BE(w, (8 - t.length + i) * 2));
  return b;
}

function addr(s: string): Buffer {
  return s.includes(':') ? ipv6(s) : ipv4(s);
}

/** One value of a datatype, padded to a 4-byte register like nft does in concatenations. */
function valueOf(t: TypeName, s: string, pad: boolean): Buffer {
  let b: Buffer;
  switch (t) {
    case 'ipv4_addr': b = ipv4(s); break;
    case 'ipv6_addr': b = ipv6(s); break;
    case 'inet_proto': {
      const n = PROTOS[s] ?? Number(s);
      if (!Number.isInteger(n)) throw new UnsupportedError(`bad protocol ${s}`);
      b = Buffer.from([n]);
      break;
    }
    case 'inet_service': {
      const n = Number(s);
      if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UnsupportedError(`bad port ${s}`);
      b = Buffer.allocUnsafe(2);
      b.writeUInt16BE(n);
      break;
    }
    case 'integer': {
      const n = Number(s);
      if (!Number.isInteger(n)) throw new UnsupportedError(`bad integer ${s}`);
      b = Buffer.allocUnsafe(4);
      b.writeUInt32LE(n >>> 0); // numgen output: host order
      break;
    }
    default:
      throw new UnsupportedError(`no value of type ${t}`);
  }
  if (pad && b.length & 3) return Buffer.concat([b, Buffer.alloc(4 - (b.length & 3))]);
  return b;
}

/**
 * Writes a (concatenated) value, its components joined by ` . ` in `text` (as an element's key is
 * printed), as an NFTA_DATA_VALUE attribute: components are read in place, no array or buffer made.
 */
function writeValue(w: Writer, types: readonly TypeName[], text: string): void {
  const len = typeLen(types);
  const p = w.space(DATA.VALUE, len);
  const b = w.buf;
  for (let i = p; i < p + len; i++) b[i] = 0;
  let off = p;
  let from = 0;
  for (let i = 0; i < types.length; i++) {
    const t = types[i]!;
    const last = i === types.length - 1;
    const to = last ? text.length : text.indexOf(' . ', from);
    if (to < 0 || (last && text.indexOf(' . ', from) >= 0)) throw new UnsupportedError(`expected ${types.length} components, got ${text}`);
    if (t === 'ipv4_addr') writeIPv4(b, off, text, from, to);
    else {
      const s = text.slice(from, to);
      if (t === 'inet_proto') b[off] = protoNumber(s);
      else if (t === 'inet_service') {
        const n = portNumber(s);
        b[off] = n >>> 8;
        b[off + 1] = n & 0xff;
      } else valueOf(t, s, false).copy(b, off);
    }
    off += types.length === 1 ? TYPE_LEN[t] : (TYPE_LEN[t] + 3) & ~3;
    from = to + 3;
  }
  w.pad();
}

/** An endpoint map's data `addr . port` (two 4-byte registers, or 16 + 4 for IPv6). */
function writeEndpoint(w: Writer, types: readonly TypeName[], ip: string, port: number): void {
  const t = types[0];
  if (types.length !== 2 || types[1] !== 'inet_service' || (t !== 'ipv4_addr' && t !== 'ipv6_addr')) throw new UnsupportedError(`endpoint data of type ${types.join(' . ')}`);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UnsupportedError(`bad port ${port}`);
  const alen = TYPE_LEN[t];
  const p = w.space(DATA.VALUE, alen + 4);
  const b = w.buf;
  if (t === 'ipv4_addr') writeIPv4(b, p, ip);
  else ipv6(ip).copy(b, p);
  b[p + alen] = port >>> 8;
  b[p + alen + 1] = port & 0xff;
  b[p + alen + 2] = 0;
  b[p + alen + 3] = 0;
  w.pad();
}

/** A verdict as an element's value prints it: `accept`, `drop`, `return`, `jump X`, `goto X`. */
function verdictOf(s: string): Verdict {
  if (s === 'accept' || s === 'drop' || s === 'return') return { k: s };
  const sp = s.indexOf(' ');
  const k = s.slice(0, sp);
  const chain = s.slice(sp + 1);
  if (sp < 0 || (k !== 'jump' && k !== 'goto') || chain === '' || chain.includes(' ')) throw new UnsupportedError(`bad verdict ${s}`);
  return { k, chain };
}

function protoNumber(s: string): number {
  const n = PROTOS[s] ?? Number(s);
  if (!Number.isInteger(n) || n < 0 || n > 255) throw new UnsupportedError(`bad protocol ${s}`);
  return n;
}

function portNumber(s: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UnsupportedError(`bad port ${s}`);
  return n;
}

function typeId(types: readonly TypeName[]): number {
  let id = 0;
  for (const t of types) id = id * 64 + TYPE[t];
  return id;
}

function typeLen(types: readonly TypeName[]): number {
  if (types.length === 1) return TYPE_LEN[types[0]!];
  return types.reduce((n, t) => n + ((TYPE_LEN[t] + 3) & ~3), 0);
}

function u32le(v: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}

function parseTypeList(s: string): TypeName[] {
  return s.split('.').map((x) => {
    const t = x.trim();
    if (!(t in TYPE)) throw new UnsupportedError(`unsupported set type ${t}`);
    return t as TypeName;
  });
}

// ---- expressions ----

/** A field load: which expression fills a register, and the type it holds. */
interface Field {
  type: TypeName | 'u32' | 'ctstate' | 'ctstatus' | 'fibtype';
  len: number;
  load(w: Writer, dreg: number): void;
}

function expr(w: Writer, name: string, body: (w: Writer) => void): void {
  const e = w.open(LIST_ELEM);
  w.str(EXPR.NAME, name);
  const d = w.open(EXPR.DATA);
  body(w);
  w.close(d);
  w.close(e);
}

const payload = (base: number, offset: number, len: number) => (w: Writer, dreg: number) =>
  expr(w, 'payload', (w) => {
    w.u32be(1, dreg); // NFTA_PAYLOAD_DREG
    w.u32be(2, base);
    w.u32be(3, offset);
    w.u32be(4, len);
  });
const meta = (key: number) => (w: Writer, dreg: number) => expr(w, 'meta', (w) => { w.u32be(2, key); w.u32be(1, dreg); });
const ct = (key: number) => (w: Writer, dreg: number) => expr(w, 'ct', (w) => { w.u32be(2, key); w.u32be(1, dreg); });
const fib = (flags: number) => (w: Writer, dreg: number) => expr(w, 'fib', (w) => { w.u32be(1, dreg); w.u32be(2, 3 /* ADDRTYPE */); w.u32be(3, flags); });

function field(e: Expr, fam: 'ip' | 'ip6'): Field {
  if (e.k !== 'field') throw new UnsupportedError(`unsupported expression ${e.k}`);
  const v6 = fam === 'ip6';
  switch (e.name) {
    case 'saddr': return { type: v6 ? 'ipv6_addr' : 'ipv4_addr', len: v6 ? 16 : 4, load: payload(1, v6 ? 8 : 12, v6 ? 16 : 4) };
    case 'daddr': return { type: v6 ? 'ipv6_addr' : 'ipv4_addr', len: v6 ? 16 : 4, load: payload(1, v6 ? 24 : 16, v6 ? 16 : 4) };
    case 'l4proto': return { type: 'inet_proto', len: 1, load: meta(16) };
    case 'dport': return { type: 'inet_service', len: 2, load: payload(2, 2, 2) };
    case 'mark': return { type: 'u32', len: 4, load: meta(3) };
    case 'ct state': return { type: 'ctstate', len: 4, load: ct(0) };
    case 'ct status': return { type: 'ctstatus', len: 4, load: ct(2) };
    case 'fib saddr': return { type: 'fibtype', len: 4, load: fib(1) };
    case 'fib daddr': return { type: 'fibtype', len: 4, load: fib(2) };
  }
}

/** Loads a (possibly concatenated) expression into registers from NFT_REG_1; returns its component types. */
function loadExpr(w: Writer, e: Expr, fam: 'ip' | 'ip6'): { types: TypeName[]; len: number } {
  const parts = e.k === 'concat' ? e.parts : [e];
  const types: TypeName[] = [];
  let off = 0;
  for (const p of parts) {
    if (p.k === 'numgen') {
      numgen(w, p.mod, off === 0 ? 1 : 8 + off / 4);
      types.push('integer');
      off += 4;
      continue;
    }
    const f = field(p, fam);
    if (f.type === 'u32' || f.type === 'ctstate' || f.type === 'ctstatus' || f.type === 'fibtype') throw new UnsupportedError(`${p.k} in a set key`);
    f.load(w, off === 0 ? 1 : 8 + off / 4);
    types.push(f.type);
    off += (f.len + 3) & ~3;
  }
  return { types, len: types.length === 1 ? TYPE_LEN[types[0]!] : off };
}

function numgen(w: Writer, mod: number, dreg: number, offset?: number): void {
  expr(w, 'numgen', (w) => {
    w.u32be(1, dreg);
    w.u32be(2, mod);
    w.u32be(3, 1); // NFT_NG_RANDOM
    if (offset !== undefined) w.u32be(4, offset);
  });
}

/** Host to network order of a 4-byte register, in place (before an interval lookup, as nft does). */
function hton32(w: Writer, reg: number): void {
  expr(w, 'byteorder', (w) => {
    w.u32be(1, reg);
    w.u32be(2, reg);
    w.u32be(3, 1); // NFT_BYTEORDER_HTON
    w.u32be(4, 4);
    w.u32be(5, 4);
  });
}

/** `numgen random mod M offset K`, turned around, looked up in a named endpoint map, then DNAT. */
function dnatNumgenMap(w: Writer, fam: 'ip' | 'ip6', mod: number, offset: number, map: string): void {
  numgen(w, mod, 1, offset);
  hton32(w, 1);
  lookup(w, { name: map }, false, 1);
  nat(w, fam, 1, fam === 'ip6' ? 12 : 9);
}

function cmp(w: Writer, op: 'eq' | 'neq', data: Buffer): void {
  expr(w, 'cmp', (w) => {
    w.u32be(1, 1);
    w.u32be(2, op === 'eq' ? 0 : 1);
    const d = w.open(3);
    w.bytes(DATA.VALUE, data);
    w.close(d);
  });
}

function bitwise(w: Writer, len: number, mask: Buffer, xor: Buffer): void {
  expr(w, 'bitwise', (w) => {
    w.u32be(1, 1);
    w.u32be(2, 1);
    w.u32be(3, len);
    const m = w.open(4);
    w.bytes(DATA.VALUE, mask);
    w.close(m);
    const x = w.open(5);
    w.bytes(DATA.VALUE, xor);
    w.close(x);
  });
}

function immediateData(w: Writer, dreg: number, data: Buffer): void {
  expr(w, 'immediate', (w) => {
    w.u32be(1, dreg);
    const d = w.open(2);
    w.bytes(DATA.VALUE, data);
    w.close(d);
  });
}

function verdictAttr(w: Writer, type: number, v: Verdict): void {
  const d = w.open(type);
  const vv = w.open(DATA.VERDICT);
  w.i32be(VERDICT.CODE, VERDICT_CODE[v.k]);
  if (v.k === 'jump' || v.k === 'goto') w.str(VERDICT.CHAIN, v.chain);
  w.close(vv);
  w.close(d);
}

function immediateVerdict(w: Writer, v: Verdict): void {
  expr(w, 'immediate', (w) => {
    w.u32be(1, 0);
    verdictAttr(w, 2, v);
  });
}

const CT_STATE: Record<string, number> = { invalid: 1, established: 2, related: 4, new: 8, untracked: 64 };
const CT_STATUS: Record<string, number> = { expected: 1, 'seen-reply': 2, assured: 4, confirmed: 8, snat: 16, dnat: 32, dying: 512 };
const FIB_TYPE: Record<string, number> = { unspec: 0, unicast: 1, local: 2, broadcast: 3, anycast: 4, multicast: 5, blackhole: 6, unreachable: 7, prohibit: 8 };

function num(s: string): number {
  const n = Number(s);
  if (!Number.isFinite(n)) throw new UnsupportedError(`bad number ${s}`);
  return n;
}

/** `addr[/len]` → [network bytes, prefix length]. */
function prefix(s: string): [Buffer, number] {
  const [a, l] = s.split('/');
  const b = addr(a!);
  return [b, l === undefined ? b.length * 8 : num(l)];
}

function maskBytes(bytes: number, plen: number): Buffer {
  const m = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) {
    const bits = Math.max(0, Math.min(8, plen - i * 8));
    m[i] = bits === 0 ? 0 : (0xff << (8 - bits)) & 0xff;
  }
  return m;
}

/** A match of one field against a literal, as nft encodes it. */
function matchLiteral(w: Writer, e: Expr, fam: 'ip' | 'ip6', neg: boolean, lit: string): void {
  if (e.k === 'numgen') {
    numgen(w, e.mod, 1);
    cmp(w, neg ? 'neq' : 'eq', u32le(num(lit)));
    return;
  }
  let mask: number | undefined;
  let inner: Expr = e;
  if (e.k === 'mask') {
    mask = e.mask;
    inner = e.e;
  }
  const f = field(inner, fam);
  const op = neg ? 'neq' : 'eq';
  switch (f.type) {
    case 'ipv4_addr':
    case 'ipv6_addr': {
      const [net, plen] = prefix(lit);
      if (net.length !== f.len) throw new UnsupportedError(`address family mismatch: ${lit}`);
      if (plen % 8 === 0 && inner.k === 'field') {
        // Whole bytes: load only the prefix bytes (nft does the same).
        const n = plen / 8;
        const off = inner.name === 'saddr' ? (fam === 'ip6' ? 8 : 12) : fam === 'ip6' ? 24 : 16;
        payload(1, off, n)(w, 1);
        cmp(w, op, net.subarray(0, n));
      } else {
        f.load(w, 1);
        const m = maskBytes(f.len, plen);
        bitwise(w, f.len, m, Buffer.alloc(f.len));
        const masked = Buffer.from(net.map((x, i) => x & m[i]!));
        cmp(w, op, masked);
      }
      return;
    }
    case 'inet_proto':
    case 'inet_service':
      f.load(w, 1);
      cmp(w, op, valueOf(f.type, lit, false));
      return;
    case 'u32': {
      f.load(w, 1);
      if (mask !== undefined) bitwise(w, 4, u32le(mask), u32le(0));
      cmp(w, op, u32le(num(lit)));
      return;
    }
    case 'ctstate':
    case 'ctstatus': {
      const table = f.type === 'ctstate' ? CT_STATE : CT_STATUS;
      let bits = 0;
      for (const s of lit.split(',')) {
        const v = table[s];
        if (v === undefined) throw new UnsupportedError(`unknown ${f.type} ${s}`);
        bits |= v;
      }
      f.load(w, 1);
      bitwise(w, 4, u32le(bits), u32le(0));
      cmp(w, neg ? 'eq' : 'neq', u32le(0));
      return;
    }
    case 'fibtype': {
      const v = FIB_TYPE[lit];
      if (v === undefined) throw new UnsupportedError(`unknown fib type ${lit}`);
      f.load(w, 1);
      cmp(w, op, u32le(v));
      return;
    }
    default:
      throw new UnsupportedError(`cannot match ${f.type}`);
  }
}

function lookup(w: Writer, set: { name: string; id?: number }, neg: boolean, dreg?: number): void {
  expr(w, 'lookup', (w) => {
    w.str(1, set.name);
    if (set.id !== undefined) w.u32be(4, set.id);
    w.u32be(2, 1);
    if (dreg !== undefined) w.u32be(3, dreg);
    if (neg) w.u32be(5, 1);
  });
}

/** Merges CIDRs into sorted, disjoint [start, end) ranges as big integers. */
function ranges(items: readonly string[], bytes: number): Array<[bigint, bigint]> {
  const bits = BigInt(bytes * 8);
  const out: Array<[bigint, bigint]> = [];
  for (const s of items) {
    const [net, plen] = prefix(s);
    if (net.length !== bytes) throw new UnsupportedError(`address family mismatch: ${s}`);
    let v = 0n;
    for (const x of net) v = (v << 8n) | BigInt(x);
    const size = 1n << (bits - BigInt(plen));
    const start = v & ~(size - 1n);
    out.push([start, start + size]);
  }
  out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const merged: Array<[bigint, bigint]> = [];
  for (const r of out) {
    const last = merged[merged.length - 1];
    if (last && r[0] <= last[1]) last[1] = r[1] > last[1] ? r[1] : last[1];
    else merged.push([r[0], r[1]]);
  }
  return merged;
}

function bigBytes(v: bigint, bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = bytes - 1; i >= 0; i--) {
    b[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return b;
}

// ---- the compiler ----

interface Ctx {
  w: Writer;
  fam: 'ip' | 'ip6';
  table: string;
  /** Anonymous sets are sent before the rule that uses them (as nft does); queued here. */
  pre: Writer;
}

export interface CompiledBatch {
  /** BATCH_BEGIN … BATCH_END, ready for one sendmsg. */
  bytes: Uint8Array;
  /** seq → the command it came from, as `nft -f` text (for error messages). */
  tags: { get(seq: number): string | undefined };
  messages: number;
}

/** Max bytes of element attributes per NEWSETELEM message (attribute lengths are 16-bit). */
const ELEMENTS_PER_MESSAGE_BYTES = 60_000;

/** A batch size guess, so the writer seldom grows (it doubles and copies when it must). */
function sizeHint(txs: readonly Transaction[]): number {
  let n = 1 << 16;
  for (const tx of txs) {
    for (const c of tx.cmds) {
      if (c.k !== 'elements') n += 256;
      else if (c.elems) n += c.elems.length * 64;
      else if (c.ranges) n += c.ranges.length * 56;
      else if (c.windows) for (const w of c.windows) n += w.eps.length * 56;
    }
  }
  return n;
}

export class NetlinkCompiler {
  /** `family table set` → its types, remembered across transactions (the kernel's sets). */
  private readonly sets = new Map<string, SetType>();
  private anonId = 0;

  /** Forgets remembered set types (after a failure or cleanup: the next transaction is full). */
  reset(): void {
    this.sets.clear();
  }

  /** Compiles `nft -f` text of the renderer's subset (read back into transactions first). */
  compile(text: string): CompiledBatch {
    let txs: Transaction[];
    try {
      txs = parseTransactions(text);
    } catch (err) {
      if (err instanceof NftError) throw new UnsupportedError(err.message);
      throw err;
    }
    return this.compileTx(txs);
  }

  /** Compiles the renderer's transactions, one after the other, into one batch. */
  compileTx(txs: readonly Transaction[]): CompiledBatch {
    const w = new Writer(sizeHint(txs));
    w.message(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, 0, NFNL_SUBSYS_NFTABLES);
    const sets = new Map(this.sets);
    let messages = 0;
    let unsupported: UnsupportedError | undefined;
    /** Where each transaction's messages start, to print a rejected command with its table. */
    const spans: Array<{ seq: number; tx: Transaction }> = [];
    for (const tx of txs) {
      spans.push({ seq: w.nextSeq, tx });
      for (const cmd of tx.cmds) {
        try {
          messages += this.command(w, tx, cmd, sets);
        } catch (err) {
          // Keep going so the set types are learnt even when `nft -f` has to send this transaction.
          if (!(err instanceof UnsupportedError || err instanceof NftError)) throw err;
          w.abort();
          unsupported ??= err instanceof UnsupportedError ? err : new UnsupportedError(err.message);
        }
      }
    }
    w.message(NFNL_MSG_BATCH_END, NLM_F_REQUEST, 0, NFNL_SUBSYS_NFTABLES);
    // Remembered only once the kernel took the transaction (commit()).
    this.pending = sets;
    if (unsupported) throw unsupported;
    const tags = {
      get(seq: number): string | undefined {
        const cmd = w.tagOf(seq) as NftCmd | undefined;
        let tx: Transaction | undefined;
        for (const s of spans) if (s.seq <= seq) tx = s.tx;
        return cmd && tx ? printCommand(tx, cmd)[0] : undefined;
      },
    };
    return { bytes: w.view(), tags, messages };
  }

  private pending: Map<string, SetType> | undefined;

  /** The kernel accepted the last compiled batch: remember the sets it made or removed. */
  commit(): void {
    if (!this.pending) return;
    this.sets.clear();
    for (const [k, v] of this.pending) this.sets.set(k, v);
    this.pending = undefined;
  }

  private command(w: Writer, tx: Transaction, cmd: NftCmd, sets: Map<string, SetType>): number {
    const fam = tx.family;
    if (fam !== 'ip' && fam !== 'ip6') throw new UnsupportedError(`family ${String(fam)}`);
    const family = NFPROTO[fam];
    const table = tx.table;
    const create = NLM_F_REQUEST | NLM_F_CREATE;
    switch (cmd.k) {
      case 'table': {
        const add = cmd.op === 'add';
        w.begin(add ? MSG.NEWTABLE : MSG.DELTABLE, add ? create : NLM_F_REQUEST, family, 0, cmd);
        w.str(TABLE_NAME, table);
        if (add) w.u32be(2, 0);
        w.end();
        if (!add) for (const k of [...sets.keys()]) if (k.startsWith(`${fam} ${table} `)) sets.delete(k);
        return 1;
      }
      case 'chain':
        if (cmd.op === 'add') {
          w.begin(MSG.NEWCHAIN, create, family, 0, cmd);
          w.str(CHAIN.TABLE, table);
          w.str(CHAIN.NAME, cmd.name);
          if (cmd.hook) {
            const num = HOOKS[cmd.hook.hook];
            if (num === undefined) throw new UnsupportedError(`hook ${cmd.hook.hook}`);
            const h = w.open(CHAIN.HOOK);
            w.u32be(HOOK.NUM, num);
            w.i32be(HOOK.PRIORITY, cmd.hook.priority);
            w.close(h);
            w.u32be(CHAIN.POLICY, 1); // accept
            w.str(CHAIN.TYPE, cmd.hook.type);
          }
        } else {
          const flush = cmd.op === 'flush';
          w.begin(flush ? MSG.DELRULE : MSG.DELCHAIN, NLM_F_REQUEST, family, 0, cmd);
          w.str(flush ? RULE.TABLE : CHAIN.TABLE, table);
          w.str(flush ? RULE.CHAIN : CHAIN.NAME, cmd.name);
        }
        w.end();
        return 1;
      case 'set': {
        if (cmd.op === 'delete') {
          w.begin(MSG.DELSET, NLM_F_REQUEST, family, 0, cmd);
          w.str(SET.TABLE, table);
          w.str(SET.NAME, cmd.name);
          w.end();
          sets.delete(`${fam} ${table} ${cmd.name}`);
          return 1;
        }
        const d = cmd.def;
        let type: SetType;
        let userdata: Buffer | undefined;
        if (d.typeof) {
          const known = TYPEOF_MAPS.get(`${d.key} : ${d.data ?? ''}`);
          if (!known) throw new UnsupportedError(`typeof ${d.key}`);
          type = known.type;
          userdata = known.userdata;
        } else type = { key: parseTypeList(d.key), ...(d.data !== undefined ? { data: parseTypeList(d.data) } : {}) };
        let flags = 0;
        for (const f of d.flags ?? []) {
          if (f === 'dynamic') flags |= SET_F.EVAL;
          else if (f === 'timeout') flags |= SET_F.TIMEOUT;
          else if (f === 'interval') flags |= SET_F.INTERVAL;
          else throw new UnsupportedError(`set flag ${f}`);
        }
        if (type.numgenIntervals && !(flags & SET_F.INTERVAL)) throw new UnsupportedError(`${cmd.name}: numgen maps must be interval maps`);
        if (type.data) flags |= SET_F.MAP;
        w.begin(MSG.NEWSET, create, family, 0, cmd);
        setHeader(w, table, cmd.name, flags, type, ++this.anonId);
        if (d.timeoutS !== undefined) w.u64be(SET.TIMEOUT, d.timeoutS * 1000);
        if (userdata) w.bytes(SET.USERDATA, userdata);
        w.end();
        sets.set(`${fam} ${table} ${cmd.name}`, type);
        return 1;
      }
      case 'elements': {
        const type = sets.get(`${fam} ${table} ${cmd.set}`);
        if (!type) throw new UnsupportedError(`set ${cmd.set} of unknown type`);
        const msg = cmd.op === 'add' ? MSG.NEWSETELEM : MSG.DELSETELEM;
        if (type.numgenIntervals) {
          if (cmd.elems) throw new UnsupportedError(`${cmd.set}: elements of a numgen interval map must be ranges`);
          return this.intervalElements(w, msg, family, table, cmd.set, type, cmd, cmd);
        }
        if (!cmd.elems) throw new UnsupportedError(`${cmd.set}: ranges in a set that is not a numgen interval map`);
        return this.elements(w, msg, family, table, { name: cmd.set }, type, cmd.elems, cmd);
      }
      case 'rule':
        return this.rule(w, fam, table, cmd.chain, cmd.rule, cmd);
    }
  }

  private elements(w: Writer, type: number, family: number, table: string, set: { name: string; id?: number }, st: SetType, items: readonly Elem[], tag: unknown): number {
    let msgs = 0;
    let i = 0;
    const add = type === MSG.NEWSETELEM;
    const verdicts = !!st.data && st.data.length === 1 && st.data[0] === 'verdict';
    while (i < items.length) {
      w.begin(type, add ? NLM_F_REQUEST | NLM_F_CREATE : NLM_F_REQUEST, family, 0, tag);
      w.str(ELEMS.SET, set.name);
      if (set.id !== undefined) w.u32be(ELEMS.SET_ID, set.id);
      w.str(ELEMS.TABLE, table);
      const list = w.open(ELEMS.ELEMENTS);
      const listStart = w.pos;
      for (; i < items.length && w.pos - listStart < ELEMENTS_PER_MESSAGE_BYTES; i++) {
        const it = items[i]!;
        const e = w.open(LIST_ELEM);
        const k = w.open(ELEM.KEY);
        writeValue(w, st.key, it.key);
        w.close(k);
        if (add && st.data && it.value !== undefined) {
          if (verdicts) verdictAttr(w, ELEM.DATA, verdictOf(it.value));
          else {
            const d = w.open(ELEM.DATA);
            writeValue(w, st.data, it.value);
            w.close(d);
          }
        }
        w.close(e);
      }
      w.close(list);
      w.end();
      msgs++;
    }
    return msgs;
  }

  /**
   * Elements of a numgen interval map: range `lo-hi : addr . port` is a start element at lo with the
   * data and an end element at hi + 1 (flag INTERVAL_END), keys big-endian, in ascending order with
   * each start before its end, as nft sends them to a map the kernel already holds. (The kernel
   * refuses an end element sent before its start when a neighbouring window starts at that key.)
   * Windows are expanded here, range by range, without an object per range.
   */
  private intervalElements(w: Writer, type: number, family: number, table: string, set: string, st: SetType, c: { ranges?: readonly Range[]; windows?: readonly Window[] }, tag: unknown): number {
    const add = type === MSG.NEWSETELEM;
    const data = st.data!;
    let msgs = 0;
    let list = -1;
    let listStart = 0;
    const begin = () => {
      w.begin(type, add ? NLM_F_REQUEST | NLM_F_CREATE : NLM_F_REQUEST, family, 0, tag);
      w.str(ELEMS.SET, set);
      w.str(ELEMS.TABLE, table);
      list = w.open(ELEMS.ELEMENTS);
      listStart = w.pos;
      msgs++;
    };
    const end = () => {
      w.close(list);
      w.end();
    };
    const key = (v: number) => {
      const k = w.open(ELEM.KEY);
      w.u32be(DATA.VALUE, v);
      w.close(k);
    };
    const emit = (lo: number, hi: number, ip: string | undefined, port: number | undefined) => {
      if (!(Number.isInteger(lo) && Number.isInteger(hi) && lo >= 0 && hi >= lo && hi < 2 ** 32)) throw new UnsupportedError(`interval ${lo}-${hi}`);
      if (list < 0) begin();
      else if (w.pos - listStart >= ELEMENTS_PER_MESSAGE_BYTES) {
        end();
        begin();
      }
      const e = w.open(LIST_ELEM);
      key(lo);
      if (add) {
        if (ip === undefined || port === undefined) throw new UnsupportedError(`interval ${lo}-${hi} without a value`);
        const d = w.open(ELEM.DATA);
        writeEndpoint(w, data, ip, port);
        w.close(d);
      }
      w.close(e);
      if (hi + 1 < 2 ** 32) {
        const e = w.open(LIST_ELEM);
        key(hi + 1);
        w.u32be(ELEM.FLAGS, ELEM_INTERVAL_END);
        w.close(e);
      }
    };
    if (c.windows) for (const win of [...c.windows].sort((a, b) => a.base - b.base)) forEachRange(win, emit);
    if (c.ranges) for (const r of [...c.ranges].sort((a, b) => a.lo - b.lo)) emit(r.lo, r.hi, r.ip, r.port);
    if (list >= 0) end();
    return msgs;
  }

  /** An anonymous constant set (or map) sent before the rule; returns its name and id. */
  private anonSet(c: Ctx, st: SetType, items: readonly AnonItem[], interval: boolean): { name: string; id: number } {
    const id = ++this.anonId;
    const name = '__set%d';
    const w = c.pre;
    const family = NFPROTO[c.fam];
    const flags = SET_F.ANONYMOUS | SET_F.CONSTANT | (st.data ? SET_F.MAP : 0) | (interval ? SET_F.INTERVAL : 0);
    if (interval && st.data) throw new UnsupportedError('interval map');
    if (interval) {
      const bytes = TYPE_LEN[st.key[0]!];
      const rs = ranges(items.map((it) => it.key[0]!), bytes);
      const keys: bigint[] = [];
      const fl: number[] = [];
      // nft's interval encoding: a range is [start, end) with the end marked; a leading gap from 0 is an end too.
      if (rs.length && rs[0]![0] !== 0n) { keys.push(0n); fl.push(ELEM_INTERVAL_END); }
      const limit = 1n << BigInt(bytes * 8);
      for (const [s, e] of rs) {
        keys.push(s); fl.push(0);
        if (e < limit) { keys.push(e); fl.push(ELEM_INTERVAL_END); }
      }
      // Keys are raw numbers here: encode them as addresses of the set's width.
      w.begin(MSG.NEWSET, NLM_F_REQUEST | NLM_F_CREATE, family);
      setHeader(w, c.table, name, flags, { key: [st.key[0]!] }, id);
      const desc = w.open(SET.DESC);
      w.u32be(1, keys.length);
      w.close(desc);
      w.end();
      w.begin(MSG.NEWSETELEM, NLM_F_REQUEST | NLM_F_CREATE, family);
      w.str(ELEMS.SET, name);
      w.u32be(ELEMS.SET_ID, id);
      w.str(ELEMS.TABLE, c.table);
      const l = w.open(ELEMS.ELEMENTS);
      keys.forEach((k, i) => {
        const e = w.open(LIST_ELEM);
        const kk = w.open(ELEM.KEY);
        w.bytes(DATA.VALUE, bigBytes(k, bytes));
        w.close(kk);
        if (fl[i]) w.u32be(ELEM.FLAGS, fl[i]!);
        w.close(e);
      });
      w.close(l);
      w.end();
      return { name, id };
    }
    w.begin(MSG.NEWSET, NLM_F_REQUEST | NLM_F_CREATE, family);
    setHeader(w, c.table, name, flags, st, id);
    const desc = w.open(SET.DESC);
    w.u32be(1, items.length);
    w.close(desc);
    // numgen keys are host-order integers; nft reads the byte order from the set's userdata to list them.
    if (st.key.length === 1 && st.key[0] === 'integer') w.bytes(SET.USERDATA, Buffer.from([0, 4, 1, 0, 0, 0]));
    w.end();
    const elems = items.map((it): Elem => (it.value ? { key: it.key.join(' . '), value: it.value.join(' ') } : { key: it.key.join(' . ') }));
    this.elements(w, MSG.NEWSETELEM, family, c.table, { name, id }, st, elems, undefined);
    return { name, id };
  }

  /** Scratch space for one rule's expressions and the anonymous sets it needs. */
  private readonly body = new Writer(4096, 0);
  private readonly pre = new Writer(1024, 0);

  private rule(w: Writer, fam: 'ip' | 'ip6', table: string, chain: string, r: NftRule, tag: unknown): number {
    const body = this.body;
    const pre = this.pre;
    body.clear();
    pre.clear();
    // Expressions go to scratch space first: anonymous sets must precede the rule.
    const exprsAt = body.open(RULE.EXPRESSIONS);
    const c: Ctx = { w: body, fam, table, pre };
    for (const s of r.stmts) this.stmt(c, s);
    body.close(exprsAt);
    if (r.comment !== undefined) {
      // nft's rule userdata: NFTNL_UDATA_RULE_COMMENT, length, the text and its NUL.
      const n = Buffer.byteLength(r.comment);
      if (n > 254) throw new UnsupportedError('comment too long');
      const p = body.space(RULE.USERDATA, n + 3);
      const b = body.buf;
      b[p] = 0;
      b[p + 1] = n + 1;
      b.write(r.comment, p + 2, 'utf8');
      b[p + 2 + n] = 0;
      body.pad();
    }
    let msgs = 0;
    if (pre.pos > 0) msgs += copyMessages(pre, w);
    w.begin(MSG.NEWRULE, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_APPEND, NFPROTO[fam], 0, tag);
    w.str(RULE.TABLE, table);
    w.str(RULE.CHAIN, chain);
    w.raw(body.view());
    w.end();
    return msgs + 1;
  }

  private stmt(c: Ctx, s: Stmt): void {
    const w = c.w;
    switch (s.k) {
      case 'match': {
        if (s.rhs.k === 'lit') return matchLiteral(w, s.e, c.fam, s.neg, s.rhs.v);
        if (s.rhs.k === 'anon' && s.rhs.items.length === 1 && s.rhs.items[0]!.key.length === 1) return matchLiteral(w, s.e, c.fam, s.neg, s.rhs.items[0]!.key[0]!);
        const { types } = loadExpr(w, s.e, c.fam);
        if (s.rhs.k === 'setref') return lookup(w, { name: s.rhs.name }, s.neg);
        const interval = s.rhs.items.some((it) => it.key.some((k) => k.includes('/')));
        return lookup(w, this.anonSet(c, { key: types }, s.rhs.items, interval), s.neg);
      }
      case 'vmap': {
        const { types } = loadExpr(w, s.e, c.fam);
        if (s.ref) return lookup(w, { name: s.ref }, false, 0);
        return lookup(w, this.anonSet(c, { key: types, data: ['verdict'] }, s.items!, false), false, 0);
      }
      case 'markset': {
        meta(3)(w, 1);
        if (s.op === '|') bitwise(w, 4, u32le(~s.value), u32le(s.value));
        else bitwise(w, 4, u32le(0xffffffff), u32le(s.value));
        expr(w, 'meta', (w) => { w.u32be(2, 3); w.u32be(3, 1); });
        return;
      }
      case 'masquerade':
        expr(w, 'masq', (w) => { if (s.fullyRandom) w.u32be(1, 0x10); });
        return;
      case 'dnat': {
        const a = addr(s.ip);
        const port = Buffer.allocUnsafe(2);
        port.writeUInt16BE(s.port);
        immediateData(w, 1, a);
        immediateData(w, 2, port);
        nat(w, a.length === 16 ? 'ip6' : 'ip', 1, 2);
        return;
      }
      case 'dnatmap': {
        if (s.fam !== c.fam) throw new UnsupportedError(`dnat ${s.fam} in an ${c.fam} table`);
        if (s.ref) {
          if (s.e.k !== 'numgen') throw new UnsupportedError(`dnat map @${s.ref} keyed by ${s.e.k}`);
          return dnatNumgenMap(w, c.fam, s.e.mod, s.e.offset, s.ref);
        }
        const { types } = loadExpr(w, s.e, c.fam);
        const v6 = c.fam === 'ip6';
        const data: TypeName[] = [v6 ? 'ipv6_addr' : 'ipv4_addr', 'inet_service'];
        const set = this.anonSet(c, { key: types, data }, s.items, false);
        lookup(w, set, false, 1);
        nat(w, c.fam, 1, v6 ? 12 : 9);
        return;
      }
      case 'update': {
        loadExpr(w, s.e, c.fam);
        expr(w, 'dynset', (w) => {
          w.str(1, s.set);
          w.u32be(3, 1); // NFT_DYNSET_OP_UPDATE
          w.u32be(4, 1);
        });
        return;
      }
      case 'reject': {
        const tcp = s.with === 'tcp reset';
        if (s.with !== '' && !tcp) throw new UnsupportedError(`reject with ${s.with}`);
        expr(w, 'reject', (w) => {
          w.u32be(1, tcp ? 1 : 0);
          w.u8(2, tcp ? 0 : c.fam === 'ip6' ? 4 : 3); // ICMP(v6) port unreachable
        });
        return;
      }
      case 'counter':
        expr(w, 'counter', () => undefined);
        return;
      case 'verdict':
        return immediateVerdict(w, s.v);
    }
  }
}

/** NEWSET's identity and types: table, name, flags, key (and data) type and length, id. */
function setHeader(w: Writer, table: string, name: string, flags: number, type: SetType, id: number): void {
  w.str(SET.TABLE, table);
  w.str(SET.NAME, name);
  w.u32be(SET.FLAGS, flags);
  w.u32be(SET.KEY_TYPE, typeId(type.key));
  w.u32be(SET.KEY_LEN, typeLen(type.key));
  if (type.data) {
    const isVerdict = type.data.length === 1 && type.data[0] === 'verdict';
    w.u32be(SET.DATA_TYPE, isVerdict ? VERDICT_DATA_TYPE : typeId(type.data));
    w.u32be(SET.DATA_LEN, isVerdict ? 0 : typeLen(type.data));
  }
  w.u32be(SET.ID, id);
}

function nat(w: Writer, fam: 'ip' | 'ip6', addrReg: number, portReg: number): void {
  expr(w, 'nat', (w) => {
    w.u32be(1, 1); // NFT_NAT_DNAT
    w.u32be(2, NFPROTO[fam]);
    w.u32be(3, addrReg);
    w.u32be(5, portReg);
    w.u32be(7, 2); // NF_NAT_RANGE_PROTO_SPECIFIED (the kernel adds MAP_IPS)
  });
}

/** Copies complete messages from a scratch writer, renumbering their sequence numbers. */
function copyMessages(from: Writer, to: Writer): number {
  const src = from.view();
  const b = Buffer.from(src.buffer, src.byteOffset, src.byteLength);
  let p = 0;
  let n = 0;
  while (p < b.length) {
    const len = b.readUInt32LE(p);
    to.rawMessage(b.subarray(p, p + len));
    p += len;
    n++;
  }
  return n;
}
