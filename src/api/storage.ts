// The generic storage of one kind (kube-apiserver's generic registry Store): maps objects to store
// keys, stamps system metadata, runs defaulting, validation and the kind's hooks, guards updates by
// resourceVersion, handles finalizers and graceful deletion, and turns store watch events into
// Kubernetes watch events with label/field filtering.
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { Store, KeyValue, WatchEvent as StoreWatchEvent, Watcher } from '../store/types.js';
import { StoreKeyExistsError, StoreKeyNotFoundError, StoreRevisionMismatchError, StoreCompactedError } from '../store/types.js';
import { WatcherOverflowError } from '../store/watchhub.js';
import {
  AlreadyExistsError,
  BadRequestError,
  ConflictError,
  ExpiredError,
  InvalidError,
  NotFoundError,
  StatusError,
  field,
  type FieldError,
} from '../util/errors.js';
import type { ClusterConfig, KindDef } from '../registry/types.js';
import { apiVersionOf } from '../registry/types.js';
import type { KubeObject, ObjectMeta } from '../registry/kinds/meta.js';
import { validateObjectMeta, validateObjectMetaUpdate } from '../registry/meta-validation.js';
import { StringInterner } from './intern.js';

/** Filters a list or watch: label selector, field selector, already parsed. */
export interface ObjectFilter {
  labels?: { matches(labels: Record<string, string> | undefined): boolean; empty(): boolean };
  fields?: { matches(get: (field: string) => string | undefined): boolean; empty(): boolean };
}

export interface ListOptions extends ObjectFilter {
  limit?: number;
  continueToken?: string;
  /** '' = latest; '0' = any; else a revision. */
  resourceVersion?: string;
  resourceVersionMatch?: 'NotOlderThan' | 'Exact' | '';
}

export interface ListResult<T extends KubeObject> {
  items: T[];
  resourceVersion: string;
  continueToken?: string;
  remainingItemCount?: number;
}

export interface WriteOptions {
  dryRun?: boolean;
  /**
   * The caller hands the object over and only reads (serializes) the result: no defensive copy of
   * the input, and the result becomes the shared decoded object watchers and informers get, so the
   * write's watch event needs no parse. For objects decoded from a request.
   */
  owned?: boolean;
}

export const DELETION_PROPAGATIONS = ['Foreground', 'Background', 'Orphan'] as const;
export type DeletionPropagation = (typeof DELETION_PROPAGATIONS)[number];
/** Finalizers the garbage collector acts on (metav1.FinalizerOrphanDependents, FinalizerDeleteDependents). */
export const FINALIZER_ORPHAN = 'orphan';
export const FINALIZER_FOREGROUND = 'foregroundDeletion';

export interface DeleteOptions extends WriteOptions {
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  /** Orphan and Foreground leave the object with a finalizer the garbage collector removes. */
  propagationPolicy?: DeletionPropagation;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
export interface WatchEvent<T extends KubeObject = KubeObject> {
  type: WatchEventType;
  object: T;
}

/** What happens around a write: allocators hook in here. Each `before*` may mutate the object and returns an undo run if the write fails. */
export interface StorageHooks<T extends KubeObject> {
  beforeCreate?(obj: T): Promise<HookTxn | void>;
  beforeUpdate?(obj: T, old: T): Promise<HookTxn | void>;
  afterDelete?(obj: T): Promise<void>;
}

/** What a hook did before a write: undone if the write fails, committed (e.g. old ports released) if it succeeds. */
export interface HookTxn {
  rollback(): Promise<void>;
  commit(): Promise<void>;
}

/** Decides whether a namespace accepts new objects (exists and is not terminating). */
export type NamespaceGate = (namespace: string) => Promise<void>;

let lastSecond = -1;
let lastStamp = '';

/** RFC 3339 in whole seconds, as kube's metav1.Time. */
export function nowTimestamp(d?: Date): string {
  // Every create stamps the time: format each second once.
  const ms = d ? d.getTime() : Date.now();
  const sec = Math.floor(ms / 1000);
  if (sec === lastSecond) return lastStamp;
  const text = new Date(sec * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  if (!d) {
    lastSecond = sec;
    lastStamp = text;
  }
  return text;
}

const clone = <T>(o: T): T => structuredClone(o);

/** The string values of every kind's shared decoded objects, one copy each (see intern.ts). */
const sharedStrings = new StringInterner();

export class ResourceStorage<T extends KubeObject = KubeObject> {
  readonly prefix: string;
  private readonly apiVersion: string;
  hooks: StorageHooks<T> = {};
  /**
   * Set by the garbage collector for the owner kinds it watches: only then do Orphan and Foreground
   * add their finalizer (kind by kind, so no object waits on a finalizer nobody removes; for other
   * kinds they act as Background).
   */
  gcPropagation = false;
  namespaceGate: NamespaceGate | undefined;

  constructor(
    readonly def: KindDef<T>,
    private readonly store: Store,
    private readonly cfg: ClusterConfig,
  ) {
    this.prefix = `/registry/${def.group ? def.group + '/' : ''}${def.resource}/`;
    this.apiVersion = apiVersionOf(def);
  }

  private q(name: string) {
    return { resource: this.def.resource, group: this.def.group || undefined, name } as const;
  }

  key(namespace: string | undefined, name: string): string {
    return this.def.namespaced ? `${this.prefix}${namespace}/${name}` : `${this.prefix}${name}`;
  }

  /** Prefix for a list: one namespace, or all. */
  listPrefix(namespace: string | undefined): string {
    return this.def.namespaced && namespace ? `${this.prefix}${namespace}/` : this.prefix;
  }

  /**
   * Decoded objects shared by every reader that only reads (lists, watch events, informers): one
   * parse per object version however many watchers there are, and one copy in memory however many
   * in-process informers hold it. Keyed by store key; an entry is replaced by a newer version.
   */
  private readonly shared = new Map<string, T>();

  decodeShared(kv: KeyValue): T {
    const hit = this.shared.get(kv.key);
    if (hit && hit.metadata?.resourceVersion === String(kv.modRevision)) return hit;
    const obj = sharedStrings.internAll(this.decode(kv));
    this.shared.set(kv.key, obj);
    return obj;
  }

  /** The object just written, with the store's revision: no re-parse of what was just encoded. */
  private written(obj: T, kv: KeyValue): T {
    obj.apiVersion = this.apiVersion;
    obj.kind = this.def.kind;
    (obj.metadata ??= {}).resourceVersion = String(kv.modRevision);
    return obj;
  }

  /** The object just written, shared with readers (see WriteOptions.owned). */
  private share(obj: T, kv: KeyValue, opts: WriteOptions): T {
    if (opts.owned) this.shared.set(kv.key, sharedStrings.internAll(obj));
    return obj;
  }

  decode(kv: KeyValue): T {
    const obj = JSON.parse(kv.value) as T;
    obj.apiVersion = this.apiVersion;
    obj.kind = this.def.kind;
    (obj.metadata ??= {}).resourceVersion = String(kv.modRevision);
    return obj;
  }

  private encode(obj: T): string {
    // resourceVersion is the store revision, never stored inside the value.
    const meta = obj.metadata;
    const rv = meta?.resourceVersion;
    if (meta) delete meta.resourceVersion;
    const text = JSON.stringify(obj);
    if (meta && rv !== undefined) meta.resourceVersion = rv;
    return text;
  }

  async get(namespace: string | undefined, name: string): Promise<T> {
    const kv = await this.store.get(this.key(namespace, name));
    if (!kv) throw new NotFoundError(this.q(name));
    return this.decode(kv);
  }

  /** Like get, but the shared decoded object: for readers that never modify it. */
  async getShared(namespace: string | undefined, name: string): Promise<T> {
    const kv = await this.store.get(this.key(namespace, name));
    if (!kv) throw new NotFoundError(this.q(name));
    return this.decodeShared(kv);
  }

  async list(namespace: string | undefined, opts: ListOptions = {}): Promise<ListResult<T>> {
    const prefix = this.listPrefix(namespace);
    let revision = 0;
    let startAfter: string | undefined;
    if (opts.continueToken) {
      const tok = decodeContinue(opts.continueToken);
      revision = tok.rv;
      startAfter = prefix + tok.start;
    } else if (opts.resourceVersion && opts.resourceVersion !== '0' && opts.resourceVersionMatch === 'Exact') {
      revision = parseRV(opts.resourceVersion);
    } else if (opts.resourceVersion && opts.resourceVersion !== '0') {
      await this.waitForRevision(parseRV(opts.resourceVersion));
    }
    const limit = opts.limit && opts.limit > 0 ? opts.limit : 0;
    const items: T[] = [];
    let more = false;
    let lastKey: string | undefined;
    try {
      for (;;) {
        const page = await this.store.list(prefix, { revision, limit: limit ? Math.max(limit - items.length, 1) * (this.hasFilter(opts) ? 4 : 1) : 0, startAfter });
        revision = page.revision;
        for (const kv of page.items) {
          if (limit && items.length >= limit) {
            more = true;
            break;
          }
          lastKey = kv.key;
          const obj = revision && opts.resourceVersionMatch === 'Exact' ? this.decode(kv) : this.decodeShared(kv);
          if (this.matches(obj, opts)) items.push(obj);
        }
        if (more || !page.more) {
          more = more || (page.more && items.length >= limit);
          break;
        }
        if (limit && items.length >= limit) {
          more = true;
          break;
        }
        startAfter = page.items.at(-1)?.key;
      }
    } catch (err) {
      if (err instanceof StoreCompactedError) {
        if (opts.continueToken) {
          throw new ExpiredError(
            'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
          );
        }
        throw new ExpiredError(`The resourceVersion for the provided list is too old.`);
      }
      throw err;
    }
    const result: ListResult<T> = { items, resourceVersion: String(revision) };
    if (more && lastKey) result.continueToken = encodeContinue(revision, lastKey.slice(prefix.length));
    return result;
  }

  private hasFilter(f: ObjectFilter): boolean {
    return Boolean((f.labels && !f.labels.empty()) || (f.fields && !f.fields.empty()));
  }

  matches(obj: T, f: ObjectFilter): boolean {
    if (f.labels && !f.labels.empty() && !f.labels.matches(obj.metadata?.labels)) return false;
    if (f.fields && !f.fields.empty() && !f.fields.matches((path) => this.fieldValue(obj, path))) return false;
    return true;
  }

  fieldValue(obj: T, path: string): string | undefined {
    if (path === 'metadata.name') return obj.metadata?.name ?? '';
    if (path === 'metadata.namespace') return obj.metadata?.namespace ?? '';
    const fn = this.def.fieldSelectors?.[path];
    return fn ? (fn(obj) ?? '') : undefined;
  }

  /** Field selector paths this kind supports. */
  supportedFields(): string[] {
    return ['metadata.name', 'metadata.namespace', ...Object.keys(this.def.fieldSelectors ?? {})];
  }

  private async waitForRevision(rv: number): Promise<void> {
    // kube-apiserver waits up to a few seconds for its cache to catch up with a newer revision.
    for (let i = 0; i < 30; i++) {
      if ((await this.store.currentRevision()) >= rv) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    const cur = await this.store.currentRevision();
    throw new StatusError(504, 'Timeout', `Too large resource version: ${rv}, current: ${cur}`, {
      causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
      retryAfterSeconds: 1,
    });
  }

  private validateCreate(obj: T): void {
    const meta = obj.metadata ?? {};
    const errs: FieldError[] = validateObjectMeta(meta, this.def.namespaced, this.def.nameRule);
    if (this.def.validate) errs.push(...this.def.validate(obj, this.cfg));
    if (errs.length) throw new InvalidError(this.def.kind, meta.name ?? meta.generateName ?? '', errs, this.def.group || undefined);
  }

  private validateUpdate(obj: T, old: T): void {
    const meta = obj.metadata ?? {};
    const errs: FieldError[] = validateObjectMetaUpdate(meta, old.metadata ?? {});
    errs.push(...validateObjectMeta(meta, this.def.namespaced, this.def.nameRule));
    if (this.def.validate) errs.push(...this.def.validate(obj, this.cfg));
    if (this.def.validateUpdate) errs.push(...this.def.validateUpdate(obj, old, this.cfg));
    if (errs.length) throw new InvalidError(this.def.kind, meta.name ?? '', errs, this.def.group || undefined);
  }

  /** Normalises the object's identity from the request path (namespace) and checks the kind. */
  private prepareIdentity(namespace: string | undefined, obj: T): ObjectMeta {
    if (obj.apiVersion !== undefined && obj.apiVersion !== this.apiVersion) {
      throw new BadRequestError(`the API version in the data (${obj.apiVersion}) does not match the expected API version (${this.apiVersion})`);
    }
    if (obj.kind !== undefined && obj.kind !== this.def.kind) {
      throw new BadRequestError(`the kind in the data (${obj.kind}) does not match the expected kind (${this.def.kind})`);
    }
    obj.apiVersion = this.apiVersion;
    obj.kind = this.def.kind;
    const meta = (obj.metadata ??= {});
    if (this.def.namespaced) {
      if (meta.namespace && namespace && meta.namespace !== namespace) {
        throw new BadRequestError('the namespace of the provided object does not match the namespace sent on the request');
      }
      meta.namespace = namespace ?? meta.namespace;
    } else {
      delete meta.namespace;
    }
    return meta;
  }

  async create(namespace: string | undefined, input: T, opts: WriteOptions = {}): Promise<T> {
    const obj = opts.owned ? input : clone(input);
    const meta = this.prepareIdentity(namespace, obj);
    if (!meta.name && meta.generateName) meta.name = meta.generateName + randomSuffix();
    this.def.defaults?.(obj, this.cfg);
    this.validateCreate(obj);
    if (this.def.namespaced && this.namespaceGate) await this.namespaceGate(meta.namespace ?? '');
    // System fields: whatever the client sent is replaced.
    meta.uid = randomUUID();
    meta.creationTimestamp = nowTimestamp();
    delete meta.resourceVersion;
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    delete meta.generation;
    if (this.def.generation) meta.generation = 1;
    if (opts.dryRun) {
      if (await this.store.get(this.key(meta.namespace, meta.name!))) throw new AlreadyExistsError(this.q(meta.name!));
      return obj;
    }
    const txn = await this.hooks.beforeCreate?.(obj);
    try {
      const kv = await this.store.create(this.key(meta.namespace, meta.name!), this.encode(obj));
      if (txn) await txn.commit();
      return this.share(this.written(obj, kv), kv, opts);
    } catch (err) {
      if (txn) await txn.rollback();
      if (err instanceof StoreKeyExistsError) throw new AlreadyExistsError(this.q(meta.name!));
      throw err;
    }
  }

  /**
   * Replaces an object. `subresource: 'status'` keeps everything but status; a main-resource write
   * keeps the old status for kinds with a status subresource. `allowCreate` is for kinds that
   * upsert on PUT (Endpoints, Events, Leases).
   */
  async update(namespace: string | undefined, name: string, input: T, opts: WriteOptions & { subresource?: string; allowCreate?: boolean } = {}): Promise<T> {
    const obj = opts.owned ? input : clone(input);
    const meta = this.prepareIdentity(namespace, obj);
    if (meta.name && meta.name !== name) {
      throw new BadRequestError('the name of the object (' + meta.name + ') does not match the name on the URL (' + name + ')');
    }
    meta.name = name;
    const key = this.key(meta.namespace, name);
    const cur = await this.store.get(key);
    if (!cur) {
      if (opts.allowCreate && !opts.subresource) return this.create(namespace, obj, opts);
      throw new NotFoundError(this.q(name));
    }
    const old = this.decode(cur);
    if (meta.resourceVersion && meta.resourceVersion !== old.metadata?.resourceVersion) {
      throw new ConflictError(this.q(name));
    }
    const next = this.mergeForUpdate(obj, old, opts.subresource);
    return this.writeUpdate(next, old, cur.modRevision, opts);
  }

  private mergeForUpdate(obj: T, old: T, subresource?: string): T {
    const hasStatus = this.def.subresources.includes('status');
    let next: T;
    if (subresource === 'status') {
      // A status write changes status only (kube's status strategies also keep metadata).
      next = clone(old);
      if ('status' in obj) (next as KubeObject).status = obj.status;
      else delete (next as KubeObject).status;
    } else {
      next = obj;
      if (hasStatus) {
        if ('status' in old) (next as KubeObject).status = clone(old.status);
        else delete (next as KubeObject).status;
      }
    }
    // System metadata is never taken from the client.
    const m = (next.metadata ??= {});
    const om = old.metadata ?? {};
    m.uid = om.uid;
    m.creationTimestamp = om.creationTimestamp;
    if (om.deletionTimestamp) m.deletionTimestamp = om.deletionTimestamp;
    else delete m.deletionTimestamp;
    if (om.deletionGracePeriodSeconds !== undefined) m.deletionGracePeriodSeconds = om.deletionGracePeriodSeconds;
    else delete m.deletionGracePeriodSeconds;
    if (om.generation !== undefined) m.generation = om.generation;
    return next;
  }

  private async writeUpdate(next: T, old: T, rev: number, opts: WriteOptions): Promise<T> {
    this.def.prepareForUpdate?.(next, old, this.cfg);
    this.def.defaults?.(next, this.cfg);
    this.validateUpdate(next, old);
    const meta = next.metadata!;
    if (this.def.generation && !isDeepStrictEqual((next as KubeObject).spec, (old as KubeObject).spec)) meta.generation = (old.metadata?.generation ?? 0) + 1;
    const key = this.key(meta.namespace, meta.name!);
    // A no-op write returns the stored object untouched, as kube-apiserver does.
    delete meta.resourceVersion;
    const oldText = this.encode(old);
    if (this.encode(next) === oldText) return old;
    if (opts.dryRun) return next;
    // An object being deleted whose last finalizer goes away is deleted now.
    if (meta.deletionTimestamp && !(meta.finalizers?.length) && (meta.deletionGracePeriodSeconds ?? 0) === 0) {
      try {
        const kv = await this.store.delete(key, rev);
        await this.hooks.afterDelete?.(old);
        const gone = this.decode({ ...kv, value: this.encode(next) });
        return gone;
      } catch (err) {
        throw this.mapWriteError(err, meta.name!);
      }
    }
    const txn = await this.hooks.beforeUpdate?.(next, old);
    try {
      const kv = await this.store.update(key, this.encode(next), rev);
      if (txn) await txn.commit();
      return this.share(this.written(next, kv), kv, opts);
    } catch (err) {
      if (txn) await txn.rollback();
      throw this.mapWriteError(err, meta.name!);
    }
  }

  private mapWriteError(err: unknown, name: string): unknown {
    if (err instanceof StoreRevisionMismatchError) return new ConflictError(this.q(name));
    if (err instanceof StoreKeyNotFoundError) return new NotFoundError(this.q(name));
    return err;
  }

  /**
   * Read-modify-write with retries on store conflicts: for PATCH, whose result is computed from the
   * current object. If the mutation pins a resourceVersion, a conflict is returned to the client.
   */
  async guaranteedUpdate(namespace: string | undefined, name: string, mutate: (cur: T) => T | Promise<T>, opts: WriteOptions & { subresource?: string } = {}): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const key = this.key(namespace, name);
      const cur = await this.store.get(key);
      if (!cur) throw new NotFoundError(this.q(name));
      const old = this.decode(cur);
      const mutated = await mutate(clone(old));
      const meta = this.prepareIdentity(namespace, mutated);
      if (meta.name !== name) throw new BadRequestError(`metadata.name: Invalid value: "${meta.name}": field is immutable`);
      if (meta.resourceVersion && meta.resourceVersion !== old.metadata?.resourceVersion) throw new ConflictError(this.q(name));
      const next = this.mergeForUpdate(mutated, old, opts.subresource);
      try {
        return await this.writeUpdate(next, old, cur.modRevision, opts);
      } catch (err) {
        // A pinned resourceVersion was checked above, before the write; a conflict here is another
        // writer between our read and our write, so read again and reapply.
        if (err instanceof ConflictError && attempt < 10) continue;
        throw err;
      }
    }
  }

  /**
   * A write by the system itself (namespace phase, deletion marks): no strategy, no validation,
   * still guarded by revision and retried on conflicts.
   */
  async systemUpdate(namespace: string | undefined, name: string, mutate: (cur: T) => T): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const key = this.key(namespace, name);
      const cur = await this.store.get(key);
      if (!cur) throw new NotFoundError(this.q(name));
      const next = mutate(this.decode(cur));
      try {
        return this.decode(await this.store.update(key, this.encode(next), cur.modRevision));
      } catch (err) {
        if (err instanceof StoreRevisionMismatchError && attempt < 10) continue;
        throw this.mapWriteError(err, name);
      }
    }
  }

  /**
   * Creates or replaces an object the system owns (built-in Endpoints), without validation: used
   * where the system states a fact a user could not write (e.g. a loopback API address).
   */
  async systemPut(namespace: string | undefined, name: string, input: T): Promise<T> {
    const key = this.key(namespace, name);
    const cur = await this.store.get(key);
    const obj = clone(input);
    const meta = this.prepareIdentity(namespace, obj);
    meta.name = name;
    if (!cur) {
      meta.uid = randomUUID();
      meta.creationTimestamp = nowTimestamp();
      try {
        return this.decode(await this.store.create(key, this.encode(obj)));
      } catch (err) {
        if (err instanceof StoreKeyExistsError) throw new AlreadyExistsError(this.q(name));
        throw err;
      }
    }
    const old = this.decode(cur);
    meta.uid = old.metadata?.uid;
    meta.creationTimestamp = old.metadata?.creationTimestamp;
    delete meta.resourceVersion;
    try {
      return this.decode(await this.store.update(key, this.encode(obj), cur.modRevision));
    } catch (err) {
      throw this.mapWriteError(err, name);
    }
  }

  /** Removes the object whatever its finalizers say (the namespace controller's last step). */
  async forceDelete(namespace: string | undefined, name: string): Promise<void> {
    try {
      const obj = this.decode((await this.store.get(this.key(namespace, name))) ?? { key: '', value: '{}', createRevision: 0, modRevision: 0 });
      await this.store.delete(this.key(namespace, name));
      await this.hooks.afterDelete?.(obj);
    } catch (err) {
      if (!(err instanceof StoreKeyNotFoundError)) throw err;
    }
  }

  async delete(namespace: string | undefined, name: string, opts: DeleteOptions = {}): Promise<{ object: T; deleted: boolean }> {
    for (let attempt = 0; ; attempt++) {
      const key = this.key(namespace, name);
      const cur = await this.store.get(key);
      if (!cur) throw new NotFoundError(this.q(name));
      const obj = this.decode(cur);
      const meta = obj.metadata!;
      const pre = opts.preconditions;
      if (pre?.uid && pre.uid !== meta.uid) {
        throw new ConflictError(this.q(name), `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${meta.uid}`);
      }
      if (pre?.resourceVersion && pre.resourceVersion !== meta.resourceVersion) {
        throw new ConflictError(this.q(name), `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${meta.resourceVersion}`);
      }
      const grace = this.gracePeriod(obj, opts.gracePeriodSeconds);
      // Orphan and Foreground hand the rest of the deletion to the garbage collector through a
      // finalizer (kube's deletionFinalizersForGarbageCollection); the other one is dropped, so
      // a second delete can switch the policy.
      const gcFinalizer = !this.gcPropagation ? undefined : opts.propagationPolicy === 'Orphan' ? FINALIZER_ORPHAN : opts.propagationPolicy === 'Foreground' ? FINALIZER_FOREGROUND : undefined;
      let finalizersChanged = false;
      if (gcFinalizer) {
        const other = gcFinalizer === FINALIZER_ORPHAN ? FINALIZER_FOREGROUND : FINALIZER_ORPHAN;
        const before = meta.finalizers ?? [];
        const after = [...before.filter((f) => f !== other && f !== gcFinalizer), gcFinalizer];
        finalizersChanged = after.length !== before.length || after.some((f, i) => f !== before[i]);
        if (finalizersChanged) meta.finalizers = after;
      }
      const pending = (meta.finalizers?.length ?? 0) > 0 || grace > 0;
      if (pending) {
        // Graceful: mark deletionTimestamp; whoever owns the finalizer or the grace period finishes it.
        if (meta.deletionTimestamp && (meta.deletionGracePeriodSeconds ?? 0) <= grace && !finalizersChanged) return { object: obj, deleted: false };
        if (!meta.deletionTimestamp || (meta.deletionGracePeriodSeconds ?? 0) > grace) {
          meta.deletionTimestamp = nowTimestamp(new Date(Date.now() + grace * 1000));
          meta.deletionGracePeriodSeconds = grace;
        }
        if (opts.dryRun) return { object: obj, deleted: false };
        try {
          const kv = await this.store.update(key, this.encode(obj), cur.modRevision);
          return { object: this.decode(kv), deleted: false };
        } catch (err) {
          if (err instanceof StoreRevisionMismatchError && attempt < 10) continue;
          throw this.mapWriteError(err, name);
        }
      }
      if (opts.dryRun) return { object: obj, deleted: true };
      try {
        const kv = await this.store.delete(key, cur.modRevision);
        await this.hooks.afterDelete?.(obj);
        obj.metadata!.resourceVersion = String(kv.modRevision);
        return { object: obj, deleted: true };
      } catch (err) {
        if (err instanceof StoreRevisionMismatchError && attempt < 10) continue;
        throw this.mapWriteError(err, name);
      }
    }
  }

  /** Grace period for a delete: only Pods bound to a node have one (kube's pod strategy). */
  private gracePeriod(obj: T, requested: number | undefined): number {
    if (this.def.kind !== 'Pod') return 0;
    const spec = (obj as { spec?: { nodeName?: string; terminationGracePeriodSeconds?: number } }).spec;
    const phase = (obj as { status?: { phase?: string } }).status?.phase;
    if (!spec?.nodeName || phase === 'Succeeded' || phase === 'Failed') return 0;
    const g = requested ?? spec.terminationGracePeriodSeconds ?? 30;
    return Math.max(0, g);
  }

  async deleteCollection(namespace: string | undefined, filter: ObjectFilter, opts: DeleteOptions = {}): Promise<T[]> {
    const { items } = await this.list(namespace, filter);
    const out: T[] = [];
    for (const item of items) {
      try {
        out.push((await this.delete(item.metadata?.namespace, item.metadata!.name!, opts)).object);
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
      }
    }
    return out;
  }

  /**
   * Starts a watch. resourceVersion '' or '0': synthetic ADDED events for the current state first
   * (kube's "get state and start at most recent"). Otherwise events after that revision; a
   * compacted one throws ExpiredError with kube's "too old resource version" message.
   */
  async watch(namespace: string | undefined, opts: ObjectFilter & { resourceVersion?: string }, send: (ev: WatchEvent<T>) => void, onError: (err: Error) => void): Promise<{ watcher: Watcher; revision: number }> {
    const prefix = this.listPrefix(namespace);
    let after: number;
    const initial: WatchEvent<T>[] = [];
    if (!opts.resourceVersion || opts.resourceVersion === '0') {
      const page = await this.store.list(prefix);
      after = page.revision;
      for (const kv of page.items) {
        const obj = this.decodeShared(kv);
        if (this.matches(obj, opts)) initial.push({ type: 'ADDED', object: obj });
      }
    } else {
      after = parseRV(opts.resourceVersion);
    }
    for (const ev of initial) send(ev);
    let watcher: Watcher;
    try {
      watcher = await this.store.watch(prefix, {
        afterRevision: after,
        onEvents: (events) => {
          for (const ev of events) {
            const out = this.translate(ev, opts);
            if (out) send(out);
          }
        },
        // A watcher dropped for falling too far behind would only overflow again replaying the same
        // backlog from its last revision: 410 tells informers to relist instead (kube's cacher
        // closes such watchers, and their rewatch from a revision out of its window gets 410 too).
        onError: (err) => onError(err instanceof WatcherOverflowError ? new ExpiredError(err.message) : err),
      });
    } catch (err) {
      if (err instanceof StoreCompactedError) {
        throw new ExpiredError(`too old resource version: ${after} (${err.compacted + 1})`);
      }
      throw err;
    }
    return { watcher, revision: after };
  }

  private translate(ev: StoreWatchEvent, f: ObjectFilter): WatchEvent<T> | undefined {
    if (ev.type === 'DELETE') {
      const obj = this.decodeShared(ev.kv);
      this.shared.delete(ev.kv.key);
      return this.matches(obj, f) ? { type: 'DELETED', object: obj } : undefined;
    }
    const obj = this.decodeShared(ev.kv);
    const nowMatch = this.matches(obj, f);
    if (ev.created || !ev.prevKv) return nowMatch ? { type: 'ADDED', object: obj } : undefined;
    if (!this.hasFilter(f)) return { type: 'MODIFIED', object: obj };
    const prevMatch = this.matches(this.decode(ev.prevKv), f);
    // An object moving into or out of the filter is an add or a delete for this watcher.
    if (prevMatch && nowMatch) return { type: 'MODIFIED', object: obj };
    if (!prevMatch && nowMatch) return { type: 'ADDED', object: obj };
    if (prevMatch && !nowMatch) return { type: 'DELETED', object: obj };
    return undefined;
  }

  async count(namespace?: string): Promise<number> {
    return this.store.count(this.listPrefix(namespace));
  }
}

function parseRV(rv: string): number {
  const n = Number(rv);
  if (!Number.isInteger(n) || n < 0) throw new InvalidError('ListOptions', '', [field.invalid('resourceVersion', rv, 'must be a valid integer')]);
  return n;
}

function encodeContinue(rv: number, start: string): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv, start })).toString('base64url');
}

function decodeContinue(token: string): { rv: number; start: string } {
  try {
    const t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { rv?: unknown; start?: unknown };
    if (typeof t.rv === 'number' && typeof t.start === 'string') return { rv: t.rv, start: t.start };
  } catch {
    // fall through to the error below
  }
  throw new BadRequestError('continue key is not valid: invalid continue token');
}

const ALPHANUM = 'bcdfghjklmnpqrstvwxz2456789';
/** kube's 5-character generateName suffix (no vowels, so no words). */
function randomSuffix(): string {
  let s = '';
  for (let i = 0; i < 5; i++) s += ALPHANUM[Math.floor(Math.random() * ALPHANUM.length)];
  return s;
}
