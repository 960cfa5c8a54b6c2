// The informer: list, then watch from the list's resourceVersion, keeping a local cache and calling
// handlers with adds, updates and deletes. On a watch that ends it re-watches from the last seen
// resourceVersion; on 410 Expired it relists and reconciles the cache (emitting the differences),
// so handlers see every change once, whatever happened to the connection.
import type { KubeObject } from '../registry/kinds/meta.js';
import { objectKey } from './types.js';
import { InformerCache } from './cache.js';

export interface WatchEventOf<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

/** Where an informer gets its data: the in-process storage or a remote API server. */
export interface ListWatcher<T extends KubeObject> {
  /** Lists every object, passing each through `transform` as it is read (a paged list never holds every full object at once). */
  list(transform?: (obj: T) => T): Promise<{ items: T[]; resourceVersion: string }>;
  /** Streams events after `resourceVersion`; `done` is called once when the stream ends (err = why). */
  watch(resourceVersion: string, onEvent: (ev: WatchEventOf<T>) => void, done: (err?: Error) => void): Promise<{ stop(): void }>;
}

export class ExpiredWatchError extends Error {
  override name = 'ExpiredWatchError';
}

function isExpired(ev: WatchEventOf<unknown>): boolean {
  const s = ev.object as { code?: number; reason?: string } | undefined;
  return ev.type === 'ERROR' && (s?.code === 410 || s?.reason === 'Expired' || s?.reason === 'Gone');
}

export class ListWatchInformer<T extends KubeObject> extends InformerCache<T> {
  private stopped = false;
  private current: { stop(): void } | undefined;
  private lastRV = '';
  private backoffMs = 100;
  /** For tests and metrics: how many times the informer listed. */
  relists = 0;

  constructor(
    private readonly lw: ListWatcher<T>,
    private readonly onError: (err: Error) => void = () => {},
    /**
     * Applied to every listed (by the list/watcher, page by page) or watched object before it is
     * cached or handed to handlers (as
     * client-go's SetTransform): a reader that needs a few fields keeps only those in memory.
     * Must keep metadata.namespace, name and resourceVersion.
     */
    private readonly transform?: (obj: T) => T,
  ) {
    super(onError);
  }

  start(): this {
    void this.loop();
    return this;
  }

  stop(): void {
    this.stopped = true;
    this.current?.stop();
  }

  /** Replaces the cache with a fresh list, emitting only what differs. */
  private replace(items: T[]): void {
    const seen = new Set<string>();
    for (const obj of items) {
      const key = objectKey(obj);
      seen.add(key);
      const old = this.cache.get(key);
      this.cache.set(key, obj);
      if (!old) this.emit('add', obj);
      else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.emit('update', obj, old);
    }
    for (const [key, old] of this.cache) {
      if (!seen.has(key)) {
        this.cache.delete(key);
        this.emit('delete', old);
      }
    }
  }

  private apply(ev: WatchEventOf<T>): void {
    const rv = ev.object.metadata?.resourceVersion;
    if (rv) this.lastRV = rv;
    if (ev.type === 'BOOKMARK') return;
    const obj = this.transform ? this.transform(ev.object) : ev.object;
    const key = objectKey(obj);
    const old = this.cache.get(key);
    if (ev.type === 'DELETED') {
      if (old) {
        this.cache.delete(key);
        this.emit('delete', obj);
      }
      return;
    }
    this.cache.set(key, obj);
    if (!old) this.emit('add', obj);
    else if (old.metadata?.resourceVersion !== rv) this.emit('update', obj, old);
  }

  private async loop(): Promise<void> {
    let needList = true;
    while (!this.stopped) {
      try {
        if (needList) {
          const { items, resourceVersion } = await this.lw.list(this.transform);
          this.relists++;
          this.replace(items);
          this.lastRV = resourceVersion;
          needList = false;
          this.markSynced();
        }
        const ended = await new Promise<Error | undefined>((resolve) => {
          let finished = false;
          const finish = (err?: Error) => {
            if (finished) return;
            finished = true;
            resolve(err);
          };
          this.lw
            .watch(
              this.lastRV,
              (ev) => {
                if (isExpired(ev)) {
                  finish(new ExpiredWatchError('watch expired'));
                  this.current?.stop();
                  return;
                }
                if (ev.type === 'ERROR') {
                  finish(new Error(`watch error: ${JSON.stringify(ev.object)}`));
                  this.current?.stop();
                  return;
                }
                this.backoffMs = 100;
                this.apply(ev);
              },
              finish,
            )
            .then((w) => {
              this.current = w;
              if (this.stopped || finished) w.stop();
            }, finish);
        });
        if (ended instanceof ExpiredWatchError) needList = true;
        else if (ended) throw ended;
      } catch (err) {
        if (this.stopped) return;
        this.onError(err as Error);
        if ((err as { code?: number }).code === 410) needList = true;
        await new Promise((r) => setTimeout(r, this.backoffMs));
        this.backoffMs = Math.min(this.backoffMs * 2, 5000);
      }
    }
  }
}
