// A fake informer: production code, used by unit tests and by tools that replay objects without
// an API server. Tests drive it with set()/remove() and it calls handlers synchronously.
import type { KubeObject } from '../registry/kinds/meta.js';
import { objectKey, type Informer, type InformerHandler } from './types.js';

export class FakeInformer<T extends KubeObject> implements Informer<T> {
  private readonly cache = new Map<string, T>();
  private readonly handlers = new Set<InformerHandler<T>>();
  private synced = false;
  private readonly syncWaiters: Array<() => void> = [];

  constructor(initial: T[] = [], synced = true) {
    for (const o of initial) this.cache.set(objectKey(o), o);
    if (synced) this.markSynced();
  }

  markSynced(): void {
    if (this.synced) return;
    this.synced = true;
    for (const w of this.syncWaiters.splice(0)) w();
  }

  hasSynced(): boolean {
    return this.synced;
  }

  waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.syncWaiters.push(resolve);
      signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  get(namespace: string, name: string): T | undefined {
    return this.cache.get(namespace ? `${namespace}/${name}` : name);
  }

  addHandler(handler: InformerHandler<T>): () => void {
    this.handlers.add(handler);
    for (const o of this.cache.values()) handler.onAdd?.(o);
    return () => this.handlers.delete(handler);
  }

  /** Adds or replaces an object, notifying handlers as an informer would. */
  set(obj: T): void {
    const key = objectKey(obj);
    const old = this.cache.get(key);
    this.cache.set(key, obj);
    for (const h of this.handlers) {
      if (old) h.onUpdate?.(old, obj);
      else h.onAdd?.(obj);
    }
  }

  remove(namespace: string, name: string): void {
    const key = namespace ? `${namespace}/${name}` : name;
    const old = this.cache.get(key);
    if (!old) return;
    this.cache.delete(key);
    for (const h of this.handlers) h.onDelete?.(old);
  }
}
