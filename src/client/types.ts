// The informer contract: a list + watch + local cache of one kind. Everything that reads cluster
// state (controllers, dns, proxy) reads through one of these; the same interface is served by the
// in-process informer, the HTTPS informer (any Kubernetes API server) and the fake for unit tests.
import type { KubeObject } from '../registry/kinds/meta.js';

export interface InformerHandler<T extends KubeObject> {
  onAdd?(obj: T): void;
  /** Only called when resourceVersion changed. */
  onUpdate?(oldObj: T, newObj: T): void;
  onDelete?(obj: T): void;
}

export interface Informer<T extends KubeObject> {
  /** True once the initial list has been loaded into the cache. */
  hasSynced(): boolean;
  /** Resolves once synced (rejects if the signal aborts first). */
  waitForSync(signal?: AbortSignal): Promise<void>;
  /** Every cached object. Objects are shared: treat as read-only. */
  list(): T[];
  /** Cache lookup by namespace ('' for cluster-scoped kinds) and name. */
  get(namespace: string, name: string): T | undefined;
  /** Registers a handler; objects already cached are delivered to it as adds. Returns an unsubscribe function. */
  addHandler(handler: InformerHandler<T>): () => void;
}

/** `namespace/name`, or `name` for cluster-scoped objects: the key every cache and tracker uses. */
export function objectKey(obj: KubeObject): string {
  const ns = obj.metadata?.namespace;
  const name = obj.metadata?.name ?? '';
  return ns ? `${ns}/${name}` : name;
}
