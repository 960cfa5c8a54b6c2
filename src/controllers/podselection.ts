// Which pods a Service selects, and which Services select a pod, kept as indexes over the Service
// and Pod informers so that one pod event costs a few map lookups, not a scan of every Service in
// the namespace (10,000 Services x 10 pods would otherwise be 10^9 selector checks at start).
// Also the pod facts the endpoint controllers share: readiness, addresses, named ports, hostname.
import type { Pod } from '../registry/kinds/pod.js';
import type { Service, ServicePort } from '../registry/kinds/service.js';
import type { ListWatchInformer } from '../client/informer.js';
import { objectKey } from '../client/types.js';
import { ipFamilyOf } from '../util/ip.js';
import type { SharedInformers } from './informers.js';

export const isPodReady = (pod: Pod): boolean => (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
export const isPodTerminal = (pod: Pod): boolean => pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';

export function podIPs(pod: Pod): string[] {
  const list = (pod.status?.podIPs ?? []).map((p) => p.ip).filter(Boolean);
  if (list.length) return list;
  return pod.status?.podIP ? [pod.status.podIP] : [];
}

/** The pod's address of one family (4 or 6), if it has one. */
export function podIPOfFamily(pod: Pod, family: 4 | 6): string | undefined {
  return podIPs(pod).find((ip) => ipFamilyOf(ip) === family);
}

/** A selector that selects something: Services without one get no endpoints from the controllers. */
export function serviceSelector(svc: Service): Record<string, string> | undefined {
  const sel = svc.spec?.selector;
  return sel && Object.keys(sel).length > 0 ? sel : undefined;
}

export const isHeadless = (svc: Service): boolean => svc.spec?.clusterIP === 'None';

/**
 * The pod port a Service port sends to: a number as is (absent = the Service port), a name looked
 * up among the pod's container ports (sidecar init containers included) by name and protocol.
 * Undefined when the pod has no such port: that pod is left out for that port.
 */
export function resolveTargetPort(pod: Pod, sp: ServicePort): number | undefined {
  const tp = sp.targetPort;
  if (tp === undefined || tp === 0 || tp === '') return sp.port;
  if (typeof tp === 'number') return tp;
  const proto = sp.protocol ?? 'TCP';
  const containers = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? []).filter((c) => c.restartPolicy === 'Always')];
  for (const c of containers) {
    for (const p of c.ports ?? []) {
      if (p.name === tp && (p.protocol ?? 'TCP') === proto) return p.containerPort;
    }
  }
  return undefined;
}

/** A pod gets a hostname in its Service's endpoints when it asks for one under that Service's name. */
export function endpointHostname(pod: Pod, svc: Service): string | undefined {
  const h = pod.spec?.hostname;
  if (!h || pod.spec?.subdomain !== svc.metadata?.name || pod.metadata?.namespace !== svc.metadata?.namespace) return undefined;
  return h;
}

/** The part of a pod the endpoint controllers read (labels apart): a change elsewhere costs no sync. */
function podFingerprint(pod: Pod): string {
  return JSON.stringify([
    podIPs(pod),
    isPodTerminal(pod),
    isPodReady(pod),
    pod.metadata?.deletionTimestamp ?? '',
    pod.spec?.nodeName ?? '',
    pod.spec?.hostname ?? '',
    pod.spec?.subdomain ?? '',
    pod.metadata?.uid ?? '',
  ]);
}

const pairKey = (k: string, v: string) => `${k}=${v}`;

interface IndexedService {
  ns: string;
  selector: Record<string, string>;
  pairs: string[];
}

type Listener = (serviceKey: string) => void;

function addTo<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  let s = m.get(k);
  if (!s) m.set(k, (s = new Set()));
  s.add(v);
}
function removeFrom<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  const s = m.get(k);
  if (!s) return;
  s.delete(v);
  if (s.size === 0) m.delete(k);
}

function selects(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  if (!labels) return false;
  for (const k in selector) if (labels[k] !== selector[k]) return false;
  return true;
}

/**
 * Indexes Services by the pairs of their selectors and pods by their labels (per namespace), and
 * tells listeners which Services a pod or Service event concerns. One per SharedInformers.
 */
export class ServicePodIndex {
  private static readonly shared = new WeakMap<SharedInformers, ServicePodIndex>();

  static for(informers: SharedInformers): ServicePodIndex {
    let idx = ServicePodIndex.shared.get(informers);
    if (!idx) {
      idx = new ServicePodIndex(informers.get<Service>('Service'), informers.get<Pod>('Pod'));
      ServicePodIndex.shared.set(informers, idx);
    }
    return idx;
  }

  private readonly services = new Map<string, IndexedService>();
  /** `ns\0k=v` → Service keys whose selector has that pair. */
  private readonly servicesByPair = new Map<string, Set<string>>();
  /** `ns\0k=v` → names of pods with that label. */
  private readonly podsByPair = new Map<string, Set<string>>();
  private readonly listeners = new Set<Listener>();
  /** Pod events that only the slice controller cares about (node zones) use this too. */
  private readonly podListeners = new Set<(pod: Pod) => void>();

  constructor(
    readonly serviceInformer: ListWatchInformer<Service>,
    readonly podInformer: ListWatchInformer<Pod>,
  ) {
    serviceInformer.addHandler({
      onAdd: (s) => this.serviceChanged(undefined, s),
      onUpdate: (o, s) => this.serviceChanged(o, s),
      onDelete: (s) => this.serviceChanged(s, undefined),
    });
    podInformer.addHandler({
      onAdd: (p) => this.podChanged(undefined, p),
      onUpdate: (o, p) => this.podChanged(o, p),
      onDelete: (p) => this.podChanged(p, undefined),
    });
  }

  /** Subscribes to "this Service's endpoints may have changed". Returns an unsubscribe function. */
  subscribe(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  private notify(key: string): void {
    for (const l of this.listeners) l(key);
  }

  private serviceChanged(old: Service | undefined, cur: Service | undefined): void {
    const obj = (cur ?? old)!;
    const key = objectKey(obj);
    const ns = obj.metadata?.namespace ?? '';
    const prev = this.services.get(key);
    if (prev) for (const p of prev.pairs) removeFrom(this.servicesByPair, `${ns}\0${p}`, key);
    this.services.delete(key);
    const sel = cur ? serviceSelector(cur) : undefined;
    if (sel) {
      const pairs = Object.entries(sel).map(([k, v]) => pairKey(k, v));
      this.services.set(key, { ns, selector: sel, pairs });
      for (const p of pairs) addTo(this.servicesByPair, `${ns}\0${p}`, key);
    }
    this.notify(key);
  }

  private podChanged(old: Pod | undefined, cur: Pod | undefined): void {
    const ns = (cur ?? old)!.metadata?.namespace ?? '';
    const name = (cur ?? old)!.metadata?.name ?? '';
    const oldLabels = old?.metadata?.labels;
    const newLabels = cur?.metadata?.labels;
    const labelsChanged = JSON.stringify(oldLabels ?? {}) !== JSON.stringify(newLabels ?? {});
    if (old && cur && !labelsChanged && podFingerprint(old) === podFingerprint(cur)) return;
    if (labelsChanged || !cur) for (const [k, v] of Object.entries(oldLabels ?? {})) removeFrom(this.podsByPair, `${ns}\0${pairKey(k, v)}`, name);
    if (cur && (labelsChanged || !old)) for (const [k, v] of Object.entries(newLabels ?? {})) addTo(this.podsByPair, `${ns}\0${pairKey(k, v)}`, name);
    const keys = new Set<string>();
    if (old) for (const k of this.servicesSelecting(old)) keys.add(k);
    if (cur) for (const k of this.servicesSelecting(cur)) keys.add(k);
    for (const k of keys) this.notify(k);
    for (const l of this.podListeners) l((cur ?? old)!);
  }

  onPod(l: (pod: Pod) => void): () => void {
    this.podListeners.add(l);
    return () => this.podListeners.delete(l);
  }

  /** Keys of the Services (with a selector) whose selector matches the pod's labels. */
  servicesSelecting(pod: Pod): string[] {
    const labels = pod.metadata?.labels;
    if (!labels) return [];
    const ns = pod.metadata?.namespace ?? '';
    const out = new Set<string>();
    for (const [k, v] of Object.entries(labels)) {
      for (const key of this.servicesByPair.get(`${ns}\0${pairKey(k, v)}`) ?? []) {
        if (out.has(key)) continue;
        const s = this.services.get(key);
        if (s && selects(s.selector, labels)) out.add(key);
      }
    }
    return [...out];
  }

  /** The pods a Service's selector matches (none for a Service without a selector). */
  podsFor(svc: Service): Pod[] {
    const sel = serviceSelector(svc);
    if (!sel) return [];
    const ns = svc.metadata?.namespace ?? '';
    let smallest: Set<string> | undefined;
    for (const [k, v] of Object.entries(sel)) {
      const set = this.podsByPair.get(`${ns}\0${pairKey(k, v)}`);
      if (!set) return [];
      if (!smallest || set.size < smallest.size) smallest = set;
    }
    const out: Pod[] = [];
    for (const name of smallest ?? []) {
      const pod = this.podInformer.get(ns, name);
      if (pod && selects(sel, pod.metadata?.labels)) out.push(pod);
    }
    return out;
  }
}
