// The real kubectl driving Portico: apply (create and three-way strategic merge), get in every
// output form, describe, edit, patch, label, annotate, delete, explain, and field validation.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYAML } from 'yaml';
import { cleanup, kubectl, kubectlOk, lines, startPortico, writeManifest, type Portico } from './harness.js';

after(cleanup);

let p: Portico;
before(async () => {
  p = await startPortico(['--service-cidr', '198.18.0.0/16', '--pod-cidr', '198.19.0.0/16']);
});

interface Port {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: string;
}
interface Obj {
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; resourceVersion?: string };
  spec?: { ports?: Port[]; selector?: Record<string, string>; clusterIP?: string; sessionAffinity?: string; [k: string]: unknown };
  subsets?: unknown;
  status?: { phase?: string; podIP?: string };
}

async function getJSON(args: string[]): Promise<Obj> {
  return JSON.parse(await kubectlOk(p, ['get', ...args, '-o', 'json'])) as Obj;
}

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

const V1 = `apiVersion: v1
kind: Service
metadata:
  name: web
  labels:
    app: web
    tier: front
spec:
  selector:
    app: web
  ports:
  - name: http
    port: 80
    targetPort: 8080
---
apiVersion: v1
kind: Pod
metadata:
  name: web-0
  labels:
    app: web
spec:
  containers:
  - name: app
    image: nginx:1.27
    ports:
    - name: http
      containerPort: 8080
---
apiVersion: v1
kind: Endpoints
metadata:
  name: manual
subsets:
- addresses:
  - ip: 198.19.0.10
  ports:
  - port: 80
`;

// v2: a port added, the label "tier" removed, the pod relabelled, the Endpoints subsets replaced.
// (Endpoints subsets are atomic: kubectl compares the whole list with the live, defaulted one, so
// the file spells out the defaulted protocol or every apply would report "configured", as on kube.)
const V2 = `apiVersion: v1
kind: Service
metadata:
  name: web
  labels:
    app: web
spec:
  selector:
    app: web
  ports:
  - name: http
    port: 80
    targetPort: 8080
  - name: https
    port: 443
    targetPort: 8443
---
apiVersion: v1
kind: Pod
metadata:
  name: web-0
  labels:
    app: web
    version: v2
spec:
  containers:
  - name: app
    image: nginx:1.27
    ports:
    - name: http
      containerPort: 8080
---
apiVersion: v1
kind: Endpoints
metadata:
  name: manual
subsets:
- addresses:
  - ip: 198.19.0.11
  - ip: 198.19.0.12
  ports:
  - port: 81
    protocol: TCP
`;

describe('kubectl apply', () => {
  const ns = 'app';
  before(async () => {
    assert.equal((await kubectlOk(p, ['create', 'namespace', ns])).trim(), 'namespace/app created');
  });

  it('apply -f creates a Service, a Pod and an Endpoints', async () => {
    const f = await writeManifest(p, 'v1.yaml', V1);
    const out = await kubectlOk(p, ['apply', '-f', f, '-n', ns]);
    assert.deepEqual(lines(out), ['service/web created', 'pod/web-0 created', 'endpoints/manual created']);
    const svc = await getJSON(['svc', 'web', '-n', ns]);
    assert.equal(svc.kind, 'Service');
    assert.equal(svc.metadata.namespace, ns);
    assert.ok(svc.metadata.annotations?.[LAST_APPLIED], 'last-applied annotation recorded');
    assert.match(svc.spec?.clusterIP ?? '', /^198\.18\./);
    const pod = await getJSON(['pod', 'web-0', '-n', ns]);
    assert.equal(pod.kind, 'Pod');
    const ep = await getJSON(['endpoints', 'manual', '-n', ns]);
    assert.deepEqual(ep.subsets, [{ addresses: [{ ip: '198.19.0.10' }], ports: [{ port: 80, protocol: 'TCP' }] }]);
  });

  it('apply -f of a changed file: three-way strategic merge keeps changes made by others', async () => {
    const before = await getJSON(['svc', 'web', '-n', ns]);
    // Someone else changes the live object in between.
    assert.equal((await kubectlOk(p, ['annotate', 'svc', 'web', '-n', ns, 'owner=ops'])).trim(), 'service/web annotated');
    assert.equal((await kubectlOk(p, ['label', 'svc', 'web', '-n', ns, 'team=blue'])).trim(), 'service/web labeled');
    const f = await writeManifest(p, 'v2.yaml', V2);
    const out = await kubectlOk(p, ['apply', '-f', f, '-n', ns]);
    assert.deepEqual(lines(out), ['service/web configured', 'pod/web-0 configured', 'endpoints/manual configured']);

    const svc = await getJSON(['svc', 'web', '-n', ns]);
    assert.deepEqual(svc.metadata.labels, { app: 'web', team: 'blue' }, 'tier removed, the other writer’s label kept');
    assert.equal(svc.metadata.annotations?.owner, 'ops', 'the other writer’s annotation kept');
    assert.deepEqual(
      svc.spec?.ports?.map((q) => [q.name, q.port, q.targetPort, q.protocol]),
      [
        ['http', 80, 8080, 'TCP'],
        ['https', 443, 8443, 'TCP'],
      ],
    );
    assert.equal(svc.spec?.clusterIP, before.spec?.clusterIP, 'server-set clusterIP kept');
    assert.deepEqual(JSON.parse(svc.metadata.annotations?.[LAST_APPLIED] ?? '{}').metadata.labels, { app: 'web' });

    const pod = await getJSON(['pod', 'web-0', '-n', ns]);
    assert.deepEqual(pod.metadata.labels, { app: 'web', version: 'v2' });
    const ep = await getJSON(['endpoints', 'manual', '-n', ns]);
    assert.deepEqual(ep.subsets, [{ addresses: [{ ip: '198.19.0.11' }, { ip: '198.19.0.12' }], ports: [{ port: 81, protocol: 'TCP' }] }], 'subsets replaced as a whole');
  });

  it('apply -f of the same file again reports unchanged', async () => {
    const f = await writeManifest(p, 'v2.yaml', V2);
    const out = await kubectlOk(p, ['apply', '-f', f, '-n', ns]);
    assert.deepEqual(lines(out), ['service/web unchanged', 'pod/web-0 unchanged', 'endpoints/manual unchanged']);
  });

  it('get -o wide, yaml, json, jsonpath and name', async () => {
    const wide = lines(await kubectlOk(p, ['get', 'svc', 'web', '-n', ns, '-o', 'wide']));
    assert.match(wide[0] ?? '', /^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE\s+SELECTOR$/);
    assert.match(wide[1] ?? '', /^web\s+ClusterIP\s+198\.18\.\d+\.\d+\s+<none>\s+80\/TCP,443\/TCP\s+\S+\s+app=web$/);

    const y = parseYAML(await kubectlOk(p, ['get', 'svc', 'web', '-n', ns, '-o', 'yaml'])) as Obj;
    assert.equal(y.kind, 'Service');
    assert.equal(y.metadata.name, 'web');
    assert.equal(y.spec?.ports?.length, 2);

    const j = await getJSON(['svc', 'web', '-n', ns]);
    assert.equal((j as unknown as { apiVersion: string }).apiVersion, 'v1');
    assert.equal(j.metadata.resourceVersion, y.metadata.resourceVersion);

    assert.equal(await kubectlOk(p, ['get', 'svc', 'web', '-n', ns, '-o', 'jsonpath={.spec.ports[*].port}']), '80 443');
    assert.equal(await kubectlOk(p, ['get', 'pod', 'web-0', '-n', ns, '-o', 'jsonpath={.spec.containers[0].image}']), 'nginx:1.27');
    // (Endpoints by name: a controller may also derive Endpoints from the Service's selector.)
    assert.deepEqual(lines(await kubectlOk(p, ['get', 'svc,pods', '-n', ns, '-o', 'name'])), ['service/web', 'pod/web-0']);
    assert.deepEqual(lines(await kubectlOk(p, ['get', 'endpoints', 'manual', '-n', ns, '-o', 'name'])), ['endpoints/manual']);
  });

  it('get -l with =, !=, in, notin, exists and not exists', async () => {
    const names = async (sel: string) => lines(await kubectlOk(p, ['get', 'svc,pods', '-n', ns, '-l', sel, '-o', 'name']));
    assert.deepEqual(await names('app=web'), ['service/web', 'pod/web-0']);
    assert.deepEqual(await names('app=web,version=v2'), ['pod/web-0']);
    assert.deepEqual(await names('app=web,version!=v2'), ['service/web']);
    assert.deepEqual(await names('team in (blue,green)'), ['service/web']);
    assert.deepEqual(await names('app=web,team notin (blue)'), ['pod/web-0']);
    assert.deepEqual(await names('team'), ['service/web']);
    assert.deepEqual(await names('app,!team'), ['pod/web-0']);
    assert.deepEqual(await names('app=nothing'), []);
  });

  it('get --field-selector on metadata.name, metadata.namespace and pod status.phase / spec.nodeName', async () => {
    const names = async (kind: string, sel: string, extra: string[] = ['-n', ns]) => lines(await kubectlOk(p, ['get', kind, ...extra, '--field-selector', sel, '-o', 'name']));
    assert.deepEqual(await names('svc', 'metadata.name=web'), ['service/web']);
    assert.deepEqual(await names('svc', 'metadata.name!=web'), []);
    assert.deepEqual(await names('svc', `metadata.namespace=${ns}`, ['-A']), ['service/web']);
    assert.deepEqual(await names('pods', 'status.phase=Pending'), ['pod/web-0']);
    assert.deepEqual(await names('pods', 'status.phase=Running'), []);
    assert.deepEqual(await names('pods', 'spec.nodeName='), ['pod/web-0']);
    const bad = await kubectl(p, ['get', 'svc', '-n', ns, '--field-selector', 'spec.bogus=1']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /field label not supported: spec\.bogus/);
  });

  it('get -A lists across namespaces with a NAMESPACE column', async () => {
    const ls = lines(await kubectlOk(p, ['get', 'svc', '-A']));
    assert.match(ls[0] ?? '', /^NAMESPACE\s+NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE$/);
    const pairs = ls.slice(1).map((l) => l.split(/\s+/).slice(0, 2).join('/'));
    assert.ok(pairs.includes('app/web'), ls.join('\n'));
    assert.ok(pairs.includes('default/kubernetes'), ls.join('\n'));
  });

  it('describe service and pod', async () => {
    const d = await kubectlOk(p, ['describe', 'svc', 'web', '-n', ns]);
    assert.match(d, /^Name:\s+web$/m);
    assert.match(d, /^Namespace:\s+app$/m);
    assert.match(d, /^Labels:\s+app=web$/m);
    assert.match(d, /^\s+team=blue$/m);
    assert.match(d, /^Selector:\s+app=web$/m);
    assert.match(d, /^Type:\s+ClusterIP$/m);
    assert.match(d, /^IP:\s+198\.18\.\d+\.\d+$/m);
    assert.match(d, /^Port:\s+http\s+80\/TCP$/m);
    assert.match(d, /^TargetPort:\s+8080\/TCP$/m);
    assert.match(d, /^Port:\s+https\s+443\/TCP$/m);
    const dp = await kubectlOk(p, ['describe', 'pod', 'web-0', '-n', ns]);
    assert.match(dp, /^Name:\s+web-0$/m);
    assert.match(dp, /^Status:\s+Pending$/m);
    assert.match(dp, /^Containers:$/m);
    assert.match(dp, /^\s+Image:\s+nginx:1\.27$/m);
  });

  it('edit with KUBE_EDITOR set to a script', async () => {
    const script = join(p.root, 'editor.sh');
    await writeFile(script, '#!/bin/sh\nsed -i -e "s/targetPort: 8443$/targetPort: 9443/" "$1"\n');
    await chmod(script, 0o755);
    const out = await kubectlOk(p, ['edit', 'svc', 'web', '-n', ns], { env: { KUBE_EDITOR: script, EDITOR: script, TMPDIR: p.root } });
    assert.equal(out.trim(), 'service/web edited');
    const svc = await getJSON(['svc', 'web', '-n', ns]);
    assert.deepEqual(svc.spec?.ports?.map((q) => q.targetPort), [8080, 9443]);
  });

  it('edit that makes the object invalid fails with the field named', async () => {
    const script = join(p.root, 'bad-editor.sh');
    await writeFile(script, '#!/bin/sh\nsed -i -e "s/port: 443$/port: 99999/" "$1"\n');
    await chmod(script, 0o755);
    // kubectl keeps a copy of a rejected edit, with the server's errors in its header, under TMPDIR.
    const r = await kubectl(p, ['edit', 'svc', 'web', '-n', ns], { env: { KUBE_EDITOR: script, EDITOR: script, TMPDIR: p.root } });
    assert.notEqual(r.code, 0, r.stdout);
    const copy = /stored to "([^"]+)"/.exec(r.stderr)?.[1];
    assert.ok(copy, `kubectl kept a copy of the rejected edit: ${r.stderr}`);
    const kept = await readFile(copy, 'utf8');
    assert.match(kept, /spec\.ports\[1\]\.port: Invalid value: 99999: must be between 1 and 65535, inclusive/, kept.slice(0, 1500));
    const svc = await getJSON(['svc', 'web', '-n', ns]);
    assert.deepEqual(svc.spec?.ports?.map((q) => q.port), [80, 443]);
  });

  it('patch --type json, merge and strategic', async () => {
    assert.equal(
      (await kubectlOk(p, ['patch', 'svc', 'web', '-n', ns, '--type', 'json', '-p', '[{"op":"add","path":"/metadata/labels/patched","value":"json"}]'])).trim(),
      'service/web patched',
    );
    assert.equal((await getJSON(['svc', 'web', '-n', ns])).metadata.labels?.patched, 'json');

    await kubectlOk(p, ['patch', 'svc', 'web', '-n', ns, '--type', 'merge', '-p', '{"metadata":{"annotations":{"merged":"yes"}}}']);
    assert.equal((await getJSON(['svc', 'web', '-n', ns])).metadata.annotations?.merged, 'yes');

    // Strategic (kubectl's default): ports merge by port, existing ones stay.
    await kubectlOk(p, ['patch', 'svc', 'web', '-n', ns, '-p', '{"spec":{"ports":[{"name":"metrics","port":9100}]}}']);
    assert.deepEqual((await getJSON(['svc', 'web', '-n', ns])).spec?.ports?.map((q) => q.port).sort((a, b) => a - b), [80, 443, 9100]);
    // Strategic $patch: delete removes by merge key.
    await kubectlOk(p, ['patch', 'svc', 'web', '-n', ns, '--type', 'strategic', '-p', '{"spec":{"ports":[{"port":9100,"$patch":"delete"}]}}']);
    assert.deepEqual((await getJSON(['svc', 'web', '-n', ns])).spec?.ports?.map((q) => q.port), [80, 443]);

    // A JSON merge patch replaces the list as a whole.
    await kubectlOk(p, ['create', 'service', 'clusterip', 'scratch', '-n', ns, '--tcp=80:8080', '--tcp=443:8443']);
    await kubectlOk(p, ['patch', 'svc', 'scratch', '-n', ns, '--type', 'merge', '-p', '{"spec":{"ports":[{"name":"only","port":7000}]}}']);
    assert.deepEqual((await getJSON(['svc', 'scratch', '-n', ns])).spec?.ports?.map((q) => q.port), [7000]);

    // A failing JSON patch test op leaves the object alone.
    const r = await kubectl(p, ['patch', 'svc', 'web', '-n', ns, '--type', 'json', '-p', '[{"op":"test","path":"/metadata/name","value":"other"}]']);
    assert.notEqual(r.code, 0);
  });

  it('patch --subresource=status changes status; status through the main resource is ignored', async () => {
    const out = await kubectlOk(p, ['patch', 'pod', 'web-0', '-n', ns, '--subresource=status', '--type', 'merge', '-p', '{"status":{"phase":"Running","podIP":"198.19.0.7","podIPs":[{"ip":"198.19.0.7"}]}}']);
    assert.equal(out.trim(), 'pod/web-0 patched');
    const pod = await getJSON(['pod', 'web-0', '-n', ns]);
    assert.equal(pod.status?.phase, 'Running');
    assert.equal(pod.status?.podIP, '198.19.0.7');
    assert.equal(await kubectlOk(p, ['get', 'pod', 'web-0', '-n', ns, '--subresource=status', '-o', 'jsonpath={.status.phase}']), 'Running');

    await kubectl(p, ['patch', 'pod', 'web-0', '-n', ns, '--type', 'merge', '-p', '{"status":{"phase":"Failed"}}']);
    assert.equal((await getJSON(['pod', 'web-0', '-n', ns])).status?.phase, 'Running');

    // And spec through the status subresource is ignored.
    await kubectl(p, ['patch', 'svc', 'web', '-n', ns, '--subresource=status', '--type', 'merge', '-p', '{"spec":{"selector":{"app":"changed"}}}']);
    assert.deepEqual((await getJSON(['svc', 'web', '-n', ns])).spec?.selector, { app: 'web' });
  });

  it('label and annotate: add, refuse overwrite, overwrite, remove', async () => {
    assert.equal((await kubectlOk(p, ['label', 'svc', 'web', '-n', ns, 'env=prod'])).trim(), 'service/web labeled');
    const r = await kubectl(p, ['label', 'svc', 'web', '-n', ns, 'env=dev']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /'env' already has a value \(prod\), and --overwrite is false/);
    await kubectlOk(p, ['label', 'svc', 'web', '-n', ns, 'env=dev', '--overwrite']);
    assert.equal((await getJSON(['svc', 'web', '-n', ns])).metadata.labels?.env, 'dev');
    assert.equal((await kubectlOk(p, ['label', 'svc', 'web', '-n', ns, 'env-'])).trim(), 'service/web unlabeled');
    assert.equal((await getJSON(['svc', 'web', '-n', ns])).metadata.labels?.env, undefined);

    assert.equal((await kubectlOk(p, ['annotate', 'svc', 'web', '-n', ns, 'note=hello'])).trim(), 'service/web annotated');
    assert.equal((await getJSON(['svc', 'web', '-n', ns])).metadata.annotations?.note, 'hello');
    await kubectlOk(p, ['annotate', 'svc', 'web', '-n', ns, 'note-']);
    assert.equal((await getJSON(['svc', 'web', '-n', ns])).metadata.annotations?.note, undefined);
  });

  it('explain service.spec.ports prints field docs', async () => {
    const out = await kubectlOk(p, ['explain', 'service.spec.ports']);
    assert.match(out, /^KIND:\s+Service$/m);
    assert.match(out, /^VERSION:\s+v1$/m);
    assert.match(out, /^FIELD:\s+ports\s+<\[\]ServicePort>$/m);
    assert.match(out, /^DESCRIPTION:$/m);
    assert.match(out, /^FIELDS:$/m);
    assert.match(out, /^\s+port\s+<integer> -required-$/m);
    // (kube's IntOrString schema is {type: string, format: int-or-string}; kubectl 1.32 prints its type.)
    assert.match(out, /^\s+targetPort\s+<(IntOrString|string)>$/m);
    assert.match(out, /^\s+nodePort\s+<integer>$/m);
    assert.match(out, /^\s+protocol\s+<string>$/m);
  });

  it('delete by name, -f, -l and --all', async () => {
    assert.equal((await kubectlOk(p, ['delete', 'svc', 'scratch', '-n', ns])).trim(), 'service "scratch" deleted');
    const gone = await kubectl(p, ['get', 'svc', 'scratch', '-n', ns]);
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /Error from server \(NotFound\): services "scratch" not found/);

    const f = await writeManifest(p, 'v2.yaml', V2);
    assert.deepEqual(lines(await kubectlOk(p, ['delete', '-f', f, '-n', ns])), ['service "web" deleted', 'pod "web-0" deleted', 'endpoints "manual" deleted']);
    assert.deepEqual(lines(await kubectlOk(p, ['get', 'svc,pods', '-n', ns, '-o', 'name'])), []);
    assert.match((await kubectl(p, ['get', 'endpoints', 'manual', '-n', ns])).stderr, /NotFound/);

    const group = (name: string, g: string) => `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\n  labels:\n    group: ${g}\nspec:\n  ports:\n  - port: 80\n`;
    const gf = await writeManifest(p, 'groups.yaml', [group('g1-a', 'one'), group('g1-b', 'one'), group('g2-a', 'two'), group('g3-a', 'three')].join('---\n'));
    await kubectlOk(p, ['apply', '-f', gf, '-n', ns]);
    assert.deepEqual(lines(await kubectlOk(p, ['delete', 'svc', '-l', 'group=one', '-n', ns])).sort(), ['service "g1-a" deleted', 'service "g1-b" deleted']);
    assert.deepEqual(lines(await kubectlOk(p, ['get', 'svc', '-n', ns, '-o', 'name'])), ['service/g2-a', 'service/g3-a']);
    assert.deepEqual(lines(await kubectlOk(p, ['delete', 'svc', '--all', '-n', ns])).sort(), ['service "g2-a" deleted', 'service "g3-a" deleted']);
    const none = await kubectl(p, ['get', 'svc', '-n', ns]);
    assert.equal(none.code, 0);
    assert.equal(none.stdout, '');
    assert.match(none.stderr, /No resources found in app namespace\./);
  });
});

describe('field validation through kubectl apply', () => {
  const ns = 'valid';
  const BAD = `apiVersion: v1
kind: Service
metadata:
  name: strict
spec:
  bogusField: 1
  ports:
  - port: 80
`;
  before(async () => {
    await kubectlOk(p, ['create', 'namespace', ns]);
  });

  it('an unknown field makes apply fail, naming the field; nothing is created', async () => {
    const f = await writeManifest(p, 'bad.yaml', BAD);
    const r = await kubectl(p, ['apply', '-f', f, '-n', ns]);
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, /unknown field "spec\.bogusField"/);
    const g = await kubectl(p, ['get', 'svc', 'strict', '-n', ns]);
    assert.match(g.stderr, /NotFound/);
  });

  it('with --validate=false it is accepted and the field dropped', async () => {
    const f = await writeManifest(p, 'bad.yaml', BAD);
    assert.equal((await kubectlOk(p, ['apply', '--validate=false', '-f', f, '-n', ns])).trim(), 'service/strict created');
    const svc = await getJSON(['svc', 'strict', '-n', ns]);
    assert.equal(svc.spec?.bogusField, undefined);
    assert.deepEqual(svc.spec?.ports?.map((q) => q.port), [80]);
  });

  it('with --validate=warn it is accepted with a warning naming the field', async () => {
    const f = await writeManifest(p, 'warn.yaml', BAD.replace('name: strict', 'name: warned'));
    const r = await kubectl(p, ['apply', '--validate=warn', '-f', f, '-n', ns]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Warning: unknown field "spec\.bogusField"/);
    assert.equal((await getJSON(['svc', 'warned', '-n', ns])).spec?.bogusField, undefined);
  });

  it('an unknown field in an update (apply of an existing object) fails too', async () => {
    const f = await writeManifest(p, 'ok.yaml', BAD.replace('  bogusField: 1\n', '').replace('name: strict', 'name: later'));
    await kubectlOk(p, ['apply', '-f', f, '-n', ns]);
    const f2 = await writeManifest(p, 'later-bad.yaml', BAD.replace('name: strict', 'name: later').replace('bogusField', 'otherBogus'));
    const r = await kubectl(p, ['apply', '-f', f2, '-n', ns]);
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, /unknown field "spec\.otherBogus"/);
  });
});
