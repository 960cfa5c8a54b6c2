// core/v1 Pod: schema (detailed where Portico reads it: containers, ports, probes, addressing,
// status), types, kube's simple defaults, field selectors and the table printer.
import type { Static } from '@sinclair/typebox';
import { Type, type TOptional, type TUnsafe } from '@sinclair/typebox';
import type { KindDef } from '../types.js';
import { age, ageColumn, col, humanDuration, nameColumn } from '../printers.js';
import {
  Atomic, Bool, Int32, Int64, IntOrString, LocalObjectReference, O, Obj, Preserve, QuantityMap, Str, StrList, StrMap, Sub, Time,
  kindSchema, listSchema, mergeBy,
} from './common.js';
import { ObjectMeta } from './meta.js';

const gvk = { group: '', version: 'v1', kind: 'Pod' };
const merge = (key: string) => ({ 'x-kubernetes-patch-merge-key': key, 'x-kubernetes-patch-strategy': 'merge' });

export const ContainerPort = Obj('io.k8s.api.core.v1.ContainerPort', 'ContainerPort is one network port of a container.', {
  name: O(Str('An IANA_SVC_NAME, unique within the pod; Services can refer to the port by this name.')),
  hostPort: O(Int32('The port to expose on the host, if any.')),
  containerPort: Int32('The port number on the pod\'s IP address (0 < x < 65536).'),
  protocol: O(Str('UDP, TCP or SCTP. Defaults to TCP.', { enum: ['SCTP', 'TCP', 'UDP'] })),
  hostIP: O(Str('The host IP to bind the host port to.')),
});
export type ContainerPort = Static<typeof ContainerPort>;

export const EnvVar = Obj('io.k8s.api.core.v1.EnvVar', 'EnvVar is one environment variable of a container.', {
  name: Str('The name of the variable.'),
  value: O(Str('The value; $(VAR) references to earlier variables are expanded. Defaults to "".')),
  valueFrom: O(Preserve('Where the value comes from (a field of the pod, a resource, a ConfigMap or Secret key) instead of `value`.')),
});

export const EnvFromSource = Obj('io.k8s.api.core.v1.EnvFromSource', 'EnvFromSource fills environment variables from a ConfigMap or Secret.', {
  prefix: O(Str('A prefix added to every variable name.')),
  configMapRef: O(Preserve('The ConfigMap to read.')),
  secretRef: O(Preserve('The Secret to read.')),
});

export const ResourceRequirements = Obj('io.k8s.api.core.v1.ResourceRequirements', 'ResourceRequirements are the compute resources a container asks for and may use.', {
  limits: O(QuantityMap('The most of each resource the container may use.')),
  requests: O(QuantityMap('The least of each resource the container needs; defaults to limits.')),
  claims: O(Type.Array(Preserve('A resource claim of the pod used by this container.'), { description: 'Dynamically allocated resources used by this container.', ...mergeBy('name') })),
});

export const ExecAction = Obj('io.k8s.api.core.v1.ExecAction', 'ExecAction runs a command in the container.', {
  command: O(StrList('The command and its arguments, run without a shell; exit status 0 is success.')),
});

export const HTTPHeader = Obj('io.k8s.api.core.v1.HTTPHeader', 'HTTPHeader is one header of an HTTP probe.', {
  name: Str('The header name.'),
  value: Str('The header value.'),
});

export const HTTPGetAction = Obj('io.k8s.api.core.v1.HTTPGetAction', 'HTTPGetAction is an HTTP GET request.', {
  path: O(Str('The path to request.')),
  port: IntOrString('Number or name of the container port to connect to.'),
  host: O(Str('The host to connect to; defaults to the pod IP.')),
  scheme: O(Str('HTTP or HTTPS. Defaults to HTTP.', { enum: ['HTTP', 'HTTPS'] })),
  httpHeaders: O(Type.Array(HTTPHeader, { description: 'Extra request headers.', ...Atomic })),
});

export const TCPSocketAction = Obj('io.k8s.api.core.v1.TCPSocketAction', 'TCPSocketAction opens a TCP connection.', {
  port: IntOrString('Number or name of the container port to connect to.'),
  host: O(Str('The host to connect to; defaults to the pod IP.')),
});

export const GRPCAction = Obj('io.k8s.api.core.v1.GRPCAction', 'GRPCAction calls the gRPC health checking protocol.', {
  port: Int32('The port of the gRPC service.'),
  service: O(Str('The service name sent in the HealthCheckRequest.')),
});

export const Probe = Obj('io.k8s.api.core.v1.Probe', 'Probe describes a health check run against a container.', {
  exec: O(Sub(ExecAction, 'Run a command.')),
  httpGet: O(Sub(HTTPGetAction, 'Send an HTTP GET request.')),
  tcpSocket: O(Sub(TCPSocketAction, 'Open a TCP connection.')),
  grpc: O(Sub(GRPCAction, 'Call a gRPC health check.')),
  initialDelaySeconds: O(Int32('Seconds after the container started before the first probe.')),
  timeoutSeconds: O(Int32('Seconds after which a probe times out. Defaults to 1.')),
  periodSeconds: O(Int32('Seconds between probes. Defaults to 10.')),
  successThreshold: O(Int32('Consecutive successes needed to count as success after a failure. Defaults to 1.')),
  failureThreshold: O(Int32('Consecutive failures needed to count as failure. Defaults to 3.')),
  terminationGracePeriodSeconds: O(Int64('Grace period for the pod when this probe fails, overriding the pod\'s.')),
});
export type Probe = Static<typeof Probe>;

export const VolumeMount = Obj('io.k8s.api.core.v1.VolumeMount', 'VolumeMount mounts a volume into a container.', {
  name: Str('The name of the volume.'),
  readOnly: O(Bool('Mount read-only.')),
  recursiveReadOnly: O(Str('Whether read-only mounts are read-only recursively.')),
  mountPath: Str('The path in the container to mount at.'),
  subPath: O(Str('The path within the volume to mount instead of its root.')),
  mountPropagation: O(Str('How mounts propagate between host and container.')),
  subPathExpr: O(Str('Like subPath, with $(VAR) expansion.')),
});

const containerFields = {
  name: Str('The name of the container, a DNS-1123 label unique within the pod.'),
  image: O(Str('The container image name.')),
  command: O(StrList('The entrypoint, not run in a shell; the image\'s ENTRYPOINT when absent.')),
  args: O(StrList('Arguments to the entrypoint; the image\'s CMD when absent.')),
  workingDir: O(Str('The working directory; the image\'s when absent.')),
  ports: O(Type.Array(ContainerPort, { description: 'The ports the container exposes (informational; any port the container listens on is reachable).', ...mergeBy('containerPort', ['containerPort', 'protocol']) })),
  envFrom: O(Type.Array(EnvFromSource, { description: 'Sources of environment variables.', ...Atomic })),
  env: O(Type.Array(EnvVar, { description: 'Environment variables to set.', ...mergeBy('name') })),
  resources: O(Sub(ResourceRequirements, 'Compute resources for this container.')),
  resizePolicy: O(Type.Array(Preserve('How one resource is resized.'), { description: 'Resize policy per resource.', ...Atomic })),
  restartPolicy: O(Str('For init containers only: "Always" makes it a sidecar that runs for the life of the pod.')),
  volumeMounts: O(Type.Array(VolumeMount, { description: 'Volumes to mount into the container\'s filesystem.', ...mergeBy('mountPath') })),
  volumeDevices: O(Type.Array(Preserve('A block device to map into the container.'), { description: 'Block devices to use.', ...mergeBy('devicePath') })),
  livenessProbe: O(Sub(Probe, 'Probe of container liveness; the container is restarted when it fails.')),
  readinessProbe: O(Sub(Probe, 'Probe of readiness to serve; a failing container is taken out of Service endpoints.')),
  startupProbe: O(Sub(Probe, 'Probe that must succeed before the other probes start.')),
  lifecycle: O(Preserve('Actions run after the container starts and before it stops.')),
  terminationMessagePath: O(Str('File whose content is written to the termination message. Defaults to /dev/termination-log.')),
  terminationMessagePolicy: O(Str('File or FallbackToLogsOnError. Defaults to File.', { enum: ['FallbackToLogsOnError', 'File'] })),
  imagePullPolicy: O(Str('Always, Never or IfNotPresent. Defaults to Always for a :latest tag, IfNotPresent otherwise.', { enum: ['Always', 'IfNotPresent', 'Never'] })),
  securityContext: O(Preserve('Security options of the container.')),
  stdin: O(Bool('Allocate a buffer for stdin.')),
  stdinOnce: O(Bool('Close stdin after the first attach ends.')),
  tty: O(Bool('Allocate a TTY.')),
};

export const Container = Obj('io.k8s.api.core.v1.Container', 'A single application container to run in a pod.', containerFields);
export type Container = Static<typeof Container>;

export const EphemeralContainer = Obj('io.k8s.api.core.v1.EphemeralContainer', 'A temporary container added to a running pod for debugging.', {
  ...containerFields,
  targetContainerName: O(Str('The container whose namespaces this one shares.')),
});

const volumeSources = [
  'hostPath', 'emptyDir', 'gcePersistentDisk', 'awsElasticBlockStore', 'gitRepo', 'secret', 'nfs', 'iscsi', 'glusterfs',
  'persistentVolumeClaim', 'rbd', 'flexVolume', 'cinder', 'cephfs', 'flocker', 'downwardAPI', 'fc', 'azureFile', 'configMap',
  'vsphereVolume', 'quobyte', 'azureDisk', 'photonPersistentDisk', 'projected', 'portworxVolume', 'scaleIO', 'storageos', 'csi',
  'ephemeral', 'image',
] as const;

export const Volume = Obj('io.k8s.api.core.v1.Volume', 'Volume is a named volume that containers of the pod can mount.', {
  name: Str('The name of the volume, a DNS-1123 label unique within the pod.'),
  ...Object.fromEntries(volumeSources.map((s) => [s, O(Preserve(`The ${s} volume source.`))])) as Record<(typeof volumeSources)[number], TOptional<TUnsafe<Record<string, unknown>>>>,
});

export const Toleration = Obj('io.k8s.api.core.v1.Toleration', 'A toleration lets the pod be scheduled onto nodes with a matching taint.', {
  key: O(Str('The taint key the toleration applies to; empty with operator Exists matches all keys.')),
  operator: O(Str('Exists or Equal. Defaults to Equal.')),
  value: O(Str('The taint value to match with operator Equal.')),
  effect: O(Str('The taint effect to match; empty matches all.')),
  tolerationSeconds: O(Int64('For NoExecute taints: how long the pod stays bound after the taint appears.')),
});

export const PodReadinessGate = Obj('io.k8s.api.core.v1.PodReadinessGate', 'An extra condition that must be true for the pod to be ready.', {
  conditionType: Str('The type of a condition in the pod\'s condition list.'),
});

export const HostAlias = Obj('io.k8s.api.core.v1.HostAlias', 'An entry added to the pod\'s /etc/hosts.', {
  ip: Str('The IP address of the entry.'),
  hostnames: O(StrList('Hostnames for the IP address.')),
});

export const PodDNSConfig = Obj('io.k8s.api.core.v1.PodDNSConfig', 'DNS settings of a pod beyond those from dnsPolicy.', {
  nameservers: O(StrList('DNS server addresses, added to those from dnsPolicy.')),
  searches: O(StrList('Search domains, added to those from dnsPolicy.')),
  options: O(Type.Array(Preserve('A resolver option (name and optional value).'), { description: 'Resolver options, merged with those from dnsPolicy.', ...Atomic })),
});

export const PodSpec = Obj('io.k8s.api.core.v1.PodSpec', 'PodSpec describes a pod.', {
  volumes: O(Type.Array(Volume, { description: 'Volumes the containers can mount.', 'x-kubernetes-patch-merge-key': 'name', 'x-kubernetes-patch-strategy': 'merge,retainKeys', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] })),
  initContainers: O(Type.Array(Container, { description: 'Containers run in order before the app containers start.', ...merge('name'), 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] })),
  containers: Type.Array(Container, { description: 'The containers of the pod; at least one. Cannot be added or removed.', ...merge('name'), 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] }),
  ephemeralContainers: O(Type.Array(EphemeralContainer, { description: 'Debugging containers added to the running pod.', ...merge('name'), 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] })),
  restartPolicy: O(Str('Always, OnFailure or Never. Defaults to Always.', { enum: ['Always', 'Never', 'OnFailure'] })),
  terminationGracePeriodSeconds: O(Int64('Seconds the pod has to stop gracefully once asked to. Defaults to 30.')),
  activeDeadlineSeconds: O(Int64('Seconds the pod may be active before it is failed.')),
  dnsPolicy: O(Str('ClusterFirst (default), ClusterFirstWithHostNet, Default or None.', { enum: ['ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None'] })),
  nodeSelector: O(StrMap('The pod only runs on nodes with all these labels.', { 'x-kubernetes-map-type': 'atomic' })),
  serviceAccountName: O(Str('The name of the ServiceAccount the pod runs as.')),
  serviceAccount: O(Str('Deprecated alias of serviceAccountName.')),
  automountServiceAccountToken: O(Bool('Whether a service account token is mounted automatically.')),
  nodeName: O(Str('The node the pod is bound to; set by the scheduler or directly.')),
  hostNetwork: O(Bool('Use the host\'s network namespace; the pod IP is then the host IP.')),
  hostPID: O(Bool('Use the host\'s PID namespace.')),
  hostIPC: O(Bool('Use the host\'s IPC namespace.')),
  shareProcessNamespace: O(Bool('Share one PID namespace among all containers of the pod.')),
  securityContext: O(Preserve('Pod-level security settings.')),
  imagePullSecrets: O(Type.Array(LocalObjectReference, { description: 'Secrets used to pull the images.', ...mergeBy('name') })),
  hostname: O(Str('The hostname of the pod; defaults to the pod name. With subdomain, gives the pod a DNS name under a headless Service.')),
  subdomain: O(Str('With hostname, the pod gets the DNS name <hostname>.<subdomain>.<namespace>.svc.<cluster domain> when a headless Service named <subdomain> selects it.')),
  affinity: O(Preserve('Scheduling constraints (node and pod affinity).')),
  schedulerName: O(Str('The scheduler that places the pod. Defaults to default-scheduler.')),
  tolerations: O(Type.Array(Toleration, { description: 'Taints the pod tolerates.', ...Atomic })),
  hostAliases: O(Type.Array(HostAlias, { description: 'Entries added to the pod\'s /etc/hosts.', ...mergeBy('ip') })),
  priorityClassName: O(Str('The PriorityClass of the pod.')),
  priority: O(Int32('The priority of the pod, from priorityClassName.')),
  dnsConfig: O(Sub(PodDNSConfig, 'DNS settings beyond dnsPolicy.')),
  readinessGates: O(Type.Array(PodReadinessGate, { description: 'Extra conditions evaluated for pod readiness.', ...Atomic })),
  runtimeClassName: O(Str('The RuntimeClass used to run the pod.')),
  enableServiceLinks: O(Bool('Inject Service addresses as environment variables, docker-links style. Defaults to true.')),
  preemptionPolicy: O(Str('Never or PreemptLowerPriority.')),
  overhead: O(QuantityMap('Resource overhead of running the pod\'s sandbox.')),
  topologySpreadConstraints: O(Type.Array(Preserve('How pods spread over one topology domain.'), { description: 'How the pods spread over topology domains.', ...mergeBy('topologyKey', ['topologyKey', 'whenUnsatisfiable']) })),
  setHostnameAsFQDN: O(Bool('Set the pod\'s hostname to its fully qualified domain name.')),
  os: O(Preserve('The operating system of the containers (linux or windows).')),
  hostUsers: O(Bool('Use the host\'s user namespace. Defaults to true.')),
  schedulingGates: O(Type.Array(Preserve('One gate that keeps the pod from being scheduled.'), { description: 'Gates that must all be removed before the pod is scheduled.', ...mergeBy('name') })),
  resourceClaims: O(Type.Array(Preserve('A resource claim of the pod.'), { description: 'Dynamically allocated resources of the pod.', 'x-kubernetes-patch-merge-key': 'name', 'x-kubernetes-patch-strategy': 'merge,retainKeys', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] })),
  resources: O(Sub(ResourceRequirements, 'Pod-level compute resources.')),
});
export type PodSpec = Static<typeof PodSpec>;

export const PodCondition = Obj('io.k8s.api.core.v1.PodCondition', 'PodCondition is one aspect of the state of a pod.', {
  type: Str('The condition type: PodScheduled, Initialized, ContainersReady, Ready, or a readiness gate.'),
  status: Str('True, False or Unknown.'),
  lastProbeTime: O(Time('When the condition was last probed.')),
  lastTransitionTime: O(Time('When the condition last changed status.')),
  reason: O(Str('A CamelCase reason for the last transition.')),
  message: O(Str('A human-readable message about the last transition.')),
});
export type PodCondition = Static<typeof PodCondition>;

export const ContainerStateWaiting = Obj('io.k8s.api.core.v1.ContainerStateWaiting', 'The container is waiting to start.', {
  reason: O(Str('Why the container is not running yet, e.g. ContainerCreating or CrashLoopBackOff.')),
  message: O(Str('More details.')),
});
export const ContainerStateRunning = Obj('io.k8s.api.core.v1.ContainerStateRunning', 'The container is running.', {
  startedAt: O(Time('When the container last (re)started.')),
});
export const ContainerStateTerminated = Obj('io.k8s.api.core.v1.ContainerStateTerminated', 'The container has stopped.', {
  exitCode: Int32('The exit status of the last run.'),
  signal: O(Int32('The signal that ended the last run, if any.')),
  reason: O(Str('Why the container stopped, e.g. Completed, Error or OOMKilled.')),
  message: O(Str('More details.')),
  startedAt: O(Time('When the last run started.')),
  finishedAt: O(Time('When the last run ended.')),
  containerID: O(Str('The container\'s ID, as <type>://<id>.')),
});
export const ContainerState = Obj('io.k8s.api.core.v1.ContainerState', 'The state of a container: one of waiting, running or terminated. Defaults to waiting.', {
  waiting: O(Sub(ContainerStateWaiting, 'Details of a waiting container.')),
  running: O(Sub(ContainerStateRunning, 'Details of a running container.')),
  terminated: O(Sub(ContainerStateTerminated, 'Details of a stopped container.')),
});
export type ContainerState = Static<typeof ContainerState>;

export const ContainerStatus = Obj('io.k8s.api.core.v1.ContainerStatus', 'ContainerStatus is the state of one container of a pod.', {
  name: Str('The name of the container, as in the spec.'),
  state: O(Sub(ContainerState, 'The current state.')),
  lastState: O(Sub(ContainerState, 'The state of the previous run, if any.')),
  ready: Bool('The container passes its readiness probe.'),
  restartCount: Int32('How many times the container was restarted.'),
  image: Str('The image the container runs.'),
  imageID: Str('The ID of the image the container runs.'),
  containerID: O(Str('The container\'s ID, as <type>://<id>.')),
  started: O(Bool('The container has started and passed its startup probe.')),
  allocatedResources: O(QuantityMap('Resources allocated to the container.')),
  resources: O(Sub(ResourceRequirements, 'Resources actually configured for the running container.')),
  volumeMounts: O(Type.Array(Preserve('The status of one volume mount.'), { description: 'The status of the volume mounts.', ...mergeBy('mountPath') })),
  user: O(Preserve('The user identity of the container\'s first process.')),
  allocatedResourcesStatus: O(Type.Array(Preserve('Health of one allocated resource.'), { description: 'Health of allocated resources.', ...mergeBy('name') })),
});
export type ContainerStatus = Static<typeof ContainerStatus>;

export const PodIP = Obj('io.k8s.api.core.v1.PodIP', 'PodIP is one IP address of a pod.', {
  ip: Str('The IP address.'),
});
export const HostIP = Obj('io.k8s.api.core.v1.HostIP', 'HostIP is one IP address of the pod\'s host.', {
  ip: Str('The IP address.'),
});

export const PodStatus = Obj('io.k8s.api.core.v1.PodStatus', 'PodStatus is the most recently observed state of a pod.', {
  phase: O(Str('Where the pod is in its lifecycle: Pending, Running, Succeeded, Failed or Unknown.', { enum: ['Failed', 'Pending', 'Running', 'Succeeded', 'Unknown'] })),
  conditions: O(Type.Array(PodCondition, { description: 'The current conditions of the pod.', ...mergeBy('type') })),
  message: O(Str('A human-readable message about why the pod is in this state.')),
  reason: O(Str('A CamelCase reason for the pod being in this state, e.g. Evicted.')),
  nominatedNodeName: O(Str('The node the pod may be placed on after preempting others.')),
  hostIP: O(Str('The primary IP address of the pod\'s node.')),
  hostIPs: O(Type.Array(HostIP, { description: 'The IP addresses of the pod\'s node; hostIPs[0] equals hostIP.', ...merge('ip'), 'x-kubernetes-list-type': 'atomic' })),
  podIP: O(Str('The primary IP address of the pod.')),
  podIPs: O(Type.Array(PodIP, { description: 'The IP addresses of the pod, at most one per family; podIPs[0] equals podIP.', ...mergeBy('ip') })),
  startTime: O(Time('When the kubelet accepted the pod.')),
  initContainerStatuses: O(Type.Array(ContainerStatus, { description: 'The state of the init containers.', ...Atomic })),
  containerStatuses: O(Type.Array(ContainerStatus, { description: 'The state of the containers.', ...Atomic })),
  qosClass: O(Str('The quality of service class: Guaranteed, Burstable or BestEffort.')),
  ephemeralContainerStatuses: O(Type.Array(ContainerStatus, { description: 'The state of the ephemeral containers.', ...Atomic })),
  resize: O(Str('The state of a pending resize of the pod\'s resources.')),
  resourceClaimStatuses: O(Type.Array(Preserve('The status of one resource claim.'), { description: 'The status of resource claims.', ...mergeBy('name') })),
});
export type PodStatus = Static<typeof PodStatus>;

export const Pod = kindSchema('io.k8s.api.core.v1.Pod', gvk, 'A Pod is a group of containers that run together on one host, sharing a network identity.', {
  spec: O(Sub(PodSpec, 'The desired behaviour of the pod.')),
  status: O(Sub(PodStatus, 'The most recently observed state of the pod. Populated by the system.')),
});
export type Pod = Static<typeof Pod>;

export const PodTemplateSpec = Obj('io.k8s.api.core.v1.PodTemplateSpec', 'PodTemplateSpec describes the pods that will be created from a template.', {
  metadata: O(Sub(ObjectMeta, "Standard object's metadata: the labels and annotations each pod gets.")),
  spec: O(Sub(PodSpec, 'The desired behaviour of each pod.')),
});
export type PodTemplateSpec = Static<typeof PodTemplateSpec>;

export const PodList = listSchema(Pod, { ...gvk, kind: 'PodList' }, 'The list of Pods.');
export type PodList = Static<typeof PodList>;

// ---- printer (kube's printPod) ----

const isTerminalPhase = (phase: string | undefined) => phase === 'Succeeded' || phase === 'Failed';

function laterOf(current: number, ts: string | undefined): number {
  if (!ts) return current;
  const t = Date.parse(ts);
  return Number.isNaN(t) || t <= current ? current : t;
}

/** Ready, Status and Restarts cells: the aggregate the kubelet's statuses give. */
export function podStatusCells(pod: Pod, now: Date): { ready: string; status: string; restarts: string } {
  const spec = pod.spec ?? { containers: [] };
  const status = pod.status ?? {};
  let restarts = 0;
  let sidecarRestarts = 0;
  let totalContainers = (spec.containers ?? []).length;
  let readyContainers = 0;
  let lastRestart = 0;
  let lastSidecarRestart = 0;
  let reason: string = status.reason || status.phase || '';

  for (const c of status.conditions ?? []) {
    if (c.type === 'PodScheduled' && c.reason === 'SchedulingGated') reason = 'SchedulingGated';
  }

  const initSpecs = new Map<string, Container>();
  for (const c of spec.initContainers ?? []) {
    initSpecs.set(c.name, c);
    if (c.restartPolicy === 'Always') totalContainers++;
  }
  const isSidecar = (name: string) => initSpecs.get(name)?.restartPolicy === 'Always';

  let initializing = false;
  const initStatuses = status.initContainerStatuses ?? [];
  const initCount = (spec.initContainers ?? []).length;
  for (let i = 0; i < initStatuses.length; i++) {
    const c = initStatuses[i]!;
    restarts += c.restartCount ?? 0;
    lastRestart = laterOf(lastRestart, c.lastState?.terminated?.finishedAt);
    if (isSidecar(c.name)) {
      sidecarRestarts += c.restartCount ?? 0;
      lastSidecarRestart = laterOf(lastSidecarRestart, c.lastState?.terminated?.finishedAt);
    }
    const term = c.state?.terminated;
    const wait = c.state?.waiting;
    if (term && term.exitCode === 0) continue;
    if (isSidecar(c.name) && c.started === true) {
      if (c.ready) readyContainers++;
      continue;
    }
    if (term) {
      if (!term.reason) reason = term.signal ? `Init:Signal:${term.signal}` : `Init:ExitCode:${term.exitCode}`;
      else reason = `Init:${term.reason}`;
    } else if (wait && wait.reason && wait.reason !== 'PodInitializing') {
      reason = `Init:${wait.reason}`;
    } else {
      reason = `Init:${i}/${initCount}`;
    }
    initializing = true;
    break;
  }

  const initializedTrue = (status.conditions ?? []).some((c) => c.type === 'Initialized' && c.status === 'True');
  if (!initializing || initializedTrue) {
    restarts = sidecarRestarts;
    lastRestart = lastSidecarRestart;
    let hasRunning = false;
    const statuses = status.containerStatuses ?? [];
    for (let i = statuses.length - 1; i >= 0; i--) {
      const c = statuses[i]!;
      restarts += c.restartCount ?? 0;
      lastRestart = laterOf(lastRestart, c.lastState?.terminated?.finishedAt);
      const wait = c.state?.waiting;
      const term = c.state?.terminated;
      if (wait && wait.reason) reason = wait.reason;
      else if (term && term.reason) reason = term.reason;
      else if (term) reason = term.signal ? `Signal:${term.signal}` : `ExitCode:${term.exitCode}`;
      else if (c.ready && c.state?.running) {
        hasRunning = true;
        readyContainers++;
      }
    }
    // A pod whose finished containers say Completed but with one still running is not done.
    if (reason === 'Completed' && hasRunning) {
      const readyCond = (status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
      reason = readyCond ? 'Running' : 'NotReady';
    }
  }

  if (pod.metadata?.deletionTimestamp && status.reason === 'NodeLost') reason = 'Unknown';
  else if (pod.metadata?.deletionTimestamp && !isTerminalPhase(status.phase)) reason = 'Terminating';

  let restartsStr = String(restarts);
  if (restarts !== 0 && lastRestart !== 0) restartsStr = `${restarts} (${humanDuration(now.getTime() - lastRestart)} ago)`;
  return { ready: `${readyContainers}/${totalContainers}`, status: reason, restarts: restartsStr };
}

function readinessGatesCell(pod: Pod): string {
  const gates = pod.spec?.readinessGates ?? [];
  if (gates.length === 0) return '<none>';
  let trueConditions = 0;
  for (const g of gates) {
    const c = (pod.status?.conditions ?? []).find((x) => x.type === g.conditionType);
    if (c && c.status === 'True') trueConditions++;
  }
  return `${trueConditions}/${gates.length}`;
}

// Defaults as kube-apiserver applies them (pkg/apis/core/v1/defaults.go), the simple ones.
function defaultContainer(c: Container): void {
  if (c.terminationMessagePath === undefined) c.terminationMessagePath = '/dev/termination-log';
  // Go always writes this struct, so every object kube returns has it (and a template read back
  // from a ReplicaSet by `kubectl rollout undo` carries it).
  c.resources ??= {};
  if (c.terminationMessagePolicy === undefined) c.terminationMessagePolicy = 'File';
  if (c.imagePullPolicy === undefined) {
    const image = c.image ?? '';
    // No tag (or :latest) means "latest", which kube always pulls; a digest pins the image.
    const lastPart = image.slice(image.lastIndexOf('/') + 1);
    const tag = image.includes('@') ? '' : lastPart.includes(':') ? lastPart.slice(lastPart.indexOf(':') + 1) : 'latest';
    c.imagePullPolicy = tag === 'latest' ? 'Always' : 'IfNotPresent';
  }
  for (const p of c.ports ?? []) if (p.protocol === undefined) p.protocol = 'TCP';
  for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) {
    if (!probe) continue;
    probe.timeoutSeconds ??= 1;
    probe.periodSeconds ??= 10;
    probe.successThreshold ??= 1;
    probe.failureThreshold ??= 3;
    if (probe.httpGet) {
      probe.httpGet.path ??= '/';
      probe.httpGet.scheme ??= 'HTTP';
    }
  }
}

/** kube's pod spec defaults, for Pods and for pod templates (Deployments, ReplicaSets). */
export function defaultPodSpec(spec: PodSpec): void {
  spec.restartPolicy ??= 'Always';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.schedulerName ??= 'default-scheduler';
  spec.enableServiceLinks ??= true;
  spec.securityContext ??= {};
  for (const c of spec.containers ?? []) defaultContainer(c);
  for (const c of spec.initContainers ?? []) defaultContainer(c);
}

export const podKind: KindDef<Pod> = {
  group: '',
  version: 'v1',
  kind: 'Pod',
  listKind: 'PodList',
  resource: 'pods',
  singular: 'pod',
  shortNames: ['po'],
  categories: ['all'],
  namespaced: true,
  subresources: ['status'],
  schema: Pod,
  nameRule: 'dns1123subdomain',
  defaults(pod) {
    const spec = pod.spec;
    if (!spec) return;
    defaultPodSpec(spec);
    pod.status ??= {};
    pod.status.phase ??= 'Pending';
  },
  fieldSelectors: {
    'spec.nodeName': (p) => p.spec?.nodeName ?? '',
    'spec.restartPolicy': (p) => p.spec?.restartPolicy ?? '',
    'spec.schedulerName': (p) => p.spec?.schedulerName ?? '',
    'spec.serviceAccountName': (p) => p.spec?.serviceAccountName ?? '',
    'spec.hostNetwork': (p) => String(p.spec?.hostNetwork ?? false),
    'status.phase': (p) => p.status?.phase ?? '',
    'status.podIP': (p) => p.status?.podIPs?.[0]?.ip ?? p.status?.podIP ?? '',
    'status.nominatedNodeName': (p) => p.status?.nominatedNodeName ?? '',
  },
  table: {
    columns: [
      nameColumn,
      col('Ready', 'The aggregate readiness state of this pod for accepting traffic.'),
      col('Status', 'The aggregate status of the containers in this pod.'),
      col('Restarts', 'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.'),
      ageColumn,
      col('IP', 'The IP address of the pod.', 1),
      col('Node', 'The node the pod is bound to.', 1),
      col('Nominated Node', 'The node the pod may run on once preemption finishes.', 1),
      col('Readiness Gates', 'How many of the pod\'s readiness gates are true.', 1),
    ],
    cells(pod, now) {
      const s = podStatusCells(pod, now);
      return [
        pod.metadata?.name ?? '',
        s.ready,
        s.status,
        s.restarts,
        age(pod.metadata?.creationTimestamp, now),
        pod.status?.podIPs?.[0]?.ip || '<none>',
        pod.spec?.nodeName || '<none>',
        pod.status?.nominatedNodeName || '<none>',
        readinessGatesCell(pod),
      ];
    },
  },
};

