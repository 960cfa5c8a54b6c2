// core/v1 Node: schema (addresses, conditions, pod CIDRs and taints in detail), types, field
// selectors and the table printer. kube-apiserver defaults nothing Portico relies on.
import type { Static } from '@sinclair/typebox';
import { Type } from '@sinclair/typebox';
import type { KindDef } from '../types.js';
import { age, ageColumn, col, nameColumn } from '../printers.js';
import { Atomic, Bool, Int32, Int64, O, Obj, Preserve, QuantityMap, Str, StrList, Sub, Time, kindSchema, listSchema, mergeBy } from './common.js';

const gvk = { group: '', version: 'v1', kind: 'Node' };

export const Taint = Obj('io.k8s.api.core.v1.Taint', 'A taint keeps pods that do not tolerate it away from the node.', {
  key: Str('The taint key.'),
  value: O(Str('The taint value.')),
  effect: Str('NoSchedule, PreferNoSchedule or NoExecute.', { enum: ['NoExecute', 'NoSchedule', 'PreferNoSchedule'] }),
  timeAdded: O(Time('When a NoExecute taint was added.')),
});
export type Taint = Static<typeof Taint>;

export const NodeSpec = Obj('io.k8s.api.core.v1.NodeSpec', 'NodeSpec describes the attributes a node is created with.', {
  podCIDR: O(Str('The pod IP range assigned to the node.')),
  podCIDRs: O(StrList('The pod IP ranges assigned to the node, at most one per family; podCIDRs[0] equals podCIDR.', { 'x-kubernetes-patch-strategy': 'merge', 'x-kubernetes-list-type': 'set' })),
  providerID: O(Str('The ID of the node at its cloud provider.')),
  unschedulable: O(Bool('New pods are not scheduled onto the node (cordoned).')),
  taints: O(Type.Array(Taint, { description: 'The taints of the node.', ...Atomic })),
  configSource: O(Preserve('Deprecated: dynamic kubelet configuration source.')),
  externalID: O(Str('Deprecated.')),
});
export type NodeSpec = Static<typeof NodeSpec>;

export const NodeCondition = Obj('io.k8s.api.core.v1.NodeCondition', 'NodeCondition is one aspect of the state of a node.', {
  type: Str('The condition type, e.g. Ready, MemoryPressure, DiskPressure, PIDPressure, NetworkUnavailable.'),
  status: Str('True, False or Unknown.'),
  lastHeartbeatTime: O(Time('When the condition was last reported.')),
  lastTransitionTime: O(Time('When the condition last changed status.')),
  reason: O(Str('A CamelCase reason for the last transition.')),
  message: O(Str('A human-readable message about the last transition.')),
});
export type NodeCondition = Static<typeof NodeCondition>;

export const NodeAddress = Obj('io.k8s.api.core.v1.NodeAddress', 'NodeAddress is one address of a node.', {
  type: Str('Hostname, InternalIP, ExternalIP, InternalDNS or ExternalDNS.'),
  address: Str('The address.'),
});
export type NodeAddress = Static<typeof NodeAddress>;

export const DaemonEndpoint = Obj('io.k8s.api.core.v1.DaemonEndpoint', 'DaemonEndpoint is the port of a daemon on the node.', {
  Port: Int32('The port number.'),
});

export const NodeDaemonEndpoints = Obj('io.k8s.api.core.v1.NodeDaemonEndpoints', 'The ports the node\'s daemons listen on.', {
  kubeletEndpoint: O(Sub(DaemonEndpoint, 'The kubelet\'s port.')),
});

export const NodeSystemInfo = Obj('io.k8s.api.core.v1.NodeSystemInfo', 'Facts about the node\'s system.', {
  machineID: Str('The machine ID.'),
  systemUUID: Str('The system UUID.'),
  bootID: Str('The boot ID.'),
  kernelVersion: Str('The kernel version (uname -r).'),
  osImage: Str('The operating system image (from /etc/os-release).'),
  containerRuntimeVersion: Str('The container runtime and its version, e.g. containerd://1.7.0.'),
  kubeletVersion: Str('The kubelet version (or, for Portico, the agent version).'),
  kubeProxyVersion: Str('Deprecated: the kube-proxy version.'),
  operatingSystem: Str('The operating system, e.g. linux.'),
  architecture: Str('The CPU architecture, e.g. amd64.'),
  swap: O(Preserve('Swap information.')),
});

export const ContainerImage = Obj('io.k8s.api.core.v1.ContainerImage', 'An image present on the node.', {
  names: O(StrList('Names of the image.')),
  sizeBytes: O(Int64('The size of the image.')),
});

export const NodeStatus = Obj('io.k8s.api.core.v1.NodeStatus', 'NodeStatus is the most recently observed state of a node.', {
  capacity: O(QuantityMap('The total resources of the node.')),
  allocatable: O(QuantityMap('The resources available to pods.')),
  phase: O(Str('Deprecated: the lifecycle phase of the node.')),
  conditions: O(Type.Array(NodeCondition, { description: 'The current conditions of the node.', ...mergeBy('type') })),
  addresses: O(Type.Array(NodeAddress, { description: 'The addresses of the node.', ...mergeBy('type') })),
  daemonEndpoints: O(Sub(NodeDaemonEndpoints, 'The ports of the daemons on the node.')),
  nodeInfo: O(Sub(NodeSystemInfo, 'Facts about the node\'s system.')),
  images: O(Type.Array(ContainerImage, { description: 'Images present on the node.', ...Atomic })),
  volumesInUse: O(StrList('Volumes in use on the node.')),
  volumesAttached: O(Type.Array(Preserve('An attached volume.'), { description: 'Volumes attached to the node.', ...Atomic })),
  config: O(Preserve('Status of the dynamic kubelet configuration.')),
  runtimeHandlers: O(Type.Array(Preserve('A runtime handler.'), { description: 'The available runtime handlers.', ...Atomic })),
  features: O(Preserve('Features supported by the node\'s runtime.')),
});
export type NodeStatus = Static<typeof NodeStatus>;

export const Node = kindSchema('io.k8s.api.core.v1.Node', gvk, 'A Node is a host in the cluster: it runs pods and the node agent.', {
  spec: O(Sub(NodeSpec, 'The attributes of the node.')),
  status: O(Sub(NodeStatus, 'The most recently observed state of the node. Populated by the system.')),
});
export type Node = Static<typeof Node>;

export const NodeList = listSchema(Node, { ...gvk, kind: 'NodeList' }, 'The list of Nodes.');
export type NodeList = Static<typeof NodeList>;

const rolePrefix = 'node-role.kubernetes.io/';

/** kube's findNodeRoles: `node-role.kubernetes.io/<role>` labels and `kubernetes.io/role`, sorted. */
export function nodeRoles(node: Node): string[] {
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(node.metadata?.labels ?? {})) {
    if (k.startsWith(rolePrefix)) {
      const role = k.slice(rolePrefix.length);
      if (role) roles.add(role);
    } else if (k === 'kubernetes.io/role' && v !== '') roles.add(v);
  }
  return [...roles].sort();
}

function addressOf(node: Node, type: string): string {
  return node.status?.addresses?.find((a) => a.type === type)?.address ?? '<none>';
}

function statusCell(node: Node): string {
  const status: string[] = [];
  // Like kube: only the Ready condition is shown; the last one of that type wins.
  let ready: NodeCondition | undefined;
  for (const c of node.status?.conditions ?? []) if (c.type === 'Ready') ready = c;
  if (ready) status.push(ready.status === 'True' ? 'Ready' : 'NotReady');
  else status.push('Unknown');
  if (node.spec?.unschedulable) status.push('SchedulingDisabled');
  return status.join(',');
}

export const nodeKind: KindDef<Node> = {
  group: '',
  version: 'v1',
  kind: 'Node',
  listKind: 'NodeList',
  resource: 'nodes',
  singular: 'node',
  shortNames: ['no'],
  categories: [],
  namespaced: false,
  subresources: ['status'],
  schema: Node,
  nameRule: 'dns1123subdomain',
  fieldSelectors: {
    'spec.unschedulable': (n) => String(n.spec?.unschedulable ?? false),
  },
  table: {
    columns: [
      nameColumn,
      col('Status', 'The readiness of the node, and whether it takes new pods.'),
      col('Roles', 'The roles of the node.'),
      ageColumn,
      col('Version', 'The kubelet (node agent) version of the node.'),
      col('Internal-IP', 'The internal IP address of the node.', 1),
      col('External-IP', 'The external IP address of the node.', 1),
      col('OS-Image', 'The operating system image of the node.', 1),
      col('Kernel-Version', 'The kernel version of the node.', 1),
      col('Container-Runtime', 'The container runtime of the node.', 1),
    ],
    cells(node, now) {
      const info = node.status?.nodeInfo;
      const roles = nodeRoles(node).join(',');
      return [
        node.metadata?.name ?? '',
        statusCell(node),
        roles || '<none>',
        age(node.metadata?.creationTimestamp, now),
        info?.kubeletVersion ?? '',
        addressOf(node, 'InternalIP'),
        addressOf(node, 'ExternalIP'),
        info?.osImage || '<unknown>',
        info?.kernelVersion || '<unknown>',
        info?.containerRuntimeVersion || '<unknown>',
      ];
    },
  },
};
