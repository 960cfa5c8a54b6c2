// The cache half of every informer: objects by key, handlers, and the synced latch. The
// list/watch informer and the fake informer both build on it, so they behave the same to readers.
import type { KubeObject } from '../registry/kinds/meta.js';
import type { Informer, InformerHandler } from './types.js';

export class InformerCache<T extends KubeObject> implements Informer<T> {
  protected readonly cache = new Map<string, T>();
  private readonly handlers = new Set<InformerHandler<T>>();
  private synced = false;
  private readonly syncWaiters: Array<() => void> = [];

  constructor(protected readonly onHandlerError: (err: Error) => void = () => {}) {}

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

  /** Calls every handler; one handler's failure neither stops the others nor the informer. */
  protected emit(kind: 'add' | 'update' | 'delete', obj: T, old?: T): void {
    for (const h of this.handlers) {
      try {
        if (kind === 'add') h.onAdd?.(obj);
        else if (kind === 'update') h.onUpdate?.(old!, obj);
        else h.onDelete?.(obj);
      } catch (err) {
        this.onHandlerError(err as Error);
      }
    }
  }
}
