// core/v1 Service: schema, types and table printer. Defaulting and validation live in
// registry/service/ and are plugged in below.
import type { Static } from '@sinclair/typebox';
import { Type } from '@sinclair/typebox';
import type { KindDef } from '../types.js';
import { age, ageColumn, col, formatLabels, nameColumn } from '../printers.js';
import { defaultService, prepareServiceUpdate } from '../service/defaults.js';
import { validateService, validateServiceUpdate } from '../service/validation.js';
import {
  Atomic, Bool, Condition, Int32, IntOrString, O, Obj, Str, StrList, StrMap, Sub, kindSchema, listSchema, mergeBy,
} from './common.js';

const gvk = { group: '', version: 'v1', kind: 'Service' };

export const ServicePort = Obj('io.k8s.api.core.v1.ServicePort', 'ServicePort describes one port a Service exposes.', {
  name: O(Str('The name of this port within the Service: a DNS-1123 label, unique within the Service, required when the Service has more than one port. Used as the name of the matching EndpointPort.')),
  protocol: O(Str('The IP protocol for this port: "TCP", "UDP" or "SCTP". Defaults to TCP.', { enum: ['SCTP', 'TCP', 'UDP'] })),
  appProtocol: O(Str('The application protocol of this port, a hint for implementations (an IANA service name or a domain-prefixed name).')),
  port: Int32('The port this Service exposes.'),
  targetPort: O(IntOrString('Number or name of the port on the selected pods to send traffic to. A name is looked up among the target pod\'s container ports. Defaults to the value of `port`.')),
  nodePort: O(Int32('The port on each node on which this Service is exposed when type is NodePort or LoadBalancer. Allocated from the node port range when not given.')),
});
export type ServicePort = Static<typeof ServicePort>;

export const ClientIPConfig = Obj('io.k8s.api.core.v1.ClientIPConfig', 'ClientIPConfig holds the settings of ClientIP session affinity.', {
  timeoutSeconds: O(Int32('How long, in seconds, a ClientIP session sticks (0 < value <= 86400). Defaults to 10800 (3 hours).')),
});

export const SessionAffinityConfig = Obj('io.k8s.api.core.v1.SessionAffinityConfig', 'SessionAffinityConfig holds the settings of session affinity.', {
  clientIP: O(Sub(ClientIPConfig, 'Settings of ClientIP session affinity.')),
});

export const ServiceSpec = Obj('io.k8s.api.core.v1.ServiceSpec', 'ServiceSpec describes the attributes a user creates on a Service.', {
  ports: O(Type.Array(ServicePort, { description: 'The list of ports this Service exposes.', ...mergeBy('port', ['port', 'protocol']) })),
  selector: O(StrMap('Route traffic to pods whose labels match this selector. Empty or absent: the Service has no selector and its endpoints are managed by someone else. Ignored for type ExternalName.', { 'x-kubernetes-map-type': 'atomic' })),
  clusterIP: O(Str('The IP address of the Service, usually allocated at random. "None" makes a headless Service. Cannot change once set, except to clear it when changing type to ExternalName.')),
  clusterIPs: O(StrList('The IP addresses of the Service, at most one per IP family; clusterIPs[0] always equals clusterIP.')),
  type: O(Str('How the Service is exposed: ClusterIP (default), NodePort, LoadBalancer or ExternalName.', { enum: ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'] })),
  externalIPs: O(StrList('IP addresses, not managed by Kubernetes, on which nodes also accept traffic for this Service.')),
  sessionAffinity: O(Str('"ClientIP" sends a client\'s connections to the same endpoint; "None" (default) does not.', { enum: ['ClientIP', 'None'] })),
  loadBalancerIP: O(Str('Deprecated: the IP address a LoadBalancer Service asks for, when the implementation supports it.')),
  loadBalancerSourceRanges: O(StrList('Client CIDRs allowed to reach a LoadBalancer Service, when the implementation supports it.')),
  externalName: O(Str('The DNS name the cluster DNS returns as a CNAME for this Service; requires type ExternalName.')),
  externalTrafficPolicy: O(Str('How traffic arriving on external addresses (node ports, external IPs, load-balancer IPs) is routed: "Cluster" to any ready endpoint, "Local" only to endpoints on the receiving node, keeping the client source IP.', { enum: ['Cluster', 'Local'] })),
  healthCheckNodePort: O(Int32('The node port answering health checks of a LoadBalancer Service with externalTrafficPolicy Local. Allocated when not given.')),
  publishNotReadyAddresses: O(Bool('Publish endpoints whether or not their pods are ready (in DNS and Endpoints).')),
  sessionAffinityConfig: O(Sub(SessionAffinityConfig, 'Settings of session affinity.')),
  ipFamilies: O(StrList('The IP families (IPv4, IPv6) of this Service, in the order of clusterIPs.')),
  ipFamilyPolicy: O(Str('SingleStack, PreferDualStack or RequireDualStack.', { enum: ['PreferDualStack', 'RequireDualStack', 'SingleStack'] })),
  allocateLoadBalancerNodePorts: O(Bool('Whether node ports are allocated for a LoadBalancer Service. Defaults to true.')),
  loadBalancerClass: O(Str('The class of the load-balancer implementation this Service belongs to. Cannot change once set.')),
  internalTrafficPolicy: O(Str('How traffic to the cluster IP from inside the cluster is routed: "Cluster" to any ready endpoint, "Local" only to endpoints on the same node.', { enum: ['Cluster', 'Local'] })),
  trafficDistribution: O(Str('A preference for how traffic is spread over endpoints, e.g. "PreferClose" for topologically near endpoints.')),
});
export type ServiceSpec = Static<typeof ServiceSpec>;

export const PortStatus = Obj('io.k8s.api.core.v1.PortStatus', 'PortStatus is the state of one port of a load-balancer ingress point.', {
  port: Int32('The port number.'),
  protocol: Str('The protocol of the port: TCP, UDP or SCTP.', { enum: ['SCTP', 'TCP', 'UDP'] }),
  error: O(Str('An error for this port, in CamelCase, if any.')),
});

export const LoadBalancerIngress = Obj('io.k8s.api.core.v1.LoadBalancerIngress', 'LoadBalancerIngress is one ingress point of a load balancer.', {
  ip: O(Str('The IP address of the ingress point.')),
  hostname: O(Str('The DNS name of the ingress point.')),
  ipMode: O(Str('How the load-balancer IP behaves: "VIP" (traffic arrives with the IP as destination) or "Proxy" (traffic arrives at the node or pod).')),
  ports: O(Type.Array(PortStatus, { description: 'The ports of the ingress point.', ...Atomic })),
});

export const LoadBalancerStatus = Obj('io.k8s.api.core.v1.LoadBalancerStatus', 'LoadBalancerStatus is the state of a load balancer.', {
  ingress: O(Type.Array(LoadBalancerIngress, { description: 'The ingress points of the load balancer.', ...Atomic })),
});

export const ServiceStatus = Obj('io.k8s.api.core.v1.ServiceStatus', 'ServiceStatus is the current state of a Service.', {
  loadBalancer: O(Sub(LoadBalancerStatus, 'The state of the load balancer, if any.')),
  conditions: O(Type.Array(Condition, { description: 'The current conditions of the Service.', ...mergeBy('type') })),
});
export type ServiceStatus = Static<typeof ServiceStatus>;

export const Service = kindSchema('io.k8s.api.core.v1.Service', gvk, 'A Service is a named abstraction of a software service: a local port that the proxy listens on, and the selector that chooses the pods answering on it.', {
  spec: O(Sub(ServiceSpec, 'The behaviour of the Service.')),
  status: O(Sub(ServiceStatus, 'The most recently observed state of the Service. Populated by the system.')),
});
export type Service = Static<typeof Service>;

export const ServiceList = listSchema(Service, { ...gvk, kind: 'ServiceList' }, 'The list of Services.');
export type ServiceList = Static<typeof ServiceList>;

/** kube's makePortString: `80/TCP`, or `80:30080/TCP` with a node port; comma-joined. */
function portsCell(ports: ServicePort[] | undefined): string {
  const s = (ports ?? [])
    .map((p) => (p.nodePort && p.nodePort > 0 ? `${p.port}:${p.nodePort}/${p.protocol ?? ''}` : `${p.port}/${p.protocol ?? ''}`))
    .join(',');
  return s === '' ? '<none>' : s;
}

/** kube's getServiceExternalIP (wide: the server never truncates). */
function externalIPCell(svc: Service): string {
  const spec = svc.spec ?? {};
  const externalIPs = spec.externalIPs ?? [];
  switch (spec.type) {
    case 'ClusterIP':
    case 'NodePort':
      return externalIPs.length > 0 ? externalIPs.join(',') : '<none>';
    case 'LoadBalancer': {
      const lb: string[] = [];
      for (const ing of svc.status?.loadBalancer?.ingress ?? []) {
        if (ing.ip) lb.push(ing.ip);
        else if (ing.hostname) lb.push(ing.hostname);
      }
      const all = [...lb, ...externalIPs];
      return all.length > 0 ? all.join(',') : '<pending>';
    }
    case 'ExternalName':
      return spec.externalName ?? '';
  }
  return '<unknown>';
}

export const serviceKind: KindDef<Service> = {
  group: '',
  version: 'v1',
  kind: 'Service',
  listKind: 'ServiceList',
  resource: 'services',
  singular: 'service',
  shortNames: ['svc'],
  categories: ['all'],
  namespaced: true,
  subresources: ['status'],
  schema: Service,
  // Defaulting and validation come from registry/service/ (another part); set on these lines.
  defaults: defaultService,
  prepareForUpdate: prepareServiceUpdate,
  validate: validateService,
  validateUpdate: validateServiceUpdate,
  nameRule: 'dns1035',
  table: {
    columns: [
      nameColumn,
      col('Type', 'How the Service is exposed: ClusterIP, NodePort, LoadBalancer or ExternalName.'),
      col('Cluster-IP', 'The IP address of the Service inside the cluster.'),
      col('External-IP', 'The addresses the Service is reachable on from outside the cluster, or its external name.'),
      col('Port(s)', 'The ports the Service exposes, with node ports.'),
      ageColumn,
      col('Selector', 'The label selector that chooses the pods behind the Service.', 1),
    ],
    cells(svc, now) {
      const spec = svc.spec ?? {};
      const clusterIP = spec.clusterIPs && spec.clusterIPs.length > 0 ? spec.clusterIPs[0]! : '<none>';
      return [
        svc.metadata?.name ?? '',
        spec.type ?? '',
        clusterIP,
        externalIPCell(svc),
        portsCell(spec.ports),
        age(svc.metadata?.creationTimestamp, now),
        formatLabels(spec.selector),
      ];
    },
  },
};
