// Builders for proxy models: used by unit tests, the kernel test and benchmarks.
import { servicePortKey, type EndpointInfo, type ProxyModel, type ServicePortInfo } from './model.js';
import type { Packet, TraceResult } from './trace-types.js';

export function ep(ip: string, port: number, o: Partial<EndpointInfo> = {}): EndpointInfo {
  const ready = o.ready ?? true;
  return {
    ip, port, ready,
    serving: o.serving ?? ready,
    terminating: o.terminating ?? false,
    nodeName: o.nodeName ?? '',
    zone: o.zone ?? '',
    zoneHints: o.zoneHints ?? [],
    nodeHints: o.nodeHints ?? [],
  };
}

export function sport(o: Partial<ServicePortInfo> & { namespace?: string; name: string; clusterIP?: string }): ServicePortInfo {
  const namespace = o.namespace ?? 'default';
  const protocol = o.protocol ?? 'TCP';
  const portName = o.portName ?? '';
  return {
    key: servicePortKey(namespace, o.name, portName, protocol),
    namespace,
    name: o.name,
    portName,
    protocol,
    port: o.port ?? 80,
    clusterIPs: o.clusterIPs ?? [o.clusterIP ?? '198.18.0.1'],
    externalIPs: o.externalIPs ?? [],
    loadBalancerIPs: o.loadBalancerIPs ?? [],
    nodePort: o.nodePort ?? 0,
    healthCheckNodePort: o.healthCheckNodePort ?? 0,
    externallyAccessible: o.externallyAccessible ?? ((o.nodePort ?? 0) > 0 || (o.externalIPs ?? []).length > 0 || (o.loadBalancerIPs ?? []).length > 0),
    externalPolicyLocal: o.externalPolicyLocal ?? false,
    internalPolicyLocal: o.internalPolicyLocal ?? false,
    affinityTimeoutSeconds: o.affinityTimeoutSeconds ?? 0,
    loadBalancerSourceRanges: o.loadBalancerSourceRanges ?? [],
    endpoints: o.endpoints ?? [],
  };
}

export function modelOf(ports: ServicePortInfo[], changed?: Iterable<string>): ProxyModel {
  const services = new Map(ports.map((p) => [p.key, p] as const));
  return { services, changed: new Set(changed ?? services.keys()) };
}

/** Service i's cluster IP: 198.18.x.y inside the test service CIDR. */
export function serviceIP(i: number): string {
  const n = i + 1;
  return `198.18.${(n >> 8) & 255}.${n & 255}`;
}

/** Endpoint j of service i: 198.19.x.y inside the test pod CIDR (wraps after 65,000 endpoints). */
export function endpointIP(i: number, j: number): string {
  const n = ((i * 10 + j) % 65000) + 1;
  return `198.19.${(n >> 8) & 255}.${n & 255}`;
}

/** n ClusterIP services (every 10th a NodePort) with k ready endpoints each. */
export function generatedModel(n: number, k: number): ProxyModel {
  const ports: ServicePortInfo[] = [];
  for (let i = 0; i < n; i++) {
    const eps: EndpointInfo[] = [];
    for (let j = 0; j < k; j++) eps.push(ep(endpointIP(i, j), 8080, { nodeName: j % 2 ? 'node-a' : 'node-b' }));
    ports.push(sport({
      namespace: `ns${i % 50}`, name: `svc${i}`, portName: 'http', clusterIP: serviceIP(i), port: 80,
      nodePort: i % 10 === 0 ? 30000 + ((i / 10) % 2768) : 0, endpoints: eps,
    }));
  }
  return modelOf(ports);
}

// ---- fixtures shared by the iptables and nftables render and trace tests ----

/** A text's non-blank lines, sorted: compares restore texts and transactions order-insensitively. */
export const sortedLines = (s: string): string[] => s.split('\n').filter((l) => l.trim() !== '').sort();

/** A small deterministic random source (a linear congruential generator) in [0, 1). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

export interface RandomServiceOptions {
  /** Also draw a health-check node port for load balancers (the draw shifts the random sequence). */
  healthCheckNodePorts?: boolean;
}

/** Service i with random type, policies, affinity and up to four endpoints of mixed readiness. */
export function randomService(r: () => number, i: number, o: RandomServiceOptions = {}): ServicePortInfo {
  const eps: EndpointInfo[] = [];
  const n = Math.floor(r() * 5);
  for (let j = 0; j < n; j++) {
    const ready = r() < 0.8;
    eps.push(ep(`198.19.${i}.${j + 1}`, 8080, { ready, serving: ready || r() < 0.5, terminating: !ready && r() < 0.7, nodeName: r() < 0.5 ? 'node-a' : 'node-b' }));
  }
  const type = r();
  const lb = type > 0.7;
  return sport({
    name: `svc${i}`,
    portName: r() < 0.5 ? 'http' : '',
    protocol: r() < 0.8 ? 'TCP' : 'UDP',
    clusterIP: `198.18.0.${i + 1}`,
    port: r() < 0.5 ? 80 : 443,
    nodePort: type > 0.4 ? 30000 + i : 0,
    ...(o.healthCheckNodePorts ? { healthCheckNodePort: lb && r() < 0.5 ? 32000 + i : 0 } : {}),
    externalIPs: r() < 0.2 ? [`198.19.255.${50 + i}`] : [],
    loadBalancerIPs: lb ? [`198.19.255.${150 + i}`] : [],
    loadBalancerSourceRanges: lb && r() < 0.5 ? ['198.19.255.0/28'] : [],
    externalPolicyLocal: r() < 0.3,
    internalPolicyLocal: r() < 0.2,
    affinityTimeoutSeconds: r() < 0.2 ? (r() < 0.5 ? 60 : 10800) : 0,
    endpoints: eps,
  });
}

/** One to four random changes (replace or delete) among services svc0..svc{size-1}, with `changed` set to what differs. */
export function mutate(r: () => number, m: ProxyModel, size: number, o: RandomServiceOptions = {}): ProxyModel {
  const ports = new Map(m.services);
  const changes = 1 + Math.floor(r() * 4);
  for (let c = 0; c < changes; c++) {
    const i = Math.floor(r() * size);
    const key = [...ports.keys()].find((k) => k.startsWith(`default/svc${i}/`));
    if (key && r() < 0.25) ports.delete(key);
    else {
      if (key) ports.delete(key);
      const s = randomService(r, i, o);
      ports.set(s.key, s);
    }
  }
  const changed = new Set<string>();
  for (const k of new Set([...m.services.keys(), ...ports.keys()])) {
    if (JSON.stringify(m.services.get(k)) !== JSON.stringify(ports.get(k))) changed.add(k);
  }
  return { services: ports, changed };
}

/** Endpoint placements for the tracer tests: on this node (node-a) and on another (node-b). */
export const ON_A = { nodeName: 'node-a' };
export const ON_B = { nodeName: 'node-b' };
/** Tracer test sources: a pod, a client outside the cluster CIDR, the node itself. */
export const POD = '198.19.9.9';
export const CLIENT = '198.19.255.200';
export const NODE = '198.19.255.1';

/** The first packet of a TCP connection entering at prerouting, non-local destination, unless `o` says otherwise. */
export const pkt = (src: string, dst: string, dport: number, o: Partial<Packet> = {}): Packet => ({ src, dst, proto: 'tcp', dport, isLocalDst: false, hook: 'prerouting', ...o });

/** A trace result in one comparable line: `dnat IP:PORT masq`, `drop`, … */
export const outcome = (r: TraceResult): string => `${r.verdict}${r.endpoint ? ` ${r.endpoint.ip}:${r.endpoint.port}` : ''}${r.masquerade ? ' masq' : ''}`;

/**
 * The services the tracer tests walk packets through (cluster IPs 198.18.0.10-18): load balancers
 * with ETP Local, ITP Local, affinity, UDP and one without endpoints (`empty`, extended by `emptyExtra`).
 */
export function traceModel(emptyExtra: Partial<ServicePortInfo> = {}): ProxyModel {
  return modelOf([
    sport({ name: 'web', clusterIP: '198.18.0.10', endpoints: [ep('198.19.1.1', 8080, ON_A), ep('198.19.1.2', 8080, ON_B)] }),
    sport({ name: 'np', clusterIP: '198.18.0.11', nodePort: 30080, externalIPs: ['198.19.255.50'], endpoints: [ep('198.19.2.1', 8080, ON_B)] }),
    sport({ name: 'lb', clusterIP: '198.18.0.12', nodePort: 30081, loadBalancerIPs: ['198.19.255.100'], externalPolicyLocal: true, loadBalancerSourceRanges: ['198.19.255.0/28'], endpoints: [ep('198.19.3.1', 8080, ON_A)] }),
    sport({ name: 'lbnolocal', clusterIP: '198.18.0.13', nodePort: 30082, loadBalancerIPs: ['198.19.255.101'], externalPolicyLocal: true, endpoints: [ep('198.19.4.1', 8080, ON_B)] }),
    sport({ name: 'itp', clusterIP: '198.18.0.14', internalPolicyLocal: true, endpoints: [ep('198.19.5.1', 8080, ON_A), ep('198.19.5.2', 8080, ON_B)] }),
    sport({ name: 'itpnone', clusterIP: '198.18.0.15', internalPolicyLocal: true, endpoints: [ep('198.19.6.2', 8080, ON_B)] }),
    sport({ name: 'empty', clusterIP: '198.18.0.16', nodePort: 30083, ...emptyExtra }),
    sport({ name: 'aff', clusterIP: '198.18.0.17', affinityTimeoutSeconds: 60, endpoints: [ep('198.19.7.1', 8080, ON_A), ep('198.19.7.2', 8080, ON_B)] }),
    sport({ name: 'dns', clusterIP: '198.18.0.18', protocol: 'UDP', port: 53, endpoints: [ep('198.19.8.1', 53, ON_A)] }),
  ]);
}
