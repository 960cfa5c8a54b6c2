// Portico as its own LoadBalancer provider (as k3s's ServiceLB or MetalLB are): each LoadBalancer
// Service without a loadBalancerClass gets an ingress IP from the --lb-pool, written to
// status.loadBalancer.ingress through the API. No pool, or an exhausted one, leaves the Service
// <pending> with a Warning Event saying why. Reads Services through an informer.
import type { Logger } from 'pino';
import type { ApiRegistry } from '../api/registry.js';
import type { Service } from '../registry/kinds/service.js';
import { objectKey } from '../client/types.js';
import type { ListWatchInformer } from '../client/informer.js';
import { localInformer } from '../client/local.js';
import { AlreadyAllocatedError, Claims, RangeFullError } from '../allocators/claims.js';
import { CLAIM_PREFIX } from '../allocators/service.js';
import { cidrAddress, cidrContains, cidrSize, formatIP, parseCIDR, parseIP, type IP } from '../util/ip.js';
import { NotFoundError } from '../util/errors.js';
import { eventRecorder, type EventRecorder } from './events.js';

export interface Pool {
  size: number;
  at(offset: number): string;
  contains(ip: string): boolean;
  text: string;
}

/** Parses `--lb-pool`: CIDRs and `first-last` ranges, comma-separated. */
export function parsePool(entries: string[]): Pool {
  const parts: Array<{ size: number; at(o: number): string; contains(ip: IP): boolean }> = [];
  for (const e of entries) {
    const dash = e.indexOf('-');
    if (dash > 0) {
      const a = parseIP(e.slice(0, dash).trim());
      const b = parseIP(e.slice(dash + 1).trim());
      if (!a || !b || a.family !== b.family) throw new Error(`invalid --lb-pool range "${e}"`);
      if (b.value < a.value) throw new Error(`invalid --lb-pool range "${e}": first address after last`);
      const span = b.value - a.value + 1n;
      parts.push({
        size: Number(span > 1n << 24n ? 1n << 24n : span),
        at: (o) => formatIP({ family: a.family, value: a.value + BigInt(o) }),
        contains: (ip) => ip.family === a.family && ip.value >= a.value && ip.value <= b.value,
      });
      continue;
    }
    const c = parseCIDR(e.trim());
    if (!c) throw new Error(`invalid --lb-pool entry "${e}": want a CIDR or FIRST-LAST`);
    const total = cidrSize(c);
    // Network and broadcast addresses are skipped in IPv4 blocks larger than a /31.
    const skip = c.family === 4 && total > 2n ? 1n : 0n;
    const usable = total - 2n * skip;
    parts.push({
      size: Number(usable > 1n << 24n ? 1n << 24n : usable),
      at: (o) => formatIP(cidrAddress(c, BigInt(o) + skip)!),
      contains: (ip) => cidrContains(c, ip),
    });
  }
  const size = parts.reduce((n, p) => n + p.size, 0);
  return {
    size,
    text: entries.join(','),
    at(o) {
      for (const p of parts) {
        if (o < p.size) return p.at(o);
        o -= p.size;
      }
      throw new RangeError('offset outside pool');
    },
    contains(s) {
      const ip = parseIP(s);
      return Boolean(ip && parts.some((p) => p.contains(ip)));
    },
  };
}

const isOurs = (s: Service) => s.spec?.type === 'LoadBalancer' && !s.spec.loadBalancerClass;

export class LoadBalancerController {
  private informer: ListWatchInformer<Service> | undefined;
  private readonly claims: Claims;
  private readonly queue = new Set<string>();
  private readonly known = new Map<string, Service>();
  private busy = false;
  private stopped = false;
  private readonly record: EventRecorder;
  private readonly pool: Pool | undefined;

  /** Removes this controller's handler (a shared informer is not stopped here). */
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly registry: ApiRegistry,
    poolEntries: string[],
    private readonly log: Logger,
    /** A shared Service informer to read instead of starting one. */
    private readonly services?: ListWatchInformer<Service>,
  ) {
    this.claims = new Claims(registry.store, CLAIM_PREFIX + 'loadbalancerips/');
    this.pool = poolEntries.length ? parsePool(poolEntries) : undefined;
    this.record = eventRecorder(registry, 'portico-lb-controller');
  }

  async start(): Promise<void> {
    this.informer = this.services ?? localInformer(this.registry.kind<Service>('Service'), (err) => this.log.warn({ err }, 'service informer'));
    this.unsubscribe = this.informer.addHandler({
      onAdd: (s) => this.enqueue(s),
      onUpdate: (_o, s) => this.enqueue(s),
      onDelete: (s) => this.enqueue(s, true),
    });
    await this.informer.waitForSync();
    // Free addresses held for Services that no longer exist or no longer want one.
    const byUID = new Map(this.informer.list().map((s) => [s.metadata?.uid, s]));
    for (const [ip, owner] of await this.claims.all()) {
      const s = byUID.get(owner.uid);
      if (!s || !isOurs(s)) await this.claims.release(ip, owner.uid);
    }
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
    if (!this.services) this.informer?.stop();
  }

  private enqueue(s: Service, deleted = false): void {
    const key = objectKey(s);
    if (deleted) this.known.delete(key);
    else this.known.set(key, s);
    if (deleted) void this.releaseFor(s);
    this.queue.add(key);
    void this.drain();
  }

  private async releaseFor(s: Service): Promise<void> {
    for (const ing of s.status?.loadBalancer?.ingress ?? []) if (ing.ip) await this.claims.release(ing.ip, s.metadata?.uid);
  }

  private async drain(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.queue.size && !this.stopped) {
        const key = this.queue.values().next().value as string;
        this.queue.delete(key);
        const svc = this.known.get(key);
        if (!svc) continue;
        try {
          await this.sync(svc);
        } catch (err) {
          this.log.warn({ err, service: key }, 'load-balancer sync failed');
        }
      }
    } finally {
      this.busy = false;
    }
  }

  private async sync(svc: Service): Promise<void> {
    const meta = svc.metadata!;
    const current = (svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).filter((x): x is string => Boolean(x));
    if (!isOurs(svc)) {
      // No longer ours (type or class changed): release and clear what we wrote.
      if (current.length && svc.spec?.type !== 'LoadBalancer') {
        await this.releaseFor(svc);
        await this.writeIngress(svc, []);
      }
      return;
    }
    const want = svc.spec?.loadBalancerIP;
    if (current.length && (!want || current.includes(want))) return;
    if (!this.pool) {
      await this.record(svc, 'Warning', 'AllocationFailed', 'no load-balancer address pool is configured (start Portico with --lb-pool)');
      return;
    }
    const owner = { namespace: meta.namespace ?? '', name: meta.name ?? '', uid: meta.uid ?? '' };
    let ip: string;
    try {
      if (want) {
        if (!this.pool.contains(want)) {
          await this.record(svc, 'Warning', 'AllocationFailed', `requested loadBalancerIP ${want} is not in the pool ${this.pool.text}`);
          return;
        }
        await this.claims.claim(want, owner);
        ip = want;
      } else {
        ip = await this.claims.allocateAny(this.pool.size, this.pool.at, owner);
      }
    } catch (err) {
      if (err instanceof AlreadyAllocatedError) {
        await this.record(svc, 'Warning', 'AllocationFailed', `requested loadBalancerIP ${want} is already allocated`);
        return;
      }
      if (err instanceof RangeFullError) {
        await this.record(svc, 'Warning', 'AllocationFailed', `no available IP in the load-balancer pool ${this.pool.text}`);
        return;
      }
      throw err;
    }
    for (const old of current) if (old !== ip) await this.claims.release(old, owner.uid);
    await this.writeIngress(svc, [ip]);
    await this.record(svc, 'Normal', 'IPAllocated', `assigned load-balancer IP ${ip}`);
  }

  private async writeIngress(svc: Service, ips: string[]): Promise<void> {
    try {
      await this.registry.kind<Service>('Service').guaranteedUpdate(
        svc.metadata?.namespace,
        svc.metadata!.name!,
        (cur) => {
          if (cur.metadata?.uid !== svc.metadata?.uid) return cur;
          const status = (cur.status ??= {});
          status.loadBalancer = ips.length ? { ingress: ips.map((ip) => ({ ip, ipMode: 'VIP' })) } : {};
          return cur;
        },
        { subresource: 'status' },
      );
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
  }
}
