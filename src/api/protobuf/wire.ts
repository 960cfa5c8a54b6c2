// A minimal protobuf wire-format reader: tags, varints, fixed 32/64-bit values and length-delimited
// payloads, every read bounds-checked. Request bodies are untrusted, so malformed input is a
// ProtobufError (a 400), never a RangeError or a silently truncated value.
import { BadRequestError } from '../../util/errors.js';

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_FIXED32 = 5;

export type WireType = typeof WIRE_VARINT | typeof WIRE_FIXED64 | typeof WIRE_LEN | typeof WIRE_FIXED32;

/** Malformed protobuf input; messages follow Go's protobuf runtime ("proto: ..."). */
export class ProtobufError extends BadRequestError {
  override name = 'ProtobufError';
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export class WireReader {
  private pos: number;
  private readonly end: number;

  constructor(
    private readonly buf: Uint8Array,
    start = 0,
    end = buf.length,
  ) {
    this.pos = start;
    this.end = end;
  }

  done(): boolean {
    return this.pos >= this.end;
  }

  /** Reads a field tag; field number 0 and the group wire types (3, 4) are rejected. */
  tag(message: string): { field: number; wire: WireType } {
    const v = this.varint();
    const wire = Number(v & 7n);
    const field = v >> 3n;
    if (field <= 0n || field > 0x1fffffffn) throw new ProtobufError(`proto: ${message}: illegal tag ${field} (wire type ${wire})`);
    if (wire !== WIRE_VARINT && wire !== WIRE_FIXED64 && wire !== WIRE_LEN && wire !== WIRE_FIXED32) {
      throw new ProtobufError(`proto: ${message}: illegal wireType ${wire} for field ${field}`);
    }
    return { field: Number(field), wire };
  }

  /** An unsigned 64-bit varint (at most 10 bytes). */
  varint(): bigint {
    let result = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new ProtobufError('unexpected EOF');
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << BigInt(7 * i);
      if ((b & 0x80) === 0) {
        // The tenth byte may carry only the 64th bit.
        if (i === 9 && b > 1) throw new ProtobufError('proto: integer overflow');
        return result;
      }
    }
    throw new ProtobufError('proto: integer overflow');
  }

  /** Go's int64 from a varint (two's complement of the 64 bits). */
  int64(): bigint {
    return BigInt.asIntN(64, this.varint());
  }

  /** Go's int32 from a varint: negative values arrive sign-extended to 64 bits; high bits drop. */
  int32(): number {
    return Number(BigInt.asIntN(32, this.varint()));
  }

  bool(): boolean {
    return this.varint() !== 0n;
  }

  fixed64(): bigint {
    if (this.end - this.pos < 8) throw new ProtobufError('unexpected EOF');
    const lo = BigInt(this.u32(this.pos));
    const hi = BigInt(this.u32(this.pos + 4));
    this.pos += 8;
    return (hi << 32n) | lo;
  }

  fixed32(): number {
    if (this.end - this.pos < 4) throw new ProtobufError('unexpected EOF');
    const v = this.u32(this.pos);
    this.pos += 4;
    return v;
  }

  private u32(at: number): number {
    return (this.buf[at]! | (this.buf[at + 1]! << 8) | (this.buf[at + 2]! << 16)) + this.buf[at + 3]! * 0x1000000;
  }

  /** A length-delimited payload as a reader over the same buffer (no copy). */
  sub(): WireReader {
    const { start, end } = this.span();
    return new WireReader(this.buf, start, end);
  }

  bytes(): Uint8Array {
    const { start, end } = this.span();
    return this.buf.subarray(start, end);
  }

  string(field: string): string {
    try {
      return utf8.decode(this.bytes());
    } catch (e) {
      if (e instanceof ProtobufError) throw e;
      throw new ProtobufError(`proto: field ${field} contains invalid UTF-8`);
    }
  }

  private span(): { start: number; end: number } {
    const len = this.varint();
    if (len > BigInt(this.end - this.pos)) throw new ProtobufError(len > 0x7fffffffn ? 'proto: negative length found during unmarshaling' : 'unexpected EOF');
    const start = this.pos;
    this.pos += Number(len);
    return { start, end: this.pos };
  }

  /** Skips a value of the given wire type. */
  skip(wire: WireType): void {
    switch (wire) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_FIXED64:
        this.fixed64();
        return;
      case WIRE_LEN:
        this.span();
        return;
      case WIRE_FIXED32:
        this.fixed32();
        return;
    }
  }
}
