// The OpenAPI v3 documents kubectl reads: `/openapi/v3` (an index of group-versions) and one
// document per group-version with the resources' paths and the kinds' schemas. kubectl uses them
// to (a) see that PATCH takes `fieldValidation`, leaving validation to the server, and (b) print
// field docs for `kubectl explain`. Built once from the kinds' TypeBox schemas.
import { createHash } from 'node:crypto';
import type { TSchema } from '@sinclair/typebox';
import { ListMeta } from './kinds/meta.js';
import { Scale } from './kinds/scale.js';
import type { KindDef } from './types.js';

type Json = Record<string, unknown>;

const REF = '#/components/schemas/';

const INT_OR_STRING = 'io.k8s.apimachinery.pkg.util.intstr.IntOrString';
const intOrStringSchema: Json = {
  type: 'string',
  format: 'int-or-string',
  description: 'IntOrString holds either an int32 or a string; a number in JSON is the int, a quoted value the string.',
};

/** Schemas every document refers to besides the kinds'. */
const metaSchemas: Record<string, Json> = {
  'io.k8s.apimachinery.pkg.apis.meta.v1.Patch': {
    type: 'object',
    description: 'Patch is the body of a PATCH request: a JSON patch, a merge patch, a strategic merge patch or an apply configuration.',
  },
  'io.k8s.apimachinery.pkg.apis.meta.v1.Status': {
    type: 'object',
    description: 'Status is the result of an operation that returns no object, such as a failure or a delete.',
    properties: {
      apiVersion: { type: 'string', description: 'APIVersion of this representation.' },
      kind: { type: 'string', description: 'Kind of this representation.' },
      code: { type: 'integer', format: 'int32', description: 'HTTP status code of the operation.' },
      message: { type: 'string', description: 'A human-readable description of the status.' },
      reason: { type: 'string', description: 'A machine-readable, CamelCase reason for a failure.' },
      status: { type: 'string', description: 'Success or Failure.' },
      details: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true, description: 'Extra data about the failure.' },
    },
    'x-kubernetes-group-version-kind': [{ group: '', version: 'v1', kind: 'Status' }],
  },
  'io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions': {
    type: 'object',
    description: 'DeleteOptions may be given when deleting an object.',
    properties: {
      apiVersion: { type: 'string', description: 'APIVersion of this representation.' },
      kind: { type: 'string', description: 'Kind of this representation.' },
      dryRun: { type: 'array', items: { type: 'string' }, description: 'When present, the deletion is not persisted. Valid value: All.' },
      gracePeriodSeconds: { type: 'integer', format: 'int64', description: 'Seconds before the object is deleted; 0 deletes at once.' },
      preconditions: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true, description: 'Must hold for the deletion to go ahead (uid, resourceVersion).' },
      propagationPolicy: { type: 'string', description: 'Orphan, Background or Foreground garbage collection of dependents.' },
      orphanDependents: { type: 'boolean', description: 'Deprecated: use propagationPolicy.' },
    },
  },
};

/** Converts one TypeBox schema to OpenAPI, moving named sub-schemas (`$id`) into `components`. */
function convert(s: TSchema, components: Map<string, Json>, top: boolean): Json {
  const id = typeof s.$id === 'string' ? s.$id : undefined;
  if (id && !top) {
    if (!components.has(id)) {
      components.set(id, {}); // placeholder first: recursive schemas terminate
      components.set(id, convert(s, components, true));
    }
    return { $ref: REF + id };
  }
  if (s['x-kubernetes-int-or-string'] === true) {
    // Upstream publishes IntOrString as a named schema, which `kubectl explain` shows as <IntOrString>.
    components.set(INT_OR_STRING, intOrStringSchema);
    return { allOf: [{ $ref: REF + INT_OR_STRING }], ...(s.description ? { description: s.description } : {}) };
  }
  if (s.type === undefined && !s.allOf && !s.anyOf && !s.oneOf && !s.$ref) {
    // An untyped schema (TypeBox's Unknown) trips `kubectl explain --recursive`; publish it as
    // upstream publishes such free-form fields.
    return { type: 'object', 'x-kubernetes-preserve-unknown-fields': true, ...(s.description ? { description: s.description } : {}) };
  }
  const out: Json = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === '$id' || (k === 'additionalProperties' && v === false)) continue;
    if (k === 'properties') {
      const props: Json = {};
      for (const [pk, pv] of Object.entries(v as Record<string, TSchema>)) props[pk] = convert(pv, components, false);
      out.properties = props;
    } else if (k === 'patternProperties') {
      // TypeBox writes a string map as patternProperties; OpenAPI (and kubectl) want additionalProperties.
      const first = Object.values(v as Record<string, TSchema>)[0];
      if (first) out.additionalProperties = convert(first, components, false);
    } else if (k === 'items') {
      out.items = convert(v as TSchema, components, false);
    } else if (k === 'allOf' || k === 'anyOf' || k === 'oneOf') {
      out[k] = (v as TSchema[]).map((x) => convert(x, components, false));
    } else if (k === 'additionalProperties' && typeof v === 'object' && v !== null) {
      out.additionalProperties = convert(v as TSchema, components, false);
    } else {
      out[k] = v;
    }
  }
  return out;
}

const q = (name: string, description: string, schema: Json = { type: 'string', uniqueItems: true }): Json => ({ name, in: 'query', description, schema });

const params = {
  pretty: q('pretty', "If 'true', the output is pretty printed."),
  dryRun: q('dryRun', 'When present, modifications are not persisted. Valid value: All.'),
  fieldManager: q('fieldManager', 'A name for the actor making the change, used to track field ownership.'),
  fieldValidation: q('fieldValidation', 'How the server treats unknown and duplicate fields in the request body: Ignore drops them, Warn drops them and returns a Warning header for each, Strict fails the request. Defaults to Warn.'),
  force: q('force', 'Force apply requests to take over fields owned by other managers.', { type: 'boolean', uniqueItems: true }),
  allowWatchBookmarks: q('allowWatchBookmarks', 'Ask for BOOKMARK watch events.', { type: 'boolean', uniqueItems: true }),
  continue: q('continue', 'The continue token of the previous chunk of a list.'),
  fieldSelector: q('fieldSelector', 'Restrict the returned objects by their fields.'),
  labelSelector: q('labelSelector', 'Restrict the returned objects by their labels.'),
  limit: q('limit', 'The most objects to return in one chunk.', { type: 'integer', uniqueItems: true }),
  resourceVersion: q('resourceVersion', 'The resource version the read is served at, or the watch starts after.'),
  resourceVersionMatch: q('resourceVersionMatch', 'How resourceVersion applies to a list: Exact or NotOlderThan.'),
  sendInitialEvents: q('sendInitialEvents', 'Start a watch with the current state as synthetic events.', { type: 'boolean', uniqueItems: true }),
  timeoutSeconds: q('timeoutSeconds', 'Timeout for the list or watch call.', { type: 'integer', uniqueItems: true }),
  watch: q('watch', 'Watch for changes instead of listing.', { type: 'boolean', uniqueItems: true }),
  gracePeriodSeconds: q('gracePeriodSeconds', 'Seconds before the object is deleted.', { type: 'integer', uniqueItems: true }),
  propagationPolicy: q('propagationPolicy', 'Garbage collection of dependents: Orphan, Background or Foreground.'),
  name: (kind: string): Json => ({ name: 'name', in: 'path', description: `name of the ${kind}`, required: true, schema: { type: 'string', uniqueItems: true } }),
  namespace: { name: 'namespace', in: 'path', description: 'object name and auth scope, such as for teams and projects', required: true, schema: { type: 'string', uniqueItems: true } } as Json,
};

const bodyTypes = ['application/json', 'application/yaml'];
const patchTypes = ['application/apply-patch+yaml', 'application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json'];

function content(ref: string, types: string[]): Json {
  return Object.fromEntries(types.map((t) => [t, { schema: { $ref: REF + ref } }]));
}

function respond(ref: string, codes: string[]): Json {
  const r: Json = {};
  for (const c of codes) r[c] = { description: c === '201' ? 'Created' : c === '202' ? 'Accepted' : 'OK', content: content(ref, bodyTypes) };
  r['401'] = { description: 'Unauthorized' };
  return r;
}

/** Go-ish operation ids, e.g. patchCoreV1NamespacedServiceStatus. */
function opId(verb: string, def: KindDef, suffix = '', namespacedWord = def.namespaced): string {
  const group = def.group === '' ? 'Core' : (def.group.split('.')[0] ?? '').replace(/^./, (c) => c.toUpperCase());
  const version = def.version.replace(/^./, (c) => c.toUpperCase());
  return `${verb}${group}${version}${namespacedWord ? 'Namespaced' : ''}${def.kind}${suffix}`;
}

function buildPaths(def: KindDef): Record<string, Json> {
  const gvk = { group: def.group, kind: def.kind, version: def.version };
  const listGvk = { group: def.group, kind: def.listKind, version: def.version };
  const tag = `${def.group === '' ? 'core' : def.group.split('.')[0]}_${def.version}`;
  const kindRef = String(def.schema.$id);
  const listRef = `${kindRef}List`;
  const root = def.group === '' ? `/api/${def.version}` : `/apis/${def.group}/${def.version}`;
  const scope = def.namespaced ? `${root}/namespaces/{namespace}/${def.resource}` : `${root}/${def.resource}`;
  const scopeParams = def.namespaced ? [params.namespace, params.pretty] : [params.pretty];
  const ext = (action: string, g: Json = gvk) => ({ 'x-kubernetes-action': action, 'x-kubernetes-group-version-kind': g });
  const listParams = [params.allowWatchBookmarks, params.continue, params.fieldSelector, params.labelSelector, params.limit, params.resourceVersion, params.resourceVersionMatch, params.sendInitialEvents, params.timeoutSeconds, params.watch];
  const writeParams = [params.dryRun, params.fieldManager, params.fieldValidation];

  // A subresource may answer with another kind (`scale`: autoscaling/v1 Scale).
  const read = (what: string, suffix: string, ref = kindRef, g: Json = gvk): Json => ({
    tags: [tag], description: `read ${what} of the specified ${def.kind}`, operationId: opId('read', def, suffix), responses: respond(ref, ['200']), ...ext('get', g),
  });
  const replace = (what: string, suffix: string, ref = kindRef, g: Json = gvk): Json => ({
    tags: [tag], description: `replace ${what} of the specified ${def.kind}`, operationId: opId('replace', def, suffix), parameters: writeParams,
    requestBody: { content: content(ref, bodyTypes), required: true }, responses: respond(ref, ['200', '201']), ...ext('put', g),
  });
  const patch = (what: string, suffix: string, ref = kindRef, g: Json = gvk): Json => ({
    tags: [tag], description: `partially update ${what} of the specified ${def.kind}`, operationId: opId('patch', def, suffix), parameters: [...writeParams, params.force],
    requestBody: { content: content('io.k8s.apimachinery.pkg.apis.meta.v1.Patch', patchTypes), required: true }, responses: respond(ref, ['200', '201']), ...ext('patch', g),
  });

  const paths: Record<string, Json> = {};
  paths[scope] = {
    get: { tags: [tag], description: `list or watch objects of kind ${def.kind}`, operationId: opId('list', def), parameters: listParams, responses: respond(listRef, ['200']), ...ext('list', listGvk) },
    post: {
      tags: [tag], description: `create a ${def.kind}`, operationId: opId('create', def), parameters: writeParams,
      requestBody: { content: content(kindRef, bodyTypes), required: true }, responses: respond(kindRef, ['200', '201', '202']), ...ext('post'),
    },
    parameters: scopeParams,
  };
  paths[`${scope}/{name}`] = {
    get: read('', ''),
    put: replace('', ''),
    patch: patch('', ''),
    delete: {
      tags: [tag], description: `delete a ${def.kind}`, operationId: opId('delete', def), parameters: [params.dryRun, params.gracePeriodSeconds, params.propagationPolicy],
      requestBody: { content: content('io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions', ['application/json', 'application/yaml']) },
      responses: respond(kindRef, ['200', '202']), ...ext('delete'),
    },
    parameters: [params.name(def.kind), ...scopeParams],
  };
  if (def.subresources.includes('status')) {
    paths[`${scope}/{name}/status`] = {
      get: read('status', 'Status'),
      put: replace('status', 'Status'),
      patch: patch('status', 'Status'),
      parameters: [params.name(def.kind), ...scopeParams],
    };
  }
  if (def.subresources.includes('scale')) {
    const ref = String(Scale.$id);
    const g = { group: 'autoscaling', kind: 'Scale', version: 'v1' };
    paths[`${scope}/{name}/scale`] = {
      get: read('scale', 'Scale', ref, g),
      put: replace('scale', 'Scale', ref, g),
      patch: patch('scale', 'Scale', ref, g),
      parameters: [params.name('Scale'), ...scopeParams],
    };
  }
  if (def.namespaced) {
    paths[`${root}/${def.resource}`] = {
      get: {
        tags: [tag], description: `list or watch objects of kind ${def.kind} in all namespaces`, operationId: opId('list', def, 'ForAllNamespaces', false),
        parameters: listParams, responses: respond(listRef, ['200']), ...ext('list', listGvk),
      },
      parameters: [params.pretty],
    };
  }
  return paths;
}

/** The group-version key used in `/openapi/v3/<key>`: `api/v1` or `apis/<group>/<version>`. */
export function openapiKey(def: Pick<KindDef, 'group' | 'version'>): string {
  return def.group === '' ? `api/${def.version}` : `apis/${def.group}/${def.version}`;
}

/** The listKind schema of a kind, found under `<kind $id>List` among the converted components. */
function listSchemaFor(def: KindDef, components: Map<string, Json>): void {
  const id = `${String(def.schema.$id)}List`;
  if (components.has(id)) return;
  components.set(id, {
    type: 'object',
    description: `${def.listKind} is a list of ${def.kind} objects.`,
    required: ['items'],
    properties: {
      apiVersion: { type: 'string', description: 'APIVersion defines the versioned schema of this representation of an object.' },
      kind: { type: 'string', description: 'Kind is a string value representing the REST resource this object represents.' },
      metadata: { allOf: [{ $ref: `${REF}io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta` }], description: 'Standard list metadata.' },
      items: { type: 'array', description: `The list of ${def.kind} objects.`, items: { $ref: REF + String(def.schema.$id) } },
    },
    'x-kubernetes-group-version-kind': [{ group: def.group, version: def.version, kind: def.listKind }],
  });
}

export interface OpenAPIv3 {
  index: { paths: Record<string, { serverRelativeURL: string }> };
  docs: Map<string, { body: string; hash: string }>;
}

const cache = new WeakMap<readonly KindDef[], OpenAPIv3>();

/** Builds (once per kinds array) the `/openapi/v3` index and the per-group-version documents. */
export function openapiV3(kinds: readonly KindDef[]): OpenAPIv3 {
  const hit = cache.get(kinds);
  if (hit) return hit;
  const byGV = new Map<string, KindDef[]>();
  for (const k of kinds) {
    const key = openapiKey(k);
    const list = byGV.get(key) ?? [];
    list.push(k);
    byGV.set(key, list);
  }
  const docs = new Map<string, { body: string; hash: string }>();
  const index: OpenAPIv3['index'] = { paths: {} };
  for (const [key, defs] of byGV) {
    const components = new Map<string, Json>();
    for (const [id, s] of Object.entries(metaSchemas)) components.set(id, s);
    const paths: Record<string, Json> = {};
    for (const def of defs) {
      convert(def.schema, components, false);
      if (def.subresources.includes('scale')) convert(Scale, components, false);
      listSchemaFor(def, components);
      Object.assign(paths, buildPaths(def));
    }
    // ListMeta is referenced by the list schemas built above.
    convert(ListMeta, components, false);
    const schemas = Object.fromEntries([...components.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    const doc = {
      openapi: '3.0.0',
      info: { title: 'Kubernetes', version: 'v1.32.0' },
      paths,
      components: { schemas },
    };
    const body = JSON.stringify(doc);
    const hash = createHash('sha512').update(body).digest('hex').toUpperCase();
    docs.set(key, { body, hash });
    index.paths[key] = { serverRelativeURL: `/openapi/v3/${key}?hash=${hash}` };
  }
  const out = { index, docs };
  cache.set(kinds, out);
  return out;
}

