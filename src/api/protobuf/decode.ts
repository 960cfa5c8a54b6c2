// Turns protobuf messages into the JSON objects the API serves, driven by the field tables in
// messages.ts. Every field number must be known: an unknown one is a 400 naming the message, so a
// newer client's field is never silently lost.
import { StatusError } from '../../util/errors.js';
import { MESSAGES, type FieldSpec, type MessageSpec } from './messages.js';
import { ProtobufError, WIRE_LEN, WIRE_VARINT, WireReader, type WireType } from './wire.js';

type JsonObject = Record<string, unknown>;

// metav1.Time's JSON range (RFC 3339 years 0001-9999).
const MIN_SECONDS = -62135596800n;
const MAX_SECONDS = 253402300799n;

export function messageSpec(name: string): MessageSpec {
  const spec = MESSAGES.get(name);
  if (!spec) throw new Error(`protobuf message ${name} has no table`);
  return spec;
}

function shortName(spec: MessageSpec): string {
  return spec.name.slice(spec.name.lastIndexOf('.') + 1);
}

function wireOf(f: FieldSpec): WireType {
  const t = f.type;
  return t === 'int32' || t === 'int64' || t === 'bool' ? WIRE_VARINT : WIRE_LEN;
}

function isEmptyObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0;
}

function isZero(v: unknown): boolean {
  return v === undefined || v === '' || v === 0 || v === false || isEmptyObject(v);
}

/** Decodes the message in `r` into `out` (merging, as protobuf does for repeated occurrences). */
export function decodeMessage(r: WireReader, spec: MessageSpec, out: JsonObject): JsonObject {
  const name = shortName(spec);
  // Non-pointer struct fields arrive even when empty; drop those that stayed empty at the end.
  const emptyCandidates: string[] = [];
  while (!r.done()) {
    const { field, wire } = r.tag(name);
    const f = spec.fields.get(field);
    if (!f) throw new ProtobufError(`proto: unknown field ${field} (wire type ${wire}) in message ${spec.name}`);
    if (f.drop) {
      r.skip(wire);
      continue;
    }
    if (f.unsupported) {
      throw new StatusError(415, 'UnsupportedMediaType', `field ${spec.name}.${f.json} (${field}) cannot be decoded from application/vnd.kubernetes.protobuf by this server; send the object as application/json`);
    }
    if (wire !== wireOf(f)) throw new ProtobufError(`proto: wrong wireType = ${wire} for field ${f.json} in message ${spec.name}`);
    const t = f.type;
    if (typeof t === 'object' && 'map' in t) {
      const [k, v] = mapEntry(r.sub(), spec, f);
      const map = (out[f.json] ??= {}) as JsonObject;
      map[k] = v;
      continue;
    }
    if (typeof t === 'object' && f.inline) {
      decodeMessage(r.sub(), messageSpec(t.message), out);
      continue;
    }
    if (typeof t === 'object' && !f.repeated) {
      const existing = out[f.json];
      const target = typeof existing === 'object' && existing !== null ? (existing as JsonObject) : {};
      out[f.json] = decodeMessage(r.sub(), messageSpec(t.message), target);
      if (!f.always) emptyCandidates.push(f.json);
      continue;
    }
    const v = typeof t === 'object' ? decodeMessage(r.sub(), messageSpec(t.message), {}) : scalar(r, t, spec, f);
    if (f.repeated) {
      // A repeated element is kept even when zero: [""] and [{}] are real values.
      const arr = (out[f.json] ??= []) as unknown[];
      arr.push(v ?? (t === 'intOrString' ? 0 : ''));
    } else if (f.always ? v !== undefined : !isZero(v)) {
      out[f.json] = v;
    } else {
      delete out[f.json];
    }
  }
  for (const k of emptyCandidates) if (isEmptyObject(out[k])) delete out[k];
  return out;
}

function toSafeNumber(v: bigint, spec: MessageSpec, f: FieldSpec): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new ProtobufError(`proto: value ${v} of field ${f.json} in message ${spec.name} is out of the range this server accepts`);
  }
  return Number(v);
}

function scalar(r: WireReader, t: Exclude<FieldSpec['type'], object>, spec: MessageSpec, f: FieldSpec): unknown {
  switch (t) {
    case 'string':
      return r.string(f.json);
    case 'int32':
      return r.int32();
    case 'int64':
      return toSafeNumber(r.int64(), spec, f);
    case 'bool':
      return r.bool();
    case 'bytes':
      return Buffer.from(r.bytes()).toString('base64');
    case 'time':
      return time(r.sub());
    case 'quantity':
      return quantity(r.sub());
    case 'intOrString':
      return intOrString(r.sub(), f.always === true);
  }
}

/** meta/v1 Time {seconds=1, nanos=2}; an empty message is the zero time (JSON null: omitted). */
function time(r: WireReader): string | undefined {
  let seconds: bigint | undefined;
  while (!r.done()) {
    const { field, wire } = r.tag('Time');
    if (field === 1 && wire === WIRE_VARINT) seconds = r.int64();
    else if (field === 2 && wire === WIRE_VARINT) r.int32(); // JSON carries whole seconds only
    else if (field === 1 || field === 2) throw new ProtobufError(`proto: wrong wireType = ${wire} for field ${field === 1 ? 'Seconds' : 'Nanos'}`);
    else throw new ProtobufError(`proto: unknown field ${field} (wire type ${wire}) in message k8s.io.apimachinery.pkg.apis.meta.v1.Time`);
  }
  if (seconds === undefined) return undefined;
  if (seconds < MIN_SECONDS || seconds > MAX_SECONDS) throw new ProtobufError(`proto: Time seconds ${seconds} is outside the years 0001-9999`);
  return new Date(Number(seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** resource.Quantity {string=1}: its canonical text is what JSON carries. */
function quantity(r: WireReader): string {
  let s = '';
  while (!r.done()) {
    const { field, wire } = r.tag('Quantity');
    if (field === 1 && wire === WIRE_LEN) s = r.string('string');
    else throw new ProtobufError(`proto: unknown field ${field} (wire type ${wire}) in message k8s.io.apimachinery.pkg.api.resource.Quantity`);
  }
  return s;
}

/**
 * util/intstr IntOrString {type=1, intVal=2, strVal=3}. For a non-pointer field the zero value
 * means unset; a pointer field (`present`) on the wire is set, so 0 stays 0 (e.g. maxSurge: 0).
 */
function intOrString(r: WireReader, present: boolean): number | string | undefined {
  let type = 0n;
  let intVal = 0;
  let strVal = '';
  while (!r.done()) {
    const { field, wire } = r.tag('IntOrString');
    if (field === 1 && wire === WIRE_VARINT) type = r.int64();
    else if (field === 2 && wire === WIRE_VARINT) intVal = r.int32();
    else if (field === 3 && wire === WIRE_LEN) strVal = r.string('strVal');
    else throw new ProtobufError(`proto: unknown field ${field} (wire type ${wire}) in message k8s.io.apimachinery.pkg.util.intstr.IntOrString`);
  }
  if (type === 1n) return strVal === '' && !present ? undefined : strVal;
  if (type !== 0n) throw new ProtobufError(`proto: IntOrString type ${type} is neither 0 (int) nor 1 (string)`);
  return intVal === 0 && !present ? undefined : intVal;
}

function mapEntry(r: WireReader, spec: MessageSpec, f: FieldSpec): [string, unknown] {
  const valueType = typeof f.type === 'object' && 'map' in f.type ? f.type.map : 'string';
  let key = '';
  let value: unknown = valueType === 'quantity' ? '0' : '';
  while (!r.done()) {
    const { field, wire } = r.tag(`${shortName(spec)}.${f.json}`);
    if (field === 1 && wire === WIRE_LEN) key = r.string(`${f.json} key`);
    else if (field === 2 && wire === WIRE_LEN) {
      if (valueType === 'quantity') value = quantity(r.sub()) || '0';
      else if (valueType === 'bytes') value = Buffer.from(r.bytes()).toString('base64');
      else value = r.string(`${f.json} value`);
    }
    else throw new ProtobufError(`proto: unknown field ${field} (wire type ${wire}) in map entry ${spec.name}.${f.json}`);
  }
  return [key, value];
}
