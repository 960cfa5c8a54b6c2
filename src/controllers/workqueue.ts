// A keyed work queue in the manner of client-go's: a key waiting is queued once however often it is
// added, a key is never processed by two workers at once (an add during processing runs it again
// afterwards), and a failed key is retried with exponential backoff. Controllers sync whole
// objects by key, so coalescing many events into one sync is what keeps writes per change low.

export interface WorkQueueOptions {
  workers?: number;
  /** First retry delay (ms); doubles per failure up to maxBackoffMs. */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  /** Called when a sync throws (before the retry is scheduled). */
  onError?: (key: string, err: unknown) => void;
}

export class WorkQueue {
  private readonly pending = new Set<string>();
  private readonly processing = new Set<string>();
  /** Keys added while being processed: queued again when their run ends. */
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Delayed adds (addAfter), one per key; not counted as pending work. */
  private readonly later = new Map<string, NodeJS.Timeout>();
  private running = 0;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];
  private readonly workers: number;
  private readonly base: number;
  private readonly max: number;

  constructor(
    private readonly sync: (key: string) => Promise<void>,
    private readonly opts: WorkQueueOptions = {},
  ) {
    this.workers = Math.max(1, opts.workers ?? 4);
    this.base = opts.baseBackoffMs ?? 5;
    this.max = opts.maxBackoffMs ?? 30_000;
  }

  add(key: string): void {
    if (this.stopped) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    this.pending.add(key);
    this.pump();
  }

  /** Adds the key after `ms` (client-go's AddAfter): a later call for the same key replaces the earlier one. */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.later.get(key));
    const t = setTimeout(() => {
      this.later.delete(key);
      this.add(key);
    }, ms);
    t.unref();
    this.later.set(key, t);
  }

  get length(): number {
    return this.pending.size + this.processing.size + this.timers.size;
  }

  /** Resolves when nothing is queued, running or waiting for a retry. */
  whenIdle(): Promise<void> {
    if (this.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    for (const t of this.later.values()) clearTimeout(t);
    this.later.clear();
    this.pending.clear();
    this.dirty.clear();
    this.checkIdle();
  }

  private pump(): void {
    while (!this.stopped && this.running < this.workers && this.pending.size) {
      const key = this.pending.values().next().value as string;
      this.pending.delete(key);
      this.processing.add(key);
      this.running++;
      void this.run(key);
    }
  }

  private async run(key: string): Promise<void> {
    let failed = false;
    try {
      await this.sync(key);
      this.failures.delete(key);
    } catch (err) {
      failed = true;
      this.opts.onError?.(key, err);
    }
    this.processing.delete(key);
    this.running--;
    if (this.stopped) {
      this.checkIdle();
      return;
    }
    if (this.dirty.delete(key)) {
      this.pending.add(key);
    } else if (failed) {
      const n = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, n);
      const delay = Math.min(this.max, this.base * 2 ** (n - 1));
      const existing = this.timers.get(key);
      if (existing) clearTimeout(existing);
      const t = setTimeout(() => {
        this.timers.delete(key);
        this.add(key);
        this.checkIdle();
      }, delay);
      this.timers.set(key, t);
    }
    this.pump();
    this.checkIdle();
  }

  private checkIdle(): void {
    if (this.length !== 0 && !this.stopped) return;
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const r of w) r();
  }
}
