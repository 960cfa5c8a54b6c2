// RFC 6902 JSON Patch as kube-apiserver applies it (evanphx/json-patch): a body that is not a list
// of operations is 400; an operation that cannot apply (failed `test`, missing path, bad index) is
// 422 with kube's generic message, the specific reason kept in `detail` for logs.
import { BadRequestError, StatusError } from '../util/errors.js';
import { cloneJson, isObject, jsonEqual, jsonKind, type JsonObject } from './json.js';

/** kube-apiserver's limit on operations in one JSON patch. */
export const MAX_JSON_PATCH_OPERATIONS = 10000;

/**
 * 422 as kube-apiserver returns it for a JSON patch that does not apply (it builds the error with
 * NewGenericServerResponse, which keeps only the generic message).
 */
export class JsonPatchApplyError extends StatusError {
  override name = 'JsonPatchApplyError';
  /** Why the operation failed, e.g. `testing value /metadata/labels/a failed: test failed`. */
  readonly detail: string;
  constructor(detail: string) {
    super(422, 'Invalid', 'the server rejected our request due to an error in our request');
    this.detail = detail;
  }
}

interface Operation {
  op: string;
  path: string;
  from?: string;
  value?: unknown;
  hasValue: boolean;
}

function decode(body: unknown): Operation[] {
  if (body === null) return [];
  if (!Array.isArray(body)) throw new BadRequestError(`json: cannot unmarshal ${jsonKind(body)} into Go value of type jsonpatch.Patch`);
  if (body.length > MAX_JSON_PATCH_OPERATIONS) {
    throw new StatusError(413, 'RequestEntityTooLarge', `Request entity too large: The allowed maximum operations in a JSON patch is ${MAX_JSON_PATCH_OPERATIONS}, got ${body.length}`);
  }
  return body.map((raw) => {
    if (!isObject(raw)) throw new BadRequestError(`json: cannot unmarshal ${jsonKind(raw)} into Go value of type jsonpatch.Operation`);
    const op = raw['op'];
    const path = raw['path'];
    const from = raw['from'];
    for (const [k, v] of [['op', op], ['path', path], ['from', from]] as const) {
      if (v !== undefined && typeof v !== 'string') throw new BadRequestError(`json: cannot unmarshal ${jsonKind(v)} into Go value of type string (field ${k})`);
    }
    const o: Operation = { op: (op as string | undefined) ?? 'unknown', path: path as string, hasValue: Object.hasOwn(raw, 'value'), value: raw['value'] };
    if (from !== undefined) o.from = from as string;
    return o;
  });
}

/** Splits a JSON pointer into reference tokens (`~1` is `/`, `~0` is `~`). */
export function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new JsonPatchApplyError(`invalid JSON pointer ${JSON.stringify(pointer)}: must be empty or start with "/"`);
  return pointer
    .slice(1)
    .split('/')
    .map((t) => {
      if (/~[^01]|~$/.test(t)) throw new JsonPatchApplyError(`invalid JSON pointer ${JSON.stringify(pointer)}: bad escape in ${JSON.stringify(t)}`);
      return t.replace(/~1/g, '/').replace(/~0/g, '~');
    });
}

// Array index: decimal without leading zeros; negative indices count from the end as
// evanphx/json-patch allows (kube-apiserver accepts them).
function arrayIndex(token: string, length: number, forInsert: boolean, op: string, pointer: string): number {
  if (!/^(0|-?[1-9][0-9]*)$/.test(token)) throw new JsonPatchApplyError(`${op} operation does not apply: doc is missing path: ${JSON.stringify(pointer)}: invalid index ${JSON.stringify(token)}`);
  let i = Number(token);
  if (i < 0) i += length;
  const max = forInsert ? length : length - 1;
  if (i < 0 || i > max) throw new JsonPatchApplyError(`${op} operation does not apply: doc is missing path: ${JSON.stringify(pointer)}: index ${token} out of bounds`);
  return i;
}

type Container = JsonObject | unknown[];

/** Walks to the container holding the last token; undefined when a step is missing. */
function parentOf(doc: unknown, tokens: string[], op: string, pointer: string): Container | undefined {
  let cur: unknown = doc;
  for (let i = 0; i < tokens.length - 1; i++) {
    const t = tokens[i]!;
    if (Array.isArray(cur)) cur = cur[arrayIndex(t, cur.length, false, op, pointer)];
    else if (isObject(cur) && Object.hasOwn(cur, t)) cur = cur[t];
    else return undefined;
  }
  return Array.isArray(cur) || isObject(cur) ? cur : undefined;
}

function getAt(doc: unknown, pointer: string, op: string): { found: boolean; value?: unknown } {
  const tokens = parsePointer(pointer);
  if (tokens.length === 0) return { found: true, value: doc };
  const parent = parentOf(doc, tokens, op, pointer);
  const last = tokens[tokens.length - 1]!;
  if (Array.isArray(parent)) {
    if (!/^(0|-?[1-9][0-9]*)$/.test(last)) return { found: false };
    let i = Number(last);
    if (i < 0) i += parent.length;
    return i >= 0 && i < parent.length ? { found: true, value: parent[i] } : { found: false };
  }
  if (isObject(parent) && Object.hasOwn(parent, last)) return { found: true, value: parent[last] };
  return { found: false };
}

function missing(op: string, pointer: string, what = 'path'): JsonPatchApplyError {
  return new JsonPatchApplyError(`${op} operation does not apply: doc is missing ${what}: ${JSON.stringify(pointer)}: missing value`);
}

function add(doc: unknown, pointer: string, value: unknown, op = 'add'): unknown {
  const tokens = parsePointer(pointer);
  if (tokens.length === 0) return value;
  const parent = parentOf(doc, tokens, op, pointer);
  const last = tokens[tokens.length - 1]!;
  if (Array.isArray(parent)) {
    const i = last === '-' ? parent.length : arrayIndex(last, parent.length, true, op, pointer);
    parent.splice(i, 0, value);
  } else if (isObject(parent)) {
    parent[last] = value;
  } else {
    throw missing(op, pointer);
  }
  return doc;
}

function remove(doc: unknown, pointer: string, op = 'remove'): { doc: unknown; removed: unknown } {
  const tokens = parsePointer(pointer);
  if (tokens.length === 0) throw new JsonPatchApplyError(`${op} operation does not apply: cannot remove the whole document`);
  const parent = parentOf(doc, tokens, op, pointer);
  const last = tokens[tokens.length - 1]!;
  if (Array.isArray(parent)) {
    const i = arrayIndex(last, parent.length, false, op, pointer);
    const [removed] = parent.splice(i, 1);
    return { doc, removed };
  }
  if (isObject(parent) && Object.hasOwn(parent, last)) {
    const removed = parent[last];
    delete parent[last];
    return { doc, removed };
  }
  throw missing(op, pointer);
}

function requireValue(o: Operation): unknown {
  if (!o.hasValue) throw new JsonPatchApplyError(`${o.op} operation, missing value field`);
  return cloneJson(o.value);
}

function requireFrom(o: Operation): string {
  if (o.from === undefined) throw new JsonPatchApplyError(`${o.op} operation, missing from field`);
  return o.from;
}

/** Applies an RFC 6902 patch to a copy of `doc`; `doc` and `body` are left untouched. */
export function applyJsonPatch(doc: unknown, body: unknown): unknown {
  const ops = decode(body);
  let cur = cloneJson(doc);
  for (const o of ops) {
    if (typeof o.path !== 'string') throw new JsonPatchApplyError(`${o.op} operation, missing path field`);
    switch (o.op) {
      case 'add':
        cur = add(cur, o.path, requireValue(o));
        break;
      case 'remove':
        cur = remove(cur, o.path).doc;
        break;
      case 'replace': {
        const value = requireValue(o);
        if (o.path === '') {
          cur = value;
          break;
        }
        if (!getAt(cur, o.path, 'replace').found) throw new JsonPatchApplyError(`replace operation does not apply: doc is missing key: ${o.path}: missing value`);
        // Set in place: a remove-then-add would shift a negative index.
        const tokens = parsePointer(o.path);
        const parent = parentOf(cur, tokens, 'replace', o.path);
        const last = tokens[tokens.length - 1]!;
        if (Array.isArray(parent)) parent[arrayIndex(last, parent.length, false, 'replace', o.path)] = value;
        else if (isObject(parent)) parent[last] = value;
        break;
      }
      case 'move': {
        const from = requireFrom(o);
        if (o.path !== from && o.path.startsWith(`${from}/`)) throw new JsonPatchApplyError(`move operation does not apply: "from" ${from} is a prefix of "path" ${o.path}`);
        if (!getAt(cur, from, 'move').found) throw missing('move', from, 'from path');
        const r = remove(cur, from, 'move');
        cur = add(r.doc, o.path, r.removed, 'move');
        break;
      }
      case 'copy': {
        const from = requireFrom(o);
        const got = getAt(cur, from, 'copy');
        if (!got.found) throw missing('copy', from, 'from path');
        cur = add(cur, o.path, cloneJson(got.value), 'copy');
        break;
      }
      case 'test': {
        const got = getAt(cur, o.path, 'test');
        const want = o.hasValue ? o.value : null;
        if (!(got.found ? jsonEqual(got.value, want) : want === null)) throw new JsonPatchApplyError(`testing value ${o.path} failed: test failed`);
        break;
      }
      default:
        throw new JsonPatchApplyError(`Unexpected kind: ${o.op}`);
    }
  }
  return cur;
}
