// Golden cells of each kind's table printer for representative objects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serviceKind, type Service } from './service.js';
import { endpointsKind, type Endpoints } from './endpoints.js';
import { endpointSliceKind, type EndpointSlice } from './endpointslice.js';
import { podKind, type Pod } from './pod.js';
import { nodeKind, type Node } from './node.js';
import { namespaceKind } from './namespace.js';
import { eventKind, type Event } from './event.js';
import { leaseKind } from './lease.js';
import { deploymentKind, type Deployment } from './deployment.js';
import { replicaSetKind, type ReplicaSet } from './replicaset.js';

const now = new Date('2025-06-01T12:00:00Z');
const created = '2025-06-01T11:55:00Z'; // 5m before now
const meta = (name: string, extra: Record<string, unknown> = {}) => ({ name, namespace: 'default', creationTimestamp: created, ...extra });

test('column names and priorities match kube-apiserver', () => {
  const names = (cols: { name: string; priority: number }[]) => cols.map((c) => `${c.name}${c.priority ? '*' : ''}`).join('|');
  assert.equal(names(serviceKind.table.columns), 'Name|Type|Cluster-IP|External-IP|Port(s)|Age|Selector*');
  assert.equal(names(endpointsKind.table.columns), 'Name|Endpoints|Age');
  assert.equal(names(podKind.table.columns), 'Name|Ready|Status|Restarts|Age|IP*|Node*|Nominated Node*|Readiness Gates*');
  assert.equal(names(nodeKind.table.columns), 'Name|Status|Roles|Age|Version|Internal-IP*|External-IP*|OS-Image*|Kernel-Version*|Container-Runtime*');
  assert.equal(names(endpointSliceKind.table.columns), 'Name|AddressType|Ports|Endpoints|Age');
  assert.equal(names(namespaceKind.table.columns), 'Name|Status|Age');
  assert.equal(names(eventKind.table.columns), 'Last Seen|Type|Reason|Object|Subobject*|Source*|Message|First Seen*|Count*|Name*');
  assert.equal(names(leaseKind.table.columns), 'Name|Holder|Age');
  assert.equal(names(deploymentKind.table.columns), 'Name|Ready|Up-to-date|Available|Age|Containers*|Images*|Selector*');
  assert.equal(names(replicaSetKind.table.columns), 'Name|Desired|Current|Ready|Age|Containers*|Images*|Selector*');
  assert.equal(serviceKind.table.columns[0]!.format, 'name');
});

test('Service cells', () => {
  const rows: [string, Service, unknown[]][] = [
    ['ClusterIP with selector', { metadata: meta('web'), spec: { type: 'ClusterIP', clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'], ports: [{ port: 80, protocol: 'TCP' }, { port: 53, protocol: 'UDP' }], selector: { app: 'web', tier: 'fe' } } },
      ['web', 'ClusterIP', '10.96.0.10', '<none>', '80/TCP,53/UDP', '5m', 'app=web,tier=fe']],
    ['headless without ports or selector', { metadata: meta('h'), spec: { type: 'ClusterIP', clusterIP: 'None', clusterIPs: ['None'] } },
      ['h', 'ClusterIP', 'None', '<none>', '<none>', '5m', '<none>']],
    ['NodePort with external IPs', { metadata: meta('np'), spec: { type: 'NodePort', clusterIPs: ['10.96.1.1'], externalIPs: ['1.2.3.4', '5.6.7.8'], ports: [{ port: 80, nodePort: 30080, protocol: 'TCP' }] } },
      ['np', 'NodePort', '10.96.1.1', '1.2.3.4,5.6.7.8', '80:30080/TCP', '5m', '<none>']],
    ['LoadBalancer pending', { metadata: meta('lb'), spec: { type: 'LoadBalancer', clusterIPs: ['10.96.1.2'], ports: [{ port: 443, nodePort: 31443, protocol: 'TCP' }] } },
      ['lb', 'LoadBalancer', '10.96.1.2', '<pending>', '443:31443/TCP', '5m', '<none>']],
    ['LoadBalancer with ingress and external IPs', { metadata: meta('lb2'), spec: { type: 'LoadBalancer', clusterIPs: ['10.96.1.3'], externalIPs: ['9.9.9.9'] }, status: { loadBalancer: { ingress: [{ ip: '198.51.100.1' }, { hostname: 'lb.example.com' }] } } },
      ['lb2', 'LoadBalancer', '10.96.1.3', '198.51.100.1,lb.example.com,9.9.9.9', '<none>', '5m', '<none>']],
    ['ExternalName', { metadata: meta('ext'), spec: { type: 'ExternalName', externalName: 'example.com' } },
      ['ext', 'ExternalName', '<none>', 'example.com', '<none>', '5m', '<none>']],
    ['no timestamp', { metadata: { name: 'x' }, spec: { type: 'ClusterIP', clusterIPs: ['10.96.0.1'] } },
      ['x', 'ClusterIP', '10.96.0.1', '<none>', '<none>', '<unknown>', '<none>']],
  ];
  for (const [why, svc, want] of rows) assert.deepEqual(serviceKind.table.cells(svc, now), want, why);
});

test('Endpoints cells', () => {
  const addrs = (...ips: string[]) => ips.map((ip) => ({ ip }));
  const rows: [string, Endpoints, string][] = [
    ['no subsets', { metadata: meta('e') }, '<none>'],
    ['one port', { metadata: meta('e'), subsets: [{ addresses: addrs('10.0.0.1', '10.0.0.2'), ports: [{ port: 8080 }] }] }, '10.0.0.1:8080,10.0.0.2:8080'],
    ['more than three', { metadata: meta('e'), subsets: [{ addresses: addrs('10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5'), ports: [{ port: 80 }] }] }, '10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 2 more...'],
    ['two ports count every pair', { metadata: meta('e'), subsets: [{ addresses: addrs('10.0.0.1', '10.0.0.2'), ports: [{ port: 80 }, { port: 443 }] }] }, '10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more...'],
    ['headless without ports', { metadata: meta('e'), subsets: [{ addresses: addrs('10.0.0.7') }] }, '10.0.0.7'],
    ['IPv6 bracketed', { metadata: meta('e'), subsets: [{ addresses: addrs('fd00::1'), ports: [{ port: 80 }] }] }, '[fd00::1]:80'],
    ['only not-ready addresses', { metadata: meta('e'), subsets: [{ notReadyAddresses: addrs('10.0.0.9'), ports: [{ port: 80 }] }] }, ''],
  ];
  for (const [why, ep, want] of rows) assert.deepEqual(endpointsKind.table.cells(ep, now), ['e', want, '5m'], why);
});

test('EndpointSlice cells', () => {
  const rows: [string, EndpointSlice, unknown[]][] = [
    ['empty slice', { metadata: meta('s-1'), addressType: 'IPv4', endpoints: [] }, ['s-1', 'IPv4', '<unset>', '<unset>', '5m']],
    ['ports and endpoints', {
      metadata: meta('s-2'), addressType: 'IPv4',
      ports: [{ port: 80 }, { name: 'named' }, {}, { port: 9 }],
      endpoints: [{ addresses: ['10.0.0.1'] }, { addresses: ['10.0.0.2'] }, { addresses: ['10.0.0.3'] }, { addresses: ['10.0.0.4'] }],
    }, ['s-2', 'IPv4', '80,named,* + 1 more...', '10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...', '5m']],
  ];
  for (const [why, s, want] of rows) assert.deepEqual(endpointSliceKind.table.cells(s, now), want, why);
});

test('Pod cells', () => {
  const spec = { containers: [{ name: 'a', image: 'nginx' }] };
  const running = { name: 'a', image: 'nginx', imageID: '', ready: true, restartCount: 0, state: { running: { startedAt: created } } };
  const rows: [string, Pod, unknown[]][] = [
    ['running and ready', { metadata: meta('p'), spec: { ...spec, nodeName: 'n1' }, status: { phase: 'Running', podIP: '10.244.0.5', podIPs: [{ ip: '10.244.0.5' }], containerStatuses: [running] } },
      ['p', '1/1', 'Running', '0', '5m', '10.244.0.5', 'n1', '<none>', '<none>']],
    ['pending without status', { metadata: meta('p'), spec, status: { phase: 'Pending' } },
      ['p', '0/1', 'Pending', '0', '5m', '<none>', '<none>', '<none>', '<none>']],
    ['crash loop with restarts', { metadata: meta('p'), spec, status: { phase: 'Running', containerStatuses: [{ ...running, ready: false, restartCount: 4, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 1, finishedAt: '2025-06-01T11:59:30Z' } } }] } },
      ['p', '0/1', 'CrashLoopBackOff', '4 (30s ago)', '5m', '<none>', '<none>', '<none>', '<none>']],
    ['terminated without reason shows the exit code', { metadata: meta('p'), spec, status: { phase: 'Running', containerStatuses: [{ ...running, ready: false, state: { terminated: { exitCode: 137 } } }] } },
      ['p', '0/1', 'ExitCode:137', '0', '5m', '<none>', '<none>', '<none>', '<none>']],
    ['terminating', { metadata: meta('p', { deletionTimestamp: now.toISOString() }), spec, status: { phase: 'Running', containerStatuses: [running] } },
      ['p', '1/1', 'Terminating', '0', '5m', '<none>', '<none>', '<none>', '<none>']],
    ['init container waiting', { metadata: meta('p'), spec: { ...spec, initContainers: [{ name: 'i1' }, { name: 'i2' }] }, status: { phase: 'Pending', initContainerStatuses: [{ name: 'i1', image: '', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode: 0 } } }, { name: 'i2', image: '', imageID: '', ready: false, restartCount: 0, state: { running: {} } }] } },
      ['p', '0/1', 'Init:1/2', '0', '5m', '<none>', '<none>', '<none>', '<none>']],
    ['readiness gates', { metadata: meta('p'), spec: { ...spec, readinessGates: [{ conditionType: 'x/a' }, { conditionType: 'x/b' }] }, status: { phase: 'Running', conditions: [{ type: 'x/a', status: 'True' }], containerStatuses: [running] } },
      ['p', '1/1', 'Running', '0', '5m', '<none>', '<none>', '<none>', '1/2']],
    ['evicted reason wins over phase', { metadata: meta('p'), spec, status: { phase: 'Failed', reason: 'Evicted' } },
      ['p', '0/1', 'Evicted', '0', '5m', '<none>', '<none>', '<none>', '<none>']],
  ];
  for (const [why, pod, want] of rows) assert.deepEqual(podKind.table.cells(pod, now), want, why);
});

test('Node cells', () => {
  const info = { machineID: '', systemUUID: '', bootID: '', kernelVersion: '6.1.0', osImage: 'Debian GNU/Linux 12 (bookworm)', containerRuntimeVersion: 'containerd://1.7.0', kubeletVersion: 'v1.32.0', kubeProxyVersion: '', operatingSystem: 'linux', architecture: 'amd64' };
  const rows: [string, Node, unknown[]][] = [
    ['ready control plane', {
      metadata: { name: 'n1', creationTimestamp: created, labels: { 'node-role.kubernetes.io/control-plane': '', 'kubernetes.io/role': 'master' } },
      status: { conditions: [{ type: 'Ready', status: 'True' }], addresses: [{ type: 'InternalIP', address: '198.19.255.1' }, { type: 'Hostname', address: 'n1' }], nodeInfo: info },
    }, ['n1', 'Ready', 'control-plane,master', '5m', 'v1.32.0', '198.19.255.1', '<none>', 'Debian GNU/Linux 12 (bookworm)', '6.1.0', 'containerd://1.7.0']],
    ['not ready and cordoned', {
      metadata: { name: 'n2', creationTimestamp: created }, spec: { unschedulable: true },
      status: { conditions: [{ type: 'Ready', status: 'Unknown' }] },
    }, ['n2', 'NotReady,SchedulingDisabled', '<none>', '5m', '', '<none>', '<none>', '<unknown>', '<unknown>', '<unknown>']],
    ['no conditions', { metadata: { name: 'n3' } }, ['n3', 'Unknown', '<none>', '<unknown>', '', '<none>', '<none>', '<unknown>', '<unknown>', '<unknown>']],
  ];
  for (const [why, node, want] of rows) assert.deepEqual(nodeKind.table.cells(node, now), want, why);
});

test('Namespace, Lease and Event cells', () => {
  assert.deepEqual(namespaceKind.table.cells({ metadata: { name: 'kube-system', creationTimestamp: '2025-05-30T12:00:00Z' }, status: { phase: 'Active' } }, now), ['kube-system', 'Active', '2d']);
  assert.deepEqual(leaseKind.table.cells({ metadata: meta('l'), spec: { holderIdentity: 'portico-1' } }, now), ['l', 'portico-1', '5m']);
  assert.deepEqual(leaseKind.table.cells({ metadata: meta('l'), spec: {} }, now), ['l', '', '5m']);
  const ev: Event = {
    metadata: meta('web.1'), involvedObject: { kind: 'Service', name: 'web', namespace: 'default' }, reason: 'FailedToAllocateIP', message: ' range is full ',
    type: 'Warning', firstTimestamp: '2025-06-01T11:00:00Z', lastTimestamp: '2025-06-01T11:59:00Z', count: 3, source: { component: 'portico-ipam' },
  };
  assert.deepEqual(eventKind.table.cells(ev, now), ['60s', 'Warning', 'FailedToAllocateIP', 'service/web', '', 'portico-ipam', 'range is full', '60m', 3, 'web.1']);
  const series: Event = { metadata: meta('x'), involvedObject: { kind: 'Node' }, eventTime: '2025-06-01T11:58:00.000000Z', series: { count: 7, lastObservedTime: '2025-06-01T11:59:50.000000Z' }, reportingComponent: 'c', reportingInstance: 'i' };
  assert.deepEqual(eventKind.table.cells(series, now), ['10s', '', '', 'node', '', 'c, i', '', '2m', 7, 'x']);
});

test('Deployment and ReplicaSet cells', () => {
  const template = { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx:1.25' }, { name: 'side', image: 'busybox' }] } };
  const selector = { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['fe', 'be'] }] };
  const d = { metadata: meta('web'), spec: { replicas: 3, selector, template }, status: { readyReplicas: 2, updatedReplicas: 3, availableReplicas: 1 } } as Deployment;
  assert.deepEqual(deploymentKind.table.cells(d, now), ['web', '2/3', 3, 1, '5m', 'web,side', 'nginx:1.25,busybox', 'app=web,tier in (be,fe)']);
  const rs = { metadata: meta('web-abc'), spec: { replicas: 2, selector: { matchLabels: { app: 'web', 'pod-template-hash': 'abc' } }, template }, status: { replicas: 1, readyReplicas: 0 } } as ReplicaSet;
  assert.deepEqual(replicaSetKind.table.cells(rs, now), ['web-abc', 2, 1, 0, '5m', 'web,side', 'nginx:1.25,busybox', 'app=web,pod-template-hash=abc']);
});
