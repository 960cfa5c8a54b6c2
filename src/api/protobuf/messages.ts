// Field tables of the Kubernetes protobuf messages that clients send for the kinds decoded here
// (field numbers from k8s.io/api core/v1 and apimachinery generated.proto). Each field carries its
// JSON name and how its value becomes JSON.
//
// Go's generated marshallers write every non-pointer field, zero or not, so a zero value on the
// wire usually means "unset": it is dropped as Go's `omitempty` would drop it. `always` marks the
// fields whose JSON keeps the value anyway: pointer fields (present on the wire only when set) and
// fields without `omitempty` (e.g. ServicePort.port).

export type Scalar = 'string' | 'int32' | 'int64' | 'bool' | 'bytes' | 'time' | 'quantity' | 'intOrString';

export type FieldType =
  | Scalar
  /** map<string, string|Quantity|bytes>: entries are messages {1: key, 2: value}; bytes become base64. */
  | { map: 'string' | 'quantity' | 'bytes' }
  /** A nested message, by its name in MESSAGES. */
  | { message: string };

export interface FieldSpec {
  json: string;
  type: FieldType;
  repeated?: boolean;
  /** Keep the value in JSON even when zero or empty (pointer fields, fields without omitempty). */
  always?: boolean;
  /** An embedded Go struct: its fields are merged into the parent's JSON object. */
  inline?: boolean;
  /** Read and dropped (server-managed data such as managedFields). */
  drop?: boolean;
  /** A real field of the message that this server cannot decode from protobuf (415). */
  unsupported?: boolean;
}

export interface MessageSpec {
  /** Fully qualified protobuf name, for error messages. */
  name: string;
  fields: ReadonlyMap<number, FieldSpec>;
}

type Row = [number, string, FieldType, ...('repeated' | 'always' | 'inline' | 'drop' | 'unsupported')[]];

const CORE = 'k8s.io.api.core.v1';
const APPS = 'k8s.io.api.apps.v1';
const META = 'k8s.io.apimachinery.pkg.apis.meta.v1';

function msg(pkg: string, name: string, rows: Row[]): [string, MessageSpec] {
  const fields = new Map<number, FieldSpec>();
  for (const [num, json, type, ...flags] of rows) {
    const f: FieldSpec = { json, type };
    for (const fl of flags) f[fl] = true;
    fields.set(num, f);
  }
  return [name, { name: `${pkg}.${name}`, fields }];
}

const m = (message: string): FieldType => ({ message });
const STRMAP: FieldType = { map: 'string' };
const QTYMAP: FieldType = { map: 'quantity' };
const BYTESMAP: FieldType = { map: 'bytes' };
// Fields this server keeps out of scope; their content is opaque here.
const OPAQUE: FieldType = 'bytes';

export const MESSAGES: ReadonlyMap<string, MessageSpec> = new Map([
  // ---- apimachinery meta/v1 ----
  msg(META, 'ObjectMeta', [
    [1, 'name', 'string'],
    [2, 'generateName', 'string'],
    [3, 'namespace', 'string'],
    [4, 'selfLink', 'string'],
    [5, 'uid', 'string'],
    [6, 'resourceVersion', 'string'],
    [7, 'generation', 'int64'],
    [8, 'creationTimestamp', 'time'],
    [9, 'deletionTimestamp', 'time'],
    [10, 'deletionGracePeriodSeconds', 'int64', 'always'],
    [11, 'labels', STRMAP],
    [12, 'annotations', STRMAP],
    [13, 'ownerReferences', m('OwnerReference'), 'repeated'],
    [14, 'finalizers', 'string', 'repeated'],
    [17, 'managedFields', OPAQUE, 'repeated', 'drop'],
  ]),
  msg(META, 'OwnerReference', [
    [1, 'kind', 'string', 'always'],
    [3, 'name', 'string', 'always'],
    [4, 'uid', 'string', 'always'],
    [5, 'apiVersion', 'string', 'always'],
    [6, 'controller', 'bool', 'always'],
    [7, 'blockOwnerDeletion', 'bool', 'always'],
  ]),
  msg(META, 'LabelSelector', [
    [1, 'matchLabels', STRMAP],
    [2, 'matchExpressions', m('LabelSelectorRequirement'), 'repeated'],
  ]),
  msg(META, 'LabelSelectorRequirement', [
    [1, 'key', 'string', 'always'],
    [2, 'operator', 'string', 'always'],
    [3, 'values', 'string', 'repeated'],
  ]),
  msg(META, 'Condition', [
    [1, 'type', 'string', 'always'],
    [2, 'status', 'string', 'always'],
    [3, 'observedGeneration', 'int64'],
    [4, 'lastTransitionTime', 'time'],
    [5, 'reason', 'string', 'always'],
    [6, 'message', 'string', 'always'],
  ]),

  // ---- Namespace ----
  msg(CORE, 'Namespace', [
    [1, 'metadata', m('ObjectMeta')],
    [2, 'spec', m('NamespaceSpec')],
    [3, 'status', m('NamespaceStatus')],
  ]),
  msg(CORE, 'NamespaceSpec', [[1, 'finalizers', 'string', 'repeated']]),
  msg(CORE, 'NamespaceStatus', [
    [1, 'phase', 'string'],
    [2, 'conditions', m('NamespaceCondition'), 'repeated'],
  ]),
  msg(CORE, 'NamespaceCondition', [
    [1, 'type', 'string', 'always'],
    [2, 'status', 'string', 'always'],
    [4, 'lastTransitionTime', 'time'],
    [5, 'reason', 'string'],
    [6, 'message', 'string'],
  ]),

  // ---- Service ----
  msg(CORE, 'Service', [
    [1, 'metadata', m('ObjectMeta')],
    [2, 'spec', m('ServiceSpec')],
    [3, 'status', m('ServiceStatus')],
  ]),
  msg(CORE, 'ServiceSpec', [
    [1, 'ports', m('ServicePort'), 'repeated'],
    [2, 'selector', STRMAP],
    [3, 'clusterIP', 'string'],
    [4, 'type', 'string'],
    [5, 'externalIPs', 'string', 'repeated'],
    [7, 'sessionAffinity', 'string'],
    [8, 'loadBalancerIP', 'string'],
    [9, 'loadBalancerSourceRanges', 'string', 'repeated'],
    [10, 'externalName', 'string'],
    [11, 'externalTrafficPolicy', 'string'],
    [12, 'healthCheckNodePort', 'int32'],
    [13, 'publishNotReadyAddresses', 'bool'],
    [14, 'sessionAffinityConfig', m('SessionAffinityConfig'), 'always'],
    [17, 'ipFamilyPolicy', 'string', 'always'],
    [18, 'clusterIPs', 'string', 'repeated'],
    [19, 'ipFamilies', 'string', 'repeated'],
    [20, 'allocateLoadBalancerNodePorts', 'bool', 'always'],
    [21, 'loadBalancerClass', 'string', 'always'],
    [22, 'internalTrafficPolicy', 'string', 'always'],
    [23, 'trafficDistribution', 'string', 'always'],
  ]),
  msg(CORE, 'ServicePort', [
    [1, 'name', 'string'],
    [2, 'protocol', 'string'],
    [3, 'port', 'int32', 'always'],
    [4, 'targetPort', 'intOrString'],
    [5, 'nodePort', 'int32'],
    [6, 'appProtocol', 'string', 'always'],
  ]),
  msg(CORE, 'SessionAffinityConfig', [[1, 'clientIP', m('ClientIPConfig'), 'always']]),
  msg(CORE, 'ClientIPConfig', [[1, 'timeoutSeconds', 'int32', 'always']]),
  msg(CORE, 'ServiceStatus', [
    [1, 'loadBalancer', m('LoadBalancerStatus')],
    [2, 'conditions', m('Condition'), 'repeated'],
  ]),
  msg(CORE, 'LoadBalancerStatus', [[1, 'ingress', m('LoadBalancerIngress'), 'repeated']]),
  msg(CORE, 'LoadBalancerIngress', [
    [1, 'ip', 'string'],
    [2, 'hostname', 'string'],
    [3, 'ipMode', 'string', 'always'],
    [4, 'ports', m('PortStatus'), 'repeated'],
  ]),
  msg(CORE, 'PortStatus', [
    [1, 'port', 'int32', 'always'],
    [2, 'protocol', 'string', 'always'],
    [3, 'error', 'string', 'always'],
  ]),

  // ---- Endpoints ----
  msg(CORE, 'Endpoints', [
    [1, 'metadata', m('ObjectMeta')],
    [2, 'subsets', m('EndpointSubset'), 'repeated'],
  ]),
  msg(CORE, 'EndpointSubset', [
    [1, 'addresses', m('EndpointAddress'), 'repeated'],
    [2, 'notReadyAddresses', m('EndpointAddress'), 'repeated'],
    [3, 'ports', m('EndpointPort'), 'repeated'],
  ]),
  msg(CORE, 'EndpointAddress', [
    [1, 'ip', 'string', 'always'],
    [2, 'targetRef', m('ObjectReference'), 'always'],
    [3, 'hostname', 'string'],
    [4, 'nodeName', 'string', 'always'],
  ]),
  msg(CORE, 'EndpointPort', [
    [1, 'name', 'string'],
    [2, 'port', 'int32', 'always'],
    [3, 'protocol', 'string'],
    [4, 'appProtocol', 'string', 'always'],
  ]),
  msg(CORE, 'ObjectReference', [
    [1, 'kind', 'string'],
    [2, 'namespace', 'string'],
    [3, 'name', 'string'],
    [4, 'uid', 'string'],
    [5, 'apiVersion', 'string'],
    [6, 'resourceVersion', 'string'],
    [7, 'fieldPath', 'string'],
  ]),

  // ---- ConfigMap and Secret (`kubectl create configmap|secret`) ----
  msg(CORE, 'ConfigMap', [
    [1, 'metadata', m('ObjectMeta')],
    [2, 'data', STRMAP],
    [3, 'binaryData', BYTESMAP],
    [4, 'immutable', 'bool', 'always'],
  ]),
  msg(CORE, 'Secret', [
    [1, 'metadata', m('ObjectMeta')],
    [2, 'data', BYTESMAP],
    [3, 'type', 'string'],
    [4, 'stringData', STRMAP],
    [5, 'immutable', 'bool', 'always'],
  ]),

  // ---- Pod (what generators and simple clients fill; the rest is 415) ----
  msg(CORE, 'Pod', [
    [1, 'metadata', m('ObjectMeta')],
    [2, 'spec', m('PodSpec')],
    [3, 'status', m('PodStatus')],
  ]),
  msg(CORE, 'PodSpec', [
    [1, 'volumes', OPAQUE, 'repeated', 'unsupported'],
    [2, 'containers', m('Container'), 'repeated'],
    [3, 'restartPolicy', 'string'],
    [4, 'terminationGracePeriodSeconds', 'int64', 'always'],
    [5, 'activeDeadlineSeconds', 'int64', 'always'],
    [6, 'dnsPolicy', 'string'],
    [7, 'nodeSelector', STRMAP],
    [8, 'serviceAccountName', 'string'],
    [9, 'serviceAccount', 'string'],
    [10, 'nodeName', 'string'],
    [11, 'hostNetwork', 'bool'],
    [12, 'hostPID', 'bool'],
    [13, 'hostIPC', 'bool'],
    [14, 'securityContext', OPAQUE, 'unsupported'],
    [15, 'imagePullSecrets', m('LocalObjectReference'), 'repeated'],
    [16, 'hostname', 'string'],
    [17, 'subdomain', 'string'],
    [18, 'affinity', OPAQUE, 'unsupported'],
    [19, 'schedulerName', 'string'],
    [20, 'initContainers', m('Container'), 'repeated'],
    [21, 'automountServiceAccountToken', 'bool', 'always'],
    [22, 'tolerations', m('Toleration'), 'repeated'],
    [23, 'hostAliases', OPAQUE, 'repeated', 'unsupported'],
    [24, 'priorityClassName', 'string'],
    [25, 'priority', 'int32', 'always'],
    [26, 'dnsConfig', OPAQUE, 'unsupported'],
    [27, 'shareProcessNamespace', 'bool', 'always'],
    [28, 'readinessGates', m('PodReadinessGate'), 'repeated'],
    [29, 'runtimeClassName', 'string', 'always'],
    [30, 'enableServiceLinks', 'bool', 'always'],
    [31, 'preemptionPolicy', 'string', 'always'],
    [32, 'overhead', QTYMAP],
    [33, 'topologySpreadConstraints', OPAQUE, 'repeated', 'unsupported'],
    [34, 'ephemeralContainers', OPAQUE, 'repeated', 'unsupported'],
    [35, 'setHostnameAsFQDN', 'bool', 'always'],
    [36, 'os', m('PodOS'), 'always'],
    [37, 'hostUsers', 'bool', 'always'],
    [38, 'schedulingGates', m('PodSchedulingGate'), 'repeated'],
    [39, 'resourceClaims', OPAQUE, 'repeated', 'unsupported'],
    [40, 'resources', m('ResourceRequirements'), 'always'],
  ]),
  msg(CORE, 'Container', [
    [1, 'name', 'string', 'always'],
    [2, 'image', 'string'],
    [3, 'command', 'string', 'repeated'],
    [4, 'args', 'string', 'repeated'],
    [5, 'workingDir', 'string'],
    [6, 'ports', m('ContainerPort'), 'repeated'],
    [7, 'env', m('EnvVar'), 'repeated'],
    [8, 'resources', m('ResourceRequirements')],
    [9, 'volumeMounts', m('VolumeMount'), 'repeated'],
    [10, 'livenessProbe', OPAQUE, 'unsupported'],
    [11, 'readinessProbe', OPAQUE, 'unsupported'],
    [12, 'lifecycle', OPAQUE, 'unsupported'],
    [13, 'terminationMessagePath', 'string'],
    [14, 'imagePullPolicy', 'string'],
    [15, 'securityContext', OPAQUE, 'unsupported'],
    [16, 'stdin', 'bool'],
    [17, 'stdinOnce', 'bool'],
    [18, 'tty', 'bool'],
    [19, 'envFrom', m('EnvFromSource'), 'repeated'],
    [20, 'terminationMessagePolicy', 'string'],
    [21, 'volumeDevices', m('VolumeDevice'), 'repeated'],
    [22, 'startupProbe', OPAQUE, 'unsupported'],
    [23, 'resizePolicy', m('ContainerResizePolicy'), 'repeated'],
    [24, 'restartPolicy', 'string', 'always'],
  ]),
  msg(CORE, 'ContainerPort', [
    [1, 'name', 'string'],
    [2, 'hostPort', 'int32'],
    [3, 'containerPort', 'int32', 'always'],
    [4, 'protocol', 'string'],
    [5, 'hostIP', 'string'],
  ]),
  msg(CORE, 'EnvVar', [
    [1, 'name', 'string', 'always'],
    [2, 'value', 'string'],
    [3, 'valueFrom', m('EnvVarSource'), 'always'],
  ]),
  msg(CORE, 'EnvVarSource', [
    [1, 'fieldRef', m('ObjectFieldSelector'), 'always'],
    [2, 'resourceFieldRef', m('ResourceFieldSelector'), 'always'],
    [3, 'configMapKeyRef', m('ConfigMapKeySelector'), 'always'],
    [4, 'secretKeyRef', m('SecretKeySelector'), 'always'],
  ]),
  msg(CORE, 'ObjectFieldSelector', [
    [1, 'apiVersion', 'string'],
    [2, 'fieldPath', 'string', 'always'],
  ]),
  msg(CORE, 'ResourceFieldSelector', [
    [1, 'containerName', 'string'],
    [2, 'resource', 'string', 'always'],
    [3, 'divisor', 'quantity'],
  ]),
  msg(CORE, 'ConfigMapKeySelector', [
    [1, 'localObjectReference', m('LocalObjectReference'), 'inline'],
    [2, 'key', 'string', 'always'],
    [3, 'optional', 'bool', 'always'],
  ]),
  msg(CORE, 'SecretKeySelector', [
    [1, 'localObjectReference', m('LocalObjectReference'), 'inline'],
    [2, 'key', 'string', 'always'],
    [3, 'optional', 'bool', 'always'],
  ]),
  msg(CORE, 'EnvFromSource', [
    [1, 'prefix', 'string'],
    [2, 'configMapRef', m('ConfigMapEnvSource'), 'always'],
    [3, 'secretRef', m('SecretEnvSource'), 'always'],
  ]),
  msg(CORE, 'ConfigMapEnvSource', [
    [1, 'localObjectReference', m('LocalObjectReference'), 'inline'],
    [2, 'optional', 'bool', 'always'],
  ]),
  msg(CORE, 'SecretEnvSource', [
    [1, 'localObjectReference', m('LocalObjectReference'), 'inline'],
    [2, 'optional', 'bool', 'always'],
  ]),
  msg(CORE, 'LocalObjectReference', [[1, 'name', 'string']]),
  msg(CORE, 'ResourceRequirements', [
    [1, 'limits', QTYMAP],
    [2, 'requests', QTYMAP],
    [3, 'claims', m('ResourceClaim'), 'repeated'],
  ]),
  msg(CORE, 'ResourceClaim', [
    [1, 'name', 'string', 'always'],
    [2, 'request', 'string'],
  ]),
  msg(CORE, 'VolumeMount', [
    [1, 'name', 'string', 'always'],
    [2, 'readOnly', 'bool'],
    [3, 'mountPath', 'string', 'always'],
    [4, 'subPath', 'string'],
    [5, 'mountPropagation', 'string', 'always'],
    [6, 'subPathExpr', 'string'],
    [7, 'recursiveReadOnly', 'string', 'always'],
  ]),
  msg(CORE, 'VolumeDevice', [
    [1, 'name', 'string', 'always'],
    [2, 'devicePath', 'string', 'always'],
  ]),
  msg(CORE, 'ContainerResizePolicy', [
    [1, 'resourceName', 'string', 'always'],
    [2, 'restartPolicy', 'string', 'always'],
  ]),
  msg(CORE, 'Toleration', [
    [1, 'key', 'string'],
    [2, 'operator', 'string'],
    [3, 'value', 'string'],
    [4, 'effect', 'string'],
    [5, 'tolerationSeconds', 'int64', 'always'],
  ]),
  msg(CORE, 'PodReadinessGate', [[1, 'conditionType', 'string', 'always']]),
  msg(CORE, 'PodOS', [[1, 'name', 'string', 'always']]),
  msg(CORE, 'PodSchedulingGate', [[1, 'name', 'string', 'always']]),
  msg(CORE, 'PodStatus', [
    [1, 'phase', 'string'],
    [2, 'conditions', m('PodCondition'), 'repeated'],
    [3, 'message', 'string'],
    [4, 'reason', 'string'],
    [5, 'hostIP', 'string'],
    [6, 'podIP', 'string'],
    [7, 'startTime', 'time'],
    [8, 'containerStatuses', m('ContainerStatus'), 'repeated'],
    [9, 'qosClass', 'string'],
    [10, 'initContainerStatuses', m('ContainerStatus'), 'repeated'],
    [11, 'nominatedNodeName', 'string'],
    [12, 'podIPs', m('PodIP'), 'repeated'],
    [13, 'ephemeralContainerStatuses', m('ContainerStatus'), 'repeated'],
    [14, 'resize', 'string'],
    [15, 'resourceClaimStatuses', OPAQUE, 'repeated', 'unsupported'],
    [16, 'hostIPs', m('HostIP'), 'repeated'],
  ]),
  msg(CORE, 'PodCondition', [
    [1, 'type', 'string', 'always'],
    [2, 'status', 'string', 'always'],
    [3, 'lastProbeTime', 'time'],
    [4, 'lastTransitionTime', 'time'],
    [5, 'reason', 'string'],
    [6, 'message', 'string'],
  ]),
  msg(CORE, 'PodIP', [[1, 'ip', 'string', 'always']]),
  msg(CORE, 'HostIP', [[1, 'ip', 'string', 'always']]),
  msg(CORE, 'ContainerStatus', [
    [1, 'name', 'string', 'always'],
    [2, 'state', m('ContainerState')],
    [3, 'lastState', m('ContainerState')],
    [4, 'ready', 'bool', 'always'],
    [5, 'restartCount', 'int32', 'always'],
    [6, 'image', 'string', 'always'],
    [7, 'imageID', 'string', 'always'],
    [8, 'containerID', 'string'],
    [9, 'started', 'bool', 'always'],
    [10, 'allocatedResources', QTYMAP],
    [11, 'resources', m('ResourceRequirements'), 'always'],
    [12, 'volumeMounts', OPAQUE, 'repeated', 'unsupported'],
    [13, 'user', OPAQUE, 'unsupported'],
    [14, 'allocatedResourcesStatus', OPAQUE, 'repeated', 'unsupported'],
  ]),
  msg(CORE, 'ContainerState', [
    [1, 'waiting', m('ContainerStateWaiting'), 'always'],
    [2, 'running', m('ContainerStateRunning'), 'always'],
    [3, 'terminated', m('ContainerStateTerminated'), 'always'],
  ]),
  msg(CORE, 'ContainerStateWaiting', [
    [1, 'reason', 'string'],
    [2, 'message', 'string'],
  ]),
  msg(CORE, 'ContainerStateRunning', [[1, 'startedAt', 'time']]),
  msg(CORE, 'ContainerStateTerminated', [
    [1, 'exitCode', 'int32', 'always'],
    [2, 'signal', 'int32'],
    [3, 'reason', 'string'],
    [4, 'message', 'string'],
    [5, 'startedAt', 'time'],
    [6, 'finishedAt', 'time'],
    [7, 'containerID', 'string'],
  ]),

  // ---- apps/v1 Deployment and ReplicaSet (k8s.io/api apps/v1 generated.proto) ----
  // Pointer fields (replicas, revisionHistoryLimit, progressDeadlineSeconds, rollingUpdate and its
  // IntOrStrings, collisionCount) reach the wire only when set: `always`. The pod template reuses the
  // Pod tables above, so its unsupported fields (probes, volumes, ...) stay a 415 naming the field.
  msg(CORE, 'PodTemplateSpec', [
    [1, 'metadata', m('ObjectMeta')],
    [2, 'spec', m('PodSpec')],
  ]),
  msg(APPS, 'Deployment', [
    [1, 'metadata', m('ObjectMeta')],
    [2, 'spec', m('DeploymentSpec')],
    [3, 'status', m('DeploymentStatus')],
  ]),
  msg(APPS, 'DeploymentSpec', [
    [1, 'replicas', 'int32', 'always'],
    [2, 'selector', m('LabelSelector'), 'always'],
    [3, 'template', m('PodTemplateSpec')],
    [4, 'strategy', m('DeploymentStrategy')],
    [5, 'minReadySeconds', 'int32'],
    [6, 'revisionHistoryLimit', 'int32', 'always'],
    [7, 'paused', 'bool'],
    [9, 'progressDeadlineSeconds', 'int32', 'always'],
    [10, 'podReplacementPolicy', 'string', 'always'],
  ]),
  msg(APPS, 'DeploymentStrategy', [
    [1, 'type', 'string'],
    [2, 'rollingUpdate', m('RollingUpdateDeployment'), 'always'],
  ]),
  msg(APPS, 'RollingUpdateDeployment', [
    [1, 'maxUnavailable', 'intOrString', 'always'],
    [2, 'maxSurge', 'intOrString', 'always'],
  ]),
  msg(APPS, 'DeploymentStatus', [
    [1, 'observedGeneration', 'int64'],
    [2, 'replicas', 'int32'],
    [3, 'updatedReplicas', 'int32'],
    [4, 'availableReplicas', 'int32'],
    [5, 'unavailableReplicas', 'int32'],
    [6, 'conditions', m('DeploymentCondition'), 'repeated'],
    [7, 'readyReplicas', 'int32'],
    [8, 'collisionCount', 'int32', 'always'],
    [9, 'terminatingReplicas', 'int32', 'always'],
  ]),
  msg(APPS, 'DeploymentCondition', [
    [1, 'type', 'string', 'always'],
    [2, 'status', 'string', 'always'],
    [4, 'reason', 'string'],
    [5, 'message', 'string'],
    [6, 'lastUpdateTime', 'time'],
    [7, 'lastTransitionTime', 'time'],
  ]),
  msg(APPS, 'ReplicaSet', [
    [1, 'metadata', m('ObjectMeta')],
    [2, 'spec', m('ReplicaSetSpec')],
    [3, 'status', m('ReplicaSetStatus')],
  ]),
  msg(APPS, 'ReplicaSetSpec', [
    [1, 'replicas', 'int32', 'always'],
    [2, 'selector', m('LabelSelector'), 'always'],
    [3, 'template', m('PodTemplateSpec')],
    [4, 'minReadySeconds', 'int32'],
  ]),
  msg(APPS, 'ReplicaSetStatus', [
    [1, 'replicas', 'int32', 'always'],
    [2, 'fullyLabeledReplicas', 'int32'],
    [3, 'observedGeneration', 'int64'],
    [4, 'readyReplicas', 'int32'],
    [5, 'availableReplicas', 'int32'],
    [6, 'conditions', m('ReplicaSetCondition'), 'repeated'],
    [7, 'terminatingReplicas', 'int32', 'always'],
  ]),
  msg(APPS, 'ReplicaSetCondition', [
    [1, 'type', 'string', 'always'],
    [2, 'status', 'string', 'always'],
    [3, 'lastTransitionTime', 'time'],
    [4, 'reason', 'string'],
    [5, 'message', 'string'],
  ]),
]);

/** The top-level message of each kind that has a table, by `apiVersion/kind` ("v1/Service"). */
export const TOP_LEVEL: ReadonlyMap<string, string> = new Map([
  ['v1/Namespace', 'Namespace'],
  ['v1/Service', 'Service'],
  ['v1/Pod', 'Pod'],
  ['v1/Endpoints', 'Endpoints'],
  ['v1/ConfigMap', 'ConfigMap'],
  ['v1/Secret', 'Secret'],
  ['apps/v1/Deployment', 'Deployment'],
  ['apps/v1/ReplicaSet', 'ReplicaSet'],
]);
