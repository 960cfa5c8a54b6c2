// The HTTPS front of the control plane: authentication, routing of Kubernetes REST paths to each
// kind's storage, content negotiation, watch streaming, discovery and OpenAPI. Handlers never throw
// past this file: every failure becomes a Kubernetes Status.
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import {
  BadRequestError,
  InvalidError,
  MethodNotAllowedError,
  NotAcceptableError,
  NotFoundError,
  RequestEntityTooLargeError,
  StatusError,
  UnauthorizedError,
  UnsupportedMediaTypeError,
  field,
  toStatusError,
  type FieldError,
} from '../util/errors.js';
import type { KindDef } from '../registry/types.js';
import type { KubeObject } from '../registry/kinds/meta.js';
import { decodeBody, pruneAndCheck, type FieldValidation } from '../registry/decode.js';
import { applyPatch } from '../patch/index.js';
import { parseLabelSelector } from '../selectors/labels.js';
import { parseFieldSelector } from '../selectors/fields.js';
import type { ApiRegistry } from './registry.js';
import { DELETION_PROPAGATIONS, type DeleteOptions, type DeletionPropagation, type ObjectFilter, type ResourceStorage, type WatchEvent } from './storage.js';
import { negotiate, type Representation } from './negotiate.js';
import { decodeProtobufObject, PROTOBUF_MEDIA_TYPE } from './protobuf/index.js';
import { toTable, parseIncludeObject, partialMetadata } from './table.js';
import { Scale, scaleKindDef, setScaleReplicas, toScale } from './scale.js';
import { SERVER_VERSION, apiGroupDoc, apiGroupList, apiVersions, aggregated, resourceList, AGGREGATED_CONTENT_TYPE } from './discovery.js';

export const MAX_BODY_BYTES = 3 * 1024 * 1024;

/** JSON text of shared watch objects, computed once per object version. */
const objectJSON = new WeakMap<object, string>();

export interface ApiServerOptions {
  registry: ApiRegistry;
  token: string;
  tls: { cert: string; key: string };
  logger: Logger;
  /** The address clients use, for APIVersions.serverAddressByClientCIDRs. */
  serverAddress: string;
  /** Health of dependencies (store etc.) for /readyz. */
  ready?: () => boolean;
  /** Interval between watch bookmarks (ms). */
  bookmarkIntervalMs?: number;
}

interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  warnings: string[];
}

const PUBLIC_PATHS = new Set(['/healthz', '/livez', '/readyz', '/version']);

export function createApiServer(opts: ApiServerOptions): Server {
  const handler = createApiHandler(opts);
  const server = createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key }, (req, res) => void handler(req, res));
  server.keepAliveTimeout = 65_000;
  return server;
}

export function createApiHandler(opts: ApiServerOptions) {
  const tokenBuf = Buffer.from(opts.token);
  const authorized = (req: IncomingMessage): boolean => {
    const h = req.headers.authorization;
    if (!h || !h.startsWith('Bearer ')) return false;
    const given = Buffer.from(h.slice(7).trim());
    return given.length === tokenBuf.length && timingSafeEqual(given, tokenBuf);
  };
  const log = opts.logger;

  return async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const ctx: Ctx = { req, res, url: new URL(req.url ?? '/', 'https://portico'), warnings: [] };
    try {
      if (!PUBLIC_PATHS.has(ctx.url.pathname) && !authorized(req)) throw new UnauthorizedError();
      await route(ctx, opts);
    } catch (err) {
      const se = toStatusError(err);
      if (se.code >= 500) log.error({ err, method: req.method, path: ctx.url.pathname }, 'request failed');
      if (!res.headersSent) sendStatus(ctx, se);
      else res.destroy();
    } finally {
      if (log.isLevelEnabled('debug')) {
        log.debug({ method: req.method, path: ctx.url.pathname, status: res.statusCode, ms: Number(process.hrtime.bigint() - started) / 1e6 }, 'request');
      }
    }
  };
}

function setWarnings(ctx: Ctx): void {
  if (ctx.warnings.length) ctx.res.setHeader('Warning', ctx.warnings.map((w) => `299 - ${JSON.stringify(w)}`));
}

function sendJSON(ctx: Ctx, code: number, body: unknown, contentType = 'application/json'): void {
  const text = JSON.stringify(body);
  setWarnings(ctx);
  ctx.res.writeHead(code, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-cache, private' });
  ctx.res.end(text);
}

function sendStatus(ctx: Ctx, err: StatusError): void {
  if (err.code === 401) ctx.res.setHeader('WWW-Authenticate', 'Bearer realm="portico"');
  if (err.details?.retryAfterSeconds) ctx.res.setHeader('Retry-After', String(err.details.retryAfterSeconds));
  sendJSON(ctx, err.code, err.toStatus());
}

function sendText(ctx: Ctx, code: number, text: string): void {
  ctx.res.writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  ctx.res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  return (await readBodyBuffer(req)).toString('utf8');
}

/** The raw body: protobuf bodies are binary and must not pass through a UTF-8 decode. */
async function readBodyBuffer(req: IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) {
    req.resume();
    throw new RequestEntityTooLargeError(MAX_BODY_BYTES);
  }
  // Plain 'data'/'end' listeners: an async iterator over the request costs more per request than
  // the rest of reading it. Past the limit the rest is drained (not kept) and 413 goes out.
  if (req.readableEnded) return Buffer.alloc(0);
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err: Error | undefined) => {
      if (done) return;
      done = true;
      if (err) reject(err);
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    };
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > MAX_BODY_BYTES) finish(new RequestEntityTooLargeError(MAX_BODY_BYTES));
      else chunks.push(chunk);
    });
    req.once('end', () => finish(undefined));
    req.once('error', (err) => finish(err));
    // Every request closes once answered: build the Error (a stack trace, ~2 % of a create's CPU)
    // only when the body was still incomplete.
    req.once('close', () => {
      if (!done) finish(new Error('request body incomplete: connection closed'));
    });
  });
}

async function route(ctx: Ctx, opts: ApiServerOptions): Promise<void> {
  const path = ctx.url.pathname.replace(/\/+$/, '') || '/';
  const method = ctx.req.method ?? 'GET';
  const reg = opts.registry;

  switch (path) {
    case '/healthz':
    case '/livez':
      return sendText(ctx, 200, 'ok');
    case '/readyz':
      return opts.ready && !opts.ready() ? sendText(ctx, 500, '[-]store failed: not ready\nreadyz check failed') : sendText(ctx, 200, 'ok');
    case '/version':
      return sendJSON(ctx, 200, SERVER_VERSION);
    case '/api': {
      const rep = negotiate(ctx.req.headers.accept, { discovery: true });
      if (rep?.kind === 'discovery-v2') return sendJSON(ctx, 200, aggregated(reg.groupVersions, true), AGGREGATED_CONTENT_TYPE);
      return sendJSON(ctx, 200, apiVersions(opts.serverAddress));
    }
    case '/apis': {
      const rep = negotiate(ctx.req.headers.accept, { discovery: true });
      if (rep?.kind === 'discovery-v2') return sendJSON(ctx, 200, aggregated(reg.groupVersions, false), AGGREGATED_CONTENT_TYPE);
      return sendJSON(ctx, 200, apiGroupList(reg.groupVersions));
    }
    case '/openapi/v3':
      return sendJSON(ctx, 200, reg.openapi.index);
    case '/openapi/v2':
      // Served only as protobuf upstream; kubectl falls back to v3 and built-in types without it.
      throw new NotFoundError({ resource: 'openapi', name: 'v2' });
    case '/':
      return sendJSON(ctx, 200, { paths: ['/api', '/api/v1', '/apis', ...reg.groupVersions.filter((g) => g.group).map((g) => `/apis/${g.group}/${g.version}`), '/healthz', '/livez', '/openapi/v3', '/readyz', '/version'] });
  }

  if (path.startsWith('/openapi/v3/')) {
    const doc = reg.openapi.docs.get(path.slice('/openapi/v3/'.length));
    if (!doc) throw new NotFoundError({ resource: 'openapi', name: path });
    ctx.res.setHeader('Etag', `"${doc.hash}"`);
    return sendJSON(ctx, 200, JSON.parse(doc.body));
  }

  const segs = path.split('/').filter(Boolean).map(decodeURIComponent);
  let group: string;
  let version: string;
  let rest: string[];
  if (segs[0] === 'api' && segs.length >= 2) {
    group = '';
    version = segs[1]!;
    rest = segs.slice(2);
  } else if (segs[0] === 'apis' && segs.length >= 2) {
    group = segs[1]!;
    if (segs.length === 2) {
      const gv = reg.groupVersions.find((g) => g.group === group);
      if (!gv) throw new NotFoundError({ resource: 'groups', name: group });
      return sendJSON(ctx, 200, apiGroupDoc(gv));
    }
    version = segs[2]!;
    rest = segs.slice(3);
  } else {
    throw new StatusError(404, 'NotFound', 'the server could not find the requested resource');
  }
  const gv = reg.groupVersions.find((g) => g.group === group && g.version === version);
  if (!gv) throw new StatusError(404, 'NotFound', 'the server could not find the requested resource');
  if (rest.length === 0) {
    if (method !== 'GET') throw new MethodNotAllowedError();
    return sendJSON(ctx, 200, resourceList(gv));
  }

  let watchPath = false;
  if (rest[0] === 'watch') {
    watchPath = true;
    rest = rest.slice(1);
  }
  let namespace: string | undefined;
  let resource: string;
  let name: string | undefined;
  let sub: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3 && reg.storage(group, version, rest[2]!)?.def.namespaced) {
    namespace = rest[1];
    resource = rest[2]!;
    name = rest[3];
    sub = rest[4];
    if (rest.length > 5) throw new StatusError(404, 'NotFound', 'the server could not find the requested resource');
  } else {
    resource = rest[0]!;
    name = rest[1];
    sub = rest[2];
    if (rest.length > 3) throw new StatusError(404, 'NotFound', 'the server could not find the requested resource');
  }
  const storage = reg.storage(group, version, resource);
  if (!storage) throw new StatusError(404, 'NotFound', 'the server could not find the requested resource');
  if (sub === 'log' && storage.def.kind === 'Pod' && name !== undefined) {
    if (method !== 'GET') throw new MethodNotAllowedError();
    return servePodLogs({ ctx, storage, namespace, name, sub, reg, opts });
  }
  if (sub === 'scale' && storage.def.subresources.includes('scale') && name !== undefined && namespace !== undefined) {
    return serveScale({ ctx, storage, namespace, name, sub, reg, opts }, method);
  }
  if (sub && !storage.def.subresources.includes(sub)) throw new StatusError(404, 'NotFound', 'the server could not find the requested resource');
  if (storage.def.namespaced && name !== undefined && namespace === undefined) {
    throw new StatusError(404, 'NotFound', 'the server could not find the requested resource');
  }

  const watchParam = ctx.url.searchParams.get('watch');
  const wantWatch = watchPath || watchParam === 'true' || watchParam === '1';
  const rc: ResourceCtx = { ctx, storage, namespace, name, sub, reg, opts };

  if (wantWatch) {
    if (method !== 'GET') throw new MethodNotAllowedError();
    return serveWatch(rc);
  }
  if (name === undefined) {
    switch (method) {
      case 'GET':
        return serveList(rc);
      case 'POST':
        return serveCreate(rc);
      case 'DELETE':
        return serveDeleteCollection(rc);
      default:
        throw new MethodNotAllowedError();
    }
  }
  switch (method) {
    case 'GET':
      return serveGet(rc);
    case 'PUT':
      return serveUpdate(rc);
    case 'PATCH':
      return servePatch(rc);
    case 'DELETE':
      if (sub) throw new MethodNotAllowedError();
      return serveDelete(rc);
    case 'POST':
      // POST to an item is how kubectl creates namespaced child objects on some paths; not served.
      throw new MethodNotAllowedError();
    default:
      throw new MethodNotAllowedError();
  }
}

interface ResourceCtx {
  ctx: Ctx;
  storage: ResourceStorage;
  namespace: string | undefined;
  name: string | undefined;
  sub: string | undefined;
  reg: ApiRegistry;
  opts: ApiServerOptions;
}

function representation(rc: ResourceCtx): Representation {
  const rep = negotiate(rc.ctx.req.headers.accept, { table: true, metadata: true });
  if (!rep) throw new NotAcceptableError('only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf');
  return rep;
}

function filterFrom(rc: ResourceCtx): ObjectFilter {
  const p = rc.ctx.url.searchParams;
  const f: ObjectFilter = {};
  const ls = p.get('labelSelector');
  if (ls) f.labels = parseLabelSelector(ls);
  const fs = p.get('fieldSelector');
  if (fs) {
    const sel = parseFieldSelector(fs);
    const supported = rc.storage.supportedFields();
    for (const fld of sel.fields()) {
      if (!supported.includes(fld)) {
        throw new BadRequestError(`field label not supported: ${fld}`);
      }
    }
    f.fields = sel;
  }
  return f;
}

function sendObject(rc: ResourceCtx, code: number, obj: KubeObject): void {
  const rep = representation(rc);
  if (rep.kind === 'table') {
    const include = parseIncludeObject(rc.ctx.url.searchParams.get('includeObject'));
    return sendJSON(rc.ctx, code, toTable(rc.storage.def as KindDef, [obj], { include, resourceVersion: obj.metadata?.resourceVersion }));
  }
  if (rep.kind === 'partial-metadata') return sendJSON(rc.ctx, code, partialMetadata(obj));
  sendJSON(rc.ctx, code, obj);
}

/** `kubectl logs`: the container's log from the pod runner of this process, streamed as text. */
async function servePodLogs(rc: ResourceCtx): Promise<void> {
  const pod = (await rc.storage.get(rc.namespace, rc.name!)) as KubeObject & { spec?: { nodeName?: string } };
  if (!pod.spec?.nodeName) throw new BadRequestError(`pod ${rc.name} does not have a host assigned`);
  const p = rc.ctx.url.searchParams;
  if (!rc.reg.podLogs) throw new StatusError(503, 'ServiceUnavailable', `no log source for node "${pod.spec.nodeName}": this Portico process runs no pods`);
  let stream: NodeJS.ReadableStream;
  try {
    stream = await rc.reg.podLogs(rc.namespace ?? '', rc.name!, p.get('container') ?? undefined, { follow: p.get('follow') === 'true', previous: p.get('previous') === 'true' });
  } catch (err) {
    if ((err as { code?: unknown }).code === 404) throw new BadRequestError((err as Error).message);
    throw err;
  }
  const res = rc.ctx.res;
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' });
  // The response's close (not the request's, which ends once its body is read) says the client went.
  res.once('close', () => (stream as unknown as { destroy?: () => void }).destroy?.());
  stream.pipe(res);
}

async function serveGet(rc: ResourceCtx): Promise<void> {
  const obj = await rc.storage.get(rc.namespace, rc.name!);
  if (rc.sub === 'status' || !rc.sub) return sendObject(rc, 200, obj);
  throw new MethodNotAllowedError();
}

function intParam(p: URLSearchParams, name: string): number | undefined {
  const v = p.get(name);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new BadRequestError(`invalid value for ${name}: ${JSON.stringify(v)}: must be an integer`);
  return n;
}

async function serveList(rc: ResourceCtx): Promise<void> {
  const p = rc.ctx.url.searchParams;
  const rep = representation(rc);
  const rvm = p.get('resourceVersionMatch') ?? '';
  if (rvm && rvm !== 'NotOlderThan' && rvm !== 'Exact') throw new BadRequestError(`resourceVersionMatch: Unsupported value: "${rvm}": supported values: "Exact", "NotOlderThan"`);
  const result = await rc.storage.list(rc.namespace, {
    ...filterFrom(rc),
    limit: intParam(p, 'limit'),
    continueToken: p.get('continue') ?? undefined,
    resourceVersion: p.get('resourceVersion') ?? undefined,
    resourceVersionMatch: rvm as '' | 'Exact' | 'NotOlderThan',
  });
  const def = rc.storage.def as KindDef;
  if (rep.kind === 'table') {
    const include = parseIncludeObject(p.get('includeObject'));
    return sendJSON(rc.ctx, 200, toTable(def, result.items, { include, resourceVersion: result.resourceVersion, continueToken: result.continueToken }));
  }
  const metadata: Record<string, unknown> = { resourceVersion: result.resourceVersion };
  if (result.continueToken) metadata.continue = result.continueToken;
  if (rep.kind === 'partial-metadata') {
    return sendJSON(rc.ctx, 200, { kind: 'PartialObjectMetadataList', apiVersion: 'meta.k8s.io/v1', metadata, items: result.items.map(partialMetadata) });
  }
  const apiVersion = def.group ? `${def.group}/${def.version}` : def.version;
  // Streaming the items avoids one large intermediate string per list of 10,000 objects.
  const res = rc.ctx.res;
  setWarnings(rc.ctx);
  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
  res.write(`{"kind":${JSON.stringify(def.listKind)},"apiVersion":${JSON.stringify(apiVersion)},"metadata":${JSON.stringify(metadata)},"items":[`);
  let buf = '';
  for (let i = 0; i < result.items.length; i++) {
    buf += (i ? ',' : '') + JSON.stringify(result.items[i]);
    if (buf.length > 65536) {
      res.write(buf);
      buf = '';
    }
  }
  res.end(buf + ']}');
}

function fieldValidation(rc: ResourceCtx): FieldValidation {
  const v = rc.ctx.url.searchParams.get('fieldValidation');
  if (v === null || v === '') return 'Warn';
  if (v === 'Strict' || v === 'Warn' || v === 'Ignore') return v;
  throw new BadRequestError(`fieldValidation: Unsupported value: "${v}": supported values: "Ignore", "Strict", "Warn"`);
}

function dryRun(rc: ResourceCtx): boolean {
  const v = rc.ctx.url.searchParams.getAll('dryRun');
  if (v.length === 0) return false;
  for (const d of v) if (d !== 'All') throw new BadRequestError(`dryRun: Unsupported value: "${d}": supported values: "All"`);
  return true;
}

async function decodeRequest(rc: ResourceCtx): Promise<KubeObject> {
  const body = await readBodyBuffer(rc.ctx.req);
  const ct = (rc.ctx.req.headers['content-type'] ?? 'application/json').split(';')[0]!.trim().toLowerCase();
  const def = rc.storage.def as KindDef;
  if (ct === PROTOBUF_MEDIA_TYPE) {
    // The same pruning and type checks as a JSON body, so defaults and validation see one shape.
    const checked = pruneAndCheck(decodeProtobufObject(body, def), def, fieldValidation(rc));
    rc.ctx.warnings.push(...checked.warnings);
    return checked.obj;
  }
  if (ct !== 'application/json' && ct !== 'application/yaml' && ct !== '*/*') throw new UnsupportedMediaTypeError(ct);
  const { obj, warnings } = decodeBody(body.toString('utf8'), ct, def, fieldValidation(rc));
  rc.ctx.warnings.push(...warnings);
  return obj;
}

async function serveCreate(rc: ResourceCtx): Promise<void> {
  const obj = await decodeRequest(rc);
  if (rc.storage.def.namespaced && rc.namespace === undefined) {
    throw new BadRequestError('the server could not find the requested resource (namespace is required to create this object)');
  }
  // The decoded body is ours alone, and the result is only serialized: no copies (WriteOptions.owned).
  const created = await rc.storage.create(rc.namespace, obj, { dryRun: dryRun(rc), owned: true });
  sendObject(rc, 201, created);
}

const UPSERT_KINDS = new Set(['Endpoints', 'Event', 'Lease', 'EndpointSlice']);

async function serveUpdate(rc: ResourceCtx): Promise<void> {
  const obj = await decodeRequest(rc);
  const updated = await rc.storage.update(rc.namespace, rc.name!, obj, {
    dryRun: dryRun(rc),
    subresource: rc.sub,
    allowCreate: UPSERT_KINDS.has(rc.storage.def.kind),
    owned: true,
  });
  sendObject(rc, 200, updated);
}

async function servePatch(rc: ResourceCtx): Promise<void> {
  const ct = (rc.ctx.req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const text = await readBody(rc.ctx.req);
  let patch: unknown;
  if (ct === 'application/apply-patch+yaml') {
    // Server-side apply is not served; 415 makes kubectl fall back to client-side apply.
    throw new UnsupportedMediaTypeError(ct);
  }
  try {
    patch = JSON.parse(text);
  } catch (e) {
    throw new BadRequestError(`error decoding patch: ${(e as Error).message}`);
  }
  const def = rc.storage.def as KindDef;
  const fv = fieldValidation(rc);
  const updated = await rc.storage.guaranteedUpdate(
    rc.namespace,
    rc.name!,
    (cur) => {
      const patched = applyPatch(ct, cur, patch, def.schema) as KubeObject;
      const checked = pruneAndCheck(patched, def, fv);
      for (const w of checked.warnings) if (!rc.ctx.warnings.includes(w)) rc.ctx.warnings.push(w);
      return checked.obj;
    },
    { dryRun: dryRun(rc), subresource: rc.sub, owned: true },
  );
  sendObject(rc, 200, updated);
}

/** The `scale` subresource: an autoscaling/v1 Scale view of spec.replicas (GET, PUT, PATCH). */
async function serveScale(rc: ResourceCtx, method: string): Promise<void> {
  const name = rc.name!;
  if (method === 'GET') return sendJSON(rc.ctx, 200, toScale(await rc.storage.get(rc.namespace, name)));
  const fv = fieldValidation(rc);
  let desired: (cur: KubeObject) => Scale;
  if (method === 'PUT') {
    const ct = (rc.ctx.req.headers['content-type'] ?? 'application/json').split(';')[0]!.trim().toLowerCase();
    if (ct !== 'application/json' && ct !== 'application/yaml' && ct !== '*/*') throw new UnsupportedMediaTypeError(ct);
    const { obj, warnings } = decodeBody(await readBody(rc.ctx.req), ct, scaleKindDef(rc.storage.def), fv);
    rc.ctx.warnings.push(...warnings);
    desired = () => obj as Scale;
  } else if (method === 'PATCH') {
    const ct = (rc.ctx.req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const text = await readBody(rc.ctx.req);
    if (ct === 'application/apply-patch+yaml') throw new UnsupportedMediaTypeError(ct);
    let patch: unknown;
    try {
      patch = JSON.parse(text);
    } catch (e) {
      throw new BadRequestError(`error decoding patch: ${(e as Error).message}`);
    }
    desired = (cur) => pruneAndCheck(applyPatch(ct, toScale(cur), patch, Scale) as KubeObject, Scale, fv).obj as Scale;
  } else {
    throw new MethodNotAllowedError();
  }
  const updated = await rc.storage.guaranteedUpdate(rc.namespace, name, (cur) => setScaleReplicas(cur, desired(cur), name), { dryRun: dryRun(rc) });
  sendJSON(rc.ctx, 200, toScale(updated));
}

async function deleteOptions(rc: ResourceCtx): Promise<DeleteOptions> {
  const text = await readBody(rc.ctx.req);
  let body: { gracePeriodSeconds?: unknown; preconditions?: { uid?: string; resourceVersion?: string }; dryRun?: unknown; propagationPolicy?: unknown; orphanDependents?: unknown } = {};
  if (text.trim()) {
    try {
      body = JSON.parse(text) as typeof body;
    } catch (e) {
      throw new BadRequestError(`error decoding DeleteOptions: ${(e as Error).message}`);
    }
  }
  const p = rc.ctx.url.searchParams;
  const q = intParam(p, 'gracePeriodSeconds');
  const grace = q ?? (typeof body.gracePeriodSeconds === 'number' ? body.gracePeriodSeconds : undefined);
  const dry = dryRun(rc) || (Array.isArray(body.dryRun) && body.dryRun.includes('All'));
  const policyParam = p.get('propagationPolicy');
  const orphanParam = p.get('orphanDependents');
  const policy = policyParam ?? (body.propagationPolicy ?? undefined);
  const orphan = orphanParam !== null ? orphanParam === 'true' : typeof body.orphanDependents === 'boolean' ? body.orphanDependents : undefined;
  return { gracePeriodSeconds: grace, preconditions: body.preconditions, dryRun: dry, propagationPolicy: propagationPolicy(policy, orphan) };
}

/**
 * kube's ValidateDeleteOptions, then the deprecated orphanDependents folded into a policy
 * (true → Orphan, false → Background). Unset stays unset: the default is Background.
 */
export function propagationPolicy(policy: unknown, orphanDependents: boolean | undefined): DeletionPropagation | undefined {
  const errs: FieldError[] = [];
  if (orphanDependents !== undefined && policy !== undefined) errs.push(field.invalid('propagationPolicy', policy, 'orphanDependents and deletionPropagation cannot be both set'));
  if (policy !== undefined && !(DELETION_PROPAGATIONS as readonly unknown[]).includes(policy)) errs.push(field.notSupported('propagationPolicy', policy, [...DELETION_PROPAGATIONS]));
  if (errs.length) throw new InvalidError('DeleteOptions', '', errs, 'meta.k8s.io');
  if (orphanDependents !== undefined) return orphanDependents ? 'Orphan' : 'Background';
  return policy as DeletionPropagation | undefined;
}

async function serveDelete(rc: ResourceCtx): Promise<void> {
  const o = await deleteOptions(rc);
  const hook = rc.reg.deleteHooks.get(rc.storage.def.kind);
  if (hook) {
    const obj = await hook(rc.name!, { ...o, dryRun: o.dryRun ?? false });
    return sendObject(rc, 200, obj);
  }
  const { object } = await rc.storage.delete(rc.namespace, rc.name!, o);
  sendObject(rc, 200, object);
}

async function serveDeleteCollection(rc: ResourceCtx): Promise<void> {
  const o = await deleteOptions(rc);
  const f = filterFrom(rc);
  const items = await rc.storage.deleteCollection(rc.namespace, f, o);
  const def = rc.storage.def as KindDef;
  const apiVersion = def.group ? `${def.group}/${def.version}` : def.version;
  sendJSON(rc.ctx, 200, { kind: def.listKind, apiVersion, metadata: {}, items });
}

async function serveWatch(rc: ResourceCtx): Promise<void> {
  const p = rc.ctx.url.searchParams;
  const rep = representation(rc);
  const filter = filterFrom(rc);
  if (rc.name !== undefined) {
    // A watch on one object is a watch with metadata.name selected.
    const name = rc.name;
    const inner = filter.fields;
    filter.fields = {
      empty: () => false,
      matches: (get) => get('metadata.name') === name && (!inner || inner.matches(get)),
    };
  }
  const timeoutSec = intParam(p, 'timeoutSeconds') ?? 1800 + Math.floor(Math.random() * 1800);
  const bookmarks = p.get('allowWatchBookmarks') === 'true';
  const res = rc.ctx.res;
  const def = rc.storage.def as KindDef;
  const include = parseIncludeObject(p.get('includeObject'));
  let first = true;
  const encode = (ev: WatchEvent): string => {
    let object: unknown = ev.object;
    if (rep.kind === 'object' && ev.type !== 'ERROR' && ev.type !== 'BOOKMARK') {
      // Objects are shared between watchers (storage.decodeShared): serialize each version once.
      let json = objectJSON.get(ev.object);
      if (json === undefined) objectJSON.set(ev.object, (json = JSON.stringify(ev.object)));
      return `{"type":"${ev.type}","object":${json}}\n`;
    }
    if (ev.type !== 'ERROR' && ev.type !== 'BOOKMARK') {
      if (rep.kind === 'table') {
        object = toTable(def, [ev.object], { include, resourceVersion: ev.object.metadata?.resourceVersion, noHeaders: !first });
        first = false;
      } else if (rep.kind === 'partial-metadata') {
        object = partialMetadata(ev.object);
      }
    }
    return JSON.stringify({ type: ev.type, object }) + '\n';
  };

  let lastRV = p.get('resourceVersion') ?? '';
  let closed = false;
  let watcher: { cancel(): void } | undefined;
  const timers: NodeJS.Timeout[] = [];
  const close = () => {
    if (closed) return;
    closed = true;
    watcher?.cancel();
    for (const t of timers) clearTimeout(t);
    res.end();
  };
  res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' });
  res.flushHeaders();
  rc.ctx.req.on('close', close);
  res.on('error', close);

  let corked = false;
  const send = (ev: WatchEvent) => {
    if (closed) return;
    if (ev.object.metadata?.resourceVersion) lastRV = ev.object.metadata.resourceVersion;
    // Events arrive in batches: one TLS record and one write per batch, not per event.
    if (!corked) {
      corked = true;
      res.cork();
      process.nextTick(() => {
        corked = false;
        res.uncork();
      });
    }
    res.write(encode(ev));
  };
  try {
    const started = await rc.storage.watch(rc.namespace, { ...filter, resourceVersion: p.get('resourceVersion') ?? undefined }, send, (err) => {
      if (closed) return;
      res.write(encode({ type: 'ERROR', object: toStatusError(err).toStatus() as unknown as KubeObject }));
      close();
    });
    watcher = started.watcher;
    if (!lastRV || lastRV === '0') lastRV = String(started.revision);
    if (closed) watcher.cancel();
  } catch (err) {
    // Like kube-apiserver, a watch that cannot start reports it as an ERROR event in the stream.
    res.write(encode({ type: 'ERROR', object: toStatusError(err).toStatus() as unknown as KubeObject }));
    return close();
  }
  timers.push(setTimeout(close, timeoutSec * 1000));
  if (bookmarks) {
    const every = rc.opts.bookmarkIntervalMs ?? 60_000;
    const tick = () => {
      if (closed) return;
      const apiVersion = def.group ? `${def.group}/${def.version}` : def.version;
      res.write(JSON.stringify({ type: 'BOOKMARK', object: { kind: def.kind, apiVersion, metadata: { resourceVersion: lastRV } } }) + '\n');
      timers.push(setTimeout(tick, every));
    };
    timers.push(setTimeout(tick, every));
  }
}
