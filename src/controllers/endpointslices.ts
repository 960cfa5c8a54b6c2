// The EndpointSlice controller: for each Service with a selector, the EndpointSlices that list its
// pods, per address family and per set of resolved ports, at most maxEndpointsPerSlice endpoints
// each. Conditions follow Kubernetes: serving = the pod is Ready, terminating = the pod has a
// deletionTimestamp, ready = serving and not terminating (or publishNotReadyAddresses). Slices are
// owned by the Service (the garbage collector removes them with it) and written with few writes:
// see slicesync.ts.
import type { Logger } from 'pino';
import type { ApiRegistry } from '../api/registry.js';
import type { Service } from '../registry/kinds/service.js';
import type { Pod } from '../registry/kinds/pod.js';
import type { Node } from '../registry/kinds/node.js';
import type { DiscoveryEndpointPort, Endpoint, EndpointSlice } from '../registry/kinds/endpointslice.js';
import { ipFamilyOf } from '../util/ip.js';
import type { SharedInformers } from './informers.js';
import { WorkQueue } from './workqueue.js';
import { ServicePodIndex, endpointHostname, isHeadless, isPodReady, isPodTerminal, podIPOfFamily, resolveTargetPort, serviceSelector } from './podselection.js';
import {
  ANNOTATION_TRIGGER_TIME, LABEL_HEADLESS, LABEL_MANAGED_BY, LABEL_SERVICE_NAME, LABEL_ZONE, MANAGED_BY_SLICES,
  SliceCache, TriggerTimes, planSlices, portsKey, removeSlice, splitKey, writeSlicePlan,
  type AddressType, type DesiredGroup, type SliceMeta, type SliceWriter, type WriteCounts,
} from './slicesync.js';

export interface EndpointSliceControllerOptions {
  /** Endpoints per slice: 100 by default, at most 1000 (kube's --max-endpoints-per-slice). */
  maxEndpointsPerSlice?: number;
  workers?: number;
}

export type { WriteCounts };

/** The address families a Service's slices are kept for. */
export function serviceAddressTypes(svc: Service): AddressType[] {
  const fams = (svc.spec?.ipFamilies ?? []).filter((f): f is AddressType => f === 'IPv4' || f === 'IPv6');
  if (fams.length) return fams;
  const ip = svc.spec?.clusterIP;
  if (ip && ip !== 'None' && ipFamilyOf(ip) === 6) return ['IPv6'];
  return ['IPv4'];
}

/** The endpoints a Service should have, grouped by address family and resolved port set. */
export function desiredSliceGroups(svc: Service, pods: Pod[], zoneOf: (node: string) => string | undefined): DesiredGroup[] {
  const groups = new Map<string, DesiredGroup>();
  const publishNotReady = svc.spec?.publishNotReadyAddresses === true;
  const svcPorts = svc.spec?.ports ?? [];
  for (const fam of serviceAddressTypes(svc)) {
    for (const pod of pods) {
      if (isPodTerminal(pod)) continue;
      const ip = podIPOfFamily(pod, fam === 'IPv4' ? 4 : 6);
      if (!ip) continue;
      const ports: DiscoveryEndpointPort[] = [];
      for (const sp of svcPorts) {
        const n = resolveTargetPort(pod, sp);
        if (n === undefined) continue;
        const p: DiscoveryEndpointPort = { name: sp.name ?? '', port: n, protocol: sp.protocol ?? 'TCP' };
        if (sp.appProtocol !== undefined) p.appProtocol = sp.appProtocol;
        ports.push(p);
      }
      // A pod that serves none of the Service's ports is no endpoint of it.
      if (svcPorts.length > 0 && ports.length === 0) continue;
      const serving = isPodReady(pod);
      const terminating = Boolean(pod.metadata?.deletionTimestamp);
      const ep: Endpoint = {
        addresses: [ip],
        conditions: { ready: publishNotReady || (serving && !terminating), serving, terminating },
      };
      const hostname = endpointHostname(pod, svc);
      if (hostname) ep.hostname = hostname;
      ep.targetRef = { kind: 'Pod', namespace: pod.metadata?.namespace, name: pod.metadata?.name, uid: pod.metadata?.uid };
      const node = pod.spec?.nodeName;
      if (node) {
        ep.nodeName = node;
        const zone = zoneOf(node);
        if (zone) ep.zone = zone;
      }
      const key = `${fam}|${portsKey(ports)}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { addressType: fam, ports, endpoints: new Map() }));
      g.endpoints.set(ip, ep);
    }
  }
  return [...groups.values()];
}

/** Labels of a Service's slices: the Service's own, then the ones the controller owns. */
export function sliceMetaFor(svc: Service, managedBy: string): SliceMeta {
  const labels: Record<string, string> = { ...(svc.metadata?.labels ?? {}) };
  delete labels[LABEL_HEADLESS];
  labels[LABEL_SERVICE_NAME] = svc.metadata?.name ?? '';
  labels[LABEL_MANAGED_BY] = managedBy;
  if (isHeadless(svc)) labels[LABEL_HEADLESS] = '';
  return {
    namespace: svc.metadata?.namespace ?? '',
    generateName: `${svc.metadata?.name}-`,
    labels,
    annotations: {},
    ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: svc.metadata?.name ?? '', uid: svc.metadata?.uid ?? '', controller: true, blockOwnerDeletion: true }],
  };
}

export class EndpointSliceController {
  private readonly queue: WorkQueue;
  private readonly services;
  private readonly nodes;
  private readonly index: ServicePodIndex;
  private readonly cache: SliceCache;
  private readonly storage;
  private readonly max: number;
  /** When the first change not yet synced was seen, per Service (the trigger-time annotation). */
  private readonly triggered = new TriggerTimes();
  private readonly writer: SliceWriter;
  private readonly unsubscribe: Array<() => void> = [];
  readonly writes: WriteCounts = { creates: 0, updates: 0, deletes: 0 };

  constructor(
    registry: ApiRegistry,
    informers: SharedInformers,
    private readonly log: Logger,
    opts: EndpointSliceControllerOptions = {},
  ) {
    this.max = Math.min(1000, Math.max(1, opts.maxEndpointsPerSlice ?? 100));
    this.storage = registry.kind<EndpointSlice>('EndpointSlice');
    this.services = informers.get<Service>('Service');
    this.nodes = informers.get<Node>('Node');
    this.index = ServicePodIndex.for(informers);
    this.queue = new WorkQueue((k) => this.sync(k), { workers: opts.workers, onError: (key, err) => this.log.warn({ err, service: key }, 'endpointslice sync failed') });
    this.cache = new SliceCache(informers.get<EndpointSlice>('EndpointSlice'), MANAGED_BY_SLICES, (k) => this.enqueue(k));
    this.writer = { storage: this.storage, cache: this.cache, writes: this.writes, requeue: (k) => this.queue.add(k) };
  }

  async start(): Promise<void> {
    this.unsubscribe.push(this.index.subscribe((k) => this.enqueue(k)));
    this.unsubscribe.push(
      this.nodes.addHandler({
        onUpdate: (o, n) => {
          if (o.metadata?.labels?.[LABEL_ZONE] !== n.metadata?.labels?.[LABEL_ZONE]) this.nodeZoneChanged(n.metadata?.name ?? '');
        },
      }),
    );
    await Promise.all([this.services.waitForSync(), this.index.podInformer.waitForSync(), this.nodes.waitForSync(), this.cache.informer.waitForSync()]);
  }

  stop(): void {
    for (const u of this.unsubscribe) u();
    this.queue.stop();
  }

  /** Resolves once no Service waits for a sync (for tests and benchmarks). */
  whenIdle(): Promise<void> {
    return this.queue.whenIdle();
  }

  private enqueue(key: string): void {
    this.triggered.note(key);
    this.queue.add(key);
  }

  private nodeZoneChanged(node: string): void {
    for (const pod of this.index.podInformer.list()) {
      if (pod.spec?.nodeName === node) for (const k of this.index.servicesSelecting(pod)) this.enqueue(k);
    }
  }

  private async sync(key: string): Promise<void> {
    const trigger = this.triggered.take(key);
    const [ns, name] = splitKey(key);
    const svc = this.services.get(ns, name);
    const existing = this.cache.slicesFor(key);
    // A deleted Service's slices go with it through the garbage collector (owner references).
    if (!svc) return;
    // Only slices this controller made for this very Service (not a previous one of the same name).
    const mine = existing.filter((s) => (s.metadata?.ownerReferences ?? []).some((o) => o.uid === svc.metadata?.uid));
    if (!serviceSelector(svc) || svc.spec?.type === 'ExternalName') {
      // No selector (any more): the endpoints are someone else's business; ours are withdrawn.
      for (const s of mine) await removeSlice(this.writer, key, s);
      return;
    }
    const groups = desiredSliceGroups(svc, this.index.podsFor(svc), (n) => this.nodes.get('', n)?.metadata?.labels?.[LABEL_ZONE]);
    const meta = sliceMetaFor(svc, MANAGED_BY_SLICES);
    const plan = planSlices(mine, groups, meta, this.max, serviceAddressTypes(svc)[0]);
    const stamp = (trigger ?? new Date()).toISOString();
    for (const s of [...plan.update, ...plan.create]) (s.metadata!.annotations ??= {})[ANNOTATION_TRIGGER_TIME] = stamp;
    await writeSlicePlan(this.writer, key, ns, plan);
  }
}
