// Allocation of a Service's cluster IPs, node ports and health-check node port, as kube-apiserver's
// Service REST storage does it: on create, on type changes (allocate what the new type needs,
// release what it no longer uses, after the write succeeded), and on delete.
import type { Store } from '../store/types.js';
import type { ClusterConfig } from '../registry/types.js';
import type { Service, ServicePort } from '../registry/kinds/service.js';
import type { HookTxn, StorageHooks } from '../api/storage.js';
import { InvalidError, InternalError, field, type FieldError } from '../util/errors.js';
import { cidrAddress, cidrContains, cidrSize, formatIP, parseCIDR, parseIP, type CIDR } from '../util/ip.js';
import { AlreadyAllocatedError, Claims, RangeFullError, type Owner } from './claims.js';

export const CLAIM_PREFIX = '/registry/allocations/';

interface IPRange {
  cidr: CIDR;
  text: string;
  family: 'IPv4' | 'IPv6';
  /** Usable addresses: IPv4 leaves out the network and broadcast addresses. */
  size: number;
  at(offset: number): string;
}

function ipRange(text: string): IPRange {
  const cidr = parseCIDR(text);
  if (!cidr) throw new Error(`invalid service CIDR ${text}`);
  const total = cidrSize(cidr);
  const v4 = cidr.family === 4;
  const usable = v4 ? total - 2n : total - 1n;
  const size = Number(usable > 1n << 24n ? 1n << 24n : usable < 0n ? 0n : usable);
  return { cidr, text, family: v4 ? 'IPv4' : 'IPv6', size, at: (o) => formatIP(cidrAddress(cidr, BigInt(o + 1))!) };
}

const needsClusterIP = (s: Service) => s.spec?.type !== 'ExternalName' && s.spec?.clusterIP !== 'None';
const needsNodePorts = (s: Service) => s.spec?.type === 'NodePort' || (s.spec?.type === 'LoadBalancer' && s.spec?.allocateLoadBalancerNodePorts !== false);
const needsHealthCheck = (s: Service) => s.spec?.type === 'LoadBalancer' && s.spec?.externalTrafficPolicy === 'Local';

function ownerOf(s: Service): Owner {
  return { namespace: s.metadata?.namespace ?? '', name: s.metadata?.name ?? '', uid: s.metadata?.uid ?? '' };
}

export class ServiceAllocator {
  readonly ips: Claims;
  readonly nodePorts: Claims;
  private readonly ranges: IPRange[];

  constructor(
    store: Store,
    private readonly cfg: ClusterConfig,
  ) {
    this.ips = new Claims(store, CLAIM_PREFIX + 'clusterips/');
    this.nodePorts = new Claims(store, CLAIM_PREFIX + 'nodeports/');
    this.ranges = cfg.serviceCIDRs.map(ipRange);
  }

  private rangeFor(family: string): IPRange | undefined {
    return this.ranges.find((r) => r.family === family);
  }

  private portRangeText(): string {
    const { base, size } = this.cfg.nodePortRange;
    return `${base}-${base + size - 1}`;
  }

  /** Storage hooks for the Service kind. */
  hooks(): StorageHooks<Service> {
    return {
      beforeCreate: (svc) => this.allocate(svc, undefined),
      beforeUpdate: (svc, old) => this.allocate(svc, old),
      afterDelete: (svc) => this.releaseAll(svc),
    };
  }

  async releaseAll(svc: Service): Promise<void> {
    const uid = svc.metadata?.uid;
    for (const ip of svc.spec?.clusterIPs ?? []) if (ip !== 'None') await this.ips.release(ip, uid);
    for (const p of usedNodePorts(svc)) await this.nodePorts.release(String(p), uid);
  }

  /**
   * Claims everything `svc` needs that `old` did not hold. Returns the undo (release the new
   * claims) and the commit (release what `old` held and `svc` no longer uses).
   */
  async allocate(svc: Service, old: Service | undefined): Promise<HookTxn> {
    const owner = ownerOf(svc);
    const claimed: Array<[Claims, string]> = [];
    const rollback = async () => {
      for (const [c, item] of claimed.reverse()) await c.release(item, owner.uid);
    };
    try {
      await this.allocateClusterIPs(svc, old, owner, claimed);
      await this.allocateNodePorts(svc, old, owner, claimed);
    } catch (err) {
      await rollback();
      throw err;
    }
    return {
      rollback,
      commit: async () => {
        if (!old) return;
        const keepIPs = new Set(svc.spec?.clusterIPs ?? []);
        for (const ip of old.spec?.clusterIPs ?? []) if (ip !== 'None' && !keepIPs.has(ip)) await this.ips.release(ip, owner.uid);
        const keepPorts = new Set(usedNodePorts(svc));
        for (const p of usedNodePorts(old)) if (!keepPorts.has(p)) await this.nodePorts.release(String(p), owner.uid);
      },
    };
  }

  private async allocateClusterIPs(svc: Service, old: Service | undefined, owner: Owner, claimed: Array<[Claims, string]>): Promise<void> {
    const spec = svc.spec!;
    if (!needsClusterIP(svc)) return;
    const oldIPs = new Set(old?.spec?.clusterIPs ?? []);
    const families = spec.ipFamilies?.length ? spec.ipFamilies : [this.ranges[0]?.family ?? 'IPv4'];
    const requested = spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : [];
    const result: string[] = [];
    const errs: FieldError[] = [];
    for (let i = 0; i < families.length; i++) {
      const family = families[i]!;
      const range = this.rangeFor(family);
      const want = requested[i];
      if (want && oldIPs.has(want)) {
        result.push(want);
        continue;
      }
      if (!range) {
        errs.push(field.invalid('spec.ipFamilies', spec.ipFamilies, `${family} is not configured on this cluster`));
        continue;
      }
      if (want) {
        const ip = parseIP(want);
        if (!ip || !cidrContains(range.cidr, ip)) {
          errs.push(field.invalid('spec.clusterIPs', requested, `failed to allocate IP ${want}: the provided IP (${want}) is not in the valid range. The range of valid IPs is ${range.text}`));
          continue;
        }
        try {
          await this.ips.claim(want, owner);
          claimed.push([this.ips, want]);
          result.push(want);
        } catch (err) {
          if (!(err instanceof AlreadyAllocatedError)) throw err;
          errs.push(field.invalid('spec.clusterIPs', requested, `failed to allocate IP ${want}: provided IP is already allocated`));
        }
        continue;
      }
      try {
        const ip = await this.ips.allocateAny(range.size, range.at, owner);
        claimed.push([this.ips, ip]);
        result.push(ip);
      } catch (err) {
        if (err instanceof RangeFullError) throw new InternalError('failed to allocate a serviceIP: range is full');
        throw err;
      }
    }
    if (errs.length) throw new InvalidError('Service', owner.name, errs);
    spec.clusterIPs = result;
    spec.clusterIP = result[0];
  }

  private async allocateNodePorts(svc: Service, old: Service | undefined, owner: Owner, claimed: Array<[Claims, string]>): Promise<void> {
    const spec = svc.spec!;
    const { base, size } = this.cfg.nodePortRange;
    const held = new Set(old ? usedNodePorts(old) : []);
    const errs: FieldError[] = [];
    const claimPort = async (port: number, path: string): Promise<boolean> => {
      if (held.has(port)) return true;
      if (port < base || port >= base + size) {
        errs.push(field.invalid(path, port, `provided port is not in the valid range. The range of valid ports is ${this.portRangeText()}`));
        return false;
      }
      try {
        await this.nodePorts.claim(String(port), owner);
        claimed.push([this.nodePorts, String(port)]);
        held.add(port);
        return true;
      } catch (err) {
        if (!(err instanceof AlreadyAllocatedError)) throw err;
        errs.push(field.invalid(path, port, 'provided port is already allocated'));
        return false;
      }
    };
    const anyPort = async (): Promise<number> => {
      try {
        const p = Number(await this.nodePorts.allocateAny(size, (o) => String(base + o), owner));
        claimed.push([this.nodePorts, String(p)]);
        held.add(p);
        return p;
      } catch (err) {
        if (err instanceof RangeFullError) throw new InternalError('failed to allocate a nodePort: range is full');
        throw err;
      }
    };

    if (needsNodePorts(svc)) {
      const ports: ServicePort[] = spec.ports ?? [];
      for (let i = 0; i < ports.length; i++) {
        const p = ports[i]!;
        if (p.nodePort) await claimPort(p.nodePort, `spec.ports[${i}].nodePort`);
      }
      // Ports without a nodePort: a second protocol on the same port number shares its node port.
      for (const p of ports) {
        if (p.nodePort) continue;
        const sibling = ports.find((q) => q !== p && q.port === p.port && q.nodePort && q.protocol !== p.protocol);
        p.nodePort = sibling?.nodePort ?? (await anyPort());
      }
    }
    if (needsHealthCheck(svc)) {
      if (spec.healthCheckNodePort) {
        const before = errs.length;
        if (!(await claimPort(spec.healthCheckNodePort, 'spec.healthCheckNodePort')) && errs.length > before) {
          const e = errs[errs.length - 1]!;
          e.detail = `failed to allocate requested HealthCheck NodePort ${spec.healthCheckNodePort}: ${e.detail}`;
        }
      } else {
        spec.healthCheckNodePort = await anyPort();
      }
    }
    if (errs.length) throw new InvalidError('Service', owner.name, errs);
  }

  /**
   * Start-up repair (kube's repair controllers): claims held by no Service are freed, addresses a
   * Service uses without a claim are claimed, and two Services using one address are reported.
   */
  async repair(services: Service[], report: (msg: string, svc: Service) => void): Promise<{ leaked: number; reclaimed: number; duplicates: number }> {
    const wantIPs = new Map<string, Service>();
    const wantPorts = new Map<string, Service>();
    let duplicates = 0;
    for (const svc of services) {
      for (const ip of svc.spec?.clusterIPs ?? []) {
        if (ip === 'None') continue;
        const other = wantIPs.get(ip);
        if (other && other.metadata?.uid !== svc.metadata?.uid) {
          duplicates++;
          report(`Cluster IP ${ip} was assigned to multiple services. Please recreate service`, svc);
        } else wantIPs.set(ip, svc);
      }
      for (const p of new Set(usedNodePorts(svc))) {
        const other = wantPorts.get(String(p));
        if (other && other.metadata?.uid !== svc.metadata?.uid) {
          duplicates++;
          report(`Port ${p} was assigned to multiple services; please recreate service`, svc);
        } else wantPorts.set(String(p), svc);
      }
    }
    let leaked = 0;
    let reclaimed = 0;
    for (const [claims, want] of [
      [this.ips, wantIPs],
      [this.nodePorts, wantPorts],
    ] as const) {
      const have = await claims.all();
      for (const [item, owner] of have) {
        const svc = want.get(item);
        if (!svc || svc.metadata?.uid !== owner.uid) {
          await claims.release(item, owner.uid);
          leaked++;
        }
      }
      for (const [item, svc] of want) {
        const h = have.get(item);
        if (!h || h.uid !== svc.metadata?.uid) {
          try {
            await claims.claim(item, ownerOf(svc));
            reclaimed++;
          } catch (err) {
            if (!(err instanceof AlreadyAllocatedError)) throw err;
          }
        }
      }
    }
    return { leaked, reclaimed, duplicates };
  }
}

export function usedNodePorts(svc: Service): number[] {
  const out: number[] = [];
  for (const p of svc.spec?.ports ?? []) if (p.nodePort) out.push(p.nodePort);
  if (svc.spec?.healthCheckNodePort) out.push(svc.spec.healthCheckNodePort);
  return out;
}

export { ipRange };
