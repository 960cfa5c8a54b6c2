// kubectl's table output for fixed objects, compared with what kube-apiserver's printers produce for
// the same objects (expected text written from kube's printer rules: pkg/printers/internalversion).
// AGE values vary, so they are replaced by "<age>" and the table re-laid out the way kubectl's
// tabwriter does it (minwidth 6, padding 3), trailing blanks trimmed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, kubectl, request, startPortico, type Portico } from './harness.js';

after(cleanup);

/** Splits one kubectl table (header + rows) into cells using the header's column positions. */
function parseTable(text: string): string[][] {
  const ls = text.split('\n').filter((l) => l.length > 0);
  const header = ls[0] ?? '';
  const starts: number[] = [];
  for (const m of header.matchAll(/\S+(?: \S+)*/g)) starts.push(m.index);
  assert.ok(starts.length > 0 && starts[0] === 0, `a header at column 0: ${JSON.stringify(header)}`);
  return ls.map((l) =>
    starts.map((s, j) => {
      const next = starts[j + 1];
      const slice = next === undefined ? l.slice(s) : l.slice(s, next);
      // A padded cell, or an empty one; a line may end early when its last cells are empty.
      if (next !== undefined && next < l.length) assert.match(slice, /^(\S(.*\S)?\s{3,}|\s*)$/, `cell ${j} of ${JSON.stringify(l)} is aligned under its header`);
      else if (next !== undefined) assert.match(slice, /^(\S(.*\S)?\s*|\s*)$/, `cell ${j} of ${JSON.stringify(l)} is aligned under its header`);
      else assert.doesNotMatch(slice, /^\s/, `last cell of ${JSON.stringify(l)} is aligned`);
      return slice.trimEnd();
    }),
  );
}

/** Go text/tabwriter as kubectl configures it: minwidth 6, padding 3, last cell unpadded. */
function renderTable(rows: string[][]): string {
  const n = rows[0]?.length ?? 0;
  const widths: number[] = [];
  for (let j = 0; j < n - 1; j++) widths.push(Math.max(6, ...rows.map((r) => (r[j] ?? '').length + 3)));
  return rows.map((r) => r.map((c, j) => (j < n - 1 ? c.padEnd(widths[j]!) : c)).join('').trimEnd()).join('\n');
}

/** Replaces the AGE column's values (which must look like kube durations) with "<age>". */
function normalise(out: string): string {
  const groups = out.replace(/\n+$/, '').split(/\n\n/);
  return groups
    .map((g) => {
      const rows = parseTable(g);
      const ageCol = rows[0]!.indexOf('AGE');
      assert.ok(ageCol >= 0, `an AGE column in ${JSON.stringify(rows[0])}`);
      for (const r of rows.slice(1)) {
        assert.match(r[ageCol]!, /^(\d+[smhdy]){1,2}$/, `AGE cell of ${JSON.stringify(r)}`);
        r[ageCol] = '<age>';
      }
      return renderTable(rows);
    })
    .join('\n\n');
}

function expected(text: string): string {
  const t = text
    .replace(/^\n/, '')
    .split('\n')
    .map((l) => l.trimEnd())
    .join('\n')
    .replace(/\n+$/, '');
  // The hand-written text must itself be laid out as kubectl's tabwriter would lay it out.
  for (const g of t.split('\n\n')) assert.equal(renderTable(parseTable(g)), g, 'expected text is tabwriter-aligned');
  return t;
}

const NS = 'out';
// Fixed cluster IPs from the low (static) part of the range, clear of .1 (kubernetes) and .10 (DNS).
const L = { fixture: 'e2e' };
// Controllers may derive Endpoints and EndpointSlices from the Services (copying their labels); kube
// marks those with these labels, so the selector keeps to the objects made here.
const SELECTOR = 'fixture=e2e,!kubernetes.io/service-name,!endpointslice.kubernetes.io/skip-mirror';

let p: Portico;

async function post(path: string, body: object): Promise<void> {
  const r = await request(p, 'POST', path, { body });
  assert.equal(r.status, 201, `POST ${path}: ${r.body}`);
}

async function patchStatus(path: string, status: object): Promise<void> {
  const r = await request(p, 'PATCH', `${path}/status`, { body: { status }, headers: { 'Content-Type': 'application/merge-patch+json' } });
  assert.equal(r.status, 200, `PATCH ${path}/status: ${r.body}`);
}

const svc = (name: string, spec: object) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, labels: L }, spec });
const nodeInfo = (o: Partial<Record<string, string>>) => ({
  machineID: 'm',
  systemUUID: 'u',
  bootID: 'b',
  kernelVersion: '',
  osImage: '',
  containerRuntimeVersion: '',
  kubeletVersion: '',
  kubeProxyVersion: '',
  operatingSystem: 'linux',
  architecture: 'amd64',
  ...o,
});

before(async () => {
  p = await startPortico(['--service-cidr', '198.18.0.0/16', '--pod-cidr', '198.19.0.0/16']);
  await post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, labels: L } });
  const s = `/api/v1/namespaces/${NS}/services`;
  await post(s, svc('a-web', { clusterIP: '198.18.0.110', selector: { tier: 'front', app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }, { name: 'dns', port: 53, protocol: 'UDP' }] }));
  await post(s, svc('b-ext', { clusterIP: '198.18.0.111', externalIPs: ['198.18.200.1', '198.18.200.2'], ports: [{ port: 8443 }] }));
  await post(s, svc('c-headless', { clusterIP: 'None', selector: { app: 'db' }, ports: [{ port: 5432 }] }));
  await post(s, svc('d-nodeport', { type: 'NodePort', clusterIP: '198.18.0.112', ports: [{ port: 80, nodePort: 30080 }] }));
  await post(s, svc('e-lb', { type: 'LoadBalancer', clusterIP: '198.18.0.113', selector: { app: 'lb' }, ports: [{ port: 443, nodePort: 30443 }] }));
  await post(s, svc('f-lb-ext', { type: 'LoadBalancer', allocateLoadBalancerNodePorts: false, clusterIP: '198.18.0.114', externalIPs: ['198.18.200.3'], ports: [{ port: 443 }] }));
  await post(s, svc('g-extname', { type: 'ExternalName', externalName: 'db.example.org' }));

  const e = `/api/v1/namespaces/${NS}/endpoints`;
  const ep = (name: string, subsets?: object[]) => ({ apiVersion: 'v1', kind: 'Endpoints', metadata: { name, labels: L }, ...(subsets ? { subsets } : {}) });
  await post(e, ep('ep-many', [{ addresses: [1, 2, 3, 4, 5].map((i) => ({ ip: `198.19.0.${i}` })), ports: [{ name: 'http', port: 80 }, { name: 'https', port: 443 }] }]));
  await post(e, ep('ep-none'));
  await post(e, ep('ep-noports', [{ addresses: [{ ip: '198.19.2.1' }, { ip: '198.19.2.2' }] }]));
  await post(e, ep('ep-notready', [{ notReadyAddresses: [{ ip: '198.19.4.1' }], ports: [{ port: 80 }] }]));
  await post(e, ep('ep-two', [{ addresses: [{ ip: '198.19.1.1' }], ports: [{ port: 8080 }] }, { addresses: [{ ip: '198.19.1.2' }], ports: [{ port: 9090 }] }]));

  const es = `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices`;
  const slice = (name: string, addressType: string, ports: object[] | undefined, endpoints: object[]) => ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, labels: L },
    addressType,
    ...(ports ? { ports } : {}),
    endpoints,
  });
  await post(es, slice('slice-a', 'IPv4', [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'https', port: 443, protocol: 'TCP' }], [{ addresses: ['198.19.3.1'] }, { addresses: ['198.19.3.2'] }]));
  await post(es, slice('slice-b', 'IPv4', undefined, []));
  await post(
    es,
    slice('slice-c', 'FQDN', [{ name: 'x' }, { name: 'b', port: 2 }, { name: 'c', port: 3 }, { name: 'd', port: 4 }], ['a', 'b', 'c', 'd'].map((h) => ({ addresses: [`${h}.example.org`] }))),
  );

  const n = '/api/v1/nodes';
  await post(n, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a', labels: { ...L, 'node-role.kubernetes.io/worker': '', 'node-role.kubernetes.io/control-plane': '' } } });
  await patchStatus(`${n}/node-a`, {
    conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' }],
    addresses: [
      { type: 'InternalIP', address: '198.19.255.1' },
      { type: 'ExternalIP', address: '198.19.255.101' },
      { type: 'Hostname', address: 'node-a' },
    ],
    nodeInfo: nodeInfo({ kubeletVersion: 'v1.32.0', osImage: 'Debian GNU/Linux 12 (bookworm)', kernelVersion: '6.1.0-28-amd64', containerRuntimeVersion: 'containerd://1.7.24' }),
  });
  await post(n, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-b', labels: { ...L, 'kubernetes.io/role': 'edge' } }, spec: { unschedulable: true } });
  await patchStatus(`${n}/node-b`, { conditions: [{ type: 'Ready', status: 'False', reason: 'KubeletNotReady', message: 'not ready' }], nodeInfo: nodeInfo({ kubeletVersion: 'v1.31.4' }) });
  await post(n, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-c', labels: L } });

  const po = `/api/v1/namespaces/${NS}/pods`;
  const pod = (name: string, spec: object, meta: object = {}) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: L, ...meta }, spec });
  await post(po, pod('p-pending', { containers: [{ name: 'app', image: 'nginx' }] }));
  await post(
    po,
    pod('p-running', { nodeName: 'node-a', readinessGates: [{ conditionType: 'example.com/gate' }], containers: [{ name: 'a', image: 'nginx' }, { name: 'b', image: 'busybox' }] }),
  );
  await patchStatus(`${po}/p-running`, {
    phase: 'Running',
    podIP: '198.19.0.5',
    podIPs: [{ ip: '198.19.0.5' }],
    conditions: [
      { type: 'example.com/gate', status: 'True' },
      { type: 'Ready', status: 'False' },
    ],
    containerStatuses: [
      { name: 'a', ready: true, restartCount: 0, image: 'nginx', imageID: '', state: { running: { startedAt: '2026-01-01T00:00:00Z' } } },
      { name: 'b', ready: false, restartCount: 3, image: 'busybox', imageID: '', state: { waiting: { reason: 'CrashLoopBackOff' } } },
    ],
  });
  await post(po, pod('p-terminating', { containers: [{ name: 'app', image: 'nginx' }] }, { finalizers: ['example.com/hold'] }));
  const d = await request(p, 'DELETE', `${po}/p-terminating`);
  assert.equal(d.status, 200, d.body);
});

describe('kubectl table output matches kube-apiserver printing', () => {
  it('get svc,ep,pods,nodes,ns,endpointslices', async () => {
    const r = await kubectl(p, ['get', 'svc,ep,pods,nodes,ns,endpointslices', '-n', NS, '-l', SELECTOR]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      normalise(r.stdout),
      expected(`
NAME                 TYPE           CLUSTER-IP     EXTERNAL-IP                 PORT(S)         AGE
service/a-web        ClusterIP      198.18.0.110   <none>                      80/TCP,53/UDP   <age>
service/b-ext        ClusterIP      198.18.0.111   198.18.200.1,198.18.200.2   8443/TCP        <age>
service/c-headless   ClusterIP      None           <none>                      5432/TCP        <age>
service/d-nodeport   NodePort       198.18.0.112   <none>                      80:30080/TCP    <age>
service/e-lb         LoadBalancer   198.18.0.113   <pending>                   443:30443/TCP   <age>
service/f-lb-ext     LoadBalancer   198.18.0.114   198.18.200.3                443/TCP         <age>
service/g-extname    ExternalName   <none>         db.example.org              <none>          <age>

NAME                    ENDPOINTS                                               AGE
endpoints/ep-many       198.19.0.1:80,198.19.0.2:80,198.19.0.3:80 + 7 more...   <age>
endpoints/ep-none       <none>                                                  <age>
endpoints/ep-noports    198.19.2.1,198.19.2.2                                   <age>
endpoints/ep-notready                                                           <age>
endpoints/ep-two        198.19.1.1:8080,198.19.1.2:9090                         <age>

NAME                READY   STATUS             RESTARTS   AGE
pod/p-pending       0/1     Pending            0          <age>
pod/p-running       1/2     CrashLoopBackOff   3          <age>
pod/p-terminating   0/1     Terminating        0          <age>

NAME          STATUS                        ROLES                  AGE     VERSION
node/node-a   Ready                         control-plane,worker   <age>   v1.32.0
node/node-b   NotReady,SchedulingDisabled   edge                   <age>   v1.31.4
node/node-c   Unknown                       <none>                 <age>

NAME            STATUS   AGE
namespace/out   Active   <age>

NAME                                     ADDRESSTYPE   PORTS               ENDPOINTS                                               AGE
endpointslice.discovery.k8s.io/slice-a   IPv4          80,443              198.19.3.1,198.19.3.2                                   <age>
endpointslice.discovery.k8s.io/slice-b   IPv4          <unset>             <unset>                                                 <age>
endpointslice.discovery.k8s.io/slice-c   FQDN          x,2,3 + 1 more...   a.example.org,b.example.org,c.example.org + 1 more...   <age>
`),
      `raw kubectl output:\n${r.stdout}`,
    );
  });

  it('get svc -o wide adds SELECTOR', async () => {
    const r = await kubectl(p, ['get', 'svc', '-o', 'wide', '-n', NS, '-l', SELECTOR]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      normalise(r.stdout),
      expected(`
NAME         TYPE           CLUSTER-IP     EXTERNAL-IP                 PORT(S)         AGE     SELECTOR
a-web        ClusterIP      198.18.0.110   <none>                      80/TCP,53/UDP   <age>   app=web,tier=front
b-ext        ClusterIP      198.18.0.111   198.18.200.1,198.18.200.2   8443/TCP        <age>   <none>
c-headless   ClusterIP      None           <none>                      5432/TCP        <age>   app=db
d-nodeport   NodePort       198.18.0.112   <none>                      80:30080/TCP    <age>   <none>
e-lb         LoadBalancer   198.18.0.113   <pending>                   443:30443/TCP   <age>   app=lb
f-lb-ext     LoadBalancer   198.18.0.114   198.18.200.3                443/TCP         <age>   <none>
g-extname    ExternalName   <none>         db.example.org              <none>          <age>   <none>
`),
      `raw kubectl output:\n${r.stdout}`,
    );
  });

  it('get pods -o wide adds IP, NODE, NOMINATED NODE, READINESS GATES', async () => {
    const r = await kubectl(p, ['get', 'pods', '-o', 'wide', '-n', NS, '-l', SELECTOR]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      normalise(r.stdout),
      expected(`
NAME            READY   STATUS             RESTARTS   AGE     IP           NODE     NOMINATED NODE   READINESS GATES
p-pending       0/1     Pending            0          <age>   <none>       <none>   <none>           <none>
p-running       1/2     CrashLoopBackOff   3          <age>   198.19.0.5   node-a   <none>           1/1
p-terminating   0/1     Terminating        0          <age>   <none>       <none>   <none>           <none>
`),
      `raw kubectl output:\n${r.stdout}`,
    );
  });

  it('get nodes -o wide adds addresses and node info', async () => {
    const r = await kubectl(p, ['get', 'nodes', '-o', 'wide', '-l', SELECTOR]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      normalise(r.stdout),
      expected(`
NAME     STATUS                        ROLES                  AGE     VERSION   INTERNAL-IP    EXTERNAL-IP      OS-IMAGE                         KERNEL-VERSION   CONTAINER-RUNTIME
node-a   Ready                         control-plane,worker   <age>   v1.32.0   198.19.255.1   198.19.255.101   Debian GNU/Linux 12 (bookworm)   6.1.0-28-amd64   containerd://1.7.24
node-b   NotReady,SchedulingDisabled   edge                   <age>   v1.31.4   <none>         <none>           <unknown>                        <unknown>        <unknown>
node-c   Unknown                       <none>                 <age>             <none>         <none>           <unknown>                        <unknown>        <unknown>
`),
      `raw kubectl output:\n${r.stdout}`,
    );
  });

  it('get ns -A style listing of the system namespaces', async () => {
    const r = await kubectl(p, ['get', 'ns']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      normalise(r.stdout),
      expected(`
NAME              STATUS   AGE
default           Active   <age>
kube-node-lease   Active   <age>
kube-public       Active   <age>
kube-system       Active   <age>
out               Active   <age>
`),
      `raw kubectl output:\n${r.stdout}`,
    );
  });

  it('get svc -A shows the NAMESPACE column and the kubernetes Service', async () => {
    const r = await kubectl(p, ['get', 'svc', '-A', '--field-selector', 'metadata.name=kubernetes']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      normalise(r.stdout),
      expected(`
NAMESPACE   NAME         TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)   AGE
default     kubernetes   ClusterIP   198.18.0.1   <none>        443/TCP   <age>
`),
      `raw kubectl output:\n${r.stdout}`,
    );
  });
});
