// What the EndpointSlice and mirroring controllers share: a pure reconciler that turns the slices
// an owner has and the endpoints it should have into creates, updates and deletes with few writes
// (endpoints stay in the slice they are in, new ones fill slices that are being written anyway or
// have room, emptied slices are recycled before new ones are created), and a cache of an owner's
// slices that also knows the controller's own writes the informer has not delivered yet, so two
// quick syncs never act on a stale view (kube's EndpointSliceTracker serves the same purpose).
import type { DiscoveryEndpointPort, Endpoint, EndpointSlice } from '../registry/kinds/endpointslice.js';
import type { OwnerReference } from '../registry/kinds/meta.js';
import type { ListWatchInformer } from '../client/informer.js';
import type { ResourceStorage } from '../api/storage.js';
import { AlreadyExistsError, ConflictError, NotFoundError, StatusError } from '../util/errors.js';

export const LABEL_SERVICE_NAME = 'kubernetes.io/service-name';
export const LABEL_MANAGED_BY = 'endpointslice.kubernetes.io/managed-by';
export const LABEL_HEADLESS = 'service.kubernetes.io/headless';
export const LABEL_SKIP_MIRROR = 'endpointslice.kubernetes.io/skip-mirror';
export const ANNOTATION_TRIGGER_TIME = 'endpoints.kubernetes.io/last-change-trigger-time';
export const ANNOTATION_LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
export const MANAGED_BY_SLICES = 'endpointslice-controller.k8s.io';
export const MANAGED_BY_MIRRORING = 'endpointslicemirroring-controller.k8s.io';
export const LABEL_ZONE = 'topology.kubernetes.io/zone';

export type AddressType = 'IPv4' | 'IPv6';

/**
 * JSON with sorted keys: objects read back from the store may order keys differently. Written out
 * by hand (same output as JSON.stringify with a key-sorting replacer): the controllers compare
 * every endpoint of a Service on each sync, and the replacer's per-object copies were their
 * largest cost under churn.
 */
export function canon(v: unknown): string {
  // Like JSON.stringify, undefined (or a function) alone gives undefined, typed loosely as callers never pass it.
  return canonValue(v) as string;
}

/** Keys are few and repeat on every object: quoted once. */
const quotedKeys = new Map<string, string>();

function canonValue(v: unknown): string | undefined {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
      return Number.isFinite(v) ? String(v) : 'null';
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object':
      break;
    default:
      return JSON.stringify(v) as string | undefined;
  }
  if (v === null) return 'null';
  if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return canonValue((v as { toJSON(): unknown }).toJSON());
  if (Array.isArray(v)) {
    let out = '[';
    for (let i = 0; i < v.length; i++) out += (i ? ',' : '') + (canonValue(v[i]) ?? 'null');
    return out + ']';
  }
  const o = v as Record<string, unknown>;
  let out = '{';
  let first = true;
  for (const k of Object.keys(o).sort()) {
    const val = canonValue(o[k]);
    if (val === undefined) continue;
    let q = quotedKeys.get(k);
    if (q === undefined) {
      q = JSON.stringify(k) + ':';
      if (quotedKeys.size < 10_000) quotedKeys.set(k, q);
    }
    out += (first ? '' : ',') + q + val;
    first = false;
  }
  return out + '}';
}

/** Whether JSON keeps a value (undefined, functions and symbols it leaves out). */
const kept = (x: unknown) => x !== undefined && typeof x !== 'function' && typeof x !== 'symbol';

/** Whether two JSON values serialise alike (key order aside), as canon(a) === canon(b), without building strings. */
export function sameJSON(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return canon(a) === canon(b);
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (typeof (a as { toJSON?: unknown }).toJSON === 'function' || typeof (b as { toJSON?: unknown }).toJSON === 'function') return canon(a) === canon(b);
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    if (a.length !== bb.length) return false;
    // In arrays, what JSON leaves out becomes null.
    for (let i = 0; i < a.length; i++) if (!sameJSON(kept(a[i]) ? a[i] : null, kept(bb[i]) ? bb[i] : null)) return false;
    return true;
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  // Members JSON leaves out (undefined, functions) do not count.
  let n = 0;
  for (const k in ao) {
    if (!Object.hasOwn(ao, k) || !kept(ao[k])) continue;
    n++;
    if (!Object.hasOwn(bo, k) || !kept(bo[k]) || !sameJSON(ao[k], bo[k])) return false;
  }
  for (const k in bo) if (Object.hasOwn(bo, k) && kept(bo[k])) n--;
  return n === 0;
}

export function portsKey(ports: DiscoveryEndpointPort[] | undefined): string {
  const norm = (ports ?? []).map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP', appProtocol: p.appProtocol }));
  norm.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : (a.port ?? 0) - (b.port ?? 0) || a.protocol.localeCompare(b.protocol)));
  return canon(norm);
}

export interface DesiredGroup {
  addressType: AddressType;
  ports: DiscoveryEndpointPort[];
  /** Keyed by the endpoint's first address. */
  endpoints: Map<string, Endpoint>;
}

/** The metadata every slice of the owner carries; compared (trigger time aside) to decide a write. */
export interface SliceMeta {
  namespace: string;
  generateName: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  ownerReferences: OwnerReference[];
}

export interface SlicePlan {
  create: EndpointSlice[];
  update: EndpointSlice[];
  delete: EndpointSlice[];
}

const groupKeyOf = (addressType: string, ports: DiscoveryEndpointPort[] | undefined) => `${addressType}|${portsKey(ports)}`;

function metaMatches(s: EndpointSlice, m: SliceMeta): boolean {
  const ann = { ...(s.metadata?.annotations ?? {}) };
  delete ann[ANNOTATION_TRIGGER_TIME];
  const want = { ...m.annotations };
  delete want[ANNOTATION_TRIGGER_TIME];
  return sameJSON(s.metadata?.labels ?? {}, m.labels) && sameJSON(ann, want) && sameJSON(s.metadata?.ownerReferences ?? [], m.ownerReferences);
}

function withMeta(base: EndpointSlice | undefined, m: SliceMeta, addressType: AddressType, ports: DiscoveryEndpointPort[], endpoints: Endpoint[]): EndpointSlice {
  const meta = base ? { ...structuredClone(base.metadata ?? {}) } : { namespace: m.namespace, generateName: m.generateName };
  meta.labels = { ...m.labels };
  meta.annotations = { ...m.annotations };
  if (Object.keys(meta.annotations).length === 0) delete meta.annotations;
  // Owner references and ports hold only scalars: a spread per entry copies them (structuredClone
  // cost ~1 % of the API server's CPU in a burst of Service creates).
  meta.ownerReferences = m.ownerReferences.map((r) => ({ ...r }));
  return { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: meta, addressType, endpoints, ports: ports.map((p) => ({ ...p })) };
}

/**
 * Plans the writes that take `existing` to `desired`. `placeholder` is the address type of the
 * empty slice an owner without endpoints keeps (undefined: no placeholder).
 */
export function planSlices(existing: EndpointSlice[], desired: DesiredGroup[], meta: SliceMeta, maxPerSlice: number, placeholder?: AddressType): SlicePlan {
  const plan: SlicePlan = { create: [], update: [], delete: [] };
  const byGroup = new Map<string, EndpointSlice[]>();
  for (const s of [...existing].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''))) {
    const k = groupKeyOf(s.addressType, s.ports);
    const list = byGroup.get(k);
    if (list) list.push(s);
    else byGroup.set(k, [s]);
  }
  const wanted = new Set(desired.filter((g) => g.endpoints.size > 0).map((g) => groupKeyOf(g.addressType, g.ports)));
  // Slices of groups no longer wanted can be turned into new slices instead of deleted.
  const recyclable: EndpointSlice[] = [];
  for (const [k, list] of byGroup) if (!wanted.has(k)) recyclable.push(...list);

  const total = desired.reduce((n, g) => n + g.endpoints.size, 0);
  for (const g of desired) {
    if (g.endpoints.size === 0) continue;
    const slices = byGroup.get(groupKeyOf(g.addressType, g.ports)) ?? [];
    const placed = new Set<string>();
    const updating: Array<{ base: EndpointSlice; eps: Endpoint[] }> = [];
    const unchanged: Array<{ base: EndpointSlice; eps: Endpoint[] }> = [];
    for (const s of slices) {
      const eps: Endpoint[] = [];
      let changed = !metaMatches(s, meta);
      for (const ep of s.endpoints ?? []) {
        const k = ep.addresses?.[0] ?? '';
        const want = g.endpoints.get(k);
        if (!want || placed.has(k)) {
          changed = true;
          continue;
        }
        placed.add(k);
        if (!sameJSON(ep, want)) changed = true;
        eps.push(want);
      }
      if (eps.length === 0) recyclable.push(s);
      else if (changed || eps.length > maxPerSlice) updating.push({ base: s, eps });
      else unchanged.push({ base: s, eps });
    }
    const remaining = [...g.endpoints.keys()].filter((k) => !placed.has(k)).sort();
    // A slice over the limit (the limit was lowered) gives its surplus to the remaining list.
    for (const u of updating) while (u.eps.length > maxPerSlice) remaining.push(u.eps.pop()!.addresses[0]!);
    let next = 0;
    for (const u of updating) while (u.eps.length < maxPerSlice && next < remaining.length) u.eps.push(g.endpoints.get(remaining[next++]!)!);
    const rest = remaining.length - next;
    if (rest > 0 && rest <= maxPerSlice) {
      // All that is left fits in one slice: the fullest unchanged slice with room takes it (one write either way, fewer slices).
      const fit = unchanged.filter((u) => maxPerSlice - u.eps.length >= rest).sort((a, b) => b.eps.length - a.eps.length)[0];
      if (fit) {
        while (next < remaining.length) fit.eps.push(g.endpoints.get(remaining[next++]!)!);
        unchanged.splice(unchanged.indexOf(fit), 1);
        updating.push(fit);
      }
    }
    for (const u of updating) plan.update.push(withMeta(u.base, meta, g.addressType, g.ports, u.eps));
    while (next < remaining.length) {
      const chunk = remaining.slice(next, next + maxPerSlice).map((k) => g.endpoints.get(k)!);
      next += chunk.length;
      const ri = recyclable.findIndex((r) => r.addressType === g.addressType);
      if (ri >= 0) plan.update.push(withMeta(recyclable.splice(ri, 1)[0], meta, g.addressType, g.ports, chunk));
      else plan.create.push(withMeta(undefined, meta, g.addressType, g.ports, chunk));
    }
  }

  if (total === 0 && placeholder) {
    // Keep one empty slice so readers can tell "no endpoints" from "not synced yet".
    const isPlaceholder = (s: EndpointSlice) => s.addressType === placeholder && (s.endpoints ?? []).length === 0 && (s.ports ?? []).length === 0;
    const keep = recyclable.find((s) => isPlaceholder(s) && metaMatches(s, meta)) ?? recyclable.find(isPlaceholder) ?? recyclable.find((s) => s.addressType === placeholder);
    if (keep) {
      recyclable.splice(recyclable.indexOf(keep), 1);
      if (!isPlaceholder(keep) || !metaMatches(keep, meta)) plan.update.push(withMeta(keep, meta, placeholder, [], []));
    } else {
      plan.create.push(withMeta(undefined, meta, placeholder, [], []));
    }
  }
  plan.delete.push(...recyclable);
  return plan;
}

const rvOf = (o: { metadata?: { resourceVersion?: string } } | undefined) => Number(o?.metadata?.resourceVersion ?? 0);

/**
 * The slices of each owner (`namespace/name` from the service-name label) managed by one
 * controller, merged with that controller's writes the informer has not shown yet.
 */
export class SliceCache {
  private readonly byOwner = new Map<string, Map<string, EndpointSlice>>();
  /** Slice key → the owner it is filed under. */
  private readonly ownerOf = new Map<string, string>();
  /** Owner → keys in `pending` (may hold keys already settled; checked on use). */
  private readonly pendingByOwner = new Map<string, Set<string>>();
  /** Own writes not yet seen through the informer: slice key → object (undefined = deleted). */
  private readonly pending = new Map<string, { obj: EndpointSlice | undefined; rv: number; owner: string }>();

  constructor(
    readonly informer: ListWatchInformer<EndpointSlice>,
    readonly managedBy: string,
    /** Called when someone else changed or removed one of the owner's slices. */
    private readonly onForeignChange: (ownerKey: string) => void,
  ) {
    informer.addHandler({
      onAdd: (s) => this.observe(s, false),
      onUpdate: (_o, s) => this.observe(s, false),
      onDelete: (s) => this.observe(s, true),
    });
  }

  static ownerKeyOf(s: EndpointSlice): string | undefined {
    const name = s.metadata?.labels?.[LABEL_SERVICE_NAME];
    return name ? `${s.metadata?.namespace ?? ''}/${name}` : undefined;
  }

  private ours(s: EndpointSlice): boolean {
    return s.metadata?.labels?.[LABEL_MANAGED_BY] === this.managedBy;
  }

  private observe(s: EndpointSlice, deleted: boolean): void {
    const key = `${s.metadata?.namespace}/${s.metadata?.name}`;
    const owner = SliceCache.ownerKeyOf(s);
    const filed = this.ownerOf.get(key);
    // A slice may stop being ours (label edited) or change owner: drop it where it was filed.
    if (filed !== undefined && (deleted || !this.ours(s) || owner !== filed)) {
      const m = this.byOwner.get(filed);
      m?.delete(key);
      if (m?.size === 0) this.byOwner.delete(filed);
      this.ownerOf.delete(key);
      if (!this.pending.has(key)) this.onForeignChange(filed);
    }
    if (!deleted && owner && this.ours(s)) {
      let m = this.byOwner.get(owner);
      if (!m) this.byOwner.set(owner, (m = new Map()));
      m.set(key, s);
      this.ownerOf.set(key, owner);
    }
    const p = this.pending.get(key);
    if (p) {
      const caughtUp = deleted ? p.obj === undefined || rvOf(s) >= p.rv : rvOf(s) >= p.rv;
      if (caughtUp) this.settle(key, p.owner);
      if (caughtUp && (deleted ? p.obj === undefined : rvOf(s) === p.rv)) return;
    }
    if (owner && this.ours(s)) this.onForeignChange(owner);
  }

  /** The owner's slices as the controller last knew them. */
  slicesFor(ownerKey: string): EndpointSlice[] {
    const out = new Map<string, EndpointSlice>(this.byOwner.get(ownerKey) ?? []);
    for (const key of this.pendingByOwner.get(ownerKey) ?? []) {
      const p = this.pending.get(key);
      if (!p) continue;
      const cached = out.get(key);
      if (cached && rvOf(cached) > p.rv) continue;
      if (p.obj) out.set(key, p.obj);
      else out.delete(key);
    }
    return [...out.values()];
  }

  recordWrite(ownerKey: string, s: EndpointSlice): void {
    this.remember(`${s.metadata?.namespace}/${s.metadata?.name}`, { obj: s, rv: rvOf(s), owner: ownerKey });
  }

  recordDelete(ownerKey: string, s: EndpointSlice): void {
    this.remember(`${s.metadata?.namespace}/${s.metadata?.name}`, { obj: undefined, rv: rvOf(s), owner: ownerKey });
  }

  private remember(key: string, p: { obj: EndpointSlice | undefined; rv: number; owner: string }): void {
    this.pending.set(key, p);
    let set = this.pendingByOwner.get(p.owner);
    if (!set) this.pendingByOwner.set(p.owner, (set = new Set()));
    set.add(key);
  }

  private settle(key: string, owner: string): void {
    this.pending.delete(key);
    const set = this.pendingByOwner.get(owner);
    set?.delete(key);
    if (set?.size === 0) this.pendingByOwner.delete(owner);
  }
}

/** A create refused because the namespace is going away: nothing to retry. */
export function isNamespaceTerminating(err: unknown): boolean {
  return err instanceof StatusError && err.code === 403 && (err.details?.causes ?? []).some((c) => c.reason === 'NamespaceTerminating');
}

// ---- what the Endpoints, EndpointSlice and mirroring controllers' sync loops share ----

/** Counters for tests and benchmarks. */
export interface WriteCounts {
  creates: number;
  updates: number;
  deletes: number;
}

/** A queue key `namespace/name` as [namespace, name]. */
export function splitKey(key: string): [string, string] {
  const slash = key.indexOf('/');
  return [key.slice(0, slash), key.slice(slash + 1)];
}

/** When the first change not yet synced was seen, per key (the trigger-time annotation). */
export class TriggerTimes {
  private readonly times = new Map<string, Date>();

  /** Notes a change to `key` now, unless an earlier one is still waiting for a sync. */
  note(key: string): void {
    if (!this.times.has(key)) this.times.set(key, new Date());
  }

  /** The time of the first change since the last sync of `key`, forgetting it. */
  take(key: string): Date | undefined {
    const t = this.times.get(key);
    this.times.delete(key);
    return t;
  }
}

/** What writing an owner's slices needs: the storage, the controller's cache and counters, and a way to sync the owner again. */
export interface SliceWriter {
  storage: ResourceStorage<EndpointSlice>;
  cache: SliceCache;
  writes: WriteCounts;
  requeue: (ownerKey: string) => void;
}

/**
 * Writes the updates and creates of a plan, then its deletes. A slice gone under an update
 * requeues the owner (the informer will tell); a create in a terminating namespace stops the
 * whole write quietly; a name clash on create is a conflict (retried by the queue).
 */
export async function writeSlicePlan(w: SliceWriter, ownerKey: string, ns: string, plan: SlicePlan): Promise<void> {
  for (const s of plan.update) {
    try {
      w.cache.recordWrite(ownerKey, await w.storage.update(ns, s.metadata!.name!, s));
      w.writes.updates++;
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      w.requeue(ownerKey);
    }
  }
  for (const s of plan.create) {
    try {
      // withMeta built the slice's metadata and ports afresh, and creating touches nothing else: handed over, no copy.
      w.cache.recordWrite(ownerKey, await w.storage.create(ns, s, { owned: true }));
      w.writes.creates++;
    } catch (err) {
      if (isNamespaceTerminating(err)) return;
      if (err instanceof AlreadyExistsError) throw new ConflictError({ resource: 'endpointslices', group: 'discovery.k8s.io', name: s.metadata?.generateName ?? '' });
      throw err;
    }
  }
  for (const s of plan.delete) await removeSlice(w, ownerKey, s);
}

/** Deletes one slice (if it is still that very slice); already gone or replaced is fine. */
export async function removeSlice(w: SliceWriter, ownerKey: string, s: EndpointSlice): Promise<void> {
  try {
    await w.storage.delete(s.metadata?.namespace, s.metadata!.name!, { preconditions: { uid: s.metadata?.uid } });
    w.writes.deletes++;
  } catch (err) {
    if (!(err instanceof NotFoundError) && !(err instanceof ConflictError)) throw err;
  }
  w.cache.recordDelete(ownerKey, s);
}
