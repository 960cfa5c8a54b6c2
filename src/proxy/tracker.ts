// Change tracking: per object key `{previous, current}` for Services and EndpointSlices, no-op
// updates dropped, several slices of one Service merged. snapshot() folds the pending changes into
// the ProxyModel and reports which service-port keys changed since the previous snapshot.
//
// The input types are structural (upstream field names), so registry kinds and objects read from
// any Kubernetes API server both fit.
import {
  servicePortKey,
  type EndpointInfo,
  type Protocol,
  type ProxyModel,
  type ServicePortInfo,
} from './model.js';

export interface TrackedService {
  metadata?: { namespace?: string; name?: string };
  spec?: {
    type?: string;
    clusterIP?: string;
    clusterIPs?: string[];
    externalIPs?: string[];
    ports?: Array<{ name?: string; protocol?: string; port: number; nodePort?: number }>;
    sessionAffinity?: string;
    sessionAffinityConfig?: { clientIP?: { timeoutSeconds?: number } };
    loadBalancerSourceRanges?: string[];
    externalTrafficPolicy?: string;
    internalTrafficPolicy?: string;
    healthCheckNodePort?: number;
  };
  status?: { loadBalancer?: { ingress?: Array<{ ip?: string; ipMode?: string }> } };
}

export interface TrackedEndpointSlice {
  metadata?: { namespace?: string; name?: string; labels?: Record<string, string> };
  addressType?: string;
  endpoints?: Array<{
    addresses: string[];
    conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
    nodeName?: string;
    zone?: string;
    hints?: { forZones?: Array<{ name: string }>; forNodes?: Array<{ name: string }> };
  }> | null;
  ports?: Array<{ name?: string; protocol?: string; port?: number }> | null;
}

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
const DEFAULT_AFFINITY_TIMEOUT = 10800;

interface Change<T> {
  previous: T | undefined;
  current: T | undefined;
}

function keyOf(o: { metadata?: { namespace?: string; name?: string } }): string {
  const ns = o.metadata?.namespace ?? '';
  const name = o.metadata?.name ?? '';
  return ns ? `${ns}/${name}` : name;
}

function protocolOf(p: string | undefined): Protocol {
  return p === 'UDP' || p === 'SCTP' ? p : 'TCP';
}

/** The Service fields the proxy reads, in a canonical form (drives no-op detection). */
function serviceProjection(svc: TrackedService | undefined): string {
  if (!svc) return '';
  const s = svc.spec ?? {};
  return JSON.stringify([
    s.type ?? 'ClusterIP', s.clusterIP ?? '', s.clusterIPs ?? [], s.externalIPs ?? [],
    (s.ports ?? []).map((p) => [p.name ?? '', protocolOf(p.protocol), p.port, p.nodePort ?? 0]),
    s.sessionAffinity ?? 'None', s.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? 0,
    s.loadBalancerSourceRanges ?? [], s.externalTrafficPolicy ?? '', s.internalTrafficPolicy ?? '',
    s.healthCheckNodePort ?? 0,
    (svc.status?.loadBalancer?.ingress ?? []).map((i) => [i.ip ?? '', i.ipMode ?? '']),
  ]);
}

function sliceServiceKey(sl: TrackedEndpointSlice): string | undefined {
  const svcName = sl.metadata?.labels?.[SERVICE_NAME_LABEL];
  if (!svcName) return undefined;
  return `${sl.metadata?.namespace ?? ''}/${svcName}`;
}

/** The EndpointSlice fields the proxy reads, in a canonical form. */
function sliceProjection(sl: TrackedEndpointSlice | undefined): string {
  if (!sl) return '';
  return JSON.stringify([
    sliceServiceKey(sl) ?? '', sl.addressType ?? '',
    (sl.ports ?? []).map((p) => [p.name ?? '', protocolOf(p.protocol), p.port ?? 0]),
    (sl.endpoints ?? []).map((e) => [
      e.addresses[0] ?? '', e.conditions?.ready, e.conditions?.serving, e.conditions?.terminating,
      e.nodeName ?? '', e.zone ?? '', (e.hints?.forZones ?? []).map((z) => z.name), (e.hints?.forNodes ?? []).map((n) => n.name),
    ]),
  ]);
}

/** The service ports a Service contributes; headless and ExternalName Services contribute none. */
export function servicePortsOf(svc: TrackedService, slices: Iterable<TrackedEndpointSlice>): ServicePortInfo[] {
  const s = svc.spec ?? {};
  const type = s.type ?? 'ClusterIP';
  if (type === 'ExternalName') return [];
  const clusterIPs = (s.clusterIPs && s.clusterIPs.length ? s.clusterIPs : s.clusterIP ? [s.clusterIP] : []).filter((ip) => ip !== '' && ip !== 'None');
  if (clusterIPs.length === 0) return [];
  const namespace = svc.metadata?.namespace ?? '';
  const name = svc.metadata?.name ?? '';
  const externalIPs = [...(s.externalIPs ?? [])];
  const loadBalancerIPs = type === 'LoadBalancer'
    ? (svc.status?.loadBalancer?.ingress ?? []).filter((i) => i.ip && i.ipMode !== 'Proxy').map((i) => i.ip as string)
    : [];
  const externallyAccessible = type === 'NodePort' || type === 'LoadBalancer' || externalIPs.length > 0;
  const affinity = s.sessionAffinity === 'ClientIP' ? (s.sessionAffinityConfig?.clientIP?.timeoutSeconds || DEFAULT_AFFINITY_TIMEOUT) : 0;
  const sliceList = [...slices];
  const out: ServicePortInfo[] = [];
  for (const p of s.ports ?? []) {
    const protocol = protocolOf(p.protocol);
    const portName = p.name ?? '';
    const seen = new Map<string, EndpointInfo>();
    for (const sl of sliceList) {
      if (sl.addressType === 'FQDN') continue;
      const sp = (sl.ports ?? []).find((x) => (x.name ?? '') === portName && protocolOf(x.protocol) === protocol);
      if (!sp || sp.port === undefined) continue;
      for (const e of sl.endpoints ?? []) {
        const ip = e.addresses[0];
        if (!ip) continue;
        const id = `${ip}|${sp.port}`;
        if (seen.has(id)) continue;
        const ready = e.conditions?.ready ?? true;
        seen.set(id, {
          ip,
          port: sp.port,
          ready,
          serving: e.conditions?.serving ?? ready,
          terminating: e.conditions?.terminating ?? false,
          nodeName: e.nodeName ?? '',
          zone: e.zone ?? '',
          zoneHints: (e.hints?.forZones ?? []).map((z) => z.name),
          nodeHints: (e.hints?.forNodes ?? []).map((n) => n.name),
        });
      }
    }
    const endpoints = [...seen.values()].sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : a.port - b.port));
    out.push({
      key: servicePortKey(namespace, name, portName, protocol),
      namespace, name, portName, protocol,
      port: p.port,
      clusterIPs,
      externalIPs,
      loadBalancerIPs,
      nodePort: type === 'ClusterIP' ? 0 : p.nodePort ?? 0,
      healthCheckNodePort: type === 'LoadBalancer' && s.externalTrafficPolicy === 'Local' ? s.healthCheckNodePort ?? 0 : 0,
      externallyAccessible,
      externalPolicyLocal: externallyAccessible && s.externalTrafficPolicy === 'Local',
      internalPolicyLocal: s.internalTrafficPolicy === 'Local',
      affinityTimeoutSeconds: affinity,
      loadBalancerSourceRanges: type === 'LoadBalancer' ? [...(s.loadBalancerSourceRanges ?? [])] : [],
      endpoints,
    });
  }
  return out;
}

/**
 * Tracks Services and EndpointSlices by object key. Feed it from informer handlers
 * (`onAdd(o)` = update(undefined, o), `onDelete(o)` = update(o, undefined)); call snapshot() when
 * syncing.
 */
export class ChangeTracker {
  private readonly pendingServices = new Map<string, Change<TrackedService>>();
  private readonly pendingSlices = new Map<string, Change<TrackedEndpointSlice>>();
  private readonly services = new Map<string, TrackedService>();
  /** Service key → slice key → slice. */
  private readonly slices = new Map<string, Map<string, TrackedEndpointSlice>>();
  private readonly sliceOwner = new Map<string, string>();
  private readonly ports = new Map<string, ServicePortInfo>();
  /** Service key → its service-port keys. */
  private readonly portsByService = new Map<string, string[]>();
  private serviceChangeCount = 0;
  private endpointChangeCount = 0;

  /** Records a Service change; returns false when it is a no-op for the proxy. */
  serviceUpdate(previous: TrackedService | undefined, current: TrackedService | undefined): boolean {
    const obj = current ?? previous;
    if (!obj) return false;
    const key = keyOf(obj);
    const pending = this.pendingServices.get(key);
    const change: Change<TrackedService> = pending ? { previous: pending.previous, current } : { previous: this.services.get(key), current };
    if (serviceProjection(change.previous) === serviceProjection(change.current)) {
      this.pendingServices.delete(key);
      return pending !== undefined;
    }
    this.pendingServices.set(key, change);
    this.serviceChangeCount++;
    return true;
  }

  /** Records an EndpointSlice change; returns false when it is a no-op for the proxy. */
  endpointSliceUpdate(previous: TrackedEndpointSlice | undefined, current: TrackedEndpointSlice | undefined): boolean {
    const obj = current ?? previous;
    if (!obj) return false;
    const key = keyOf(obj);
    const pending = this.pendingSlices.get(key);
    const svcKey = this.sliceOwner.get(key);
    const applied = svcKey ? this.slices.get(svcKey)?.get(key) : undefined;
    const change: Change<TrackedEndpointSlice> = pending ? { previous: pending.previous, current } : { previous: applied, current };
    if (sliceProjection(change.previous) === sliceProjection(change.current)) {
      this.pendingSlices.delete(key);
      return pending !== undefined;
    }
    this.pendingSlices.set(key, change);
    this.endpointChangeCount++;
    return true;
  }

  /** Pending (not yet snapshotted) object changes. */
  pending(): { services: number; endpointSlices: number } {
    return { services: this.pendingServices.size, endpointSlices: this.pendingSlices.size };
  }

  /** Totals of recorded (non no-op) changes, for metrics. */
  changeTotals(): { services: number; endpoints: number } {
    return { services: this.serviceChangeCount, endpoints: this.endpointChangeCount };
  }

  /** Folds pending changes into the model; `changed` lists the service-port keys that differ. */
  snapshot(): ProxyModel {
    const affected = new Set<string>();
    for (const [key, ch] of this.pendingServices) {
      if (ch.current) this.services.set(key, ch.current);
      else this.services.delete(key);
      affected.add(key);
    }
    for (const [key, ch] of this.pendingSlices) {
      const oldOwner = this.sliceOwner.get(key);
      if (oldOwner) {
        this.slices.get(oldOwner)?.delete(key);
        if (this.slices.get(oldOwner)?.size === 0) this.slices.delete(oldOwner);
        this.sliceOwner.delete(key);
        affected.add(oldOwner);
      }
      const newOwner = ch.current ? sliceServiceKey(ch.current) : undefined;
      if (ch.current && newOwner) {
        let m = this.slices.get(newOwner);
        if (!m) this.slices.set(newOwner, (m = new Map()));
        m.set(key, ch.current);
        this.sliceOwner.set(key, newOwner);
        affected.add(newOwner);
      }
    }
    this.pendingServices.clear();
    this.pendingSlices.clear();

    const changed = new Set<string>();
    for (const svcKey of affected) {
      const oldKeys = this.portsByService.get(svcKey) ?? [];
      const svc = this.services.get(svcKey);
      const slices = this.slices.get(svcKey);
      const infos = svc ? servicePortsOf(svc, slices ? [...slices.keys()].sort().map((k) => slices.get(k)!) : []) : [];
      const newKeys = new Set(infos.map((i) => i.key));
      for (const k of oldKeys) {
        if (!newKeys.has(k)) {
          this.ports.delete(k);
          changed.add(k);
        }
      }
      for (const info of infos) {
        const old = this.ports.get(info.key);
        if (!old || JSON.stringify(old) !== JSON.stringify(info)) {
          this.ports.set(info.key, info);
          changed.add(info.key);
        }
      }
      if (infos.length) this.portsByService.set(svcKey, [...newKeys]);
      else this.portsByService.delete(svcKey);
    }
    return { services: new Map(this.ports), changed };
  }
}
