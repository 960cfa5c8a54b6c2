// Fan-out of committed write events to watchers, shared by the memory and sqlite stores.
// Writers call publish() right after their transaction commits; each watcher has its own queue that
// is drained on a later macrotask (setImmediate), so callbacks never run inside a writer's call and
// a slow consumer only grows its own queue. A queue past `maxBuffer` drops that watcher with onError.
import type { WatchEvent, WatchOptions, Watcher } from './types.js';

/** Deliveries are split into batches of at most this many events so one call stays bounded. */
const MAX_BATCH = 1000;

export class WatcherOverflowError extends Error {
  override name = 'WatcherOverflowError';
  readonly code = 'WatcherOverflow';
  constructor(readonly buffered: number) {
    super(`watcher dropped: more than ${buffered} undelivered events (consumer too slow)`);
  }
}

export class HubWatcher implements Watcher {
  active = true;
  /** Revision of the last event queued (or delivered); events at or below it are dropped as duplicates. */
  lastRevision: number;
  /** While catching up from history, live events wait here so they cannot overtake the log. */
  private pending: WatchEvent[] | undefined;
  private queue: WatchEvent[] = [];
  private scheduled = false;

  constructor(
    private readonly hub: WatchHub,
    readonly prefix: string,
    private readonly opts: WatchOptions,
    catchingUp: boolean,
  ) {
    this.lastRevision = opts.afterRevision;
    if (catchingUp) this.pending = [];
  }

  get catchingUp(): boolean {
    return this.pending !== undefined;
  }

  cancel(): void {
    if (!this.active) return;
    this.active = false;
    this.queue = [];
    this.pending = undefined;
    this.hub.remove(this);
  }

  /** Live event from a writer. */
  offerLive(ev: WatchEvent): void {
    if (!this.active || !ev.kv.key.startsWith(this.prefix)) return;
    if (this.pending) {
      this.pending.push(ev);
      this.checkOverflow();
      return;
    }
    this.enqueue(ev);
  }

  /** Historical events (already prefix-filtered, in revision order) read during catch-up. */
  offerHistory(events: readonly WatchEvent[]): void {
    if (!this.active) return;
    for (const ev of events) this.enqueue(ev);
  }

  /** Catch-up reached the revision it started from: release the live events held meanwhile. */
  finishCatchUp(): void {
    const held = this.pending;
    this.pending = undefined;
    if (!this.active || !held) return;
    for (const ev of held) this.enqueue(ev);
  }

  fail(err: Error): void {
    if (!this.active) return;
    this.cancel();
    const onError = this.opts.onError;
    if (onError) setImmediate(() => onError(err));
  }

  private enqueue(ev: WatchEvent): void {
    if (!this.active) return;
    if (ev.kv.modRevision <= this.lastRevision) return;
    this.lastRevision = ev.kv.modRevision;
    this.queue.push(ev);
    if (this.checkOverflow()) return;
    this.schedule();
  }

  private checkOverflow(): boolean {
    const n = this.queue.length + (this.pending?.length ?? 0);
    if (n <= this.hub.maxBuffer) return false;
    this.fail(new WatcherOverflowError(this.hub.maxBuffer));
    return true;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    if (!this.active || this.queue.length === 0) return;
    const batch = this.queue.length <= MAX_BATCH ? this.queue : this.queue.slice(0, MAX_BATCH);
    this.queue = batch === this.queue ? [] : this.queue.slice(MAX_BATCH);
    if (this.queue.length > 0) this.schedule();
    try {
      this.opts.onEvents(batch);
    } catch (err) {
      // A throwing consumer cannot be trusted to have seen the batch; stop rather than skip events.
      this.fail(err instanceof Error ? err : new Error(String(err)));
    }
  }
}

export class WatchHub {
  private readonly watchers = new Set<HubWatcher>();

  constructor(readonly maxBuffer = 100_000) {}

  add(prefix: string, opts: WatchOptions, catchingUp: boolean): HubWatcher {
    const w = new HubWatcher(this, prefix, opts, catchingUp);
    this.watchers.add(w);
    return w;
  }

  remove(w: HubWatcher): void {
    this.watchers.delete(w);
  }

  publish(ev: WatchEvent): void {
    for (const w of this.watchers) w.offerLive(ev);
  }

  /** Watchers still reading history, for callers (compaction) that may invalidate it. */
  catchingUp(): HubWatcher[] {
    return [...this.watchers].filter((w) => w.catchingUp);
  }

  failAll(err: Error): void {
    for (const w of [...this.watchers]) w.fail(err);
  }

  get size(): number {
    return this.watchers.size;
  }
}
