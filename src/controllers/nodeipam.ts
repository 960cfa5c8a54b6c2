// Node IPAM (kube's range allocator): each Node gets spec.podCIDR/podCIDRs, one subnet per cluster
// pod CIDR (a /24 of an IPv4 one by default, a /64 of an IPv6 one), taken in order. A subnet is
// claimed by a store key created only if absent (allocators/claims.ts), so two API servers never
// hand out the same range; claims are released when the Node goes, and repaired at start (claims
// of Nodes that no longer exist freed, ranges Nodes already carry claimed again).
import type { Logger } from 'pino';
import type { ApiRegistry } from '../api/registry.js';
import type { Node } from '../registry/kinds/node.js';
import { AlreadyAllocatedError, Claims, RangeFullError } from '../allocators/claims.js';
import { CLAIM_PREFIX } from '../allocators/service.js';
import { bitsOf, formatIP, parseCIDR, type CIDR } from '../util/ip.js';
import { NotFoundError } from '../util/errors.js';
import type { SharedInformers } from './informers.js';
import { WorkQueue } from './workqueue.js';
import { eventRecorder, type EventRecorder } from './events.js';

export interface NodeIpamOptions {
  /** Prefix length of an IPv4 node range (kube's --node-cidr-mask-size-ipv4, 24). */
  maskSizeIPv4?: number;
  /** Prefix length of an IPv6 node range (64). */
  maskSizeIPv6?: number;
}

/** The node ranges of one cluster pod CIDR: range i is the i-th block of the mask size. */
export class SubnetRange {
  readonly size: number;
  private readonly step: bigint;

  constructor(
    readonly cidr: CIDR,
    readonly mask: number,
  ) {
    if (mask < cidr.prefix || mask > bitsOf(cidr.family)) throw new Error(`node CIDR mask /${mask} does not fit in the pod CIDR /${cidr.prefix}`);
    // A huge IPv6 space is capped: a million node ranges is more than any cluster has.
    this.size = Number(BigInt.asUintN(64, 1n << BigInt(Math.min(mask - cidr.prefix, 20))));
    this.step = 1n << BigInt(bitsOf(cidr.family) - mask);
  }

  /** The claim name of range i: its network address. */
  item(i: number): string {
    return formatIP({ family: this.cidr.family, value: this.cidr.base + BigInt(i) * this.step });
  }

  text(item: string): string {
    return `${item}/${this.mask}`;
  }

  /** The claim name of a range given as text, if it is one of ours. */
  itemOf(text: string): string | undefined {
    const c = parseCIDR(text);
    if (!c || c.family !== this.cidr.family || c.prefix !== this.mask) return undefined;
    if (c.base < this.cidr.base || c.base >= this.cidr.base + BigInt(this.size) * this.step) return undefined;
    return formatIP({ family: c.family, value: c.base });
  }
}

export function nodeRanges(podCIDR: string, opts: NodeIpamOptions = {}): SubnetRange[] {
  return podCIDR
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const c = parseCIDR(s);
      if (!c) throw new Error(`invalid pod CIDR "${s}"`);
      return new SubnetRange(c, c.family === 4 ? (opts.maskSizeIPv4 ?? 24) : (opts.maskSizeIPv6 ?? 64));
    });
}

export class NodeIpamController {
  private readonly queue: WorkQueue;
  private readonly nodes;
  private readonly claims: Claims;
  private readonly ranges: SubnetRange[];
  private readonly record: EventRecorder;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly registry: ApiRegistry,
    informers: SharedInformers,
    private readonly log: Logger,
    opts: NodeIpamOptions = {},
  ) {
    this.ranges = nodeRanges(registry.cfg.podCIDR, opts);
    this.claims = new Claims(registry.store, CLAIM_PREFIX + 'podcidrs/');
    this.nodes = informers.get<Node>('Node');
    this.record = eventRecorder(registry, 'portico-node-ipam');
    this.queue = new WorkQueue((k) => this.sync(k), { workers: 1, onError: (key, err) => this.log.warn({ err, node: key }, 'node CIDR allocation failed') });
  }

  async start(): Promise<void> {
    await this.nodes.waitForSync();
    // Repair: free what Nodes that no longer exist held, before handing out anything.
    const uids = new Set(this.nodes.list().map((n) => n.metadata?.uid));
    for (const [item, owner] of await this.claims.all()) if (!uids.has(owner.uid)) await this.claims.release(item, owner.uid);
    this.unsubscribe = this.nodes.addHandler({
      onAdd: (n) => this.queue.add(n.metadata?.name ?? ''),
      onUpdate: (_o, n) => this.queue.add(n.metadata?.name ?? ''),
      onDelete: (n) => void this.release(n).catch((err: unknown) => this.log.warn({ err, node: n.metadata?.name }, 'releasing node CIDR failed')),
    });
  }

  stop(): void {
    this.unsubscribe?.();
    this.queue.stop();
  }

  whenIdle(): Promise<void> {
    return this.queue.whenIdle();
  }

  private async release(n: Node): Promise<void> {
    for (const [item, owner] of await this.claims.all()) if (owner.uid === n.metadata?.uid) await this.claims.release(item, owner.uid);
  }

  private async sync(name: string): Promise<void> {
    const node = this.nodes.get('', name);
    if (!node) return;
    const owner = { namespace: '', name, uid: node.metadata?.uid ?? '' };
    const have = node.spec?.podCIDRs?.length ? node.spec.podCIDRs : node.spec?.podCIDR ? [node.spec.podCIDR] : [];
    if (have.length) {
      // Already set (by us before a restart, or by hand): make sure the claims say so.
      for (const text of have) {
        for (const r of this.ranges) {
          const item = r.itemOf(text);
          if (!item) continue;
          try {
            await this.claims.claim(item, owner);
          } catch (err) {
            if (!(err instanceof AlreadyAllocatedError)) throw err;
            await this.record(node, 'Warning', 'CIDRNotAvailable', `Node ${name} has pod CIDR ${text}, which another node holds`);
          }
        }
      }
      return;
    }
    const got: string[] = [];
    try {
      for (const r of this.ranges) got.push(r.text(await this.allocate(r, owner)));
    } catch (err) {
      for (const t of got) for (const r of this.ranges) if (r.itemOf(t)) await this.claims.release(r.itemOf(t)!, owner.uid);
      if (err instanceof RangeFullError) {
        await this.record(node, 'Warning', 'CIDRNotAvailable', `Node ${name} status is now: CIDRNotAvailable (no pod CIDR left in ${this.registry.cfg.podCIDR})`);
        return;
      }
      throw err;
    }
    let written = false;
    try {
      await this.registry.kind<Node>('Node').guaranteedUpdate(undefined, name, (cur) => {
        written = false;
        if (cur.metadata?.uid !== owner.uid || cur.spec?.podCIDR || cur.spec?.podCIDRs?.length) return cur;
        cur.spec = { ...(cur.spec ?? {}), podCIDR: got[0], podCIDRs: got };
        written = true;
        return cur;
      });
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
    if (!written) {
      // Someone set the ranges first, or the Node went: give ours back.
      for (const t of got) for (const r of this.ranges) if (r.itemOf(t)) await this.claims.release(r.itemOf(t)!, owner.uid);
    }
  }

  /** The first free range, in order (kube's allocator hands them out in sequence too). */
  private async allocate(r: SubnetRange, owner: { namespace: string; name: string; uid: string }): Promise<string> {
    const taken = await this.claims.all();
    for (let i = 0; i < r.size; i++) {
      const item = r.item(i);
      const holder = taken.get(item);
      if (holder && holder.uid !== owner.uid) continue;
      try {
        await this.claims.claim(item, owner);
        return item;
      } catch (err) {
        if (!(err instanceof AlreadyAllocatedError)) throw err;
      }
    }
    throw new RangeFullError();
  }
}
