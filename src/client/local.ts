// In-process list/watch over the API's own storage: controllers in the server process read through
// informers built on this, so they see exactly what API clients see, without an HTTPS hop.
import type { KubeObject } from '../registry/kinds/meta.js';
import type { ResourceStorage, ObjectFilter } from '../api/storage.js';
import { toStatusError } from '../util/errors.js';
import { ListWatchInformer, type ListWatcher } from './informer.js';

export function localListWatcher<T extends KubeObject>(storage: ResourceStorage<T>, namespace?: string, filter: ObjectFilter = {}): ListWatcher<T> {
  return {
    async list(transform) {
      const r = await storage.list(namespace, filter);
      return { items: transform ? r.items.map(transform) : r.items, resourceVersion: r.resourceVersion };
    },
    async watch(resourceVersion, onEvent, done) {
      try {
        const { watcher } = await storage.watch(namespace, { ...filter, resourceVersion }, onEvent, (err) => done(err));
        return {
          stop() {
            watcher.cancel();
            done();
          },
        };
      } catch (err) {
        // Report a compacted start the way the HTTP API does: as an ERROR event.
        const status = toStatusError(err).toStatus();
        onEvent({ type: 'ERROR', object: status as unknown as T });
        return { stop() {} };
      }
    },
  };
}

export function localInformer<T extends KubeObject>(storage: ResourceStorage<T>, onError?: (err: Error) => void, transform?: (obj: T) => T): ListWatchInformer<T> {
  return new ListWatchInformer(localListWatcher(storage), onError, transform).start();
}
