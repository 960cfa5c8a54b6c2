// Endpoint schedulers for the userspace proxy: the algorithms IPVS offers (rr, wrr, lc, wlc, sh, dh,
// sed, nq) plus uniform random. Each is a small class over a fixed target list; the proxier builds a
// new one whenever a Service's endpoint set changes, and the targets carry live connection counts
// the least-connection family reads. Definitions follow the IPVS scheduler modules: weight 0 means
// quiesced (no new connections), lc cost = active*256 + inactive, wlc cost = (active*256 +
// inactive)/weight, sed = (active+1)/weight, nq = an idle server first, otherwise sed.

/** Service annotation selecting a scheduler for one Service (overrides the agent default). */
export const SCHEDULER_ANNOTATION = 'portico.dev/scheduler';
/** Service annotation with per-endpoint weights for wrr/wlc/sed/nq: `ip=weight,ip:port=weight`. */
export const WEIGHTS_ANNOTATION = 'portico.dev/weights';

export const SCHEDULER_NAMES = ['rr', 'wrr', 'lc', 'wlc', 'sh', 'dh', 'sed', 'nq', 'random'] as const;
export type SchedulerName = (typeof SCHEDULER_NAMES)[number];

export function isSchedulerName(s: string): s is SchedulerName {
  return (SCHEDULER_NAMES as readonly string[]).includes(s);
}

/** What a scheduler reads of an endpoint. */
export interface SchedTarget {
  readonly weight: number;
  /** Connections (or UDP flows) currently relayed to this endpoint. */
  readonly active: number;
  /** Connections half-closed by one side, still open (IPVS's "inactive"). */
  readonly inactive: number;
}

export interface PickContext {
  /** Client source address (sh). */
  readonly clientIP: string;
  /** Address the client connected to (dh). */
  readonly destIP: string;
}

export interface Scheduler<T extends SchedTarget> {
  readonly name: SchedulerName;
  /** The next endpoint, skipping `skip` (endpoints that already failed for this connection). */
  pick(ctx: PickContext, skip?: ReadonlySet<T>): T | undefined;
}

/**
 * Parses the weights annotation: comma-separated `ip=weight` or `ip:port=weight`, weights 0..65535.
 * Returns undefined (and the caller keeps weight 1) for a malformed value, as a bad annotation must
 * not take a Service down.
 */
export function parseWeights(value: string): Map<string, number> | undefined {
  const out = new Map<string, number>();
  for (const part of value.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const eq = item.lastIndexOf('=');
    if (eq <= 0) return undefined;
    const w = Number(item.slice(eq + 1));
    if (!Number.isInteger(w) || w < 0 || w > 65535) return undefined;
    out.set(item.slice(0, eq).trim(), w);
  }
  return out;
}

type Usable<T> = (t: T) => boolean;

function usable<T extends SchedTarget>(skip: ReadonlySet<T> | undefined): Usable<T> {
  return skip && skip.size > 0 ? (t) => t.weight > 0 && !skip.has(t) : (t) => t.weight > 0;
}

class RoundRobin<T extends SchedTarget> implements Scheduler<T> {
  readonly name = 'rr';
  private next = 0;
  constructor(private readonly targets: readonly T[], start = 0) {
    this.next = targets.length > 0 ? start % targets.length : 0;
  }
  pick(_ctx: PickContext, skip?: ReadonlySet<T>): T | undefined {
    const n = this.targets.length;
    const ok = usable(skip);
    for (let k = 0; k < n; k++) {
      const i = (this.next + k) % n;
      const t = this.targets[i] as T;
      if (ok(t)) {
        this.next = (i + 1) % n;
        return t;
      }
    }
    return undefined;
  }
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** Interleaved weighted round robin: each pass lowers the bar by gcd of the weights. */
class WeightedRoundRobin<T extends SchedTarget> implements Scheduler<T> {
  readonly name = 'wrr';
  private i = -1;
  private cw = 0;
  private readonly maxW: number;
  private readonly step: number;
  constructor(private readonly targets: readonly T[]) {
    let g = 0;
    let m = 0;
    for (const t of targets) {
      if (t.weight > 0) g = gcd(g, t.weight);
      m = Math.max(m, t.weight);
    }
    this.maxW = m;
    this.step = g || 1;
  }
  pick(_ctx: PickContext, skip?: ReadonlySet<T>): T | undefined {
    const n = this.targets.length;
    if (n === 0 || this.maxW <= 0) return undefined;
    const ok = usable(skip);
    // One full cycle visits every (target, level) pair once; beyond that nothing is usable.
    const bound = n * Math.ceil(this.maxW / this.step) + n;
    for (let k = 0; k < bound; k++) {
      this.i = (this.i + 1) % n;
      if (this.i === 0) {
        this.cw -= this.step;
        if (this.cw <= 0) this.cw = this.maxW;
      }
      const t = this.targets[this.i] as T;
      if (t.weight >= this.cw && ok(t)) return t;
    }
    return undefined;
  }
}

/** Picks the usable target with the least cost; ties go to the earlier target. */
class LeastCost<T extends SchedTarget> implements Scheduler<T> {
  constructor(
    readonly name: SchedulerName,
    private readonly targets: readonly T[],
    // Cost as a fraction num/den, compared by cross-multiplication like IPVS (no float drift).
    private readonly num: (t: T) => number,
    private readonly den: (t: T) => number,
    private readonly idleFirst: boolean,
  ) {}
  pick(_ctx: PickContext, skip?: ReadonlySet<T>): T | undefined {
    const ok = usable(skip);
    let best: T | undefined;
    for (const t of this.targets) {
      if (!ok(t)) continue;
      if (this.idleFirst && t.active === 0) return t;
      if (best === undefined || this.num(t) * this.den(best) < this.num(best) * this.den(t)) best = t;
    }
    return best;
  }
}

const BUCKETS = 256;

/** FNV-1a over the address text: stable across restarts and agents, cheap. */
export function addrHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Source or destination hashing: a 256-bucket table filled round robin, each target taking as many
 * consecutive turns as its weight. A hit on a skipped or quiesced target falls back to the next
 * bucket (IPVS's sh-fallback), so a failed endpoint does not strand its clients.
 */
class HashTable<T extends SchedTarget> implements Scheduler<T> {
  private readonly table: (T | undefined)[] = [];
  constructor(
    readonly name: 'sh' | 'dh',
    targets: readonly T[],
  ) {
    const live = targets.filter((t) => t.weight > 0);
    let ti = 0;
    let turns = 0;
    for (let b = 0; b < BUCKETS; b++) {
      const t = live[ti];
      this.table.push(t);
      if (t === undefined) continue;
      if (++turns >= t.weight) {
        ti = (ti + 1) % live.length;
        turns = 0;
      }
    }
  }
  pick(ctx: PickContext, skip?: ReadonlySet<T>): T | undefined {
    const ok = usable(skip);
    const h = addrHash(this.name === 'sh' ? ctx.clientIP : ctx.destIP) % BUCKETS;
    for (let k = 0; k < BUCKETS; k++) {
      const t = this.table[(h + k) % BUCKETS];
      if (t !== undefined && ok(t)) return t;
    }
    return undefined;
  }
}

class Random<T extends SchedTarget> implements Scheduler<T> {
  readonly name = 'random';
  constructor(
    private readonly targets: readonly T[],
    private readonly rand: () => number,
  ) {}
  pick(_ctx: PickContext, skip?: ReadonlySet<T>): T | undefined {
    const ok = usable(skip);
    const live = skip && skip.size > 0 ? this.targets.filter(ok) : this.targets.filter((t) => t.weight > 0);
    return live[Math.floor(this.rand() * live.length)];
  }
}

export interface SchedulerOptions {
  /** rr: index to start from (carried over when the endpoint set changes). */
  start?: number;
  /** random: source of [0, 1) numbers. */
  random?: () => number;
}

export function createScheduler<T extends SchedTarget>(name: SchedulerName, targets: readonly T[], opts: SchedulerOptions = {}): Scheduler<T> {
  const overhead = (t: T) => t.active * 256 + t.inactive;
  const one = () => 1;
  const weight = (t: T) => t.weight;
  switch (name) {
    case 'rr': return new RoundRobin(targets, opts.start ?? 0);
    case 'wrr': return new WeightedRoundRobin(targets);
    case 'lc': return new LeastCost('lc', targets, overhead, one, false);
    case 'wlc': return new LeastCost('wlc', targets, overhead, weight, false);
    case 'sed': return new LeastCost('sed', targets, (t) => t.active + 1, weight, false);
    case 'nq': return new LeastCost('nq', targets, (t) => t.active + 1, weight, true);
    case 'sh': return new HashTable('sh', targets);
    case 'dh': return new HashTable('dh', targets);
    case 'random': return new Random(targets, opts.random ?? Math.random);
  }
}
