// Builders for proxy models: used by unit tests, the kernel test and benchmarks.
import { servicePortKey, type EndpointInfo, type ProxyModel, type ServicePortInfo } from './model.js';

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
