// Helpers for the controllers' tests and benchmarks: an in-process API over the memory store, and
// builders of Services, Pods and Nodes written through the same storage the HTTP API uses.
import { pino } from 'pino';
import { MemoryStore } from '../store/memory.js';
import { ApiRegistry } from '../api/registry.js';
import { ServiceAllocator } from '../allocators/service.js';
import type { ClusterConfig } from '../registry/types.js';
import type { Service } from '../registry/kinds/service.js';
import type { Pod, PodStatus } from '../registry/kinds/pod.js';
import type { Node } from '../registry/kinds/node.js';
import type { Endpoints } from '../registry/kinds/endpoints.js';
import type { EndpointSlice } from '../registry/kinds/endpointslice.js';
import { startNetworkControllers, type NetworkControllers } from './networking.js';

export const testCluster: ClusterConfig = {
  serviceCIDRs: ['198.18.0.0/16'],
  podCIDR: '198.19.0.0/16',
  nodePortRange: { base: 30000, size: 2768 },
  clusterDomain: 'cluster.local',
  lbPool: [],
};

export const silentLogger = pino({ level: 'silent' });

export async function testRegistry(cfg: ClusterConfig = testCluster) {
  const store = new MemoryStore();
  const registry = new ApiRegistry(store, cfg);
  const services = registry.kind<Service>('Service');
  services.hooks = new ServiceAllocator(store, cfg).hooks();
  await registry.ensureSystemNamespaces();
  return {
    store,
    registry,
    services,
    pods: registry.kind<Pod>('Pod'),
    nodes: registry.kind<Node>('Node'),
    endpoints: registry.kind<Endpoints>('Endpoints'),
    slices: registry.kind<EndpointSlice>('EndpointSlice'),
  };
}

export type TestAPI = Awaited<ReturnType<typeof testRegistry>>;

/** A fresh in-process API with the Service networking controllers running over it; the caller stops `ctl`. */
export async function startTestNetwork(cfg: ClusterConfig = testCluster): Promise<{ api: TestAPI; ctl: NetworkControllers }> {
  const api = await testRegistry(cfg);
  return { api, ctl: await startNetworkControllers(api.registry, silentLogger) };
}

/** Polls `check` until it returns without throwing; rethrows its last error after `timeoutMs`. */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

export function service(name: string, spec: Partial<NonNullable<Service['spec']>> = {}, labels?: Record<string, string>): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, ...(labels ? { labels } : {}) }, spec: { ports: [{ port: 80, targetPort: 8080 }], selector: { app: name }, ...spec } } as Service;
}

export interface PodOpts {
  labels?: Record<string, string>;
  ip?: string | string[];
  ready?: boolean;
  node?: string;
  phase?: string;
  ports?: Array<{ name?: string; containerPort: number; protocol?: string }>;
  hostname?: string;
  subdomain?: string;
}

export function podStatus(o: PodOpts): PodStatus {
  const ips = o.ip === undefined ? [] : Array.isArray(o.ip) ? o.ip : [o.ip];
  const st: PodStatus = { phase: o.phase ?? 'Running', conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }] };
  if (ips.length) {
    st.podIP = ips[0];
    st.podIPs = ips.map((ip) => ({ ip }));
  }
  return st;
}

/** Creates a pod and sets its status (as a kubelet would, through the status subresource). */
export async function createPod(api: TestAPI, ns: string, name: string, o: PodOpts): Promise<Pod> {
  const pod: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, labels: o.labels ?? {} },
    spec: {
      containers: [{ name: 'c', image: 'nginx', ports: o.ports ?? [] }],
      ...(o.node ? { nodeName: o.node } : {}),
      ...(o.hostname ? { hostname: o.hostname } : {}),
      ...(o.subdomain ? { subdomain: o.subdomain } : {}),
    },
  } as Pod;
  const created = await api.pods.create(ns, pod);
  return setPodStatus(api, ns, name, o, created);
}

export async function setPodStatus(api: TestAPI, ns: string, name: string, o: PodOpts, cur?: Pod): Promise<Pod> {
  const base = cur ?? (await api.pods.get(ns, name));
  return api.pods.update(ns, name, { ...base, status: podStatus(o) }, { subresource: 'status' });
}

export async function setPodReady(api: TestAPI, ns: string, name: string, ready: boolean): Promise<Pod> {
  return api.pods.guaranteedUpdate(
    ns,
    name,
    (p) => {
      const st = (p.status ??= {});
      st.conditions = [{ type: 'Ready', status: ready ? 'True' : 'False' }];
      return p;
    },
    { subresource: 'status' },
  );
}

/** All slices of a Service (by the service-name label), endpoints sorted by address. */
export async function slicesOf(api: TestAPI, ns: string, svc: string): Promise<EndpointSlice[]> {
  const { items } = await api.slices.list(ns);
  return items.filter((s) => s.metadata?.labels?.['kubernetes.io/service-name'] === svc);
}
