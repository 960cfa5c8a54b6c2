// The EndpointSlice mirroring controller: the Endpoints of a Service without a selector are written
// by hand (or by another system), and are mirrored into EndpointSlices so that readers of slices
// only (the node proxy, DNS) serve them too. Mirrored slices are owned by the Endpoints object and
// marked managed-by endpointslicemirroring-controller.k8s.io. Endpoints labelled
// endpointslice.kubernetes.io/skip-mirror=true (those of the Endpoints controller) are not mirrored.
import type { Logger } from 'pino';
import type { ApiRegistry } from '../api/registry.js';
import type { Service } from '../registry/kinds/service.js';
import type { EndpointAddress, Endpoints } from '../registry/kinds/endpoints.js';
import type { DiscoveryEndpointPort, Endpoint, EndpointSlice } from '../registry/kinds/endpointslice.js';
import { ipFamilyOf } from '../util/ip.js';
import type { SharedInformers } from './informers.js';
import { WorkQueue } from './workqueue.js';
import { serviceSelector } from './podselection.js';
import {
  ANNOTATION_LAST_APPLIED, LABEL_MANAGED_BY, LABEL_SERVICE_NAME, LABEL_SKIP_MIRROR, MANAGED_BY_MIRRORING,
  SliceCache, planSlices, portsKey, removeSlice, splitKey, writeSlicePlan,
  type AddressType, type DesiredGroup, type SliceMeta, type SliceWriter, type WriteCounts,
} from './slicesync.js';

/** Addresses mirrored per subset at most (kube's mirroringMaxEndpointsPerSubset). */
export const MAX_MIRRORED_PER_SUBSET = 1000;

export interface MirroringControllerOptions {
  maxEndpointsPerSlice?: number;
  workers?: number;
}

/** The slices' content for one Endpoints object: per subset, its ports; per address, its family. */
export function mirroredGroups(ep: Endpoints): DesiredGroup[] {
  const groups = new Map<string, DesiredGroup>();
  for (const ss of ep.subsets ?? []) {
    const ports: DiscoveryEndpointPort[] = (ss.ports ?? []).map((p) => {
      const out: DiscoveryEndpointPort = { name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP' };
      if (p.appProtocol !== undefined) out.appProtocol = p.appProtocol;
      return out;
    });
    const all: Array<[EndpointAddress, boolean]> = [...(ss.addresses ?? []).map((a): [EndpointAddress, boolean] => [a, true]), ...(ss.notReadyAddresses ?? []).map((a): [EndpointAddress, boolean] => [a, false])];
    for (const [a, ready] of all.slice(0, MAX_MIRRORED_PER_SUBSET)) {
      const fam = ipFamilyOf(a.ip);
      if (!fam) continue;
      const addressType: AddressType = fam === 4 ? 'IPv4' : 'IPv6';
      const key = `${addressType}|${portsKey(ports)}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { addressType, ports, endpoints: new Map() }));
      const e: Endpoint = { addresses: [a.ip], conditions: { ready } };
      if (a.hostname) e.hostname = a.hostname;
      if (a.targetRef) e.targetRef = structuredClone(a.targetRef);
      if (a.nodeName) e.nodeName = a.nodeName;
      // The same address twice (in two subsets with the same ports): the ready entry wins.
      if (!g.endpoints.has(a.ip) || ready) g.endpoints.set(a.ip, e);
    }
  }
  return [...groups.values()];
}

export function mirroredMeta(ep: Endpoints): SliceMeta {
  const labels: Record<string, string> = { ...(ep.metadata?.labels ?? {}) };
  delete labels[LABEL_SKIP_MIRROR];
  labels[LABEL_SERVICE_NAME] = ep.metadata?.name ?? '';
  labels[LABEL_MANAGED_BY] = MANAGED_BY_MIRRORING;
  const annotations: Record<string, string> = { ...(ep.metadata?.annotations ?? {}) };
  delete annotations[ANNOTATION_LAST_APPLIED];
  return {
    namespace: ep.metadata?.namespace ?? '',
    generateName: `${ep.metadata?.name}-`,
    labels,
    annotations,
    ownerReferences: [{ apiVersion: 'v1', kind: 'Endpoints', name: ep.metadata?.name ?? '', uid: ep.metadata?.uid ?? '', controller: true, blockOwnerDeletion: true }],
  };
}

export class EndpointSliceMirroringController {
  private readonly queue: WorkQueue;
  private readonly services;
  private readonly endpoints;
  private readonly cache: SliceCache;
  private readonly storage;
  private readonly max: number;
  private readonly writer: SliceWriter;
  private readonly unsubscribe: Array<() => void> = [];
  readonly writes: WriteCounts = { creates: 0, updates: 0, deletes: 0 };

  constructor(
    registry: ApiRegistry,
    informers: SharedInformers,
    private readonly log: Logger,
    opts: MirroringControllerOptions = {},
  ) {
    this.max = Math.min(1000, Math.max(1, opts.maxEndpointsPerSlice ?? 100));
    this.storage = registry.kind<EndpointSlice>('EndpointSlice');
    this.services = informers.get<Service>('Service');
    this.endpoints = informers.get<Endpoints>('Endpoints');
    this.queue = new WorkQueue((k) => this.sync(k), { workers: opts.workers, onError: (key, err) => this.log.warn({ err, endpoints: key }, 'endpointslice mirroring failed') });
    this.cache = new SliceCache(informers.get<EndpointSlice>('EndpointSlice'), MANAGED_BY_MIRRORING, (k) => this.queue.add(k));
    this.writer = { storage: this.storage, cache: this.cache, writes: this.writes, requeue: (k) => this.queue.add(k) };
  }

  async start(): Promise<void> {
    const key = (o: { metadata?: { namespace?: string; name?: string } }) => `${o.metadata?.namespace}/${o.metadata?.name}`;
    this.unsubscribe.push(
      this.endpoints.addHandler({ onAdd: (e) => this.queue.add(key(e)), onUpdate: (_o, e) => this.queue.add(key(e)), onDelete: (e) => this.queue.add(key(e)) }),
      // A Service gaining or losing its selector starts or stops the mirroring of its Endpoints.
      this.services.addHandler({
        onAdd: (s) => this.queue.add(key(s)),
        onUpdate: (o, s) => {
          if (Boolean(serviceSelector(o)) !== Boolean(serviceSelector(s))) this.queue.add(key(s));
        },
        onDelete: (s) => this.queue.add(key(s)),
      }),
    );
    await Promise.all([this.services.waitForSync(), this.endpoints.waitForSync(), this.cache.informer.waitForSync()]);
  }

  stop(): void {
    for (const u of this.unsubscribe) u();
    this.queue.stop();
  }

  whenIdle(): Promise<void> {
    return this.queue.whenIdle();
  }

  private async sync(key: string): Promise<void> {
    const [ns, name] = splitKey(key);
    const ep = this.endpoints.get(ns, name);
    const svc = this.services.get(ns, name);
    const existing = this.cache.slicesFor(key);
    const mirror = ep && svc && !serviceSelector(svc) && ep.metadata?.labels?.[LABEL_SKIP_MIRROR] !== 'true';
    if (!mirror) {
      // Nothing (or no longer anything) to mirror: withdraw what was mirrored.
      for (const s of existing) await removeSlice(this.writer, key, s);
      return;
    }
    const mine = existing.filter((s) => (s.metadata?.ownerReferences ?? []).some((o) => o.uid === ep.metadata?.uid));
    for (const s of existing) if (!mine.includes(s)) await removeSlice(this.writer, key, s);
    const plan = planSlices(mine, mirroredGroups(ep), mirroredMeta(ep), this.max);
    await writeSlicePlan(this.writer, key, ns, plan);
  }
}
