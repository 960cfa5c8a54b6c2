// A fake informer: production code, used by unit tests and by tools that replay objects without
// an API server. Tests drive it with set()/remove() and it calls handlers synchronously.
import type { KubeObject } from '../registry/kinds/meta.js';
import { objectKey } from './types.js';
import { InformerCache } from './cache.js';

export class FakeInformer<T extends KubeObject> extends InformerCache<T> {
  constructor(initial: T[] = [], synced = true) {
    super((err) => {
      throw err;
    });
    for (const o of initial) this.cache.set(objectKey(o), o);
    if (synced) this.markSynced();
  }

  /** Adds or replaces an object, notifying handlers as an informer would. */
  set(obj: T): void {
    const key = objectKey(obj);
    const old = this.cache.get(key);
    this.cache.set(key, obj);
    if (old) this.emit('update', obj, old);
    else this.emit('add', obj);
  }

  remove(namespace: string, name: string): void {
    const key = namespace ? `${namespace}/${name}` : name;
    const old = this.cache.get(key);
    if (!old) return;
    this.cache.delete(key);
    this.emit('delete', old);
  }
}
