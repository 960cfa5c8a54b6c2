// The API's view of the registry: one ResourceStorage per kind over one store, the discovery and
// OpenAPI documents, and the namespace rules (content needs a live namespace; deleting a namespace
// is two-phase: Terminating, then gone once its content is).
import type { Store } from '../store/types.js';
import type { ClusterConfig, KindDef } from '../registry/types.js';
import type { KubeObject } from '../registry/kinds/meta.js';
import { kinds as allKinds } from '../registry/index.js';
import { openapiV3 } from '../registry/openapi.js';
import { NotFoundError, StatusError } from '../util/errors.js';
import { ResourceStorage, nowTimestamp } from './storage.js';
import { groupVersions, type GroupVersion } from './discovery.js';

export const SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];
const UNDELETABLE_NAMESPACES = new Set(['default', 'kube-system', 'kube-public']);

interface NamespaceObject extends KubeObject {
  spec?: { finalizers?: string[] };
  status?: { phase?: string };
}

export class ApiRegistry {
  readonly groupVersions: GroupVersion[];
  readonly openapi: ReturnType<typeof openapiV3>;
  private readonly byGVR = new Map<string, ResourceStorage>();
  private readonly byKind = new Map<string, ResourceStorage>();
  /** Kinds whose DELETE is not a plain storage delete (Namespace). */
  readonly deleteHooks = new Map<string, (name: string, opts: { gracePeriodSeconds?: number; dryRun: boolean }) => Promise<KubeObject>>();
  /**
   * Where `pods/log` reads from: the in-process pod runner of `portico up` (undefined: no node of
   * this process runs pods).
   */
  podLogs: ((namespace: string, name: string, container: string | undefined, opts: { follow: boolean; previous: boolean }) => Promise<NodeJS.ReadableStream>) | undefined;
  /** Called when a namespace turns Terminating, so its content can be removed. */
  onNamespaceTerminating: ((name: string) => void) | undefined;

  constructor(
    readonly store: Store,
    readonly cfg: ClusterConfig,
    kinds: KindDef[] = allKinds,
  ) {
    this.groupVersions = groupVersions(kinds);
    this.openapi = openapiV3(kinds);
    for (const def of kinds) {
      const s = new ResourceStorage(def, store, cfg);
      this.byGVR.set(`${def.group}/${def.version}/${def.resource}`, s);
      this.byKind.set(def.kind, s);
    }
    const namespaces = this.byKind.get('Namespace');
    if (namespaces) {
      for (const s of this.byKind.values()) {
        if (s.def.namespaced) s.namespaceGate = (ns) => this.checkNamespace(ns, s.def.kind);
      }
      this.deleteHooks.set('Namespace', (name, opts) => this.deleteNamespace(name, opts.dryRun));
    }
  }

  storage(group: string, version: string, resource: string): ResourceStorage | undefined {
    return this.byGVR.get(`${group}/${version}/${resource}`);
  }

  /** The storage of a kind, typed by the caller. */
  kind<T extends KubeObject>(kind: string): ResourceStorage<T> {
    const s = this.byKind.get(kind);
    if (!s) throw new Error(`kind ${kind} is not registered`);
    return s as unknown as ResourceStorage<T>;
  }

  namespacedStorages(): ResourceStorage[] {
    return [...this.byKind.values()].filter((s) => s.def.namespaced);
  }

  /**
   * Namespaces known to accept content, from a store watch (kube's NamespaceLifecycle admission
   * reads an informer too): every namespaced create asks, and a store read per create cost more
   * than the rest of the check. Anything not known active here (unknown, terminating, or being
   * deleted by this process right now) is read from the store, so the cache only skips reads.
   */
  private activeNamespaces: Map<string, number> | undefined;
  private namespaceWatch: Promise<void> | undefined;
  /** Namespaces whose delete this process is writing: the cache may not have seen it yet. */
  private readonly terminating = new Set<string>();

  private watchNamespaces(): Promise<void> {
    const storage = this.kind<NamespaceObject>('Namespace');
    const active = new Map<string, number>();
    const note = (name: string, rev: number, ns: NamespaceObject | undefined) => {
      if ((active.get(name) ?? 0) > rev) return;
      if (ns && !ns.metadata?.deletionTimestamp && ns.status?.phase !== 'Terminating') active.set(name, rev);
      else {
        active.delete(name);
        this.terminating.delete(name);
      }
    };
    return (async () => {
      const page = await this.store.list(storage.prefix);
      for (const kv of page.items) note(kv.key.slice(storage.prefix.length), kv.modRevision, storage.decodeShared(kv));
      await this.store.watch(storage.prefix, {
        afterRevision: page.revision,
        onEvents: (events) => {
          for (const ev of events) note(ev.kv.key.slice(storage.prefix.length), ev.kv.modRevision, ev.type === 'DELETE' ? undefined : storage.decodeShared(ev.kv));
        },
        // Closed store or a watcher that fell behind: back to store reads (a later create restarts it).
        onError: () => {
          this.activeNamespaces = undefined;
          this.namespaceWatch = undefined;
        },
      });
      this.activeNamespaces = active;
    })().catch(() => {
      this.namespaceWatch = undefined;
    });
  }

  private async checkNamespace(namespace: string, kind: string): Promise<void> {
    this.namespaceWatch ??= this.watchNamespaces();
    if (this.activeNamespaces?.has(namespace) && !this.terminating.has(namespace)) return;
    let ns: NamespaceObject;
    try {
      ns = await this.kind<NamespaceObject>('Namespace').getShared(undefined, namespace);
    } catch (err) {
      if (err instanceof NotFoundError) throw new NotFoundError({ resource: 'namespaces', name: namespace });
      throw err;
    }
    if (ns.metadata?.deletionTimestamp || ns.status?.phase === 'Terminating') {
      throw new StatusError(403, 'Forbidden', `${kind.toLowerCase()}s is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`, {
        causes: [{ reason: 'NamespaceTerminating', message: `namespace ${namespace} is being terminated`, field: 'metadata.namespace' }],
      });
    }
  }

  /** First phase of a namespace delete: mark it Terminating; the namespace controller finishes. */
  private async deleteNamespace(name: string, dryRun: boolean): Promise<KubeObject> {
    if (UNDELETABLE_NAMESPACES.has(name)) {
      throw new StatusError(403, 'Forbidden', `namespaces "${name}" is forbidden: this namespace may not be deleted`, { name, kind: 'namespaces' });
    }
    const nsStorage = this.kind<NamespaceObject>('Namespace');
    const cur = await nsStorage.get(undefined, name);
    if (dryRun) return cur;
    // Until the watch shows this write, creates in the namespace read it from the store.
    this.terminating.add(name);
    let updated: KubeObject;
    try {
      updated = await nsStorage.systemUpdate(undefined, name, (ns) => {
        const meta = (ns.metadata ??= {});
        meta.deletionTimestamp ??= nowTimestamp();
        meta.deletionGracePeriodSeconds ??= 0;
        (ns.status ??= {}).phase = 'Terminating';
        return ns;
      });
    } catch (err) {
      this.terminating.delete(name);
      throw err;
    }
    this.onNamespaceTerminating?.(name);
    return updated;
  }

  /** Creates the namespaces every cluster has from the first start. */
  async ensureSystemNamespaces(): Promise<void> {
    const ns = this.kind<NamespaceObject>('Namespace');
    for (const name of SYSTEM_NAMESPACES) {
      try {
        await ns.get(undefined, name);
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
        await ns.create(undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
      }
    }
  }
}
