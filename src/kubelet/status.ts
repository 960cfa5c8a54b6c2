// The pod status kubelet reports, computed from what the runner knows: one pure function from the
// pod, the containers' runtime view and the clock to a PodStatus (phase as kubelet's getPhase,
// conditions PodScheduled/Initialized/ContainersReady/Ready with lastTransitionTime kept while the
// status does not change, containerStatuses with state, lastState, restartCount, ready, started).
import type { ContainerState, ContainerStatus, Pod, PodCondition, PodStatus } from '../registry/kinds/pod.js';

export interface ContainerView {
  name: string;
  image: string;
  state: ContainerState;
  lastState?: ContainerState;
  restartCount: number;
  ready: boolean;
  started: boolean;
  containerID?: string;
}

export interface PodView {
  podIP?: string;
  hostIP?: string;
  startTime?: string;
  containers: ContainerView[];
  /** A pod-level failure (e.g. a container without a command): phase Failed with this reason. */
  failure?: { reason: string; message: string };
}

/** Phase as kubelet's getPhase for pods without init containers. */
export function podPhase(restartPolicy: string | undefined, containers: ContainerView[]): NonNullable<PodStatus['phase']> {
  let running = 0;
  let waiting = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const c of containers) {
    if (c.state.running) running++;
    else if (c.state.terminated) {
      stopped++;
      if (c.state.terminated.exitCode === 0) succeeded++;
    } else if (c.lastState?.terminated) stopped++; // waiting to restart
    else waiting++;
  }
  if (waiting > 0) return 'Pending';
  if (running > 0) return 'Running';
  if (stopped > 0) {
    const policy = restartPolicy ?? 'Always';
    if (policy === 'Always') return 'Running';
    if (stopped === succeeded) return 'Succeeded';
    if (policy === 'Never') return 'Failed';
    return 'Running';
  }
  return 'Pending';
}

function condition(old: PodCondition[] | undefined, type: string, status: boolean, now: string, reason?: string, message?: string): PodCondition {
  const s = status ? 'True' : 'False';
  const prev = old?.find((c) => c.type === type);
  const c: PodCondition = { type, status: s, lastTransitionTime: prev && prev.status === s && prev.lastTransitionTime ? prev.lastTransitionTime : now };
  if (reason) c.reason = reason;
  if (message) c.message = message;
  return c;
}

/** The status to write for a pod. `now` is an RFC 3339 timestamp (seconds). */
export function computePodStatus(pod: Pod, view: PodView, now: string): PodStatus {
  const old = pod.status?.conditions;
  const phase = view.failure ? 'Failed' : podPhase(pod.spec?.restartPolicy, view.containers);
  const terminal = phase === 'Succeeded' || phase === 'Failed';
  const statuses: ContainerStatus[] = view.containers.map((c) => {
    const s: ContainerStatus = {
      name: c.name,
      state: c.state,
      lastState: c.lastState ?? {},
      ready: !terminal && Boolean(c.state.running) && c.ready,
      restartCount: c.restartCount,
      image: c.image,
      imageID: '',
      started: Boolean(c.state.running) && c.started,
    };
    if (c.containerID) s.containerID = c.containerID;
    return s;
  });
  const notReady = statuses.filter((s) => !s.ready).map((s) => s.name);
  const containersReady = statuses.length > 0 && notReady.length === 0;
  const gates = (pod.spec?.readinessGates ?? []).map((g) => g.conditionType);
  const gatesOk = gates.every((g) => old?.find((c) => c.type === g)?.status === 'True');
  const why = notReady.length ? `containers with unready status: [${notReady.join(' ')}]` : undefined;
  const conditions: PodCondition[] = [
    condition(old, 'PodReadyToStartContainers', Boolean(view.podIP) && !terminal, now),
    condition(old, 'Initialized', true, now),
    condition(old, 'Ready', containersReady && gatesOk, now, containersReady ? (gatesOk ? undefined : 'ReadinessGatesNotReady') : terminal ? 'PodCompleted' : 'ContainersNotReady', containersReady ? undefined : why),
    condition(old, 'ContainersReady', containersReady, now, containersReady ? undefined : terminal ? 'PodCompleted' : 'ContainersNotReady', containersReady ? undefined : why),
    condition(old, 'PodScheduled', true, now),
  ];
  // Readiness gate conditions belong to whoever sets them: carry them over.
  for (const g of gates) {
    const c = old?.find((x) => x.type === g);
    if (c) conditions.push(c);
  }
  const status: PodStatus = { phase, conditions, containerStatuses: statuses, qosClass: 'BestEffort' };
  if (view.failure) {
    status.reason = view.failure.reason;
    status.message = view.failure.message;
  }
  if (view.hostIP) {
    status.hostIP = view.hostIP;
    status.hostIPs = [{ ip: view.hostIP }];
  }
  if (view.podIP) {
    status.podIP = view.podIP;
    status.podIPs = [{ ip: view.podIP }];
  }
  if (view.startTime) status.startTime = view.startTime;
  return status;
}

/** RFC 3339 to the second, as kube writes metav1.Time. */
export function rfc3339(d: Date | number = new Date()): string {
  return new Date(d).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
