// The ReplicaSet controller (kube's ReplicaSetController): keeps `spec.replicas` active pods made
// from the template (generateName `<rs>-`, a controller reference), adopts orphans its selector
// matches and releases pods that stopped matching, deletes the least useful pods first when
// scaling down (unbound, pending, not ready, newest), and reports replicas, fullyLabeledReplicas,
// readyReplicas, availableReplicas (ready for minReadySeconds) and observedGeneration.
// Reads through informers; its own creates and deletes not yet seen by the pod informer are kept
// as expectations, so a quick second sync neither creates nor deletes twice.
import type { Logger } from 'pino';
import type { ApiRegistry } from '../api/registry.js';
import type { ReplicaSet } from '../registry/kinds/replicaset.js';
import type { Pod } from '../registry/kinds/pod.js';
import { selectorFromLabelSelector, selectorFromMap, type Selector } from '../selectors/labels.js';
import { NotFoundError } from '../util/errors.js';
import { nowTimestamp } from '../api/storage.js';
import type { SharedInformers } from './informers.js';
import { WorkQueue } from './workqueue.js';
import { eventRecorder, type EventRecorder } from './events.js';
import { isPodReady, isPodTerminal } from './podselection.js';
import { adopt, classify, controllerRef, controllerRefOf, release } from './ownership.js';
import { isNamespaceTerminating, splitKey } from './slicesync.js';

type RSStatus = NonNullable<ReplicaSet['status']>;

/** kube's FilterActivePods: not finished and not being deleted. */
export const isPodActive = (p: Pod): boolean => !isPodTerminal(p) && !p.metadata?.deletionTimestamp;

function readySince(p: Pod): number | undefined {
  const c = (p.status?.conditions ?? []).find((x) => x.type === 'Ready' && x.status === 'True');
  if (!c) return undefined;
  const t = c.lastTransitionTime ? Date.parse(c.lastTransitionTime) : NaN;
  return Number.isNaN(t) ? 0 : t;
}

/** podutil.IsPodAvailable: ready for at least minReadySeconds. */
export function isPodAvailable(p: Pod, minReadySeconds: number, now: number): boolean {
  const since = readySince(p);
  if (since === undefined) return false;
  return minReadySeconds === 0 || since + minReadySeconds * 1000 <= now;
}

const PHASE_RANK: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };
const restarts = (p: Pod) => Math.max(0, ...(p.status?.containerStatuses ?? []).map((c) => c.restartCount ?? 0));

/** kube's ActivePods ordering: the pods to delete first come first. */
export function deletionOrder(a: Pod, b: Pod): number {
  const an = a.spec?.nodeName ? 1 : 0;
  const bn = b.spec?.nodeName ? 1 : 0;
  if (an !== bn) return an - bn;
  const ap = PHASE_RANK[a.status?.phase ?? 'Pending'] ?? 0;
  const bp = PHASE_RANK[b.status?.phase ?? 'Pending'] ?? 0;
  if (ap !== bp) return ap - bp;
  const ar = isPodReady(a) ? 1 : 0;
  const br = isPodReady(b) ? 1 : 0;
  if (ar !== br) return ar - br;
  if (ar && br) {
    // Ready for a shorter time goes first.
    const at = readySince(a) ?? 0;
    const bt = readySince(b) ?? 0;
    if (at !== bt) return bt - at;
  }
  if (restarts(a) !== restarts(b)) return restarts(b) - restarts(a);
  const ac = Date.parse(a.metadata?.creationTimestamp ?? '') || 0;
  const bc = Date.parse(b.metadata?.creationTimestamp ?? '') || 0;
  return bc - ac;
}

/** The status a ReplicaSet should report for its active pods (conditions kept as they are). */
export function replicaSetStatus(rs: ReplicaSet, active: Pod[], now: number): RSStatus {
  const templateLabels = selectorFromMap(rs.spec?.template?.metadata?.labels);
  const minReady = rs.spec?.minReadySeconds ?? 0;
  const st: RSStatus = {
    replicas: active.length,
    fullyLabeledReplicas: active.filter((p) => templateLabels.matches(p.metadata?.labels)).length,
    readyReplicas: active.filter(isPodReady).length,
    availableReplicas: active.filter((p) => isPodAvailable(p, minReady, now)).length,
    observedGeneration: rs.metadata?.generation ?? 0,
  };
  if (rs.status?.conditions?.length) st.conditions = rs.status.conditions;
  return st;
}

/** The pod a ReplicaSet makes from its template (controller.GetPodFromTemplate). */
export function podFromTemplate(rs: ReplicaSet): Pod {
  const t = rs.spec?.template ?? {};
  const meta: NonNullable<Pod['metadata']> = {
    generateName: `${rs.metadata?.name}-`,
    namespace: rs.metadata?.namespace,
    labels: { ...(t.metadata?.labels ?? {}) },
    ownerReferences: [controllerRef(rs)],
  };
  if (t.metadata?.annotations) meta.annotations = { ...t.metadata.annotations };
  if (t.metadata?.finalizers) meta.finalizers = [...t.metadata.finalizers];
  return { apiVersion: 'v1', kind: 'Pod', metadata: meta, spec: structuredClone(t.spec ?? { containers: [] }) };
}

const EXPECTATION_TTL_MS = 5 * 60_000;
/** kube's burstReplicas: at most this many creates or deletes per sync. */
const BURST = 500;

interface Expectations {
  /** Pods created, not yet seen by the informer. */
  creates: Map<string, { pod: Pod; at: number }>;
  /** Pods deleted, still shown by the informer as active. */
  deletes: Map<string, number>;
}

export class ReplicaSetController {
  private readonly queue: WorkQueue;
  private readonly rss;
  private readonly pods;
  private readonly rsStorage;
  private readonly podStorage;
  private readonly record: EventRecorder;
  private readonly expectations = new Map<string, Expectations>();
  private readonly unsubscribe: Array<() => void> = [];

  constructor(
    registry: ApiRegistry,
    informers: SharedInformers,
    private readonly log: Logger,
    opts: { workers?: number } = {},
  ) {
    this.rss = informers.get<ReplicaSet>('ReplicaSet');
    this.pods = informers.get<Pod>('Pod');
    this.rsStorage = registry.kind<ReplicaSet>('ReplicaSet');
    this.podStorage = registry.kind<Pod>('Pod');
    this.record = eventRecorder(registry, 'replicaset-controller');
    this.queue = new WorkQueue((k) => this.sync(k), { workers: opts.workers ?? 4, onError: (key, err) => this.log.warn({ err, replicaset: key }, 'replicaset sync failed') });
  }

  async start(): Promise<void> {
    this.unsubscribe.push(
      this.rss.addHandler({
        onAdd: (rs) => this.enqueue(rs),
        onUpdate: (_o, rs) => this.enqueue(rs),
        onDelete: (rs) => this.expectations.delete(keyOf(rs)),
      }),
      this.pods.addHandler({
        onAdd: (p) => this.podChanged(p),
        onUpdate: (old, p) => {
          this.podChanged(p);
          // A pod whose labels or owner changed may concern the ReplicaSets that matched it before.
          if (JSON.stringify(old.metadata?.labels) !== JSON.stringify(p.metadata?.labels) || controllerRefOf(old)?.uid !== controllerRefOf(p)?.uid) this.podChanged(old);
        },
        onDelete: (p) => this.podChanged(p, true),
      }),
    );
    await Promise.all([this.rss.waitForSync(), this.pods.waitForSync()]);
  }

  stop(): void {
    for (const u of this.unsubscribe) u();
    this.queue.stop();
  }

  whenIdle(): Promise<void> {
    return this.queue.whenIdle();
  }

  private enqueue(rs: ReplicaSet): void {
    this.queue.add(keyOf(rs));
  }

  /** Settles expectations with what the informer shows, then wakes the owner (or the candidates to adopt). */
  private podChanged(p: Pod, deleted = false): void {
    const ns = p.metadata?.namespace ?? '';
    const ref = controllerRefOf(p);
    if (ref) {
      if (ref.kind !== 'ReplicaSet') return;
      const key = `${ns}/${ref.name}`;
      const exp = this.expectations.get(key);
      if (exp) {
        exp.creates.delete(p.metadata?.name ?? '');
        if (deleted || !isPodActive(p)) exp.deletes.delete(p.metadata?.name ?? '');
      }
      this.queue.add(key);
      return;
    }
    if (deleted) return;
    for (const rs of this.rss.list()) {
      if (rs.metadata?.namespace !== ns) continue;
      if (selectorOf(rs)?.matches(p.metadata?.labels)) this.enqueue(rs);
    }
  }

  private expectationsFor(key: string): Expectations {
    let e = this.expectations.get(key);
    if (!e) this.expectations.set(key, (e = { creates: new Map(), deletes: new Map() }));
    return e;
  }

  /** The pods of the namespace as this controller should see them: informer, plus own creates, minus own deletes. */
  private podsOf(key: string, ns: string): Pod[] {
    const now = Date.now();
    const exp = this.expectationsFor(key);
    const seen = new Set<string>();
    const out: Pod[] = [];
    for (const p of this.pods.list()) {
      if (p.metadata?.namespace !== ns) continue;
      const name = p.metadata?.name ?? '';
      seen.add(name);
      const del = exp.deletes.get(name);
      if (del !== undefined && now - del < EXPECTATION_TTL_MS && isPodActive(p)) continue;
      out.push(p);
    }
    for (const [name, c] of exp.creates) {
      if (seen.has(name) || now - c.at > EXPECTATION_TTL_MS) exp.creates.delete(name);
      else out.push(c.pod);
    }
    return out;
  }

  private async sync(key: string): Promise<void> {
    const [ns, name] = splitKey(key);
    const rs = this.rss.get(ns, name);
    if (!rs) {
      this.expectations.delete(key);
      return;
    }
    const selector = selectorOf(rs);
    if (!selector) return;
    const claims = classify(this.podsOf(key, ns), rs, selector);
    for (const p of claims.release) await release(this.podStorage, p, rs.metadata?.uid ?? '');
    for (const p of claims.adopt) {
      const adopted = await adopt(this.podStorage, p, rs);
      if (adopted) claims.owned.push(adopted);
    }
    let active = claims.owned.filter(isPodActive);
    if (!rs.metadata?.deletionTimestamp) active = await this.manage(key, rs, active);
    await this.updateStatus(key, rs, active);
  }

  /** Creates or deletes pods towards spec.replicas; returns the active pods after it. */
  private async manage(key: string, rs: ReplicaSet, active: Pod[]): Promise<Pod[]> {
    const want = rs.spec?.replicas ?? 1;
    const diff = active.length - want;
    const exp = this.expectationsFor(key);
    if (diff < 0) {
      const n = Math.min(-diff, BURST);
      const created: Pod[] = [];
      let failure: Error | undefined;
      await Promise.all(
        Array.from({ length: n }, async () => {
          try {
            const pod = await this.podStorage.create(rs.metadata?.namespace, podFromTemplate(rs));
            exp.creates.set(pod.metadata?.name ?? '', { pod, at: Date.now() });
            created.push(pod);
          } catch (err) {
            failure = err as Error;
          }
        }),
      );
      for (const p of created) void this.record(rs, 'Normal', 'SuccessfulCreate', `Created pod: ${p.metadata?.name}`).catch(() => {});
      if (failure && !isNamespaceTerminating(failure)) {
        void this.record(rs, 'Warning', 'FailedCreate', `Error creating: ${failure.message}`).catch(() => {});
        await this.setReplicaFailure(rs, failure.message);
        throw failure;
      }
      return [...active, ...created];
    }
    if (diff > 0) {
      const victims = [...active].sort(deletionOrder).slice(0, Math.min(diff, BURST));
      const gone = new Set<string>();
      await Promise.all(
        victims.map(async (p) => {
          const pname = p.metadata?.name ?? '';
          try {
            exp.deletes.set(pname, Date.now());
            await this.podStorage.delete(p.metadata?.namespace, pname, { preconditions: { uid: p.metadata?.uid } });
          } catch (err) {
            if (!(err instanceof NotFoundError)) {
              exp.deletes.delete(pname);
              throw err;
            }
          }
          gone.add(pname);
          void this.record(rs, 'Normal', 'SuccessfulDelete', `Deleted pod: ${pname}`).catch(() => {});
        }),
      );
      return active.filter((p) => !gone.has(p.metadata?.name ?? ''));
    }
    return active;
  }

  private async setReplicaFailure(rs: ReplicaSet, message: string): Promise<void> {
    await this.rsStorage
      .guaranteedUpdate(rs.metadata?.namespace, rs.metadata?.name ?? '', (cur) => {
        const st = (cur.status ??= { replicas: 0 });
        const conds = (st.conditions ?? []).filter((c) => c.type !== 'ReplicaFailure');
        conds.push({ type: 'ReplicaFailure', status: 'True', lastTransitionTime: nowTimestamp(), reason: 'FailedCreate', message });
        st.conditions = conds;
        return cur;
      }, { subresource: 'status' })
      .catch(() => {});
  }

  private async updateStatus(key: string, rs: ReplicaSet, active: Pod[]): Promise<void> {
    const now = Date.now();
    const st = replicaSetStatus(rs, active, now);
    // A successful round clears an earlier create failure.
    if (active.length === (rs.spec?.replicas ?? 1) && st.conditions) {
      st.conditions = st.conditions.filter((c) => c.type !== 'ReplicaFailure');
      if (st.conditions.length === 0) delete st.conditions;
    }
    // Ready pods that are not yet available become so after minReadySeconds: look again then.
    const minReady = rs.spec?.minReadySeconds ?? 0;
    if (minReady > 0 && st.readyReplicas !== st.availableReplicas) this.queue.addAfter(key, minReady * 1000 + 100);
    if (JSON.stringify(st) === JSON.stringify(normalStatus(rs.status))) return;
    try {
      await this.rsStorage.guaranteedUpdate(rs.metadata?.namespace, rs.metadata?.name ?? '', (cur) => {
        if (cur.metadata?.uid !== rs.metadata?.uid) throw new NotFoundError({ resource: 'replicasets', group: 'apps', name: rs.metadata?.name ?? '' });
        cur.status = st;
        return cur;
      }, { subresource: 'status' });
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
  }
}

function normalStatus(s: RSStatus | undefined): RSStatus | undefined {
  if (!s) return s;
  const out: RSStatus = { replicas: s.replicas, fullyLabeledReplicas: s.fullyLabeledReplicas, readyReplicas: s.readyReplicas, availableReplicas: s.availableReplicas, observedGeneration: s.observedGeneration };
  if (s.conditions?.length) out.conditions = s.conditions;
  return out;
}

const keyOf = (o: { metadata?: { namespace?: string; name?: string } }) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

function selectorOf(rs: ReplicaSet): Selector | undefined {
  try {
    return selectorFromLabelSelector(rs.spec?.selector);
  } catch {
    return undefined;
  }
}
