// Request bodies in `application/vnd.kubernetes.protobuf`, as kubectl's generator commands send them
// (`kubectl create namespace`, `kubectl create service ...`): the magic `k8s\0`, then a
// runtime.Unknown {typeMeta=1 {apiVersion=1, kind=2}, raw=2, contentEncoding=3, contentType=4} whose
// raw bytes are the object. Only the kinds with field tables are decoded; others stay 415.
import { BadRequestError, UnsupportedMediaTypeError } from '../../util/errors.js';
import type { KindDef } from '../../registry/types.js';
import type { KubeObject } from '../../registry/kinds/meta.js';
import { TOP_LEVEL } from './messages.js';
import { decodeMessage, messageSpec } from './decode.js';
import { ProtobufError, WIRE_LEN, WireReader } from './wire.js';

export const PROTOBUF_MEDIA_TYPE = 'application/vnd.kubernetes.protobuf';

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);
const UNKNOWN = 'k8s.io.apimachinery.pkg.runtime.Unknown';

function apiVersionOf(def: KindDef): string {
  return def.group ? `${def.group}/${def.version}` : def.version;
}

/** Whether bodies of this kind can be decoded from protobuf. */
export function protobufSupported(def: KindDef): boolean {
  return TOP_LEVEL.has(`${apiVersionOf(def)}/${def.kind}`);
}

interface Envelope {
  apiVersion: string;
  kind: string;
  raw: Uint8Array;
  contentEncoding: string;
  contentType: string;
}

function readTypeMeta(r: WireReader, env: Envelope): void {
  while (!r.done()) {
    const { field, wire } = r.tag('TypeMeta');
    if (field === 1 && wire === WIRE_LEN) env.apiVersion = r.string('apiVersion');
    else if (field === 2 && wire === WIRE_LEN) env.kind = r.string('kind');
    else throw new ProtobufError(`proto: unknown field ${field} (wire type ${wire}) in message k8s.io.apimachinery.pkg.runtime.TypeMeta`);
  }
}

function readEnvelope(r: WireReader): Envelope {
  const env: Envelope = { apiVersion: '', kind: '', raw: new Uint8Array(), contentEncoding: '', contentType: '' };
  while (!r.done()) {
    const { field, wire } = r.tag('Unknown');
    if (wire !== WIRE_LEN || field > 4) throw new ProtobufError(`proto: unknown field ${field} (wire type ${wire}) in message ${UNKNOWN}`);
    if (field === 1) readTypeMeta(r.sub(), env);
    else if (field === 2) env.raw = r.bytes();
    else if (field === 3) env.contentEncoding = r.string('contentEncoding');
    else env.contentType = r.string('contentType');
  }
  return env;
}

/**
 * Decodes a protobuf request body for `def` into the object its JSON form would give, before any
 * defaulting or validation (the caller runs the same checks as for JSON bodies).
 */
export function decodeProtobufObject(body: Buffer, def: KindDef): KubeObject {
  const apiVersion = apiVersionOf(def);
  const top = TOP_LEVEL.get(`${apiVersion}/${def.kind}`);
  if (!top) throw new UnsupportedMediaTypeError(PROTOBUF_MEDIA_TYPE);
  if (body.length < MAGIC.length || !body.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new BadRequestError(`the object provided is unrecognized (must be of type ${def.kind}): provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]`);
  }
  const cannotHandle = (detail: string) => new BadRequestError(`${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: ${detail}`);
  let env: Envelope;
  try {
    env = readEnvelope(new WireReader(body, MAGIC.length));
  } catch (e) {
    if (e instanceof ProtobufError) throw new BadRequestError(`the object provided is unrecognized (must be of type ${def.kind}): ${e.message}`);
    throw e;
  }
  if (env.contentEncoding !== '') throw cannotHandle(`unsupported content encoding ${JSON.stringify(env.contentEncoding)} of the embedded object`);
  if (env.contentType !== '' && env.contentType !== PROTOBUF_MEDIA_TYPE) {
    throw cannotHandle(`unsupported content type ${JSON.stringify(env.contentType)} of the embedded object`);
  }
  // An absent type takes the request path's, as kube-apiserver's decoder defaults it.
  const gotVersion = env.apiVersion || apiVersion;
  const gotKind = env.kind || def.kind;
  if (gotVersion !== apiVersion) throw new BadRequestError(`the API version in the data (${gotVersion}) does not match the expected API version (${apiVersion})`);
  if (gotKind !== def.kind) throw new BadRequestError(`the kind in the data (${gotKind}) does not match the expected kind (${def.kind})`);
  let fields: Record<string, unknown>;
  try {
    fields = decodeMessage(new WireReader(env.raw), messageSpec(top), {});
  } catch (e) {
    if (e instanceof ProtobufError) throw cannotHandle(e.message);
    throw e;
  }
  return { apiVersion, kind: def.kind, ...fields } as KubeObject;
}
