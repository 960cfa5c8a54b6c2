// Multi-process UDP serving. One Node process answers ~30-40k queries/s, most of it spent in
// dgram's per-datagram receive/send path, so the server scales by running N worker processes
// (node:cluster) that all read the one UDP socket the cluster primary holds (the kernel hands each
// datagram to one reader). The primary keeps the only informers (one API watch per process tree),
// serves TCP and HTTP, and relays every informer event to the workers over IPC; each worker keeps
// its own ZoneIndex built from those events, so the hot path stays in-process and lock-free.
//
// Protocol: the worker says hello once it listens; primary → worker: init, then per kind a snapshot (in parts of 500 objects, the last with the synced flag), then events
// and sync notices in informer order; a worker answers SERVFAIL for in-zone names until every kind
// it was given has synced, exactly like the single-process server. Worker → primary: bound /
// bindError once the UDP socket is up, metrics replies (prom-client JSON, summed by the primary).
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue, type Registry } from 'prom-client';
import type { KubeObject } from '../registry/kinds/meta.js';
import type { Informer } from '../client/types.js';
import type { PodMode, ZoneInformers } from './zone.js';

export type RelayKind = 'services' | 'endpointSlices' | 'pods' | 'namespaces';
export const RELAY_KINDS: readonly RelayKind[] = ['services', 'endpointSlices', 'pods', 'namespaces'];

export interface WorkerConfig {
  host: string;
  port: number;
  type: 'udp4' | 'udp6';
  zone: { zone: string; ttl: number; podMode: PodMode; nsAddresses?: string[] };
  /** The informer kinds the primary relays (pods and namespaces are optional). */
  kinds: RelayKind[];
  upstreams: string[];
  upstreamTimeoutMs: number;
  cacheEntries: number;
  cacheMaxTtl: number;
  logLevel: string;
}

export type MetricsJson = Array<MetricObjectWithValues<MetricValue<string>>>;

export type ToWorker =
  | { t: 'init'; cfg: WorkerConfig }
  /** Part of a kind's snapshot; `synced` is set on the last part only (when the kind has synced). */
  | { t: 'snap'; k: RelayKind; objs: KubeObject[]; synced: boolean }
  | { t: 'ev'; k: RelayKind; op: 'set' | 'del'; o: KubeObject }
  | { t: 'sync'; k: RelayKind }
  | { t: 'metrics'; id: number };

export type FromWorker =
  | { t: 'hello' }
  | { t: 'bound'; port: number }
  | { t: 'bindError'; code: string; message: string }
  | { t: 'metrics'; id: number; m: MetricsJson };

const WORKER_SCRIPT = fileURLToPath(new URL('./worker.js', import.meta.url));
const RESPAWN_DELAY_MS = 1000;
const SNAPSHOT_CHUNK = 500;

export class BindError extends Error {
  override name = 'BindError';
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** The primary's side: forks the workers, relays informer events, restarts workers that die. */
export class UdpWorkers {
  /** Workers that have the snapshot and get every event. */
  private readonly live = new Set<Worker>();
  private readonly forked = new Set<Worker>();
  private readonly offs: Array<() => void> = [];
  private readonly syncAbort = new AbortController();
  private readonly pending = new Map<number, (m: MetricsJson) => void>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private nextId = 1;
  private closing = false;
  /** Workers that died while serving and were started again. */
  restarts = 0;

  constructor(
    private readonly n: number,
    private readonly cfg: WorkerConfig,
    private readonly informers: ZoneInformers,
    private readonly log: Logger,
  ) {
    for (const k of cfg.kinds) {
      const inf = this.informer(k);
      // addHandler replays the cache as adds; no worker exists yet, so those go nowhere and the
      // snapshot sent to each new worker carries them instead.
      this.offs.push(inf.addHandler({
        onAdd: (o) => this.broadcast({ t: 'ev', k, op: 'set', o }),
        onUpdate: (_old, o) => this.broadcast({ t: 'ev', k, op: 'set', o }),
        onDelete: (o) => this.broadcast({ t: 'ev', k, op: 'del', o }),
      }));
      inf.waitForSync(this.syncAbort.signal).then(() => this.broadcast({ t: 'sync', k }), () => undefined);
    }
  }

  private informer(k: RelayKind): Informer<KubeObject> {
    const inf = this.informers[k] as Informer<KubeObject> | undefined;
    if (!inf) throw new Error(`dns workers: no ${k} informer`);
    return inf;
  }

  /** Starts every worker; resolves once all have bound the UDP port. */
  async start(): Promise<void> {
    const started = Array.from({ length: this.n }, () => this.spawn());
    try {
      await Promise.all(started);
    } catch (err) {
      await Promise.allSettled(started);
      throw err;
    }
  }

  private send(w: Worker, msg: ToWorker): void {
    if (!w.isConnected()) return;
    w.send(msg, undefined, (err) => {
      if (err && !this.closing) this.log.warn({ err, worker: w.id }, 'dns: message to worker failed');
    });
  }

  private broadcast(msg: ToWorker): void {
    for (const w of this.live) this.send(w, msg);
  }

  private spawn(): Promise<void> {
    cluster.setupPrimary({ exec: WORKER_SCRIPT, args: [], serialization: 'advanced', silent: false });
    const w = cluster.fork();
    this.forked.add(w);
    let bound = false;
    return new Promise<void>((resolve, reject) => {
      w.on('error', (err) => this.log.warn({ err, worker: w.id }, 'dns: worker channel error'));
      w.on('message', (m: FromWorker) => {
        if (m.t === 'hello') {
          // A worker drops messages that arrive before it listens, hence the hello. The snapshot
          // and the live set change in the same tick: every later event reaches this worker.
          this.send(w, { t: 'init', cfg: this.cfg });
          for (const k of this.cfg.kinds) {
            const inf = this.informer(k);
            // In chunks: one message with 10,000 slices is a serialized copy of them all at once,
            // in both processes' heaps (the primary's RSS grew by ~60 MB).
            const objs = inf.list();
            const synced = inf.hasSynced();
            for (let i = 0; i === 0 || i < objs.length; i += SNAPSHOT_CHUNK) {
              this.send(w, { t: 'snap', k, objs: objs.slice(i, i + SNAPSHOT_CHUNK), synced: synced && i + SNAPSHOT_CHUNK >= objs.length });
            }
          }
          this.live.add(w);
        } else if (m.t === 'bound') {
          bound = true;
          resolve();
        } else if (m.t === 'bindError') {
          reject(new BindError(m.code, m.message));
          w.kill();
        } else if (m.t === 'metrics') {
          this.pending.get(m.id)?.(m.m);
        }
      });
      w.on('exit', (code, signal) => {
        this.live.delete(w);
        this.forked.delete(w);
        reject(new Error(`dns worker exited before binding (code ${code}, signal ${signal})`));
        if (this.closing || !bound) return;
        this.log.error({ worker: w.id, code, signal }, 'dns: worker exited; starting another');
        const t = setTimeout(() => {
          this.timers.delete(t);
          if (this.closing) return;
          this.restarts++;
          this.spawn().catch((err: unknown) => this.log.error({ err }, 'dns: worker restart failed'));
        }, RESPAWN_DELAY_MS);
        this.timers.add(t);
      });
    });
  }

  /** Every live worker's metrics (prom-client JSON); a worker that does not answer in time is left out. */
  async metrics(timeoutMs = 1000): Promise<MetricsJson[]> {
    const replies = [...this.live].map((w) => new Promise<MetricsJson | undefined>((resolve) => {
      const id = this.nextId++;
      const t = setTimeout(() => {
        this.pending.delete(id);
        resolve(undefined);
      }, timeoutMs);
      this.pending.set(id, (m) => {
        clearTimeout(t);
        this.pending.delete(id);
        resolve(m);
      });
      this.send(w, { t: 'metrics', id });
    }));
    return (await Promise.all(replies)).filter((m): m is MetricsJson => m !== undefined);
  }

  /** The primary's own registry summed with every worker's. */
  async aggregate(own: Registry): Promise<Registry> {
    return AggregatorRegistry.aggregate([await own.getMetricsAsJSON(), ...(await this.metrics())]);
  }

  size(): number {
    return this.live.size;
  }

  async close(): Promise<void> {
    this.closing = true;
    this.syncAbort.abort();
    for (const off of this.offs.splice(0)) off();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.all([...this.forked].map((w) => new Promise<void>((resolve) => {
      if (w.isDead()) {
        resolve();
        return;
      }
      w.once('exit', () => resolve());
      w.kill();
    })));
    this.live.clear();
    this.forked.clear();
  }
}
