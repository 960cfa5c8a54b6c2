// The Deployment controller (kube's DeploymentController): owns ReplicaSets named
// `<deployment>-<pod-template-hash>` (the hash label added to their selector and template), one per
// template revision (annotation deployment.kubernetes.io/revision). RollingUpdate grows the new
// ReplicaSet while the total stays within replicas + maxSurge and shrinks old ones while the
// available pods stay at least replicas - maxUnavailable; Recreate scales old ones to 0, waits for
// their pods to go, then scales the new one up. Old ReplicaSets at 0 beyond revisionHistoryLimit
// are deleted. Status: counts from the ReplicaSets, conditions Available and Progressing.
// The arithmetic is in deploymentutil.ts. Own ReplicaSet writes not yet seen by the informer are
// kept (by resourceVersion), so a quick second sync never scales from stale counts.
import type { Logger } from 'pino';
import type { ApiRegistry } from '../api/registry.js';
import type { Deployment, DeploymentStatus } from '../registry/kinds/deployment.js';
import type { ReplicaSet } from '../registry/kinds/replicaset.js';
import type { Pod } from '../registry/kinds/pod.js';
import { selectorFromLabelSelector, type Selector } from '../selectors/labels.js';
import { AlreadyExistsError, NotFoundError } from '../util/errors.js';
import type { SharedInformers } from './informers.js';
import { WorkQueue } from './workqueue.js';
import { eventRecorder, type EventRecorder } from './events.js';
import { isPodTerminal } from './podselection.js';
import { adopt, classify, controllerRefOf, release } from './ownership.js';
import { isNamespaceTerminating, splitKey } from './slicesync.js';
import {
  DESIRED_REPLICAS, MAX_REPLICAS, REVISION, byCreation, calculateStatus, checkPausedConditions, cleanupUnhealthy, computeHash, condition, equalIgnoreHash, findNewReplicaSet,
  getCondition, isComplete, isScalingEvent, maxScaledDown, maxSurge, newRSNewReplicas, newReplicaSetFor, replicaSetAnnotations, revisionOf, rolloutStatus, sameStatus,
  scaleDownOld, scalePlan, setCondition, sumSpec,
} from './deploymentutil.js';

const keyOf = (o: { metadata?: { namespace?: string; name?: string } }) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
const rvOf = (o: { metadata?: { resourceVersion?: string } } | undefined) => Number(o?.metadata?.resourceVersion ?? 0);

export class DeploymentController {
  private readonly queue: WorkQueue;
  private readonly deployments;
  private readonly rss;
  private readonly pods;
  private readonly dStorage;
  private readonly rsStorage;
  private readonly record: EventRecorder;
  /** ReplicaSets this controller wrote, by key, until the informer shows that version (undefined = deleted). */
  private readonly written = new Map<string, ReplicaSet | undefined>();
  private readonly unsubscribe: Array<() => void> = [];

  constructor(
    registry: ApiRegistry,
    informers: SharedInformers,
    private readonly log: Logger,
    opts: { workers?: number } = {},
  ) {
    this.deployments = informers.get<Deployment>('Deployment');
    this.rss = informers.get<ReplicaSet>('ReplicaSet');
    this.pods = informers.get<Pod>('Pod');
    this.dStorage = registry.kind<Deployment>('Deployment');
    this.rsStorage = registry.kind<ReplicaSet>('ReplicaSet');
    this.record = eventRecorder(registry, 'deployment-controller');
    this.queue = new WorkQueue((k) => this.sync(k), { workers: opts.workers ?? 4, onError: (key, err) => this.log.warn({ err, deployment: key }, 'deployment sync failed') });
  }

  async start(): Promise<void> {
    const rsChanged = (rs: ReplicaSet) => {
      const key = keyOf(rs);
      const w = this.written.get(key);
      if (this.written.has(key) && (w === undefined ? !this.rss.get(rs.metadata?.namespace ?? '', rs.metadata?.name ?? '') : rvOf(rs) >= rvOf(w))) this.written.delete(key);
      this.rsOwnerChanged(rs);
    };
    this.unsubscribe.push(
      this.deployments.addHandler({
        onAdd: (d) => this.queue.add(keyOf(d)),
        onUpdate: (_o, d) => this.queue.add(keyOf(d)),
      }),
      this.rss.addHandler({
        onAdd: rsChanged,
        onUpdate: (old, rs) => {
          rsChanged(rs);
          if (controllerRefOf(old)?.uid !== controllerRefOf(rs)?.uid) this.rsOwnerChanged(old);
        },
        onDelete: rsChanged,
      }),
      // Recreate waits for the old pods to be gone.
      this.pods.addHandler({
        onDelete: (p) => {
          const ref = controllerRefOf(p);
          const rs = ref?.kind === 'ReplicaSet' ? this.rss.get(p.metadata?.namespace ?? '', ref.name) : undefined;
          if (rs) this.rsOwnerChanged(rs);
        },
      }),
    );
    await Promise.all([this.deployments.waitForSync(), this.rss.waitForSync(), this.pods.waitForSync()]);
  }

  stop(): void {
    for (const u of this.unsubscribe) u();
    this.queue.stop();
  }

  whenIdle(): Promise<void> {
    return this.queue.whenIdle();
  }

  /** Wakes the Deployment that controls a ReplicaSet, or those whose selector could adopt it. */
  private rsOwnerChanged(rs: ReplicaSet): void {
    const ns = rs.metadata?.namespace ?? '';
    const ref = controllerRefOf(rs);
    if (ref) {
      if (ref.kind === 'Deployment') this.queue.add(`${ns}/${ref.name}`);
      return;
    }
    for (const d of this.deployments.list()) {
      if (d.metadata?.namespace === ns && selectorOf(d)?.matches(rs.metadata?.labels)) this.queue.add(keyOf(d));
    }
  }

  /** The ReplicaSets of a namespace, the informer's view overlaid with this controller's newer writes. */
  private replicaSetsIn(ns: string): ReplicaSet[] {
    const out = new Map<string, ReplicaSet>();
    for (const rs of this.rss.list()) if (rs.metadata?.namespace === ns) out.set(keyOf(rs), rs);
    for (const [key, w] of this.written) {
      if (!key.startsWith(`${ns}/`)) continue;
      const cached = out.get(key);
      if (w === undefined) out.delete(key);
      else if (!cached || rvOf(w) > rvOf(cached)) out.set(key, w);
    }
    return [...out.values()];
  }

  private async sync(key: string): Promise<void> {
    const [ns, name] = splitKey(key);
    const stored = this.deployments.get(ns, name);
    if (!stored) return;
    const d = structuredClone(stored);
    const selector = selectorOf(d);
    if (!selector || selector.empty()) {
      // kube refuses to select everything: every pod in the namespace would be its own.
      void this.record(d, 'Warning', 'SelectingAll', 'This deployment is selecting all pods. A non-empty selector is required.').catch(() => {});
      return;
    }
    const claims = classify(this.replicaSetsIn(ns), d, selector);
    for (const rs of claims.release) await release(this.rsStorage, rs, d.metadata?.uid ?? '');
    for (const rs of claims.adopt) {
      const a = await adopt(this.rsStorage, rs, d);
      if (a) claims.owned.push(this.remember(a));
    }
    const owned = claims.owned;
    try {
      if (d.metadata?.deletionTimestamp) return await this.statusOnly(d, stored, owned);
      checkPausedConditions(d);
      // A resize outside a rollout step (or mid-rollout) moves every ReplicaSet in proportion first.
      if (d.spec?.paused || isScalingEvent(d, owned)) await this.scaleSync(d, stored, owned);
      else if (d.spec?.strategy?.type === 'Recreate') await this.recreate(d, stored, owned);
      else await this.rolling(d, stored, owned);
    } catch (err) {
      if (isNamespaceTerminating(err) || err instanceof NotFoundError) return;
      throw err;
    }
  }

  private remember(rs: ReplicaSet): ReplicaSet {
    this.written.set(keyOf(rs), rs);
    return rs;
  }

  /**
   * getAllReplicaSetsAndSyncRevision: the new ReplicaSet (made when `create` and missing; its
   * revision raised above the old ones', e.g. after a rollback) and the old ones.
   */
  private async newAndOld(d: Deployment, owned: ReplicaSet[], create: boolean): Promise<{ newRS?: ReplicaSet; old: ReplicaSet[] }> {
    const found = findNewReplicaSet(d, owned);
    const old = owned.filter((rs) => rs !== found);
    const revision = Math.max(0, ...old.map(revisionOf)) + 1;
    let newRS = found;
    if (newRS) {
      const ann = replicaSetAnnotations(d, revision, newRS.metadata?.annotations);
      const minReady = d.spec?.minReadySeconds ?? 0;
      if (JSON.stringify(ann) !== JSON.stringify(newRS.metadata?.annotations ?? {}) || (newRS.spec?.minReadySeconds ?? 0) !== minReady) {
        newRS = this.remember(
          await this.rsStorage.guaranteedUpdate(d.metadata?.namespace, newRS.metadata?.name ?? '', (cur) => {
            (cur.metadata ??= {}).annotations = replicaSetAnnotations(d, revision, cur.metadata.annotations);
            if (cur.spec) cur.spec.minReadySeconds = minReady;
            return cur;
          }),
        );
      }
      if (!getCondition(d.status, 'Progressing') && d.spec?.progressDeadlineSeconds !== undefined) {
        setCondition((d.status ??= {}), condition('Progressing', 'True', 'FoundNewReplicaSet', `Found new replica set "${newRS.metadata?.name}"`));
      }
    } else if (create) {
      newRS = await this.createNewReplicaSet(d, old, revision);
    }
    if (newRS) await this.syncDeploymentRevision(d, String(revisionOf(newRS)));
    return { newRS, old };
  }

  private async createNewReplicaSet(d: Deployment, old: ReplicaSet[], revision: number): Promise<ReplicaSet> {
    const hash = computeHash(d.spec?.template, d.status?.collisionCount);
    const replicas = newRSNewReplicas(d, old, { spec: { replicas: 0 } } as ReplicaSet);
    const rs = newReplicaSetFor(d, hash, revision, replicas);
    let created: ReplicaSet;
    try {
      created = await this.rsStorage.create(d.metadata?.namespace, rs);
    } catch (err) {
      if (!(err instanceof AlreadyExistsError)) throw err;
      const existing = await this.rsStorage.get(d.metadata?.namespace, rs.metadata?.name ?? '');
      if (controllerRefOf(existing)?.uid === d.metadata?.uid && equalIgnoreHash(existing.spec?.template, d.spec?.template)) return this.remember(existing);
      // A hash collision with someone else's ReplicaSet: a new collisionCount gives a new name.
      await this.dStorage.guaranteedUpdate(d.metadata?.namespace, d.metadata?.name ?? '', (cur) => {
        const st = (cur.status ??= {});
        st.collisionCount = (st.collisionCount ?? 0) + 1;
        return cur;
      }, { subresource: 'status' });
      throw err;
    }
    this.remember(created);
    // As kube, a ReplicaSet made at 0 (no room under maxSurge yet) is no scaling event.
    if (replicas > 0) void this.record(d, 'Normal', 'ScalingReplicaSet', `Scaled up replica set ${created.metadata?.name} from 0 to ${replicas}`).catch(() => {});
    if (d.spec?.progressDeadlineSeconds !== undefined) {
      setCondition((d.status ??= {}), condition('Progressing', 'True', 'NewReplicaSetCreated', `Created new replica set "${created.metadata?.name}"`));
    }
    return created;
  }

  /** The Deployment carries its new ReplicaSet's revision (what `kubectl rollout history` and describe show). */
  private async syncDeploymentRevision(d: Deployment, revision: string): Promise<void> {
    if (d.metadata?.annotations?.[REVISION] === revision) return;
    const out = await this.dStorage.guaranteedUpdate(d.metadata?.namespace, d.metadata?.name ?? '', (cur) => {
      ((cur.metadata ??= {}).annotations ??= {})[REVISION] = revision;
      return cur;
    });
    (d.metadata ??= {}).annotations = out.metadata?.annotations;
  }

  private async scale(d: Deployment, rs: ReplicaSet, replicas: number): Promise<ReplicaSet> {
    const from = rs.spec?.replicas ?? 0;
    if (from === replicas && rs.metadata?.annotations?.[DESIRED_REPLICAS] === String(d.spec?.replicas ?? 1)) return rs;
    const out = this.remember(
      await this.rsStorage.guaranteedUpdate(rs.metadata?.namespace, rs.metadata?.name ?? '', (cur) => {
        if (cur.metadata?.uid !== rs.metadata?.uid) throw new NotFoundError({ resource: 'replicasets', group: 'apps', name: rs.metadata?.name ?? '' });
        (cur.spec ??= {} as NonNullable<ReplicaSet['spec']>).replicas = replicas;
        const ann = ((cur.metadata ??= {}).annotations ??= {});
        ann[DESIRED_REPLICAS] = String(d.spec?.replicas ?? 1);
        ann[MAX_REPLICAS] = String((d.spec?.replicas ?? 1) + maxSurge(d));
        return cur;
      }),
    );
    if (from !== replicas) {
      void this.record(d, 'Normal', 'ScalingReplicaSet', `Scaled ${replicas > from ? 'up' : 'down'} replica set ${rs.metadata?.name} from ${from} to ${replicas}`).catch(() => {});
    }
    return out;
  }

  private async rolling(d: Deployment, stored: Deployment, owned: ReplicaSet[]): Promise<void> {
    const { newRS: found, old } = await this.newAndOld(d, owned, true);
    let newRS = found!;
    const want = d.spec?.replicas ?? 1;
    // reconcileNewReplicaSet
    const cur = newRS.spec?.replicas ?? 0;
    const target = cur > want ? want : newRSNewReplicas(d, [...old, newRS], newRS);
    if (target !== cur) {
      newRS = await this.scale(d, newRS, target);
      return this.writeStatus(d, stored, [...old, newRS], newRS);
    }
    // reconcileOldReplicaSets
    let olds = old;
    if (sumSpec(olds) > 0) {
      const budget = maxScaledDown(d, [...olds, newRS], newRS);
      if (budget > 0) {
        let changed = false;
        const apply = async (plan: Map<ReplicaSet, number>) => {
          const next: ReplicaSet[] = [];
          for (const rs of olds) {
            const n = plan.get(rs);
            if (n !== undefined && n !== rs.spec?.replicas) {
              next.push(await this.scale(d, rs, n));
              changed = true;
            } else next.push(rs);
          }
          olds = next;
        };
        await apply(cleanupUnhealthy(olds, budget));
        await apply(scaleDownOld(d, [...olds, newRS], olds));
        if (changed) return this.writeStatus(d, stored, [...olds, newRS], newRS);
      }
    }
    if (isComplete(d, calculateStatus(d, [...olds, newRS], newRS))) olds = await this.cleanup(d, olds);
    return this.writeStatus(d, stored, [...olds, newRS], newRS);
  }

  private async recreate(d: Deployment, stored: Deployment, owned: ReplicaSet[]): Promise<void> {
    let { newRS, old } = await this.newAndOld(d, owned, false);
    const active = old.filter((rs) => (rs.spec?.replicas ?? 0) > 0);
    if (active.length) {
      old = await Promise.all(old.map((rs) => ((rs.spec?.replicas ?? 0) > 0 ? this.scale(d, rs, 0) : rs)));
      return this.writeStatus(d, stored, newRS ? [...old, newRS] : old, newRS);
    }
    if (this.oldPodsRunning(newRS, old)) return this.writeStatus(d, stored, newRS ? [...old, newRS] : old, newRS);
    if (!newRS) ({ newRS, old } = await this.newAndOld(d, owned, true));
    newRS = await this.scale(d, newRS!, d.spec?.replicas ?? 1);
    if (isComplete(d, calculateStatus(d, [...old, newRS], newRS))) old = await this.cleanup(d, old);
    return this.writeStatus(d, stored, [...old, newRS], newRS);
  }

  /** Whether pods of the old ReplicaSets still exist (not finished), terminating ones included. */
  private oldPodsRunning(newRS: ReplicaSet | undefined, old: ReplicaSet[]): boolean {
    if (old.some((rs) => (rs.status?.replicas ?? 0) > 0)) return true;
    const oldUIDs = new Set(old.map((rs) => rs.metadata?.uid));
    oldUIDs.delete(newRS?.metadata?.uid);
    return this.pods.list().some((p) => {
      const ref = controllerRefOf(p);
      return ref !== undefined && oldUIDs.has(ref.uid) && !isPodTerminal(p);
    });
  }

  private async statusOnly(d: Deployment, stored: Deployment, owned: ReplicaSet[]): Promise<void> {
    const { newRS, old } = await this.newAndOld(d, owned, false);
    await this.writeStatus(d, stored, newRS ? [...old, newRS] : old, newRS);
  }

  /**
   * sync(), for a paused Deployment or a scaling event: no new ReplicaSet for a changed template
   * (while paused that waits for `rollout resume`), but spec.replicas is followed (scalePlan); a
   * paused Deployment's old history is cleaned up too.
   */
  private async scaleSync(d: Deployment, stored: Deployment, owned: ReplicaSet[]): Promise<void> {
    const { newRS, old } = await this.newAndOld(d, owned, false);
    const scaled = new Map<ReplicaSet, ReplicaSet>();
    for (const [rs, n] of scalePlan(d, newRS, old)) scaled.set(rs, await this.scale(d, rs, n));
    const next = newRS && (scaled.get(newRS) ?? newRS);
    let olds = old.map((rs) => scaled.get(rs) ?? rs);
    if (d.spec?.paused) olds = await this.cleanup(d, olds);
    await this.writeStatus(d, stored, next ? [...olds, next] : olds, next);
  }

  /** cleanupDeployment: old ReplicaSets at 0 beyond revisionHistoryLimit go, lowest revision first. */
  private async cleanup(d: Deployment, old: ReplicaSet[]): Promise<ReplicaSet[]> {
    const limit = d.spec?.revisionHistoryLimit;
    if (limit === undefined) return old;
    const cleanable = old
      .filter((rs) => !rs.metadata?.deletionTimestamp && (rs.spec?.replicas ?? 0) === 0 && (rs.status?.replicas ?? 0) === 0 && (rs.status?.observedGeneration ?? 0) >= (rs.metadata?.generation ?? 0))
      .sort((a, b) => revisionOf(a) - revisionOf(b) || byCreation(a, b));
    const gone = new Set<ReplicaSet>();
    for (const rs of cleanable.slice(0, Math.max(0, cleanable.length - limit))) {
      try {
        await this.rsStorage.delete(rs.metadata?.namespace, rs.metadata?.name ?? '', { preconditions: { uid: rs.metadata?.uid } });
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
      }
      this.written.set(keyOf(rs), undefined);
      gone.add(rs);
    }
    return old.filter((rs) => !gone.has(rs));
  }

  private async writeStatus(d: Deployment, stored: Deployment, all: ReplicaSet[], newRS: ReplicaSet | undefined): Promise<void> {
    const st: DeploymentStatus = rolloutStatus(d, all, newRS);
    // Without progress, look again when the deadline would pass.
    const pc = getCondition(st, 'Progressing');
    if (pc && pc.reason !== 'NewReplicaSetAvailable' && pc.reason !== 'ProgressDeadlineExceeded' && d.spec?.progressDeadlineSeconds !== undefined) {
      const due = (Date.parse(pc.lastUpdateTime ?? '') || Date.now()) + d.spec.progressDeadlineSeconds * 1000 - Date.now();
      this.queue.addAfter(keyOf(d), Math.max(1000, due + 1000));
    }
    if (sameStatus(st, stored.status)) return;
    await this.dStorage.guaranteedUpdate(d.metadata?.namespace, d.metadata?.name ?? '', (cur) => {
      if (cur.metadata?.uid !== d.metadata?.uid) throw new NotFoundError({ resource: 'deployments', group: 'apps', name: d.metadata?.name ?? '' });
      cur.status = st;
      return cur;
    }, { subresource: 'status' });
  }
}

function selectorOf(d: Deployment): Selector | undefined {
  try {
    return selectorFromLabelSelector(d.spec?.selector);
  } catch {
    return undefined;
  }
}
