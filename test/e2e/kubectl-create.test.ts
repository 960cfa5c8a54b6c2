// kubectl's generator commands through the real server. `kubectl create namespace`, `kubectl
// create service ...`, `kubectl create deployment` and `kubectl create configmap|secret` send protobuf bodies
// (application/vnd.kubernetes.protobuf); `kubectl run` and `kubectl expose` send JSON. Each result is read back with `kubectl get -o json`.
import { after, before, describe, it } from 'node:test';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { cleanup, kubectl, kubectlOk, request, startPortico, waitFor, type Portico, type StatusBody } from './harness.js';

after(cleanup);

interface Obj {
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; creationTimestamp?: string; uid?: string };
  spec?: Record<string, unknown> & {
    ports?: Array<Record<string, unknown>>;
    containers?: Array<{ name: string; image: string; ports?: Array<Record<string, unknown>> }>;
  };
  status?: Record<string, unknown>;
}

let p: Portico;

async function getJSON(args: string[]): Promise<Obj> {
  return JSON.parse(await kubectlOk(p, ['get', ...args, '-o', 'json'])) as Obj;
}

// ---- a tiny protobuf encoder for the raw-HTTPS cases ----
function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}
const bytes = (field: number, b: number[]): number[] => [...varint((field << 3) | 2), ...varint(b.length), ...b];
const str = (field: number, s: string): number[] => bytes(field, [...Buffer.from(s)]);
const int = (field: number, v: number): number[] => [...varint(field << 3), ...varint(v)];
const envelope = (kind: string, raw: number[]) => Buffer.from([0x6b, 0x38, 0x73, 0x00, ...bytes(1, [...str(1, 'v1'), ...str(2, kind)]), ...bytes(2, raw)]);
const PB = { 'Content-Type': 'application/vnd.kubernetes.protobuf' };

describe('kubectl create / run / expose', () => {
  before(async () => {
    p = await startPortico(['--service-cidr', '198.18.0.0/16']);
  });

  it('kubectl create namespace demo', async () => {
    assert.equal((await kubectlOk(p, ['create', 'namespace', 'demo'])).trim(), 'namespace/demo created');
    const ns = await getJSON(['namespace', 'demo']);
    assert.equal(ns.metadata.name, 'demo');
    assert.match(ns.metadata.creationTimestamp ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'a real creation time, not the zero time kubectl sent');
    assert.ok(ns.metadata.uid, 'a uid');
    assert.deepEqual(ns.spec, { finalizers: ['kubernetes'] });
    assert.equal(ns.status?.phase, 'Active');
  });

  it('kubectl create service clusterip web --tcp=80:8080 (in demo)', async () => {
    assert.equal((await kubectlOk(p, ['create', 'service', 'clusterip', 'web', '--tcp=80:8080', '-n', 'demo'])).trim(), 'service/web created');
    const s = await getJSON(['service', 'web', '-n', 'demo']);
    assert.equal(s.metadata.namespace, 'demo');
    assert.deepEqual(s.metadata.labels, { app: 'web' });
    assert.equal(s.spec?.type, 'ClusterIP');
    assert.deepEqual(s.spec?.selector, { app: 'web' });
    assert.deepEqual(s.spec?.ports, [{ name: '80-8080', protocol: 'TCP', port: 80, targetPort: 8080 }]);
    assert.match(String(s.spec?.clusterIP), /^198\.18\./);
    assert.equal(s.spec?.sessionAffinity, 'None');
  });

  it('kubectl create service nodeport np --tcp=80:8080 --node-port=30080', async () => {
    assert.equal((await kubectlOk(p, ['create', 'service', 'nodeport', 'np', '--tcp=80:8080', '--node-port=30080'])).trim(), 'service/np created');
    const s = await getJSON(['service', 'np']);
    assert.equal(s.spec?.type, 'NodePort');
    assert.deepEqual(s.spec?.ports, [{ name: '80-8080', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 }]);
    assert.equal(s.spec?.externalTrafficPolicy, 'Cluster');
  });

  it('kubectl create service loadbalancer lb --tcp=443:8443 gets a node port', async () => {
    assert.equal((await kubectlOk(p, ['create', 'service', 'loadbalancer', 'lb', '--tcp=443:8443'])).trim(), 'service/lb created');
    const s = await getJSON(['service', 'lb']);
    assert.equal(s.spec?.type, 'LoadBalancer');
    const port = s.spec?.ports?.[0];
    assert.equal(port?.port, 443);
    assert.equal(port?.targetPort, 8443);
    assert.ok(typeof port?.nodePort === 'number' && port.nodePort >= 30000 && port.nodePort <= 32767, `node port ${String(port?.nodePort)} allocated`);
  });

  it('kubectl create service externalname ext --external-name db.example.com', async () => {
    assert.equal((await kubectlOk(p, ['create', 'service', 'externalname', 'ext', '--external-name', 'db.example.com'])).trim(), 'service/ext created');
    const s = await getJSON(['service', 'ext']);
    assert.equal(s.spec?.type, 'ExternalName');
    assert.equal(s.spec?.externalName, 'db.example.com');
    assert.equal(s.spec?.clusterIP, undefined, 'no cluster IP for ExternalName');
  });

  it('validation errors from a protobuf body read as for JSON', async () => {
    const r = await kubectl(p, ['create', 'service', 'nodeport', 'bad', '--tcp=80:8080', '--node-port=80']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Service "bad" is invalid: spec\.ports\[0\]\.nodePort: Invalid value: 80: provided port is not in the valid range\. The range of valid ports is 30000-32767/);
  });

  it('kubectl run p1 --image=nginx --labels=app=web --port=8080', async () => {
    assert.equal((await kubectlOk(p, ['run', 'p1', '--image=nginx', '--labels=app=web', '--port=8080'])).trim(), 'pod/p1 created');
    const pod = await getJSON(['pod', 'p1']);
    assert.deepEqual(pod.metadata.labels, { app: 'web' });
    const c = pod.spec?.containers?.[0];
    assert.equal(c?.name, 'p1');
    assert.equal(c?.image, 'nginx');
    assert.deepEqual(c?.ports, [{ containerPort: 8080, protocol: 'TCP' }]);
  });

  it('kubectl expose pod p1 --port=80 --target-port=8080 --name=exposed', async () => {
    assert.equal((await kubectlOk(p, ['expose', 'pod', 'p1', '--port=80', '--target-port=8080', '--name=exposed'])).trim(), 'service/exposed exposed');
    const s = await getJSON(['service', 'exposed']);
    assert.deepEqual(s.spec?.selector, { app: 'web' });
    assert.deepEqual(s.spec?.ports, [{ protocol: 'TCP', port: 80, targetPort: 8080 }]);
  });

  it('kubectl create deployment web --image=nginx --replicas=2 --port=8080 (apps/v1 protobuf body), then its ReplicaSet and pods', async () => {
    await kubectlOk(p, ['create', 'namespace', 'apps']);
    assert.equal((await kubectlOk(p, ['create', 'deployment', 'web', '--image=nginx', '--replicas=2', '--port=8080', '-n', 'apps'])).trim(), 'deployment.apps/web created');
    const d = await getJSON(['deployment', 'web', '-n', 'apps']);
    assert.deepEqual(d.metadata.labels, { app: 'web' });
    assert.equal(d.spec?.replicas, 2);
    assert.deepEqual(d.spec?.selector, { matchLabels: { app: 'web' } });
    const template = d.spec?.template as { metadata: { labels: Record<string, string> }; spec: { containers: Array<{ name: string; image: string; ports?: unknown }> } };
    assert.deepEqual(template.metadata.labels, { app: 'web' });
    assert.deepEqual(
      template.spec.containers.map((c) => [c.name, c.image, c.ports]),
      [['nginx', 'nginx', [{ containerPort: 8080, protocol: 'TCP' }]]],
    );
    // kube's defaults, as for a JSON body.
    assert.deepEqual(d.spec?.strategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } });
    assert.equal(d.spec?.revisionHistoryLimit, 10);
    assert.equal(d.spec?.progressDeadlineSeconds, 600);
    // The controllers take it from there: one ReplicaSet and two pods carrying the template.
    const pods = await waitFor(async () => {
      const l = JSON.parse(await kubectlOk(p, ['get', 'pods', '-n', 'apps', '-l', 'app=web', '-o', 'json'])) as { items: Obj[] };
      return l.items.length === 2 ? l.items : undefined;
    }, 'two pods of deployment web');
    for (const pod of pods) assert.equal(pod.spec?.containers?.[0]?.image, 'nginx');
    const rs = JSON.parse(await kubectlOk(p, ['get', 'rs', '-n', 'apps', '-o', 'json'])) as { items: Obj[] };
    assert.equal(rs.items.length, 1);
    assert.match(rs.items[0]!.metadata.name, /^web-[a-z0-9]+$/);
  });

  it('kubectl create deployment with a command: kubectl create deployment sleeper --image=busybox -- sleep 3600', async () => {
    assert.equal((await kubectlOk(p, ['create', 'deployment', 'sleeper', '--image=busybox', '-n', 'apps', '--', 'sleep', '3600'])).trim(), 'deployment.apps/sleeper created');
    const d = await getJSON(['deployment', 'sleeper', '-n', 'apps']);
    const c = (d.spec?.template as { spec: { containers: Array<{ name: string; image: string; command?: string[]; ports?: unknown }> } }).spec.containers;
    assert.deepEqual(c.map((x) => [x.name, x.image, x.command, x.ports]), [['busybox', 'busybox', ['sleep', '3600'], undefined]]);
    assert.equal(d.spec?.replicas, 1, 'replicas defaulted');
  });

  it('kubectl expose deployment web --port 80 --target-port 8080 creates the Service with the deployment\'s selector', async () => {
    assert.equal((await kubectlOk(p, ['expose', 'deployment', 'web', '--port', '80', '--target-port', '8080', '-n', 'apps'])).trim(), 'service/web exposed');
    const s = await getJSON(['service', 'web', '-n', 'apps']);
    assert.deepEqual(s.spec?.selector, { app: 'web' });
    assert.deepEqual(s.spec?.ports, [{ protocol: 'TCP', port: 80, targetPort: 8080 }]);
    assert.match(String(s.spec?.clusterIP), /^198\.18\./);
  });

  it('validation errors from an apps/v1 protobuf body read as for JSON', async () => {
    const r = await kubectl(p, ['create', 'deployment', 'neg', '--image=nginx', '--replicas=-1', '-n', 'apps']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Deployment\.apps "neg" is invalid: spec\.replicas: Invalid value: -1: must be greater than or equal to 0/);
  });

  it('a protobuf Deployment with a field this server does not decode gets 415 naming it', async () => {
    // Deployment{spec{template{spec{containers[{name: c, readinessProbe{...}}]}}}}
    const raw = [...bytes(1, str(1, 'probed')), ...bytes(2, bytes(3, bytes(2, bytes(2, [...str(1, 'c'), ...bytes(11, int(1, 1))]))))];
    const body = Buffer.from([0x6b, 0x38, 0x73, 0x00, ...bytes(1, [...str(1, 'apps/v1'), ...str(2, 'Deployment')]), ...bytes(2, raw)]);
    const r = await request(p, 'POST', '/apis/apps/v1/namespaces/apps/deployments', { body, headers: PB });
    assert.equal(r.status, 415, r.body);
    const st = r.json<StatusBody>();
    assert.equal(st.reason, 'UnsupportedMediaType');
    assert.match(String(st.message), /k8s\.io\.api\.core\.v1\.Container\.readinessProbe \(11\) cannot be decoded from application\/vnd\.kubernetes\.protobuf by this server; send the object as application\/json/);
  });

  it('kubectl create configmap / secret generic / secret tls (protobuf bodies); get prints kube\'s columns', async () => {
    const file = join(p.root, 'app.properties');
    await writeFile(file, 'color=blue\nsize=2\n');
    assert.equal((await kubectlOk(p, ['create', 'configmap', 'app', '--from-literal=mode=fast', `--from-file=${file}`, '-n', 'apps'])).trim(), 'configmap/app created');
    const cm = JSON.parse(await kubectlOk(p, ['get', 'cm', 'app', '-n', 'apps', '-o', 'json'])) as { data: Record<string, string> };
    assert.deepEqual(cm.data, { mode: 'fast', 'app.properties': 'color=blue\nsize=2\n' });
    assert.equal((await kubectlOk(p, ['create', 'secret', 'generic', 'creds', '--from-literal=password=s3cret', '-n', 'apps'])).trim(), 'secret/creds created');
    const secret = JSON.parse(await kubectlOk(p, ['get', 'secret', 'creds', '-n', 'apps', '-o', 'json'])) as { type: string; data: Record<string, string> };
    assert.deepEqual([secret.type, secret.data], ['Opaque', { password: Buffer.from('s3cret').toString('base64') }]);
    // The data dir's CA and its key are a matching PEM pair, as kubectl checks.
    const pki = join(p.dataDir, 'pki');
    assert.equal((await kubectlOk(p, ['create', 'secret', 'tls', 'tls', `--cert=${join(pki, 'ca.crt')}`, `--key=${join(pki, 'ca.key')}`, '-n', 'apps'])).trim(), 'secret/tls created');
    const tls = JSON.parse(await kubectlOk(p, ['get', 'secret', 'tls', '-n', 'apps', '-o', 'json'])) as { type: string; data: Record<string, string> };
    assert.deepEqual([tls.type, Object.keys(tls.data).sort()], ['kubernetes.io/tls', ['tls.crt', 'tls.key']]);
    assert.equal(Buffer.from(tls.data['tls.crt']!, 'base64').toString(), p.caPem);
    const table = await kubectlOk(p, ['get', 'cm,secret', '-n', 'apps']);
    assert.match(table, /^NAME\s+DATA\s+AGE\nconfigmap\/app\s+2\s+\d+s$/m);
    assert.match(table, /^NAME\s+TYPE\s+DATA\s+AGE\nsecret\/creds\s+Opaque\s+1\s+\d+s\nsecret\/tls\s+kubernetes\.io\/tls\s+2\s+\d+s$/m);
    assert.match(await kubectlOk(p, ['describe', 'secret', 'creds', '-n', 'apps']), /^password:\s+6 bytes$/m);
  });

  it('Secret stringData is merged into data and never stored; immutable ConfigMaps refuse data changes; bad keys get 422', async () => {
    await kubectlOk(p, ['apply', '-n', 'apps', '-f', '-'], { input: 'apiVersion: v1\nkind: Secret\nmetadata: {name: plain}\nstringData: {token: abc}\ndata: {other: eHl6}\n' });
    const plain = JSON.parse(await kubectlOk(p, ['get', 'secret', 'plain', '-n', 'apps', '-o', 'json'])) as Record<string, unknown>;
    assert.deepEqual(plain.data, { other: 'eHl6', token: 'YWJj' });
    assert.equal(plain.stringData, undefined);
    await kubectlOk(p, ['apply', '-n', 'apps', '-f', '-'], { input: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: frozen}\nimmutable: true\ndata: {a: "1"}\n' });
    const change = await kubectl(p, ['patch', 'cm', 'frozen', '-n', 'apps', '--type=merge', '-p', '{"data":{"a":"2"}}']);
    assert.notEqual(change.code, 0);
    assert.match(change.stderr, /ConfigMap "frozen" is invalid: data: Forbidden: field is immutable when `immutable` is set/);
    assert.match(await kubectlOk(p, ['label', 'cm', 'frozen', '-n', 'apps', 'x=y']), /configmap\/frozen labeled/, 'metadata may still change');
    const bad = await kubectl(p, ['apply', '-n', 'apps', '-f', '-'], { input: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: badkey}\ndata: {"a/b": c}\n' });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /ConfigMap "badkey" is invalid: data\[a\/b\]: Invalid value: "a\/b": a valid config key must consist of alphanumeric characters, '-', '_' or '\.'/);
  });

  it('a protobuf body over raw HTTPS creates the object; responses are JSON', async () => {
    const raw = [...bytes(1, str(1, 'raw-ns')), ...bytes(2, []), ...bytes(3, [])];
    const r = await request(p, 'POST', '/api/v1/namespaces', { body: envelope('Namespace', raw), headers: PB });
    assert.equal(r.status, 201, r.body);
    assert.match(String(r.headers['content-type']), /^application\/json/);
    assert.equal(r.json<Obj>().metadata.name, 'raw-ns');
  });

  const bad: { why: string; body: Buffer; code: number; reason: string; message: RegExp }[] = [
    { why: 'no magic prefix', body: Buffer.from('not protobuf'), code: 400, reason: 'BadRequest', message: /expected prefix \[107 56 115 0\]/ },
    { why: 'truncated object', body: envelope('Service', [0x0a, 0x30, 0x0a, 0x01]), code: 400, reason: 'BadRequest', message: /Service in version "v1" cannot be handled as a Service: unexpected EOF/ },
    { why: 'unknown field number', body: envelope('Service', [...bytes(1, str(1, 'u')), ...bytes(2, int(99, 1))]), code: 400, reason: 'BadRequest', message: /unknown field 99 \(wire type 0\) in message k8s\.io\.api\.core\.v1\.ServiceSpec/ },
    { why: 'kind mismatch', body: envelope('Namespace', bytes(1, str(1, 'x'))), code: 400, reason: 'BadRequest', message: /the kind in the data \(Namespace\) does not match the expected kind \(Service\)/ },
  ];
  for (const row of bad) {
    it(`a malformed protobuf body is a ${row.code} Status: ${row.why}`, async () => {
      const r = await request(p, 'POST', '/api/v1/namespaces/default/services', { body: row.body, headers: PB });
      assert.equal(r.status, row.code, r.body);
      const st = r.json<StatusBody>();
      assert.equal(st.kind, 'Status');
      assert.equal(st.reason, row.reason);
      assert.equal(st.code, row.code);
      assert.match(String(st.message), row.message);
    });
  }

  it('kinds without a protobuf table still answer 415', async () => {
    const r = await request(p, 'POST', '/apis/coordination.k8s.io/v1/namespaces/default/leases', { body: envelope('Lease', bytes(1, str(1, 'l'))), headers: PB });
    assert.equal(r.status, 415, r.body);
    assert.equal(r.json<StatusBody>().reason, 'UnsupportedMediaType');
  });
});
