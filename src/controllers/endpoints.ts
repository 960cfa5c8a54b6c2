// The Endpoints controller: for each Service with a selector, one Endpoints object of the same name
// listing the selected pods: Ready ones in `addresses`, the others in `notReadyAddresses` (all in
// `addresses` with publishNotReadyAddresses), grouped into subsets by identical port sets, at most
// 1000 addresses (ready ones kept first). Services without a selector are left to their users.
// When a Service goes, its Endpoints go too (as kube's controller does it, not the GC).
import type { Logger } from 'pino';
import type { ApiRegistry } from '../api/registry.js';
import type { Service } from '../registry/kinds/service.js';
import type { Pod } from '../registry/kinds/pod.js';
import type { EndpointAddress, EndpointPort, EndpointSubset, Endpoints } from '../registry/kinds/endpoints.js';
import { NotFoundError, AlreadyExistsError } from '../util/errors.js';
import type { SharedInformers } from './informers.js';
import { WorkQueue } from './workqueue.js';
import { ServicePodIndex, endpointHostname, isHeadless, isPodReady, isPodTerminal, podIPOfFamily, podIPs, resolveTargetPort, serviceSelector } from './podselection.js';
import { ANNOTATION_TRIGGER_TIME, LABEL_HEADLESS, LABEL_SKIP_MIRROR, TriggerTimes, canon, isNamespaceTerminating, sameJSON, splitKey, type WriteCounts } from './slicesync.js';

export const MAX_ENDPOINTS_ADDRESSES = 1000;
export const ANNOTATION_OVER_CAPACITY = 'endpoints.kubernetes.io/over-capacity';

export interface EndpointsControllerOptions {
  workers?: number;
  /** Addresses kept per Endpoints object (1000, as kube). */
  maxAddresses?: number;
}

const portSort = (a: EndpointPort, b: EndpointPort) => (a.name ?? '').localeCompare(b.name ?? '') || a.port - b.port || (a.protocol ?? '').localeCompare(b.protocol ?? '');
// One collator for every sort: localeCompare with options builds a new one per comparison.
const numericOrder = new Intl.Collator('en', { numeric: true }).compare;
const addrSort = (a: EndpointAddress, b: EndpointAddress) => numericOrder(a.ip, b.ip) || (a.targetRef?.uid ?? '').localeCompare(b.targetRef?.uid ?? '');

/** The address of a pod for a Service: of the Service's primary family; a headless one without families takes the pod's first. */
function podAddressFor(svc: Service, pod: Pod): string | undefined {
  const fam = svc.spec?.ipFamilies?.[0];
  if (!fam && isHeadless(svc)) return podIPs(pod)[0];
  return podIPOfFamily(pod, fam === 'IPv6' ? 6 : 4);
}

/** The subsets a Service's Endpoints should have, and whether they were cut at the capacity. */
export function desiredSubsets(svc: Service, pods: Pod[], max = MAX_ENDPOINTS_ADDRESSES): { subsets: EndpointSubset[]; truncated: boolean } {
  const publishNotReady = svc.spec?.publishNotReadyAddresses === true;
  const svcPorts = svc.spec?.ports ?? [];
  // Group by the exact port set each pod serves: pods resolving a named port differently, or not at all, land apart.
  const groups = new Map<string, { ports: EndpointPort[]; ready: EndpointAddress[]; notReady: EndpointAddress[] }>();
  for (const pod of pods) {
    if (isPodTerminal(pod)) continue;
    // Terminating pods leave the Endpoints unless not-ready ones are published too.
    if (pod.metadata?.deletionTimestamp && !publishNotReady) continue;
    const ip = podAddressFor(svc, pod);
    if (!ip) continue;
    const ports: EndpointPort[] = [];
    for (const sp of svcPorts) {
      const n = resolveTargetPort(pod, sp);
      if (n === undefined) continue;
      const p: EndpointPort = { name: sp.name, port: n, protocol: sp.protocol ?? 'TCP' };
      if (sp.name === undefined) delete p.name;
      if (sp.appProtocol !== undefined) p.appProtocol = sp.appProtocol;
      ports.push(p);
    }
    // Without ports, only a headless Service lists the pod (its DNS records need no port).
    if (ports.length === 0 && !(svcPorts.length === 0 && isHeadless(svc))) continue;
    ports.sort(portSort);
    const addr: EndpointAddress = { ip };
    const hostname = endpointHostname(pod, svc);
    if (hostname) addr.hostname = hostname;
    if (pod.spec?.nodeName) addr.nodeName = pod.spec.nodeName;
    addr.targetRef = { kind: 'Pod', namespace: pod.metadata?.namespace, name: pod.metadata?.name, uid: pod.metadata?.uid };
    const key = canon(ports);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { ports, ready: [], notReady: [] }));
    if (publishNotReady || isPodReady(pod)) g.ready.push(addr);
    else g.notReady.push(addr);
  }
  const sorted = [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, g]) => g);
  for (const g of sorted) {
    g.ready.sort(addrSort);
    g.notReady.sort(addrSort);
  }
  // Over capacity: ready addresses are kept first, then not-ready ones while room is left.
  const total = sorted.reduce((n, g) => n + g.ready.length + g.notReady.length, 0);
  const truncated = total > max;
  if (truncated) {
    let room = max;
    for (const g of sorted) {
      g.ready = g.ready.slice(0, room);
      room -= g.ready.length;
    }
    for (const g of sorted) {
      g.notReady = g.notReady.slice(0, room);
      room -= g.notReady.length;
    }
  }
  const subsets: EndpointSubset[] = [];
  for (const g of sorted) {
    if (g.ready.length === 0 && g.notReady.length === 0) continue;
    const ss: EndpointSubset = {};
    if (g.ready.length) ss.addresses = g.ready;
    if (g.notReady.length) ss.notReadyAddresses = g.notReady;
    if (g.ports.length) ss.ports = g.ports;
    subsets.push(ss);
  }
  return { subsets, truncated };
}

/** The labels of a Service's Endpoints: the Service's, marked not to be mirrored, and headless when it is. */
export function endpointsLabels(svc: Service): Record<string, string> {
  const labels: Record<string, string> = { ...(svc.metadata?.labels ?? {}) };
  delete labels[LABEL_HEADLESS];
  labels[LABEL_SKIP_MIRROR] = 'true';
  if (isHeadless(svc)) labels[LABEL_HEADLESS] = '';
  return labels;
}

const rvOf = (o: Endpoints | undefined) => Number(o?.metadata?.resourceVersion ?? 0);

export class EndpointsController {
  private readonly queue: WorkQueue;
  private readonly services;
  private readonly endpoints;
  private readonly index: ServicePodIndex;
  private readonly storage;
  private readonly max: number;
  private readonly triggered = new TriggerTimes();
  /** Own writes the informer has not shown yet (undefined = deleted), so a quick second sync sees them. */
  private readonly written = new Map<string, Endpoints | undefined>();
  private readonly unsubscribe: Array<() => void> = [];
  readonly writes: WriteCounts = { creates: 0, updates: 0, deletes: 0 };

  constructor(
    registry: ApiRegistry,
    informers: SharedInformers,
    private readonly log: Logger,
    opts: EndpointsControllerOptions = {},
  ) {
    this.max = opts.maxAddresses ?? MAX_ENDPOINTS_ADDRESSES;
    this.storage = registry.kind<Endpoints>('Endpoints');
    this.services = informers.get<Service>('Service');
    this.endpoints = informers.get<Endpoints>('Endpoints');
    this.index = ServicePodIndex.for(informers);
    this.queue = new WorkQueue((k) => this.sync(k), { workers: opts.workers, onError: (key, err) => this.log.warn({ err, service: key }, 'endpoints sync failed') });
  }

  async start(): Promise<void> {
    this.unsubscribe.push(this.index.subscribe((k) => this.enqueue(k)));
    this.unsubscribe.push(
      this.endpoints.addHandler({
        onAdd: (e) => this.observe(e, false),
        onUpdate: (_o, e) => this.observe(e, false),
        onDelete: (e) => this.observe(e, true),
      }),
    );
    await Promise.all([this.services.waitForSync(), this.index.podInformer.waitForSync(), this.endpoints.waitForSync()]);
    // Endpoints this controller made whose Service went while it was not running.
    for (const ep of this.endpoints.list()) {
      if (ep.metadata?.labels?.[LABEL_SKIP_MIRROR] === 'true' && ep.metadata.annotations?.[ANNOTATION_TRIGGER_TIME] && !this.services.get(ep.metadata.namespace ?? '', ep.metadata.name ?? '')) {
        this.enqueue(`${ep.metadata.namespace}/${ep.metadata.name}`);
      }
    }
  }

  stop(): void {
    for (const u of this.unsubscribe) u();
    this.queue.stop();
  }

  whenIdle(): Promise<void> {
    return this.queue.whenIdle();
  }

  private enqueue(key: string): void {
    this.triggered.note(key);
    this.queue.add(key);
  }

  /** Someone else's change to the Endpoints of a selector Service is undone by a resync. */
  private observe(e: Endpoints, deleted: boolean): void {
    const key = `${e.metadata?.namespace}/${e.metadata?.name}`;
    if (this.written.has(key)) {
      const w = this.written.get(key);
      const mine = deleted ? w === undefined : w !== undefined && rvOf(e) === rvOf(w);
      if (deleted || rvOf(e) >= rvOf(w)) this.written.delete(key);
      if (mine) return;
    }
    const svc = this.services.get(e.metadata?.namespace ?? '', e.metadata?.name ?? '');
    if (svc && serviceSelector(svc)) this.queue.add(key);
  }

  private current(key: string, ns: string, name: string): Endpoints | undefined {
    const cached = this.endpoints.get(ns, name);
    if (this.written.has(key)) {
      const w = this.written.get(key);
      if (!cached || !w || rvOf(w) >= rvOf(cached)) return w;
    }
    return cached;
  }

  private async sync(key: string): Promise<void> {
    const trigger = this.triggered.take(key);
    const [ns, name] = splitKey(key);
    const svc = this.services.get(ns, name);
    if (!svc) {
      // The Service is gone: so is its Endpoints object, whoever wrote it (as kube does).
      if (!this.current(key, ns, name)) return;
      try {
        await this.storage.delete(ns, name);
        this.writes.deletes++;
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
      }
      this.written.set(key, undefined);
      return;
    }
    if (!serviceSelector(svc)) return;
    const cur = this.current(key, ns, name);
    const { subsets, truncated } = desiredSubsets(svc, this.index.podsFor(svc), this.max);
    const labels = endpointsLabels(svc);
    const capacityOK = truncated ? cur?.metadata?.annotations?.[ANNOTATION_OVER_CAPACITY] === 'truncated' : cur?.metadata?.annotations?.[ANNOTATION_OVER_CAPACITY] === undefined;
    if (cur && sameJSON(cur.subsets ?? [], subsets) && sameJSON(cur.metadata?.labels ?? {}, labels) && capacityOK) return;

    const stamp = (trigger ?? new Date()).toISOString();
    const apply = (ep: Endpoints): Endpoints => {
      const meta = (ep.metadata ??= {});
      meta.labels = labels;
      const ann = { ...(meta.annotations ?? {}) };
      if (truncated) ann[ANNOTATION_OVER_CAPACITY] = 'truncated';
      else delete ann[ANNOTATION_OVER_CAPACITY];
      ann[ANNOTATION_TRIGGER_TIME] = stamp;
      meta.annotations = ann;
      ep.subsets = subsets;
      return ep;
    };
    let out: Endpoints;
    try {
      if (!cur) {
        // A fresh object (subsets and labels are built per sync): handed over, no copy (WriteOptions.owned).
        out = await this.storage.create(ns, apply({ apiVersion: 'v1', kind: 'Endpoints', metadata: { name, namespace: ns } }), { owned: true });
        this.writes.creates++;
      } else {
        // Read-modify-write on the stored object: the informer's copy may lag behind other writers.
        out = await this.storage.guaranteedUpdate(ns, name, apply);
        this.writes.updates++;
      }
    } catch (err) {
      if (isNamespaceTerminating(err)) return;
      // Our view was stale (created or deleted meanwhile): retry with the fresh one.
      if (err instanceof AlreadyExistsError || err instanceof NotFoundError) {
        this.written.delete(key);
        this.written.set(key, err instanceof AlreadyExistsError ? await this.storage.get(ns, name) : undefined);
      }
      throw err;
    }
    this.written.set(key, out);
  }
}
