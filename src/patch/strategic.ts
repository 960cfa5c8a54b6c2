// Server-side strategic merge patch (apimachinery's strategicpatch), driven by a JSON Schema that
// carries the OpenAPI extensions kube-apiserver publishes: x-kubernetes-patch-strategy,
// x-kubernetes-patch-merge-key and x-kubernetes-list-type. What kubectl's three-way apply sends
// must land exactly as on a real cluster, so the directive handling and list ordering follow
// upstream; where upstream keeps a raw patch value with directives or nulls inside, this applies
// the value to an empty node instead, so no `$patch` or null ever reaches storage.
import { BadRequestError } from '../util/errors.js';
import { cloneJson, goFormat, isObject, jsonKind, type JsonObject } from './json.js';

/** A JSON Schema node (TypeBox output is plain JSON Schema). */
export type Schema = Readonly<Record<string, unknown>>;

export interface StrategicOptions {
  /** Schemas reachable by `$ref`, keyed by `$id` (TypeBox `Type.Ref`) or by the ref string itself. */
  refs?: Readonly<Record<string, Schema>>;
}

const DIRECTIVE = '$patch';
const RETAIN_KEYS = '$retainKeys';
const SET_ORDER_PREFIX = '$setElementOrder/';
const DELETE_PRIMITIVE_PREFIX = '$deleteFromPrimitiveList/';

// Upstream mergepatch error texts; kube-apiserver returns them as 400.
const ERR_RETAIN_KEYS = 'invalid patch format of retainKeys';
const ERR_PRIMITIVE_LIST = 'invalid patch format of primitive list';
const ERR_SET_ORDER = 'invalid patch format of setElementOrder list';

class Walker {
  private readonly regexes = new Map<string, RegExp>();
  constructor(private readonly refs: Readonly<Record<string, Schema>>) {}

  private regex(p: string): RegExp {
    let re = this.regexes.get(p);
    if (!re) this.regexes.set(p, (re = new RegExp(p)));
    return re;
  }

  resolve(s: Schema | undefined): Schema | undefined {
    let cur = s;
    for (let depth = 0; cur && depth < 32; depth++) {
      const ref = cur['$ref'];
      const all = cur['allOf'];
      if (typeof ref === 'string') cur = this.refs[ref] ?? this.refs[ref.slice(ref.lastIndexOf('/') + 1)];
      // OpenAPI wraps a described reference as `allOf: [target]`; the target carries the shape.
      else if (Array.isArray(all) && all.length === 1 && isObject(all[0])) cur = all[0] as Schema;
      else break;
    }
    return cur;
  }

  /** The branch of a union that describes objects (or lists), so unions such as nullable types still steer the merge. */
  shape(s: Schema | undefined, want: 'object' | 'array'): Schema | undefined {
    const r = this.resolve(s);
    if (!r) return undefined;
    const union = (r['anyOf'] ?? r['oneOf']) as Schema[] | undefined;
    if (!Array.isArray(union)) return r;
    for (const b of union) {
      const rb = this.resolve(b);
      if (!rb) continue;
      if (want === 'object' && (rb['type'] === 'object' || isObject(rb['properties']) || isObject(rb['patternProperties']))) return rb;
      if (want === 'array' && (rb['type'] === 'array' || isObject(rb['items']))) return rb;
    }
    return undefined;
  }

  property(s: Schema | undefined, key: string): Schema | undefined {
    const r = this.shape(s, 'object');
    if (!r) return undefined;
    const props = r['properties'];
    if (isObject(props) && Object.hasOwn(props, key)) return props[key] as Schema;
    const pattern = r['patternProperties'];
    if (isObject(pattern)) {
      for (const p of Object.keys(pattern)) if (this.regex(p).test(key)) return pattern[p] as Schema;
    }
    const extra = r['additionalProperties'];
    return isObject(extra) ? (extra as Schema) : undefined;
  }

  items(s: Schema | undefined): Schema | undefined {
    const r = this.shape(s, 'array');
    const it = r?.['items'];
    return isObject(it) ? (it as Schema) : undefined;
  }

  /** Patch metadata of a field; the extensions may sit beside a `$ref` or on the target. */
  meta(s: Schema | undefined): { strategies: Set<string>; mergeKey: string | undefined; atomic: boolean } {
    const r = this.resolve(s);
    // A nullable field is a union; its extensions then sit on the list (or map) branch.
    const branch = r && Array.isArray(r['anyOf'] ?? r['oneOf']) ? (this.shape(r, 'array') ?? this.shape(r, 'object')) : undefined;
    const get = (k: string): unknown => s?.[k] ?? r?.[k] ?? branch?.[k];
    const strategy = get('x-kubernetes-patch-strategy');
    const mergeKey = get('x-kubernetes-patch-merge-key');
    return {
      strategies: new Set(typeof strategy === 'string' ? strategy.split(',').map((x) => x.trim()) : []),
      mergeKey: typeof mergeKey === 'string' && mergeKey !== '' ? mergeKey : undefined,
      atomic: get('x-kubernetes-list-type') === 'atomic',
    };
  }

  declaredType(s: Schema | undefined): string | undefined {
    const r = this.resolve(s);
    const t = r?.['type'];
    return typeof t === 'string' ? t : undefined;
  }
}

const child = (path: string, key: string): string => (path ? `${path}.${key}` : key);

function bad(msg: string): BadRequestError {
  return new BadRequestError(msg);
}

/**
 * Applies a strategic merge patch to `original` and returns the result. Neither input is mutated.
 * Malformed patches throw BadRequestError.
 */
export function applyStrategicMergePatch(original: unknown, patch: unknown, schema: Schema | undefined, opts: StrategicOptions = {}): JsonObject {
  if (!isObject(patch)) throw bad(`json: cannot unmarshal ${jsonKind(patch)} into Go value of type map[string]interface {}`);
  const w = new Walker(opts.refs ?? {});
  const start = isObject(original) ? cloneJson(original) : {};
  return mergeMap(w, start, patch, schema, '');
}

// `original` is a private copy (or undefined) and is updated in place; `patch` is only read.
function mergeMap(w: Walker, original: JsonObject | undefined, patch: JsonObject, schema: Schema | undefined, path: string): JsonObject {
  if (Object.hasOwn(patch, DIRECTIVE)) {
    const d = patch[DIRECTIVE];
    if (d === 'delete') return {};
    if (d === 'replace') {
      const rest = { ...patch };
      delete rest[DIRECTIVE];
      return mergeMap(w, undefined, rest, schema, path);
    }
    if (d !== 'merge') throw bad(`unknown patch type: ${goFormat(d)} in map: ${goFormat(patch)}`);
  }
  const out: JsonObject = original ?? {};

  if (Object.hasOwn(patch, RETAIN_KEYS)) applyRetainKeys(out, patch);

  const orders = new Map<string, unknown[]>();
  const keys: string[] = [];
  for (const k of Object.keys(patch)) {
    if (k === DIRECTIVE || k === RETAIN_KEYS) continue;
    if (k.startsWith(SET_ORDER_PREFIX)) {
      const v = patch[k];
      const name = k.slice(SET_ORDER_PREFIX.length);
      if (!Array.isArray(v) || name === '') throw bad(ERR_SET_ORDER);
      orders.set(name, v);
    } else if (k.startsWith(DELETE_PRIMITIVE_PREFIX)) {
      const v = patch[k];
      const name = k.slice(DELETE_PRIMITIVE_PREFIX.length);
      if (!Array.isArray(v) || name === '' || v.some((x) => x !== null && typeof x === 'object')) throw bad(ERR_PRIMITIVE_LIST);
      // Deletions first, so a value both deleted and re-added in one patch ends up present.
      const cur = out[name];
      if (Array.isArray(cur)) {
        const drop = new Set(v);
        out[name] = cur.filter((x) => !drop.has(x));
      }
    } else {
      keys.push(k);
    }
  }

  for (const k of keys) {
    const pv = patch[k];
    const p = child(path, k);
    if (pv === null) {
      delete out[k];
      continue;
    }
    const fs = w.property(schema, k);
    const declared = w.declaredType(fs);
    const ov = out[k];
    if (Array.isArray(pv)) {
      if (declared === 'object') throw bad(`${p}: expected an object, but the patch has a list`);
      out[k] = mergeList(w, Array.isArray(ov) ? ov : undefined, pv, fs, orders.get(k), p);
      orders.delete(k);
    } else if (isObject(pv)) {
      if (declared === 'array') throw bad(`${p}: expected a list, but the patch has an object`);
      const m = w.meta(fs);
      const objSchema = w.shape(fs, 'object') ?? fs;
      out[k] = m.strategies.has('replace') ? mergeMap(w, undefined, pv, objSchema, p) : mergeMap(w, isObject(ov) ? ov : undefined, pv, objSchema, p);
    } else {
      if (declared === 'array' || declared === 'object') {
        throw bad(`${p}: expected ${declared === 'array' ? 'a list' : 'an object'}, but the patch has a ${jsonKind(pv)}`);
      }
      out[k] = pv;
    }
  }

  // $setElementOrder for a list the patch leaves unchanged: only the order changes.
  for (const [name, order] of orders) {
    const cur = out[name];
    if (!Array.isArray(cur)) continue;
    const fs = w.property(schema, name);
    const m = w.meta(fs);
    if (!m.strategies.has('merge') || m.atomic) continue;
    out[name] = normalizeOrder(cur, [], order, cur, m.mergeKey, child(path, name));
  }
  return out;
}

function applyRetainKeys(out: JsonObject, patch: JsonObject): void {
  const list = patch[RETAIN_KEYS];
  if (!Array.isArray(list)) throw bad(ERR_RETAIN_KEYS);
  const keep = new Set(list);
  // Every field the patch sets must be listed; nulls and directives are exempt, as upstream.
  for (const k of Object.keys(patch)) {
    if (k === DIRECTIVE || k === RETAIN_KEYS || k.startsWith(SET_ORDER_PREFIX) || k.startsWith(DELETE_PRIMITIVE_PREFIX)) continue;
    if (patch[k] !== null && !keep.has(k)) throw bad(ERR_RETAIN_KEYS);
  }
  for (const k of Object.keys(out)) if (!keep.has(k)) delete out[k];
}

function mergeList(w: Walker, original: unknown[] | undefined, patch: unknown[], fs: Schema | undefined, order: unknown[] | undefined, path: string): unknown[] {
  const m = w.meta(fs);
  if (!m.strategies.has('merge') || m.atomic) return cloneJson(patch);

  const hasMaps = patch.some(isObject) || (original ?? []).some(isObject);
  if (patch.some(Array.isArray) || (original ?? []).some(Array.isArray)) throw bad('lists of lists are not supported');

  if (!hasMaps) return mergePrimitiveList(original ?? [], patch, order, path);
  if (m.mergeKey === undefined) {
    // The schema asks to merge maps without saying how to match them; upstream refuses too.
    throw bad(`${path}: cannot merge lists without merge key for type map`);
  }
  return mergeMapList(w, original ?? [], patch, w.items(fs), m.mergeKey, order, path);
}

function mergePrimitiveList(original: unknown[], patch: unknown[], order: unknown[] | undefined, path: string): unknown[] {
  if (patch.some(isObject)) throw bad(`${path}: ${ERR_PRIMITIVE_LIST}`);
  const merged: unknown[] = [];
  const seen = new Set<unknown>();
  for (const v of [...original, ...patch]) {
    if (seen.has(v)) continue;
    seen.add(v);
    merged.push(v);
  }
  return normalizeOrder(merged, patch, order, original, undefined, path);
}

function mergeMapList(w: Walker, original: unknown[], patch: unknown[], items: Schema | undefined, mergeKey: string, order: unknown[] | undefined, path: string): unknown[] {
  let list = original;
  const plain: JsonObject[] = [];
  let replace = false;
  for (const item of patch) {
    if (!isObject(item)) throw bad(`${path}: expected a map[string]interface {}, but received a ${jsonKind(item)}`);
    if (!Object.hasOwn(item, DIRECTIVE)) {
      plain.push(item);
      continue;
    }
    const d = item[DIRECTIVE];
    if (d === 'delete') {
      if (!Object.hasOwn(item, mergeKey)) throw bad(`map: ${goFormat(item)} does not contain declared merge key: ${mergeKey}`);
      const key = item[mergeKey];
      list = list.filter((x) => !(isObject(x) && x[mergeKey] === key));
    } else if (d === 'replace') {
      replace = true;
    } else if (d === 'merge') {
      // `$patch: merge` is the default; an item carrying only the marker adds nothing.
      const rest = { ...item };
      delete rest[DIRECTIVE];
      if (Object.keys(rest).length > 0) plain.push(rest);
    } else {
      throw bad(`unknown patch type: ${goFormat(d)} in map: ${goFormat(item)}`);
    }
  }
  for (const item of plain) {
    if (!Object.hasOwn(item, mergeKey)) throw bad(`map: ${goFormat(item)} does not contain declared merge key: ${mergeKey}`);
  }
  if (replace) return plain.map((item) => mergeMap(w, undefined, item, items, path));

  const merged = [...list];
  for (const item of plain) {
    const key = item[mergeKey];
    const i = merged.findIndex((x) => isObject(x) && x[mergeKey] === key);
    if (i >= 0) merged[i] = mergeMap(w, merged[i] as JsonObject, item, items, path);
    else merged.push(mergeMap(w, undefined, item, items, path));
  }
  return normalizeOrder(merged, plain, order, original, mergeKey, path);
}

/**
 * Upstream's ordering of a merged list: items named by the patch (or by `$setElementOrder`) take
 * that order; items only on the server keep their relative order; the two are interleaved by the
 * items' positions in the live list, a new patch item going before the server-only items that
 * follow it.
 */
function normalizeOrder(merged: unknown[], patch: unknown[], order: unknown[] | undefined, live: unknown[], mergeKey: string | undefined, path: string): unknown[] {
  const id = (v: unknown): unknown => {
    if (mergeKey === undefined) return v;
    if (!isObject(v) || !Object.hasOwn(v, mergeKey)) throw bad(`${path}: ${ERR_SET_ORDER}: map: ${goFormat(v)} does not contain declared merge key: ${mergeKey}`);
    return v[mergeKey];
  };
  const orderList = order ?? patch;
  const rank = new Map<unknown, number>();
  orderList.forEach((v, i) => {
    const k = id(v);
    if (!rank.has(k)) rank.set(k, i);
  });
  const livePos = new Map<unknown, number>();
  live.forEach((v, i) => {
    const k = isObject(v) && mergeKey !== undefined ? v[mergeKey] : v;
    if (!livePos.has(k)) livePos.set(k, i);
  });

  const fromPatch: Array<{ v: unknown; k: unknown }> = [];
  const serverOnly: Array<{ v: unknown; k: unknown }> = [];
  for (const v of merged) {
    const k = mergeKey === undefined ? v : (v as JsonObject)[mergeKey];
    (rank.has(k) ? fromPatch : serverOnly).push({ v, k });
  }
  fromPatch.sort((a, b) => rank.get(a.k)! - rank.get(b.k)!);

  const out: unknown[] = [];
  let i = 0;
  let j = 0;
  while (i < serverOnly.length || j < fromPatch.length) {
    if (j >= fromPatch.length) out.push(serverOnly[i++]!.v);
    else if (i >= serverOnly.length) out.push(fromPatch[j++]!.v);
    else {
      const li = livePos.get(serverOnly[i]!.k);
      const ri = livePos.get(fromPatch[j]!.k);
      if (li !== undefined && ri !== undefined && li < ri) out.push(serverOnly[i++]!.v);
      else out.push(fromPatch[j++]!.v);
    }
  }
  return out;
}
