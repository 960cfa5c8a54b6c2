// nfnetlink batch encoding for nf_tables: a growable buffer of netlink messages between
// NFNL_MSG_BATCH_BEGIN and NFNL_MSG_BATCH_END, with (nested) attributes. Pure: bytes only; the
// socket that sends them is socket.ts. Numbers are from <linux/netfilter/nf_tables.h> and
// <linux/netfilter/nfnetlink.h>; netlink headers and attribute headers are host order (x86: LE),
// attribute payloads as each attribute defines them (nf_tables integers are big-endian).

export const NFNL_SUBSYS_NFTABLES = 10;
export const NFNL_MSG_BATCH_BEGIN = 16;
export const NFNL_MSG_BATCH_END = 17;
export const NFPROTO = { ip: 2, ip6: 10 } as const;

/** nf_tables message types, with the subsystem in the high byte as nlmsg_type carries them. */
export const MSG = {
  NEWTABLE: 0xa00, DELTABLE: 0xa02, NEWCHAIN: 0xa03, DELCHAIN: 0xa05, NEWRULE: 0xa06, DELRULE: 0xa08, NEWSET: 0xa09, DELSET: 0xa0b, NEWSETELEM: 0xa0c, DELSETELEM: 0xa0e,
} as const;

export const NLM_F_REQUEST = 1;
export const NLM_F_ACK = 4;
export const NLM_F_CREATE = 0x400;
export const NLM_F_APPEND = 0x800;
export const NLA_F_NESTED = 0x8000;
export const NLMSG_ERROR = 2;

/** A netlink byte writer: messages and attributes, 4-byte aligned. */
export class Writer {
  buf: Buffer;
  pos = 0;
  private msgStart = -1;
  private seq: number;
  private readonly firstSeq: number;
  /** Tags by seq - firstSeq (an array, not a Map: a 30k-Service batch has ~400k messages). */
  private readonly tagList: unknown[] = [];

  constructor(size = 1 << 16, firstSeq = 1) {
    this.buf = Buffer.allocUnsafe(size);
    this.seq = firstSeq;
    this.firstSeq = firstSeq;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const b = Buffer.allocUnsafe(size);
    this.buf.copy(b, 0, 0, this.pos);
    this.buf = b;
  }

  pad(): void {
    const p = (4 - (this.pos & 3)) & 3;
    if (p) {
      this.ensure(p);
      for (let i = 0; i < p; i++) this.buf[this.pos + i] = 0;
      this.pos += p;
    }
  }

  /** Starts a message: nlmsghdr + nfgenmsg. Returns its sequence number. */
  /** seq → the caller's tag (e.g. the command it encodes), to name the command the kernel rejected. */
  tagOf(seq: number): unknown {
    return this.tagList[seq - this.firstSeq];
  }

  begin(type: number, flags: number, family: number, resId = 0, tag?: unknown): number {
    if (this.msgStart >= 0) throw new Error('netlink message not ended');
    this.ensure(20);
    const b = this.buf;
    const p = this.pos;
    this.msgStart = p;
    const seq = this.seq++;
    b.writeUInt16LE(type, p + 4);
    b.writeUInt16LE(flags, p + 6);
    b.writeUInt32LE(seq, p + 8);
    b.writeUInt32LE(0, p + 12);
    b[p + 16] = family;
    b[p + 17] = 0; // NFNETLINK_V0
    b.writeUInt16BE(resId, p + 18);
    this.pos = p + 20;
    if (tag !== undefined) this.tagList[seq - this.firstSeq] = tag;
    return seq;
  }

  end(): void {
    this.pad();
    this.buf.writeUInt32LE(this.pos - this.msgStart, this.msgStart);
    this.msgStart = -1;
  }

  /** Empties the writer for reuse as scratch space. */
  clear(): void {
    this.pos = 0;
    this.msgStart = -1;
  }

  /** Drops a message begun but not ended. */
  abort(): void {
    if (this.msgStart < 0) return;
    this.pos = this.msgStart;
    this.msgStart = -1;
  }

  /** A message with no attributes. */
  message(type: number, flags: number, family: number, resId = 0): void {
    this.begin(type, flags, family, resId);
    this.end();
  }

  // Attribute headers and numbers are written byte by byte: Buffer's checked writeUInt16LE and
  // friends were a tenth of a 10k full sync's encoding.

  /** Opens a nested attribute; returns its offset for `close`. */
  open(type: number): number {
    this.ensure(4);
    const p = this.pos;
    const b = this.buf;
    const t = type | NLA_F_NESTED;
    b[p + 2] = t & 0xff;
    b[p + 3] = t >>> 8;
    this.pos = p + 4;
    return p;
  }

  close(at: number): void {
    const len = this.pos - at;
    if (len > 0xffff) throw new Error(`netlink attribute too long (${len} bytes)`);
    this.buf[at] = len & 0xff;
    this.buf[at + 1] = len >>> 8;
  }

  private hdr(type: number, len: number): number {
    this.ensure(4 + len + 3);
    const p = this.pos;
    const b = this.buf;
    const l = 4 + len;
    b[p] = l & 0xff;
    b[p + 1] = l >>> 8;
    b[p + 2] = type & 0xff;
    b[p + 3] = type >>> 8;
    this.pos = p + 4;
    return this.pos;
  }

  str(type: number, s: string): void {
    // Names are short ASCII: copy them by hand, other strings through Buffer's UTF-8 encoder.
    let ascii = s.length <= 64;
    for (let i = 0; ascii && i < s.length; i++) if (s.charCodeAt(i) > 0x7f) ascii = false;
    const n = ascii ? s.length : Buffer.byteLength(s);
    const p = this.hdr(type, n + 1);
    const b = this.buf;
    if (ascii) for (let i = 0; i < n; i++) b[p + i] = s.charCodeAt(i);
    else b.write(s, p, 'utf8');
    b[p + n] = 0;
    this.pos = p + n + 1;
    this.pad();
  }

  u32be(type: number, v: number): void {
    const p = this.hdr(type, 4);
    const b = this.buf;
    b[p] = v >>> 24;
    b[p + 1] = (v >>> 16) & 0xff;
    b[p + 2] = (v >>> 8) & 0xff;
    b[p + 3] = v & 0xff;
    this.pos = p + 4;
  }

  i32be(type: number, v: number): void {
    const p = this.hdr(type, 4);
    this.buf.writeInt32BE(v, p);
    this.pos = p + 4;
  }

  u64be(type: number, v: number): void {
    const p = this.hdr(type, 8);
    this.buf.writeBigUInt64BE(BigInt(v), p);
    this.pos = p + 8;
  }

  /** An attribute of `len` payload bytes the caller fills at the returned offset of `buf`, then `pad()`s. */
  space(type: number, len: number): number {
    const p = this.hdr(type, len);
    this.pos = p + len;
    return p;
  }

  bytes(type: number, data: Uint8Array): void {
    const p = this.hdr(type, data.length);
    this.buf.set(data, p);
    this.pos = p + data.length;
    this.pad();
  }

  u8(type: number, v: number): void {
    const p = this.hdr(type, 1);
    this.buf[p] = v;
    this.pos = p + 1;
    this.pad();
  }

  /** Appends bytes as they are (already-encoded attributes). */
  raw(data: Uint8Array): void {
    this.ensure(data.length);
    this.buf.set(data, this.pos);
    this.pos += data.length;
  }

  /** Appends a complete message from elsewhere, giving it this batch's next sequence number. */
  rawMessage(msg: Uint8Array): void {
    if (this.msgStart >= 0) throw new Error('netlink message not ended');
    const p = this.pos;
    this.raw(msg);
    this.buf.writeUInt32LE(this.seq++, p + 8);
  }

  /** The whole batch so far. */
  view(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  /** Sequence numbers used so far are below this. */
  get nextSeq(): number {
    return this.seq;
  }
}

/** A netlink error reply: errno (positive) and the kernel's extended-ACK message when it gave one. */
export interface NetlinkError {
  seq: number;
  errno: number;
  message?: string;
}

const NLMSGERR_ATTR_MSG = 1;

/** Error and ACK messages in one received datagram (ACKs have errno 0). */
export function parseReplies(data: Uint8Array): NetlinkError[] {
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const out: NetlinkError[] = [];
  let p = 0;
  while (p + 16 <= b.length) {
    const len = b.readUInt32LE(p);
    const type = b.readUInt16LE(p + 4);
    const flags = b.readUInt16LE(p + 6);
    if (len < 16 || p + len > b.length) break;
    if (type === NLMSG_ERROR && len >= 20) {
      const errno = -b.readInt32LE(p + 16);
      const seq = b.readUInt32LE(p + 16 + 4 + 8);
      const err: NetlinkError = { seq, errno };
      // NLM_F_CAPPED (0x100): only the header of the request follows; NLM_F_ACK_TLVS (0x200): TLVs after it.
      if (flags & 0x200) {
        const origLen = flags & 0x100 ? 16 : b.readUInt32LE(p + 20);
        let q = p + 20 + ((origLen + 3) & ~3);
        while (q + 4 <= p + len) {
          const alen = b.readUInt16LE(q);
          const atype = b.readUInt16LE(q + 2) & 0x3fff;
          if (alen < 4) break;
          if (atype === NLMSGERR_ATTR_MSG) err.message = b.toString('utf8', q + 4, q + alen).replace(/\0+$/, '');
          q += (alen + 3) & ~3;
        }
      }
      out.push(err);
    }
    p += (len + 3) & ~3;
  }
  return out;
}
