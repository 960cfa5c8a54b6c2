// Informer transforms for the DNS server (as client-go's SetTransform): the zone reads a handful of
// fields, so the informer caches keep only those. With 10,000 Services and 100,000 endpoints the
// full objects (targetRefs, node names, managed fields, Pod specs) are most of the memory.
import type { ObjectMeta } from '../registry/kinds/meta.js';
import type { Service } from '../registry/kinds/service.js';
import type { Endpoint, EndpointSlice } from '../registry/kinds/endpointslice.js';
import type { Pod } from '../registry/kinds/pod.js';
import type { Namespace } from '../registry/kinds/namespace.js';

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
/** Shared by every not-ready endpoint; ready (or unknown) endpoints carry no conditions at all. */
const NOT_READY = Object.freeze({ ready: false });

function meta(m: ObjectMeta | undefined, withLabel = false): ObjectMeta {
  const out: ObjectMeta = {};
  if (m?.namespace !== undefined) out.namespace = m.namespace;
  if (m?.name !== undefined) out.name = m.name;
  if (m?.resourceVersion !== undefined) out.resourceVersion = m.resourceVersion;
  if (m?.deletionTimestamp !== undefined) out.deletionTimestamp = m.deletionTimestamp;
  const svc = withLabel ? m?.labels?.[SERVICE_NAME_LABEL] : undefined;
  if (svc !== undefined) out.labels = { [SERVICE_NAME_LABEL]: svc };
  return out;
}

export function stripService(s: Service): Service {
  const spec = s.spec ?? {};
  const out: NonNullable<Service['spec']> = {};
  if (spec.type !== undefined) out.type = spec.type;
  if (spec.clusterIP !== undefined) out.clusterIP = spec.clusterIP;
  if (spec.clusterIPs !== undefined && !(spec.clusterIPs.length === 1 && spec.clusterIPs[0] === spec.clusterIP)) out.clusterIPs = spec.clusterIPs;
  if (spec.externalName !== undefined) out.externalName = spec.externalName;
  if (spec.publishNotReadyAddresses) out.publishNotReadyAddresses = true;
  if (spec.ports) out.ports = spec.ports.map((p) => ({ name: p.name, protocol: p.protocol, port: p.port }));
  return { apiVersion: s.apiVersion, kind: s.kind, metadata: meta(s.metadata), spec: out };
}

function stripEndpoint(e: Endpoint): Endpoint {
  const out: Endpoint = { addresses: e.addresses };
  if (e.hostname !== undefined) out.hostname = e.hostname;
  if (e.conditions?.ready === false) out.conditions = NOT_READY;
  return out;
}

export function stripEndpointSlice(sl: EndpointSlice): EndpointSlice {
  const out: EndpointSlice = {
    apiVersion: sl.apiVersion, kind: sl.kind, metadata: meta(sl.metadata, true), addressType: sl.addressType,
    endpoints: (sl.endpoints ?? []).map(stripEndpoint),
  };
  if (sl.ports) out.ports = sl.ports.map((p) => ({ name: p.name, protocol: p.protocol, port: p.port }));
  return out;
}

export function stripPod(p: Pod): Pod {
  const status: NonNullable<Pod['status']> = {};
  if (p.status?.podIP !== undefined) status.podIP = p.status.podIP;
  if (p.status?.podIPs !== undefined) status.podIPs = p.status.podIPs.map((x) => ({ ip: x.ip }));
  return { apiVersion: p.apiVersion, kind: p.kind, metadata: meta(p.metadata), status } as Pod;
}

export function stripNamespace(n: Namespace): Namespace {
  return { apiVersion: n.apiVersion, kind: n.kind, metadata: meta(n.metadata) } as Namespace;
}

/** The transform per informer kind the zone reads. */
export const dnsTransforms = {
  services: stripService,
  endpointSlices: stripEndpointSlice,
  pods: stripPod,
  namespaces: stripNamespace,
} as const;
