// The Deployment controller's arithmetic and bookkeeping (kube's deployment/util): the
// pod-template-hash, revisions, which ReplicaSet is the new one, the rolling-update fenceposts
// (maxSurge rounds up, maxUnavailable down, never both 0), how far the new ReplicaSet may grow
// and the old ones shrink, and the status with its Available and Progressing conditions.
// Pure functions over objects, so the unit tests drive them without an API.
import { isDeepStrictEqual } from 'node:util';
import type { Deployment, DeploymentCondition, DeploymentStatus } from '../registry/kinds/deployment.js';
import type { ReplicaSet } from '../registry/kinds/replicaset.js';
import type { PodTemplateSpec } from '../registry/kinds/pod.js';
import { scaledValue } from '../registry/apps/validation.js';
import { nowTimestamp } from '../api/storage.js';

export const POD_TEMPLATE_HASH = 'pod-template-hash';
export const REVISION = 'deployment.kubernetes.io/revision';
export const DESIRED_REPLICAS = 'deployment.kubernetes.io/desired-replicas';
export const MAX_REPLICAS = 'deployment.kubernetes.io/max-replicas';
const REVISION_HISTORY = 'deployment.kubernetes.io/revision-history';
/** Deployment annotations not copied to its ReplicaSets (kube's skipCopyAnnotation). */
const NOT_COPIED = new Set(['kubectl.kubernetes.io/last-applied-configuration', REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS, 'deprecated.deployment.rollback.to']);

const SAFE = 'bcdfghjklmnpqrstvwxz2456789';

/** A stable canonical JSON (object keys sorted), so equal templates hash equally. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * controller.ComputeHash: FNV-32a over the template (and the collision count), its decimal form
 * mapped onto kube's vowel-free alphabet (rand.SafeEncodeString).
 */
export function computeHash(template: PodTemplateSpec | undefined, collisionCount?: number): string {
  let h = 0x811c9dc5;
  const text = canonical(template ?? {}) + (collisionCount ? String(collisionCount) : '');
  for (const b of Buffer.from(text, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return [...String(h)].map((c) => SAFE[c.charCodeAt(0) % SAFE.length]).join('');
}

function withoutHash(t: PodTemplateSpec | undefined): PodTemplateSpec {
  const c = structuredClone(t ?? {});
  if (c.metadata?.labels) {
    delete c.metadata.labels[POD_TEMPLATE_HASH];
    if (Object.keys(c.metadata.labels).length === 0) delete c.metadata.labels;
  }
  return JSON.parse(JSON.stringify(c)) as PodTemplateSpec;
}

/** EqualIgnoreHash: the templates are the same but for the pod-template-hash label. */
export function equalIgnoreHash(a: PodTemplateSpec | undefined, b: PodTemplateSpec | undefined): boolean {
  return isDeepStrictEqual(withoutHash(a), withoutHash(b));
}

export function revisionOf(o: { metadata?: { annotations?: Record<string, string> } } | undefined): number {
  const v = Number(o?.metadata?.annotations?.[REVISION] ?? 0);
  return Number.isInteger(v) && v > 0 ? v : 0;
}

const created = (rs: ReplicaSet) => Date.parse(rs.metadata?.creationTimestamp ?? '') || 0;
/** Oldest first, then by name (controller.ReplicaSetsByCreationTimestamp). */
export const byCreation = (a: ReplicaSet, b: ReplicaSet) => created(a) - created(b) || (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? '');

/** FindNewReplicaSet: the oldest ReplicaSet whose template equals the Deployment's. */
export function findNewReplicaSet(d: Deployment, rss: ReplicaSet[]): ReplicaSet | undefined {
  return [...rss].sort(byCreation).find((rs) => equalIgnoreHash(rs.spec?.template, d.spec?.template));
}

const replicasOf = (rs: ReplicaSet | undefined) => rs?.spec?.replicas ?? 0;
export const sumSpec = (rss: Array<ReplicaSet | undefined>) => rss.reduce((n, rs) => n + replicasOf(rs), 0);
const sumStatus = (rss: Array<ReplicaSet | undefined>, f: (s: NonNullable<ReplicaSet['status']>) => number | undefined) => rss.reduce((n, rs) => n + (rs?.status ? (f(rs.status) ?? 0) : 0), 0);
export const sumAvailable = (rss: Array<ReplicaSet | undefined>) => sumStatus(rss, (s) => s.availableReplicas);

const isRolling = (d: Deployment) => (d.spec?.strategy?.type ?? 'RollingUpdate') === 'RollingUpdate';

/** ResolveFenceposts: maxSurge rounded up, maxUnavailable down; both 0 becomes unavailable 1. */
export function fenceposts(d: Deployment): { surge: number; unavailable: number } {
  const want = d.spec?.replicas ?? 1;
  const ru = d.spec?.strategy?.rollingUpdate ?? {};
  const surge = scaledValue(ru.maxSurge ?? '25%', want, true);
  let unavailable = scaledValue(ru.maxUnavailable ?? '25%', want, false);
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return { surge, unavailable };
}

export function maxUnavailable(d: Deployment): number {
  const want = d.spec?.replicas ?? 1;
  if (!isRolling(d) || want === 0) return 0;
  return Math.min(fenceposts(d).unavailable, want);
}

export function maxSurge(d: Deployment): number {
  return isRolling(d) ? fenceposts(d).surge : 0;
}

/** NewRSNewReplicas: how many replicas the new ReplicaSet may have now. */
export function newRSNewReplicas(d: Deployment, all: ReplicaSet[], newRS: ReplicaSet): number {
  const want = d.spec?.replicas ?? 1;
  if (!isRolling(d)) return want;
  const current = sumSpec(all);
  const maxTotal = want + maxSurge(d);
  if (current >= maxTotal) return replicasOf(newRS);
  const up = Math.min(maxTotal - current, want - replicasOf(newRS));
  return replicasOf(newRS) + up;
}

/**
 * How many old replicas may go now without breaking maxUnavailable (reconcileOldReplicaSets'
 * maxScaledDown), counting the new ReplicaSet's not-yet-available pods as unavailable.
 */
export function maxScaledDown(d: Deployment, all: ReplicaSet[], newRS: ReplicaSet): number {
  const minAvailable = (d.spec?.replicas ?? 1) - maxUnavailable(d);
  const newUnavailable = replicasOf(newRS) - (newRS.status?.availableReplicas ?? 0);
  return sumSpec(all) - minAvailable - newUnavailable;
}

/** Unhealthy old replicas to drop first (cleanupUnhealthyReplicas): name → new replica count. */
export function cleanupUnhealthy(oldRSs: ReplicaSet[], budget: number): Map<ReplicaSet, number> {
  const out = new Map<ReplicaSet, number>();
  let done = 0;
  for (const rs of [...oldRSs].sort(byCreation)) {
    if (done >= budget) break;
    const spec = replicasOf(rs);
    const avail = rs.status?.availableReplicas ?? 0;
    // A status that still counts pods already scaled away (avail > spec) has nothing unhealthy.
    if (spec === 0 || spec <= avail) continue;
    const n = Math.min(budget - done, spec - avail);
    out.set(rs, spec - n);
    done += n;
  }
  return out;
}

/** scaleDownOldReplicaSetsForRollingUpdate: old replica counts so availability stays at least replicas - maxUnavailable. */
export function scaleDownOld(d: Deployment, all: ReplicaSet[], oldRSs: ReplicaSet[]): Map<ReplicaSet, number> {
  const out = new Map<ReplicaSet, number>();
  const minAvailable = (d.spec?.replicas ?? 1) - maxUnavailable(d);
  // A ReplicaSet's status may still count pods it was just told to drop; it never keeps more than
  // spec.replicas, so counting more would scale down twice for the same pods (kube counts them).
  const available = all.reduce((n, rs) => n + Math.min(replicasOf(rs), rs.status?.availableReplicas ?? 0), 0);
  if (available <= minAvailable) return out;
  const total = available - minAvailable;
  let done = 0;
  for (const rs of [...oldRSs].sort(byCreation)) {
    if (done >= total) break;
    const spec = replicasOf(rs);
    if (spec === 0) continue;
    const n = Math.min(spec, total - done);
    out.set(rs, spec - n);
    done += n;
  }
  return out;
}

/** FindActiveOrLatest: the one ReplicaSet with replicas, the newest when none has any, none when several have. */
export function activeOrLatest(newRS: ReplicaSet | undefined, oldRSs: ReplicaSet[]): ReplicaSet | undefined {
  const active = [...oldRSs, ...(newRS ? [newRS] : [])].filter((rs) => replicasOf(rs) > 0);
  if (active.length === 1) return active[0];
  if (active.length > 1) return undefined;
  return newRS ?? [...oldRSs].sort(byCreation).at(-1);
}

/** IsSaturated: the new ReplicaSet is at the Deployment's size, meant to be, and all of it available. */
export function isSaturated(d: Deployment, rs: ReplicaSet | undefined): boolean {
  const want = d.spec?.replicas ?? 1;
  return rs !== undefined && replicasOf(rs) === want && rs.metadata?.annotations?.[DESIRED_REPLICAS] === String(want) && (rs.status?.availableReplicas ?? 0) === want;
}

/**
 * getReplicaSetFraction: this ReplicaSet's share of a resize, from the size it was made for (its
 * max-replicas annotation, else the Deployment's last reported size) to replicas + maxSurge.
 */
function fraction(d: Deployment, rs: ReplicaSet): number {
  const want = d.spec?.replicas ?? 1;
  if (want === 0) return -replicasOf(rs);
  const annotated = Number(rs.metadata?.annotations?.[MAX_REPLICAS]);
  const before = Number.isInteger(annotated) && annotated > 0 ? annotated : (d.status?.replicas ?? 0);
  if (before === 0) return 0;
  // Go's integer.RoundToInt32 rounds halves away from zero.
  const exact = (replicasOf(rs) * (want + maxSurge(d))) / before;
  return Math.sign(exact) * Math.round(Math.abs(exact)) - replicasOf(rs);
}

/**
 * The Deployment controller's scale(): how ReplicaSets follow a changed spec.replicas outside a
 * rollout (a paused Deployment, or a scaling event). The one active ReplicaSet (or the newest) takes
 * the whole size; with a saturated new ReplicaSet the old ones go to 0; otherwise a rolling
 * Deployment spreads the difference to replicas + maxSurge over the active ReplicaSets in
 * proportion to their sizes, the leftover to the largest. Returns the new size per ReplicaSet.
 */
export function scalePlan(d: Deployment, newRS: ReplicaSet | undefined, oldRSs: ReplicaSet[]): Map<ReplicaSet, number> {
  const want = d.spec?.replicas ?? 1;
  const plan = new Map<ReplicaSet, number>();
  const only = activeOrLatest(newRS, oldRSs);
  if (only) {
    if (replicasOf(only) !== want) plan.set(only, want);
    return plan;
  }
  if (isSaturated(d, newRS)) {
    for (const rs of oldRSs) if (replicasOf(rs) > 0) plan.set(rs, 0);
    return plan;
  }
  if (!isRolling(d)) return plan;
  const active = [...oldRSs, ...(newRS ? [newRS] : [])].filter((rs) => replicasOf(rs) > 0);
  const allowed = want > 0 ? want + maxSurge(d) : 0;
  const toAdd = allowed - sumSpec(active);
  // Largest first; among equals, newer first when growing and older first when shrinking.
  active.sort((a, b) => replicasOf(b) - replicasOf(a) || (toAdd > 0 ? byCreation(b, a) : byCreation(a, b)));
  let added = 0;
  for (const rs of active) {
    let share = 0;
    if (toAdd !== 0 && toAdd !== added) {
      const f = fraction(d, rs);
      share = toAdd > 0 ? Math.min(f, toAdd - added) : Math.max(f, toAdd - added);
    }
    plan.set(rs, replicasOf(rs) + share);
    added += share;
  }
  const largest = active[0];
  if (largest && toAdd !== 0) plan.set(largest, Math.max(0, plan.get(largest)! + toAdd - added));
  return plan;
}

/** isScalingEvent: an active ReplicaSet was sized for another spec.replicas (its desired-replicas annotation). */
export function isScalingEvent(d: Deployment, rss: ReplicaSet[]): boolean {
  const want = String(d.spec?.replicas ?? 1);
  return rss.some((rs) => {
    const desired = rs.metadata?.annotations?.[DESIRED_REPLICAS];
    return replicasOf(rs) > 0 && desired !== undefined && desired !== want;
  });
}

/** The annotations a new ReplicaSet carries: the Deployment's (minus kube's skip list), revision, desired and max replicas. */
export function replicaSetAnnotations(d: Deployment, revision: number, base: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = { ...base };
  for (const [k, v] of Object.entries(d.metadata?.annotations ?? {})) if (!NOT_COPIED.has(k)) out[k] = v;
  const cur = Number(out[REVISION] ?? 0);
  if (!(cur >= revision)) out[REVISION] = String(revision);
  // Sizes are stamped at creation only (SetNewReplicaSetAnnotations); later, scaling updates them,
  // so that a resize can be told from the sizes the ReplicaSet was last made for.
  if (!(DESIRED_REPLICAS in out) || !(MAX_REPLICAS in out)) {
    out[DESIRED_REPLICAS] = String(d.spec?.replicas ?? 1);
    out[MAX_REPLICAS] = String((d.spec?.replicas ?? 1) + maxSurge(d));
  }
  return out;
}

/** The ReplicaSet a Deployment's template makes (without a server-given uid yet). */
export function newReplicaSetFor(d: Deployment, hash: string, revision: number, replicas: number): ReplicaSet {
  const template = structuredClone(d.spec?.template ?? {});
  const tmeta = (template.metadata ??= {});
  tmeta.labels = { ...(tmeta.labels ?? {}), [POD_TEMPLATE_HASH]: hash };
  const selector = structuredClone(d.spec?.selector ?? {});
  selector.matchLabels = { ...(selector.matchLabels ?? {}), [POD_TEMPLATE_HASH]: hash };
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name: `${d.metadata?.name}-${hash}`,
      namespace: d.metadata?.namespace,
      labels: { ...tmeta.labels },
      annotations: replicaSetAnnotations(d, revision),
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: d.metadata?.name ?? '', uid: d.metadata?.uid ?? '', controller: true, blockOwnerDeletion: true }],
    },
    spec: { replicas, minReadySeconds: d.spec?.minReadySeconds ?? 0, selector, template },
  };
}

// ---- status and conditions ----

export function getCondition(st: DeploymentStatus | undefined, type: string): DeploymentCondition | undefined {
  return st?.conditions?.find((c) => c.type === type);
}

/** SetDeploymentCondition: same status and reason changes nothing; same status keeps lastTransitionTime. */
export function setCondition(st: DeploymentStatus, c: DeploymentCondition): void {
  const cur = getCondition(st, c.type);
  if (cur && cur.status === c.status && cur.reason === c.reason) return;
  if (cur && cur.status === c.status) c.lastTransitionTime = cur.lastTransitionTime;
  st.conditions = [...(st.conditions ?? []).filter((x) => x.type !== c.type), c];
}

export function condition(type: string, status: 'True' | 'False' | 'Unknown', reason: string, message: string, now = nowTimestamp()): DeploymentCondition {
  return { type, status, lastUpdateTime: now, lastTransitionTime: now, reason, message };
}

/**
 * checkPausedConditions: Progressing Unknown `DeploymentPaused` while paused and `DeploymentResumed`
 * once resumed (what `kubectl rollout status` and describe read); a reported timeout is kept.
 */
export function checkPausedConditions(d: Deployment): void {
  if (d.spec?.progressDeadlineSeconds === undefined) return;
  const cur = getCondition(d.status, 'Progressing');
  if (cur?.reason === 'ProgressDeadlineExceeded') return;
  const shown = cur?.reason === 'DeploymentPaused';
  if (d.spec.paused && !shown) setCondition((d.status ??= {}), condition('Progressing', 'Unknown', 'DeploymentPaused', 'Deployment is paused'));
  else if (!d.spec.paused && shown) setCondition((d.status ??= {}), condition('Progressing', 'Unknown', 'DeploymentResumed', 'Deployment is resumed'));
}

/** calculateStatus: counts from the ReplicaSets, and the Available condition. */
export function calculateStatus(d: Deployment, all: ReplicaSet[], newRS: ReplicaSet | undefined): DeploymentStatus {
  const available = sumAvailable(all);
  const st: DeploymentStatus = {
    observedGeneration: d.metadata?.generation ?? 0,
    replicas: sumStatus(all, (s) => s.replicas),
    updatedReplicas: sumStatus([newRS], (s) => s.replicas),
    readyReplicas: sumStatus(all, (s) => s.readyReplicas),
    availableReplicas: available,
    unavailableReplicas: Math.max(0, sumSpec(all) - available),
  };
  if (d.status?.collisionCount !== undefined) st.collisionCount = d.status.collisionCount;
  if (d.status?.conditions) st.conditions = structuredClone(d.status.conditions);
  if (available >= (d.spec?.replicas ?? 1) - maxUnavailable(d)) setCondition(st, condition('Available', 'True', 'MinimumReplicasAvailable', 'Deployment has minimum availability.'));
  else setCondition(st, condition('Available', 'False', 'MinimumReplicasUnavailable', 'Deployment does not have minimum availability.'));
  return st;
}

/** DeploymentComplete: every replica updated and available, at the current generation. */
export function isComplete(d: Deployment, st: DeploymentStatus): boolean {
  const want = d.spec?.replicas ?? 1;
  return st.updatedReplicas === want && st.replicas === want && st.availableReplicas === want && (st.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0);
}

/** DeploymentProgressing: more updated, ready or available replicas, or fewer old ones, than last time. */
export function isProgressing(d: Deployment, st: DeploymentStatus): boolean {
  const old = d.status ?? {};
  const oldOld = (old.replicas ?? 0) - (old.updatedReplicas ?? 0);
  const newOld = (st.replicas ?? 0) - (st.updatedReplicas ?? 0);
  return (st.updatedReplicas ?? 0) > (old.updatedReplicas ?? 0) || (st.readyReplicas ?? 0) > (old.readyReplicas ?? 0) || newOld < oldOld || (st.availableReplicas ?? 0) > (old.availableReplicas ?? 0);
}

/** DeploymentTimedOut: no progress recorded for progressDeadlineSeconds. */
export function isTimedOut(d: Deployment, st: DeploymentStatus, now: number): boolean {
  const c = getCondition(st, 'Progressing');
  if (!c || d.spec?.progressDeadlineSeconds === undefined) return false;
  if (c.reason === 'NewReplicaSetAvailable') return false;
  if (c.reason === 'ProgressDeadlineExceeded') return true;
  const from = Date.parse(c.lastUpdateTime ?? '') || 0;
  return from + d.spec.progressDeadlineSeconds * 1000 < now;
}

/** syncRolloutStatus: the Progressing condition over calculateStatus. */
export function rolloutStatus(d: Deployment, all: ReplicaSet[], newRS: ReplicaSet | undefined, now = Date.now()): DeploymentStatus {
  const st = calculateStatus(d, all, newRS);
  if (d.spec?.progressDeadlineSeconds === undefined) {
    if (st.conditions) st.conditions = st.conditions.filter((c) => c.type !== 'Progressing');
    return st;
  }
  const cur = getCondition(st, 'Progressing');
  const completeBefore = st.replicas === st.updatedReplicas && cur?.reason === 'NewReplicaSetAvailable';
  if (completeBefore || !newRS) return st;
  const name = newRS.metadata?.name ?? '';
  if (d.spec.paused) {
    setCondition(st, condition('Progressing', 'Unknown', 'DeploymentPaused', 'Deployment is paused'));
  } else if (isComplete(d, st)) {
    setCondition(st, condition('Progressing', 'True', 'NewReplicaSetAvailable', `ReplicaSet "${name}" has successfully progressed.`));
  } else if (isProgressing(d, st)) {
    // Progress moves lastUpdateTime even with the same reason; lastTransitionTime stays while True.
    const c = condition('Progressing', 'True', 'ReplicaSetUpdated', `ReplicaSet "${name}" is progressing.`);
    if (cur?.status === 'True') c.lastTransitionTime = cur.lastTransitionTime;
    st.conditions = [...(st.conditions ?? []).filter((x) => x.type !== 'Progressing'), c];
  } else if (isTimedOut(d, st, now)) {
    setCondition(st, condition('Progressing', 'False', 'ProgressDeadlineExceeded', `ReplicaSet "${name}" has timed out progressing.`));
  }
  return st;
}

/** Status equality ignoring condition timestamps' representation of absent fields. */
export function sameStatus(a: DeploymentStatus | undefined, b: DeploymentStatus | undefined): boolean {
  return canonical(a ?? {}) === canonical(b ?? {});
}
