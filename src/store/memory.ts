// In-memory Store for unit tests and `--store memory`. Current state is a map plus its keys sorted
// (on read, see SortedKeys); history is a log of events (each carrying its prevKv) kept until compacted, which is
// enough both to replay a watch from a past revision and to roll current state back for a list at
// a past revision. Everything is synchronous inside, so a watch registered in one step can not miss
// a write: there is no await between reading history and joining the live stream.
import {
  StoreClosedError,
  StoreCompactedError,
  StoreKeyExistsError,
  StoreKeyNotFoundError,
  StoreRevisionMismatchError,
  type KeyValue,
  type ListOptions,
  type ListResult,
  type Store,
  type WatchEvent,
  type WatchOptions,
  type Watcher,
} from './types.js';
import { resolveRevision } from './revision.js';
import { SortedKeys, lowerBound } from './keys.js';
import { WatchHub } from './watchhub.js';

export interface MemoryStoreOptions {
  /** Undelivered events per watcher before it is dropped (default 100,000). */
  maxWatchBuffer?: number;
}

export class MemoryStore implements Store {
  private readonly current = new Map<string, KeyValue>();
  private readonly keys = new SortedKeys();
  /** Events with revision > compacted, in revision order. */
  private log: WatchEvent[] = [];
  private rev = 0;
  private compacted = 0;
  private closed = false;
  private readonly hub: WatchHub;

  constructor(opts: MemoryStoreOptions = {}) {
    this.hub = new WatchHub(opts.maxWatchBuffer);
  }

  async currentRevision(): Promise<number> {
    this.check();
    return this.rev;
  }

  async compactedRevision(): Promise<number> {
    this.check();
    return this.compacted;
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.check();
    const kv = this.current.get(key);
    return kv && { ...kv };
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    this.check();
    const at = resolveRevision(opts.revision, this.rev, this.compacted);
    const limit = opts.limit && opts.limit > 0 ? opts.limit : Infinity;
    const after = opts.startAfter;
    const items: KeyValue[] = [];
    let more = false;
    if (at === this.rev) {
      const sorted = this.sortedKeys();
      let i = lowerBound(sorted, after !== undefined && after >= prefix ? after : prefix);
      for (; i < sorted.length; i++) {
        const k = sorted[i] as string;
        if (!k.startsWith(prefix)) break;
        if (after !== undefined && k <= after) continue;
        if (items.length >= limit) {
          more = true;
          break;
        }
        items.push({ ...(this.current.get(k) as KeyValue) });
      }
      return { items, revision: at, more };
    }
    const state = this.stateAt(at, prefix);
    const keys = [...state.keys()].filter((k) => after === undefined || k > after).sort();
    for (const k of keys) {
      if (items.length >= limit) {
        more = true;
        break;
      }
      items.push({ ...(state.get(k) as KeyValue) });
    }
    return { items, revision: at, more };
  }

  async count(prefix: string): Promise<number> {
    this.check();
    let n = 0;
    const sorted = this.sortedKeys();
    for (let i = lowerBound(sorted, prefix); i < sorted.length; i++) {
      if (!(sorted[i] as string).startsWith(prefix)) break;
      n++;
    }
    return n;
  }

  async create(key: string, value: string): Promise<KeyValue> {
    this.check();
    if (this.current.has(key)) throw new StoreKeyExistsError(key);
    const rev = ++this.rev;
    const kv: KeyValue = { key, value, createRevision: rev, modRevision: rev };
    this.current.set(key, kv);
    this.keys.add(key);
    this.record({ type: 'PUT', kv, created: true });
    return { ...kv };
  }

  async update(key: string, value: string, expectedModRevision: number): Promise<KeyValue> {
    this.check();
    const prev = this.current.get(key);
    if (!prev) throw new StoreKeyNotFoundError(key);
    if (prev.modRevision !== expectedModRevision) throw new StoreRevisionMismatchError(key, expectedModRevision, { ...prev });
    const rev = ++this.rev;
    const kv: KeyValue = { key, value, createRevision: prev.createRevision, modRevision: rev };
    this.current.set(key, kv);
    this.record({ type: 'PUT', kv, prevKv: prev, created: false });
    return { ...kv };
  }

  async delete(key: string, expectedModRevision?: number): Promise<KeyValue> {
    this.check();
    const prev = this.current.get(key);
    if (!prev) throw new StoreKeyNotFoundError(key);
    if (expectedModRevision !== undefined && prev.modRevision !== expectedModRevision) {
      throw new StoreRevisionMismatchError(key, expectedModRevision, { ...prev });
    }
    const rev = ++this.rev;
    const kv: KeyValue = { ...prev, modRevision: rev };
    this.current.delete(key);
    this.keys.remove();
    this.record({ type: 'DELETE', kv, prevKv: prev, created: false });
    return { ...kv };
  }

  async watch(prefix: string, opts: WatchOptions): Promise<Watcher> {
    this.check();
    if (opts.afterRevision < this.compacted) throw new StoreCompactedError(opts.afterRevision, this.compacted);
    const w = this.hub.add(prefix, opts, false);
    // Synchronous from here to return: no write can slip between the history replay and going live.
    const from = this.indexAfter(opts.afterRevision);
    const history: WatchEvent[] = [];
    for (let i = from; i < this.log.length; i++) {
      const ev = this.log[i] as WatchEvent;
      if (ev.kv.key.startsWith(prefix)) history.push(copyEvent(ev));
    }
    w.offerHistory(history);
    return w;
  }

  async compact(revision: number): Promise<void> {
    this.check();
    if (revision > this.rev) throw new RangeError(`cannot compact at future revision ${revision} (current ${this.rev})`);
    if (revision <= this.compacted) return;
    this.compacted = revision;
    this.log = this.log.slice(this.indexAfter(revision));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.hub.failAll(new StoreClosedError());
  }

  private check(): void {
    if (this.closed) throw new StoreClosedError();
  }

  private sortedKeys(): readonly string[] {
    return this.keys.array((k) => this.current.has(k));
  }

  /** Index of the first log event with revision > rev. */
  private indexAfter(rev: number): number {
    let lo = 0;
    let hi = this.log.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.log[mid] as WatchEvent).kv.modRevision <= rev) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Live keys under prefix as of `rev`: current state with every later event undone. */
  private stateAt(rev: number, prefix: string): Map<string, KeyValue> {
    const state = new Map<string, KeyValue>();
    const sorted = this.sortedKeys();
    for (let i = lowerBound(sorted, prefix); i < sorted.length; i++) {
      const k = sorted[i] as string;
      if (!k.startsWith(prefix)) break;
      state.set(k, this.current.get(k) as KeyValue);
    }
    for (let i = this.log.length - 1; i >= 0; i--) {
      const ev = this.log[i] as WatchEvent;
      if (ev.kv.modRevision <= rev) break;
      if (!ev.kv.key.startsWith(prefix)) continue;
      if (ev.prevKv && !ev.created) state.set(ev.kv.key, ev.prevKv);
      else state.delete(ev.kv.key);
    }
    return state;
  }

  private record(ev: WatchEvent): void {
    this.log.push(ev);
    this.hub.publish(copyEvent(ev));
  }
}

function copyEvent(ev: WatchEvent): WatchEvent {
  const out: WatchEvent = { type: ev.type, kv: { ...ev.kv }, created: ev.created };
  if (ev.prevKv) out.prevKv = { ...ev.prevKv };
  return out;
}
