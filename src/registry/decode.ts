// Request bodies → objects, with kube-apiserver's field validation (fieldValidation=Strict|Warn|
// Ignore): duplicate fields, unknown fields and type errors, worded as kube words them.
// Each kind's schema is compiled once into a small tree the walker follows, so decoding costs a
// JSON.parse plus one pass over the object (and one over the text for duplicates).
import type { TSchema } from '@sinclair/typebox';
import { LineCounter, isMap, isSeq, parseDocument, type Node as YamlNode, type Tags } from 'yaml';
import { BadRequestError, UnsupportedMediaTypeError } from '../util/errors.js';
import type { KubeObject } from './kinds/meta.js';
import type { KindDef } from './types.js';

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

// ---- compiled schema ----

type CNode =
  | { t: 'obj'; go: string; props: Map<string, CNode>; map: CNode | undefined }
  | { t: 'arr'; go: string; items: CNode }
  | { t: 'str' }
  | { t: 'int'; go: 'int32' | 'int64' }
  | { t: 'bool' }
  | { t: 'num' }
  /** IntOrString: an integer or a string. */
  | { t: 'ios' }
  /** Quantity: a string or a number. */
  | { t: 'qty' }
  /** Anything goes (preserve-unknown-fields, untyped). */
  | { t: 'any' };

const ANY: CNode = { t: 'any' };
const compiledById = new Map<string, CNode>();
const compiledBySchema = new WeakMap<object, CNode>();

/** Go's type name for an `$id` such as io.k8s.api.core.v1.ServiceSpec: `v1.ServiceSpec`. */
function goTypeName(id: string | undefined): string {
  if (!id) return 'map[string]interface {}';
  const parts = id.split('.');
  return parts.length >= 2 ? `${parts[parts.length - 2]}.${parts[parts.length - 1]}` : id;
}

function goTypeOf(n: CNode): string {
  switch (n.t) {
    case 'obj':
    case 'arr':
      return n.go;
    case 'str':
      return 'string';
    case 'int':
      return n.go;
    case 'bool':
      return 'bool';
    case 'num':
      return 'float64';
    case 'ios':
      return 'intstr.IntOrString';
    case 'qty':
      return 'resource.Quantity';
    case 'any':
      return 'interface {}';
  }
}

function compile(s: TSchema): CNode {
  const cached = compiledBySchema.get(s);
  if (cached) return cached;
  const id = typeof s.$id === 'string' ? s.$id : undefined;
  if (id) {
    const byId = compiledById.get(id);
    if (byId) return byId;
  }
  let node: CNode;
  const allOf = s.allOf as TSchema[] | undefined;
  if (allOf && allOf.length === 1) {
    node = compile(allOf[0]!);
  } else if (s['x-kubernetes-int-or-string'] === true) {
    node = { t: 'ios' };
  } else if (s['x-kubernetes-preserve-unknown-fields'] === true) {
    node = ANY;
  } else if (Array.isArray(s.anyOf) || Array.isArray(s.oneOf)) {
    const types = ((s.anyOf ?? s.oneOf) as TSchema[]).map((x) => x.type);
    node = types.includes('string') && types.includes('number') ? { t: 'qty' } : ANY;
  } else if (s.type === 'object') {
    const obj: CNode = { t: 'obj', go: goTypeName(id), props: new Map(), map: undefined };
    // Register before descending so recursive schemas terminate.
    compiledBySchema.set(s, obj);
    if (id) compiledById.set(id, obj);
    const props = (s.properties ?? {}) as Record<string, TSchema>;
    for (const [k, v] of Object.entries(props)) obj.props.set(k, compile(v));
    const pattern = s.patternProperties as Record<string, TSchema> | undefined;
    const additional = s.additionalProperties as TSchema | boolean | undefined;
    if (pattern) {
      const first = Object.values(pattern)[0];
      obj.map = first ? compile(first) : ANY;
      obj.go = `map[string]${goTypeOf(obj.map)}`;
    } else if (typeof additional === 'object') {
      obj.map = compile(additional);
      obj.go = `map[string]${goTypeOf(obj.map)}`;
    } else if (!s.properties) {
      // An object without declared fields and without a closed shape accepts anything.
      obj.map = ANY;
    }
    return obj;
  } else if (s.type === 'array') {
    const items = s.items ? compile(s.items as TSchema) : ANY;
    node = { t: 'arr', go: `[]${goTypeOf(items)}`, items };
  } else if (s.type === 'string') {
    node = { t: 'str' };
  } else if (s.type === 'integer') {
    node = { t: 'int', go: s.format === 'int32' ? 'int32' : 'int64' };
  } else if (s.type === 'number') {
    node = { t: 'num' };
  } else if (s.type === 'boolean') {
    node = { t: 'bool' };
  } else {
    node = ANY;
  }
  compiledBySchema.set(s, node);
  if (id) compiledById.set(id, node);
  return node;
}

// ---- walking ----

class TypeError_ {
  constructor(readonly message: string) {}
}

interface WalkCtx {
  unknown: string[];
  /** Name of the innermost Go struct and the dotted JSON path, for Go-style type errors. */
}

function jsonTypeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'boolean') return 'bool';
  return typeof v; // string, number, object
}

function typeError(v: unknown, node: CNode, struct: string, goPath: string): TypeError_ {
  let what = jsonTypeOf(v);
  if (typeof v === 'number') what = `number ${String(v)}`;
  const into = struct ? `Go struct field ${struct}.${goPath}` : 'Go value';
  return new TypeError_(`json: cannot unmarshal ${what} into ${into} of type ${goTypeOf(node)}`);
}

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/**
 * Checks `v` against `node`, dropping unknown fields (recorded in ctx.unknown) and null members.
 * `path` is the user-facing path (`spec.ports[0].port`); `goPath` the Go error's (`spec.ports.port`).
 */
function walk(v: unknown, node: CNode, path: string, goPath: string, struct: string, ctx: WalkCtx): void {
  switch (node.t) {
    case 'any':
      return;
    case 'str':
      if (typeof v !== 'string') throw typeError(v, node, struct, goPath);
      return;
    case 'bool':
      if (typeof v !== 'boolean') throw typeError(v, node, struct, goPath);
      return;
    case 'int':
      if (typeof v !== 'number' || !Number.isInteger(v) || (node.go === 'int32' && (v < INT32_MIN || v > INT32_MAX)) || !Number.isSafeInteger(v)) {
        throw typeError(v, node, struct, goPath);
      }
      return;
    case 'num':
      if (typeof v !== 'number') throw typeError(v, node, struct, goPath);
      return;
    case 'ios':
      if (typeof v === 'string') return;
      if (typeof v === 'number' && Number.isInteger(v) && v >= INT32_MIN && v <= INT32_MAX) return;
      throw new TypeError_(`json: cannot unmarshal ${typeof v === 'number' ? `number ${v}` : jsonTypeOf(v)} into Go value of type int32`);
    case 'qty':
      if (typeof v === 'string' || typeof v === 'number') return;
      throw new TypeError_(`quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`);
    case 'arr': {
      if (!Array.isArray(v)) throw typeError(v, node, struct, goPath);
      const items = node.items;
      for (let i = 0; i < v.length; i++) {
        const item: unknown = v[i];
        if (item === null) continue;
        walk(item, items, `${path}[${i}]`, goPath, struct, ctx);
      }
      return;
    }
    case 'obj': {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw typeError(v, node, struct, goPath);
      const o = v as Record<string, unknown>;
      const props = node.props;
      const innerStruct = node.map ? struct : node.go.slice(node.go.indexOf('.') + 1);
      for (const key in o) {
        const child = o[key];
        const sub = props.get(key) ?? node.map;
        if (sub === undefined) {
          ctx.unknown.push(path ? `${path}.${key}` : key);
          delete o[key];
          continue;
        }
        if (child === null) {
          // Go decodes null as the zero value, which the API then omits.
          delete o[key];
          continue;
        }
        const childPath = path ? `${path}.${key}` : key;
        if (node.map && !props.has(key)) walk(child, sub, childPath, goPath, struct, ctx);
        else walk(child, sub, childPath, goPath ? `${goPath}.${key}` : key, innerStruct, ctx);
      }
      return;
    }
  }
}

// ---- duplicate fields ----

/** Scans JSON text (already known to be valid) for keys repeated within one object. */
export function findDuplicateJsonFields(text: string): string[] {
  const dups: string[] = [];
  let i = 0;
  const n = text.length;

  const skipWs = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 32 || c === 10 || c === 13 || c === 9) i++;
      else break;
    }
  };
  // i at the opening quote; returns the raw contents and leaves i after the closing quote.
  const readString = (): string => {
    const start = i + 1;
    let j = start;
    for (;;) {
      const q = text.indexOf('"', j);
      if (q < 0) throw new Error('unterminated string');
      let bs = 0;
      for (let k = q - 1; k >= start && text.charCodeAt(k) === 92; k--) bs++;
      if (bs % 2 === 0) {
        i = q + 1;
        const raw = text.slice(start, q);
        return raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
      }
      j = q + 1;
    }
  };
  const skipScalar = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      // , } ] and whitespace end a number or literal.
      if (c === 44 || c === 125 || c === 93 || c === 32 || c === 10 || c === 13 || c === 9) return;
      i++;
    }
  };
  const value = (path: string): void => {
    skipWs();
    const c = text.charCodeAt(i);
    if (c === 123) {
      i++;
      let keys: string[] | undefined;
      skipWs();
      if (text.charCodeAt(i) === 125) {
        i++;
        return;
      }
      for (;;) {
        skipWs();
        const key = readString();
        const keyPath = path ? `${path}.${key}` : key;
        if (keys === undefined) keys = [key];
        else if (keys.includes(key)) dups.push(keyPath);
        else keys.push(key);
        skipWs();
        i++; // ':'
        value(keyPath);
        skipWs();
        const d = text.charCodeAt(i++);
        if (d === 125) return;
      }
    } else if (c === 91) {
      i++;
      skipWs();
      if (text.charCodeAt(i) === 93) {
        i++;
        return;
      }
      for (let idx = 0; ; idx++) {
        value(`${path}[${idx}]`);
        skipWs();
        const d = text.charCodeAt(i++);
        if (d === 93) return;
      }
    } else if (c === 34) {
      readString();
    } else {
      skipScalar();
    }
  };
  value('');
  return dups;
}

interface YamlDup {
  line: number;
  key: string;
}

function findDuplicateYamlKeys(root: YamlNode | null, lc: LineCounter): YamlDup[] {
  const out: YamlDup[] = [];
  const visit = (n: unknown): void => {
    if (isMap(n)) {
      const seen = new Set<string>();
      for (const pair of n.items) {
        const k = pair.key as { value?: unknown; range?: [number, number, number] } | null;
        const key = k && typeof k === 'object' && 'value' in k ? String(k.value) : String(k);
        if (seen.has(key)) out.push({ key, line: k?.range ? lc.linePos(k.range[0]).line : 0 });
        else seen.add(key);
        visit(pair.value);
      }
    } else if (isSeq(n)) {
      for (const item of n.items) visit(item);
    }
  };
  visit(root);
  return out;
}

// ---- entry points ----

function gvkOf(schema: TSchema): { kind: string; version: string } {
  const g = (schema['x-kubernetes-group-version-kind'] as { kind: string; version: string }[] | undefined)?.[0];
  return g ?? { kind: 'Object', version: 'v1' };
}

function cannotHandle(kind: string, version: string, detail: string): BadRequestError {
  return new BadRequestError(`${kind} in version "${version}" cannot be handled as a ${kind}: ${detail}`);
}

function mediaType(contentType: string): 'json' | 'yaml' {
  const mt = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  if (mt === '' || mt === 'application/json' || mt.endsWith('+json')) return 'json';
  if (mt === 'application/yaml' || mt === 'application/x-yaml' || mt === 'text/yaml' || mt.endsWith('+yaml')) return 'yaml';
  throw new UnsupportedMediaTypeError(contentType);
}

const yamlOptions = {
  uniqueKeys: false,
  // Go's YAML (1.1): yes/no booleans, octal 0755; timestamps stay strings as Kubernetes sees them.
  version: '1.1' as const,
  customTags: (tags: Tags): Tags => tags.filter((t) => typeof t === 'string' || t.tag !== 'tag:yaml.org,2002:timestamp'),
};

/**
 * Decodes a create/update body for `def`. Malformed input, type errors and (with Strict) unknown or
 * duplicate fields are 400s; with Warn they come back as warning texts; unknown fields are dropped
 * unless Strict.
 */
export function decodeBody(text: string, contentType: string, def: KindDef, fieldValidation: FieldValidation): { obj: KubeObject; warnings: string[] } {
  const kind = def.kind;
  const version = def.version;
  const strictErrs: string[] = [];
  let value: unknown;
  if (mediaType(contentType) === 'json') {
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw new BadRequestError(`couldn't get version/kind; json parse error: ${(e as Error).message}`);
    }
    if (fieldValidation !== 'Ignore' && typeof value === 'object' && value !== null) {
      let dups: string[];
      try {
        dups = findDuplicateJsonFields(text);
      } catch {
        // Deeply nested input can exhaust the stack; JSON.parse accepted it, so only skip the check.
        dups = [];
      }
      for (const d of dups) strictErrs.push(`duplicate field "${d}"`);
    }
  } else {
    const lc = new LineCounter();
    const doc = parseDocument(text, { ...yamlOptions, lineCounter: lc });
    const err = doc.errors[0];
    if (err) {
      const line = err.linePos?.[0]?.line;
      const msg = err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      throw new BadRequestError(`error converting YAML to JSON: yaml: ${line !== undefined ? `line ${line}: ` : ''}${msg}`);
    }
    if (fieldValidation !== 'Ignore') {
      const dups = findDuplicateYamlKeys(doc.contents, lc);
      if (dups.length > 0) strictErrs.push(`yaml: unmarshal errors:\n${dups.map((d) => `  line ${d.line}: key ${JSON.stringify(d.key)} already set in map`).join('\n')}`);
    }
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      throw new BadRequestError(`error converting YAML to JSON: yaml: ${(e as Error).message}`);
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BadRequestError(`couldn't get version/kind; json parse error: json: cannot unmarshal ${jsonTypeOf(value)} into Go value of type struct { APIVersion string "json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" }`);
  }
  const res = check(value, def.schema, kind, version, fieldValidation, strictErrs);
  return { obj: value as KubeObject, warnings: res };
}

function check(value: unknown, schema: TSchema, kind: string, version: string, fieldValidation: FieldValidation, strictErrs: string[]): string[] {
  const ctx: WalkCtx = { unknown: [] };
  try {
    walk(value, compile(schema), '', '', '', ctx);
  } catch (e) {
    if (e instanceof TypeError_) throw cannotHandle(kind, version, e.message);
    throw e;
  }
  for (const u of ctx.unknown) strictErrs.push(`unknown field "${u}"`);
  if (fieldValidation === 'Ignore' || strictErrs.length === 0) return [];
  if (fieldValidation === 'Strict') throw cannotHandle(kind, version, `strict decoding error: ${strictErrs.join(', ')}`);
  return strictErrs;
}

/**
 * The same checks on an object already built (e.g. the result of a PATCH): type errors throw,
 * unknown fields are dropped in place and reported per `fieldValidation`.
 */
export function pruneAndCheck(obj: unknown, schemaOrDef: TSchema | KindDef, fieldValidation: FieldValidation = 'Strict'): { obj: KubeObject; warnings: string[] } {
  const schema = 'table' in schemaOrDef && 'schema' in schemaOrDef ? (schemaOrDef as KindDef).schema : (schemaOrDef as TSchema);
  const { kind, version } = gvkOf(schema);
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    throw cannotHandle(kind, version, `json: cannot unmarshal ${jsonTypeOf(obj)} into Go value of type ${goTypeName(schema.$id)}`);
  }
  const warnings = check(obj, schema, kind, version, fieldValidation, []);
  return { obj: obj as KubeObject, warnings };
}
