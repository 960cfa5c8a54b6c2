// One full garbage collection when the process goes quiet after a busy stretch that grew the heap.
// V8 keeps the old-space pages a burst of work grew into until its next full collection, which an
// idle server may not run for a long time; a control plane at rest should hold only what it needs.
// Needs node's --expose-gc (bin/portico.js passes it); without it this does nothing.
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';

export interface IdleGcOptions {
  /** How often the event loop's utilization is sampled (default 1,000 ms). */
  intervalMs?: number;
  /** A sample at or above this counts as busy (default 0.5). */
  busy?: number;
  /** A sample at or below this after a busy one counts as gone quiet (default 0.05). */
  idle?: number;
  /** Only collect when the heap grew at least this much since the last collection (default 32 MiB). */
  minGrowthBytes?: number;
}

export interface IdleGc {
  /** Collections run so far. */
  readonly runs: number;
  stop(): void;
}

/** The decision, sample by sample: collect on the first quiet sample after a busy one, if the heap grew. */
export class IdleGcPolicy {
  private wasBusy = false;

  constructor(
    private baseline: number,
    private readonly busy = 0.5,
    private readonly idle = 0.05,
    private readonly minGrowth = 32 * 1024 * 1024,
  ) {}

  /** `utilization`: the event loop's over the last interval; `heapBytes`: the heap's size now. */
  shouldCollect(utilization: number, heapBytes: number): boolean {
    if (utilization >= this.busy) this.wasBusy = true;
    if (!this.wasBusy || utilization > this.idle) return false;
    this.wasBusy = false;
    return heapBytes >= this.baseline + this.minGrowth;
  }

  /** The heap's size after a collection: growth is measured from here. */
  collected(heapBytes: number): void {
    this.baseline = heapBytes;
  }
}

export function startIdleGc(opts: IdleGcOptions = {}): IdleGc | undefined {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc !== 'function') return undefined;
  const heap = () => getHeapStatistics().total_heap_size;
  const policy = new IdleGcPolicy(heap(), opts.busy, opts.idle, opts.minGrowthBytes);
  let last: EventLoopUtilization = performance.eventLoopUtilization();
  let runs = 0;
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const u = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    if (!policy.shouldCollect(u, heap())) return;
    gc();
    runs++;
    policy.collected(heap());
    // The collection itself made this interval busy: measure quiet from after it.
    last = performance.eventLoopUtilization();
  }, opts.intervalMs ?? 1000);
  timer.unref();
  return {
    get runs() {
      return runs;
    },
    stop: () => clearInterval(timer),
  };
}
