// The proxy model: what every data plane programs, derived from Services and EndpointSlices by the
// change tracker (tracker.ts). One entry per Service port (namespace/name/portName/protocol). Pure
// data: the renderers never see API objects, only this.

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

/** One endpoint of one Service port, merged from every EndpointSlice of the Service. */
export interface EndpointInfo {
  readonly ip: string;
  readonly port: number;
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  readonly nodeName: string;
  readonly zone: string;
  /** hints.forZones[].name; empty when the endpoint carries no zone hints. */
  readonly zoneHints: readonly string[];
  /** hints.forNodes[].name; empty when the endpoint carries no node hints. */
  readonly nodeHints: readonly string[];
}

export interface ServicePortInfo {
  /** `namespace/name/portName/protocol` (portName may be empty). */
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  readonly portName: string;
  readonly protocol: Protocol;
  readonly port: number;
  /** clusterIPs (both families); empty for headless Services (never in the model). */
  readonly clusterIPs: readonly string[];
  readonly externalIPs: readonly string[];
  /** status.loadBalancer.ingress[].ip, skipping ipMode Proxy. */
  readonly loadBalancerIPs: readonly string[];
  /** 0 when none. */
  readonly nodePort: number;
  /** 0 when none. */
  readonly healthCheckNodePort: number;
  /** Service type NodePort or LoadBalancer, or any externalIPs: external traffic exists. */
  readonly externallyAccessible: boolean;
  readonly externalPolicyLocal: boolean;
  readonly internalPolicyLocal: boolean;
  /** 0 = no affinity; otherwise ClientIP affinity with this timeout in seconds. */
  readonly affinityTimeoutSeconds: number;
  readonly loadBalancerSourceRanges: readonly string[];
  /** Sorted by ip then port; deduplicated by ip:port across slices. */
  readonly endpoints: readonly EndpointInfo[];
}

export interface ProxyModel {
  readonly services: ReadonlyMap<string, ServicePortInfo>;
  /** Service-port keys added, removed or modified since the previous snapshot. */
  readonly changed: ReadonlySet<string>;
}

export function servicePortKey(namespace: string, name: string, portName: string, protocol: Protocol): string {
  return `${namespace}/${name}/${portName}/${protocol}`;
}

/**
 * Whether a service uses Cluster-policy endpoints for some of its traffic: internal policy Cluster,
 * or any external traffic at all, as kube-proxy has it. Even with externalTrafficPolicy Local, pods
 * and the node reach the external addresses with Cluster policy (the "short circuit").
 */
export function usesClusterEndpoints(sp: ServicePortInfo): boolean {
  return !sp.internalPolicyLocal || sp.externallyAccessible;
}

/** Whether a service uses Local-policy endpoints for some of its traffic. */
export function usesLocalEndpoints(sp: ServicePortInfo): boolean {
  return sp.internalPolicyLocal || (sp.externallyAccessible && sp.externalPolicyLocal);
}

export interface NodeTopology {
  nodeName: string;
  /** The node's topology.kubernetes.io/zone label ('' when absent). */
  zone: string;
  /** PreferSameTrafficDistribution: honour per-node hints (on by default since 1.34). */
  preferSameNode?: boolean;
}

export interface CategorizedEndpoints {
  /** Usable endpoints for Cluster policy (topology-aware); empty when the Service never uses Cluster policy. */
  cluster: EndpointInfo[];
  /** Usable endpoints on this node for Local policy; empty when the Service never uses Local policy. */
  local: EndpointInfo[];
  /** Whether any endpoint anywhere in the cluster is usable (ready, or serving while terminating). */
  hasAny: boolean;
}

function topologyMode(eps: readonly EndpointInfo[], node: NodeTopology): '' | 'node' | 'zone' {
  let allNode = true;
  let forNode = false;
  let allZone = true;
  let forZone = false;
  for (const ep of eps) {
    if (!ep.ready) continue;
    if (ep.nodeHints.length === 0) allNode = false;
    else if (ep.nodeHints.includes(node.nodeName)) forNode = true;
    if (ep.zoneHints.length === 0) allZone = false;
    else if (ep.zoneHints.includes(node.zone)) forZone = true;
  }
  if ((node.preferSameNode ?? true) && allNode && forNode) return 'node';
  if (allZone && forZone) return 'zone';
  return '';
}

/**
 * kube-proxy's endpoint selection: Ready endpoints (narrowed by topology hints when every ready
 * endpoint carries one for this node or zone), falling back to serving-but-terminating endpoints
 * only when none is ready; Local policy keeps this node's endpoints, with the same fallback
 * decided on the local ones alone.
 */
export function categorizeEndpoints(sp: ServicePortInfo, node: NodeTopology): CategorizedEndpoints {
  const eps = sp.endpoints;
  let cluster: EndpointInfo[] = [];
  let local: EndpointInfo[] = [];
  let hasAny = false;
  if (usesClusterEndpoints(sp)) {
    const mode = topologyMode(eps, node);
    cluster = eps.filter((ep) => ep.ready && (mode === '' || (mode === 'node' ? ep.nodeHints.includes(node.nodeName) : ep.zoneHints.includes(node.zone))));
    if (cluster.length === 0) cluster = eps.filter((ep) => ep.serving && ep.terminating);
    if (cluster.length > 0) hasAny = true;
  }
  if (!usesLocalEndpoints(sp)) return { cluster, local, hasAny };
  let localReady = false;
  let localServingTerminating = false;
  for (const ep of eps) {
    const isLocal = ep.nodeName !== '' && ep.nodeName === node.nodeName;
    if (ep.ready) {
      hasAny = true;
      if (isLocal) localReady = true;
    } else if (ep.serving && ep.terminating) {
      hasAny = true;
      if (isLocal) localServingTerminating = true;
    }
  }
  if (localReady) local = eps.filter((ep) => ep.nodeName === node.nodeName && ep.ready);
  else if (localServingTerminating) local = eps.filter((ep) => ep.nodeName === node.nodeName && ep.serving && ep.terminating);
  return { cluster, local, hasAny };
}

/** The endpoints internal (cluster IP) traffic goes to. */
export function internalEndpoints(sp: ServicePortInfo, c: CategorizedEndpoints): EndpointInfo[] {
  return sp.internalPolicyLocal ? c.local : c.cluster;
}

/** The endpoints external traffic (node port, external IP, LB IP) goes to. */
export function externalEndpoints(sp: ServicePortInfo, c: CategorizedEndpoints): EndpointInfo[] {
  return sp.externalPolicyLocal ? c.local : c.cluster;
}

/** What every data plane needs to know about the node it programs (the same for all backends). */
export interface NodeState {
  nodeName: string;
  /** topology.kubernetes.io/zone of this node ('' when unknown). */
  zone?: string;
  nodeIPs: string[];
  /** CIDRs whose local addresses accept node ports; empty = every local address except loopback. */
  nodePortAddresses: string[];
  /** Pod CIDR of the cluster ('' = unknown: no masquerade decision by source). */
  clusterCIDR: string;
  masqueradeAll: boolean;
  /** Service CIDRs: unallocated addresses in them are dropped. */
  serviceCIDRs?: string[];
}
