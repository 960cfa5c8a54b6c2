// Garbage collection by owner references (kube's garbage collector, background propagation): a
// dependent whose owners are all gone (no object with that uid) is deleted. Owners are checked
// with a live read before anything is deleted, so an informer that lags behind a just-created
// owner never costs a dependent. Watches the dependent kinds (EndpointSlice, Endpoints, ReplicaSet,
// Pod by default) and the owner kinds it is told about, so the deletion of a Service removes its
// slices at once, and that of a Deployment its ReplicaSets and then their Pods.
//
// The other two propagation policies arrive as finalizers on an owner being deleted: `orphan` —
// the owner's entry is removed from every dependent's ownerReferences, then the finalizer, so the
// dependents stay; `foregroundDeletion` — the dependents are deleted (owners among them in the
// foreground too), and the finalizer goes once no dependent with blockOwnerDeletion is left.
import type { Logger } from 'pino';
import type { ApiRegistry } from '../api/registry.js';
import type { KubeObject, OwnerReference } from '../registry/kinds/meta.js';
import { ConflictError, NotFoundError } from '../util/errors.js';
import { FINALIZER_FOREGROUND, FINALIZER_ORPHAN } from '../api/storage.js';
import type { SharedInformers } from './informers.js';
import { WorkQueue } from './workqueue.js';

export interface GarbageCollectorOptions {
  /** Kinds whose objects may be owned and are deleted with their owners. */
  dependents?: string[];
  /** Kinds whose deletion is watched to find dependents right away. */
  owners?: string[];
  workers?: number;
}

const depKey = (kind: string, o: KubeObject) => `${kind}|${o.metadata?.namespace ?? ''}|${o.metadata?.name ?? ''}`;
/** Queue key of an owner whose deletion waits on a garbage-collector finalizer. */
const ownerKey = (kind: string, o: KubeObject) => `!${depKey(kind, o)}`;
const gcFinalizing = (o: KubeObject) =>
  Boolean(o.metadata?.deletionTimestamp) && (o.metadata?.finalizers ?? []).some((f) => f === FINALIZER_ORPHAN || f === FINALIZER_FOREGROUND);

export class GarbageCollector {
  private readonly queue: WorkQueue;
  private readonly dependents: string[];
  private readonly ownerKinds: string[];
  /** Owner uid → dependent keys. */
  private readonly byOwner = new Map<string, Set<string>>();
  /** Uid → queue key of owners in foreground deletion: a dependent's deletion wakes them. */
  private readonly foreground = new Map<string, string>();
  private readonly unsubscribe: Array<() => void> = [];
  deleted = 0;

  constructor(
    private readonly registry: ApiRegistry,
    private readonly informers: SharedInformers,
    private readonly log: Logger,
    opts: GarbageCollectorOptions = {},
  ) {
    this.dependents = opts.dependents ?? ['EndpointSlice', 'Endpoints', 'ReplicaSet', 'Pod'];
    this.ownerKinds = opts.owners ?? ['Service', 'Endpoints', 'Deployment', 'ReplicaSet'];
    this.queue = new WorkQueue((k) => this.sync(k), { workers: opts.workers ?? 2, onError: (key, err) => this.log.warn({ err, object: key }, 'garbage collection failed') });
  }

  async start(): Promise<void> {
    for (const kind of this.dependents) {
      const inf = this.informers.get<KubeObject>(kind);
      const index = (o: KubeObject, add: boolean) => {
        for (const ref of o.metadata?.ownerReferences ?? []) {
          let set = this.byOwner.get(ref.uid);
          if (add) {
            if (!set) this.byOwner.set(ref.uid, (set = new Set()));
            set.add(depKey(kind, o));
          } else if (set) {
            set.delete(depKey(kind, o));
            if (set.size === 0) this.byOwner.delete(ref.uid);
          }
        }
      };
      this.unsubscribe.push(
        inf.addHandler({
          onAdd: (o) => {
            index(o, true);
            if (o.metadata?.ownerReferences?.length) this.queue.add(depKey(kind, o));
          },
          onUpdate: (old, o) => {
            index(old, false);
            index(o, true);
            if (JSON.stringify(old.metadata?.ownerReferences ?? []) !== JSON.stringify(o.metadata?.ownerReferences ?? [])) this.queue.add(depKey(kind, o));
          },
          onDelete: (o) => {
            index(o, false);
            for (const ref of o.metadata?.ownerReferences ?? []) {
              const k = this.foreground.get(ref.uid);
              if (k) this.queue.add(k);
            }
          },
        }),
      );
    }
    for (const kind of this.ownerKinds) {
      const storage = this.registry.kind<KubeObject>(kind);
      storage.gcPropagation = true;
      this.unsubscribe.push(() => (storage.gcPropagation = false));
      this.unsubscribe.push(
        this.informers.get<KubeObject>(kind).addHandler({
          onAdd: (o) => {
            if (gcFinalizing(o)) this.queue.add(ownerKey(kind, o));
          },
          onUpdate: (_old, o) => {
            if (gcFinalizing(o)) this.queue.add(ownerKey(kind, o));
          },
          onDelete: (o) => {
            this.foreground.delete(o.metadata?.uid ?? '');
            for (const k of this.byOwner.get(o.metadata?.uid ?? '') ?? []) this.queue.add(k);
          },
        }),
      );
    }
    await Promise.all([...this.dependents, ...this.ownerKinds].map((k) => this.informers.get(k).waitForSync()));
  }

  stop(): void {
    for (const u of this.unsubscribe) u();
    this.queue.stop();
  }

  whenIdle(): Promise<void> {
    return this.queue.whenIdle();
  }

  /** Whether the owner a reference names still exists (same uid), read from the store itself. */
  private async ownerExists(ref: OwnerReference, namespace: string): Promise<boolean> {
    let storage;
    try {
      storage = this.registry.kind<KubeObject>(ref.kind);
    } catch {
      return true; // a kind this server does not serve: cannot tell, so keep the dependent
    }
    try {
      const owner = await storage.getShared(storage.def.namespaced ? namespace : undefined, ref.name);
      return owner.metadata?.uid === ref.uid;
    } catch (err) {
      if (err instanceof NotFoundError) return false;
      throw err;
    }
  }

  /**
   * Whether this process's informer shows the owner with the reference's uid. If it does, the
   * dependent is kept without a live read: should the owner go later, its delete event queues the
   * dependent again. Only an owner the informer does not show costs store reads.
   */
  private ownerCached(ref: OwnerReference, namespace: string): boolean {
    if (!this.ownerKinds.includes(ref.kind) && !this.dependents.includes(ref.kind)) return false;
    const namespaced = this.registry.kind<KubeObject>(ref.kind).def.namespaced;
    return this.informers.get<KubeObject>(ref.kind).get(namespaced ? namespace : '', ref.name)?.metadata?.uid === ref.uid;
  }

  private async sync(key: string): Promise<void> {
    if (key.startsWith('!')) return this.syncOwner(key);
    const [kind = '', ns = '', name = ''] = key.split('|');
    const cached = this.informers.get<KubeObject>(kind).get(ns, name);
    if (cached && (cached.metadata?.ownerReferences ?? []).some((ref) => this.ownerCached(ref, ns))) return;
    const storage = this.registry.kind<KubeObject>(kind);
    let obj: KubeObject;
    try {
      obj = await storage.getShared(ns || undefined, name);
    } catch (err) {
      if (err instanceof NotFoundError) return;
      throw err;
    }
    const refs = obj.metadata?.ownerReferences ?? [];
    if (refs.length === 0) return;
    for (const ref of refs) if (await this.ownerExists(ref, ns)) return;
    try {
      await storage.delete(ns || undefined, name, { preconditions: { uid: obj.metadata?.uid } });
      this.deleted++;
      this.log.debug({ kind, namespace: ns, name }, 'deleted object whose owners are gone');
    } catch (err) {
      if (!(err instanceof NotFoundError) && !(err instanceof ConflictError)) throw err;
    }
  }

  /** The dependents the informers show for an owner uid, fresh from the store (gone ones left out). */
  private async dependentsOf(uid: string): Promise<Array<{ kind: string; obj: KubeObject }>> {
    const out: Array<{ kind: string; obj: KubeObject }> = [];
    for (const key of [...(this.byOwner.get(uid) ?? [])]) {
      const [kind = '', ns = '', name = ''] = key.split('|');
      try {
        const obj = await this.registry.kind<KubeObject>(kind).getShared(ns || undefined, name);
        if ((obj.metadata?.ownerReferences ?? []).some((r) => r.uid === uid)) out.push({ kind, obj });
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
      }
    }
    return out;
  }

  /** Removes one finalizer from the owner; with none left, the storage deletes it. */
  private async dropFinalizer(kind: string, ns: string, name: string, uid: string, finalizer: string): Promise<void> {
    try {
      await this.registry.kind<KubeObject>(kind).guaranteedUpdate(ns || undefined, name, (cur) => {
        if (cur.metadata?.uid !== uid) throw new NotFoundError({ resource: kind, name }); // a new object under the old name
        cur.metadata.finalizers = (cur.metadata.finalizers ?? []).filter((f) => f !== finalizer);
        if (cur.metadata.finalizers.length === 0) delete cur.metadata.finalizers;
        return cur;
      });
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
  }

  /** An owner being deleted with the Orphan or Foreground policy (kube's processDeletingDependentsItem / orphanDependents). */
  private async syncOwner(key: string): Promise<void> {
    const [kind = '', ns = '', name = ''] = key.slice(1).split('|');
    const storage = this.registry.kind<KubeObject>(kind);
    let owner: KubeObject;
    try {
      owner = await storage.getShared(ns || undefined, name);
    } catch (err) {
      if (err instanceof NotFoundError) return;
      throw err;
    }
    const uid = owner.metadata?.uid ?? '';
    const finalizers = owner.metadata?.finalizers ?? [];
    if (!owner.metadata?.deletionTimestamp) return;
    if (finalizers.includes(FINALIZER_ORPHAN)) {
      for (const { kind: dk, obj } of await this.dependentsOf(uid)) {
        try {
          await this.registry.kind<KubeObject>(dk).guaranteedUpdate(obj.metadata?.namespace, obj.metadata!.name!, (cur) => {
            const refs = (cur.metadata?.ownerReferences ?? []).filter((r) => r.uid !== uid);
            if (refs.length) cur.metadata!.ownerReferences = refs;
            else delete cur.metadata!.ownerReferences;
            return cur;
          });
        } catch (err) {
          if (!(err instanceof NotFoundError)) throw err;
        }
      }
      this.log.debug({ kind, namespace: ns, name }, 'orphaned dependents');
      return this.dropFinalizer(kind, ns, name, uid, FINALIZER_ORPHAN);
    }
    if (!finalizers.includes(FINALIZER_FOREGROUND)) return;
    this.foreground.set(uid, key);
    const deps = await this.dependentsOf(uid);
    for (const { kind: dk, obj } of deps) {
      if (obj.metadata?.deletionTimestamp) continue;
      try {
        // Owners among the dependents wait for their own dependents in turn, as kube's
        // collector deletes a dependent whose owners all wait in the foreground.
        const policy = this.ownerKinds.includes(dk) ? 'Foreground' : 'Background';
        await this.registry.kind<KubeObject>(dk).delete(obj.metadata?.namespace, obj.metadata!.name!, { preconditions: { uid: obj.metadata?.uid }, propagationPolicy: policy });
        this.deleted++;
      } catch (err) {
        if (!(err instanceof NotFoundError) && !(err instanceof ConflictError)) throw err;
      }
    }
    const blocking = deps.filter(({ obj }) => (obj.metadata?.ownerReferences ?? []).some((r) => r.uid === uid && r.blockOwnerDeletion));
    // Still there: the deletion events of the blocking dependents queue this owner again.
    if (blocking.length > 0 && (await this.dependentsOf(uid)).some(({ obj }) => (obj.metadata?.ownerReferences ?? []).some((r) => r.uid === uid && r.blockOwnerDeletion))) return;
    this.foreground.delete(uid);
    return this.dropFinalizer(kind, ns, name, uid, FINALIZER_FOREGROUND);
  }
}
