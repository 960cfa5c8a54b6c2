// apps/v1 through the real kubectl (issue 9, item 3), against `portico up` without a pod runner, so
// pods stay Pending and a rollout is seen at the level of ReplicaSets: apply makes a ReplicaSet
// `<name>-<pod-template-hash>` and its pods; `get deploy,rs -o wide` prints kube-apiserver's
// columns; `explain`, short names and the `all` category work; `kubectl scale` goes through the
// scale subresource; a changed template makes revision 2 and `rollout history` lists both;
// `rollout undo` patches the old template back (its ReplicaSet becomes revision 3); `rollout
// restart` stamps the template; `rollout status` returns for a finished rollout; invalid objects
// get 422 naming the field; the selector is immutable; deleting a Deployment removes its
// ReplicaSets and pods; `--cascade=orphan` keeps them without the reference, `--cascade=foreground`
// deletes them before the Deployment; a bad propagationPolicy gets 422; `rollout pause` holds a
// template change (scaling still applies) until `rollout resume`. Rollouts with running pods
// are in test/scenarios/deployments.test.ts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, createNamespace, kubectl, kubectlOk, renderTable, request, startPortico, waitFor, type Portico } from './harness.js';

after(cleanup);

const NS = 'apps-e2e';
let p: Portico;

interface RS {
  metadata: { name: string; annotations?: Record<string, string>; labels?: Record<string, string>; ownerReferences?: Array<{ kind: string; name: string; controller?: boolean }> };
  spec: { replicas: number; selector: { matchLabels: Record<string, string> }; template: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: { containers: Array<{ name: string; image: string }> } } };
  status?: { replicas?: number; readyReplicas?: number };
}
interface Deploy extends RS {
  metadata: RS['metadata'] & { generation?: number };
  status?: { observedGeneration?: number; replicas?: number; updatedReplicas?: number; readyReplicas?: number; availableReplicas?: number };
}

const k = (args: string[], input?: string) => kubectlOk(p, ['-n', NS, ...args], input === undefined ? {} : { input });
const json = async <T>(args: string[]) => JSON.parse(await k([...args, '-o', 'json'])) as T;
const rsList = async () => (await json<{ items: RS[] }>(['get', 'rs'])).items;
const podCount = async (labels = 'app=web') => (await json<{ items: unknown[] }>(['get', 'pods', '-l', labels])).items.length;

/** The Deployment `web` (maxUnavailable 100%: no pod here ever runs, and rollouts must still finish). */
const manifest = (image: string, cause: string, replicas = 3) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations: {kubernetes.io/change-cause: ${cause}}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: web}}
  # Pods never become ready here: all may be unavailable, so a rollout still completes.
  strategy: {rollingUpdate: {maxUnavailable: 100%}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: ${image}
        ports: [{containerPort: 8080}]
`;

/** Waits until the ReplicaSets' desired counts are as given, by revision annotation. */
const revisions = (want: Record<string, number>) =>
  waitFor(async () => {
    const got = Object.fromEntries((await rsList()).map((r) => [r.metadata.annotations?.['deployment.kubernetes.io/revision'] ?? '?', r.spec.replicas]));
    return JSON.stringify(got, Object.keys(got).sort()) === JSON.stringify(want, Object.keys(want).sort()) ? got : undefined;
  }, `ReplicaSets by revision ${JSON.stringify(want)}`);

before(async () => {
  p = await startPortico();
  await createNamespace(p, NS);
});

describe('Deployments and ReplicaSets with kubectl', () => {
  it('apply makes a ReplicaSet <name>-<hash> and its pods; get deploy,rs -o wide prints as kube-apiserver', async () => {
    assert.match(await k(['apply', '-f', '-'], manifest('nginx:1.25', 'v1')), /^deployment\.apps\/web created$/m);
    await waitFor(async () => (await podCount()) === 3, 'three pods');
    const [rs, ...more] = await rsList();
    assert.equal(more.length, 0);
    const hash = rs!.metadata.labels!['pod-template-hash']!;
    assert.match(hash, /^[bcdfghjklmnpqrstvwxz2456789]{6,10}$/);
    assert.equal(rs!.metadata.name, `web-${hash}`);
    assert.deepEqual(rs!.spec.selector.matchLabels, { app: 'web', 'pod-template-hash': hash });
    assert.deepEqual(rs!.metadata.ownerReferences?.map((o) => [o.kind, o.name, o.controller]), [['Deployment', 'web', true]]);
    const pods = await json<{ items: Array<{ metadata: { name: string; ownerReferences: Array<{ kind: string; name: string; controller: boolean }> }; status: { phase: string } }> }>(['get', 'pods']);
    for (const pod of pods.items) {
      assert.match(pod.metadata.name, new RegExp(`^web-${hash}-[bcdfghjklmnpqrstvwxz2456789]{5}$`));
      assert.deepEqual(pod.metadata.ownerReferences.map((o) => [o.kind, o.name, o.controller]), [['ReplicaSet', `web-${hash}`, true]]);
    }
    await waitFor(async () => (await json<Deploy>(['get', 'deploy', 'web'])).status?.updatedReplicas === 3, 'status.updatedReplicas 3');

    const out = await k(['get', 'deploy,rs', '-o', 'wide']);
    const age = /\s(\d+[smhd])\s/.exec(out)?.[1] ?? '';
    assert.match(age, /^\d+s$/);
    const want =
      renderTable([
        ['NAME', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE', 'CONTAINERS', 'IMAGES', 'SELECTOR'],
        ['deployment.apps/web', '0/3', '3', '0', 'AGE', 'web', 'nginx:1.25', 'app=web'],
      ]) +
      '\n\n' +
      renderTable([
        ['NAME', 'DESIRED', 'CURRENT', 'READY', 'AGE', 'CONTAINERS', 'IMAGES', 'SELECTOR'],
        [`replicaset.apps/web-${hash}`, '3', '3', '0', 'AGE', 'web', 'nginx:1.25', `app=web,pod-template-hash=${hash}`],
      ]);
    assert.equal(out.trimEnd().replace(/\s(\d+s)(\s+)/g, (_m, a: string, sp: string) => ` AGE${' '.repeat(a.length - 3 + sp.length)}`), want);
  });

  it('explain, short names and the all category', async () => {
    const ex = await k(['explain', 'deployment.spec.strategy']);
    assert.match(ex, /^KIND:\s+Deployment$/m);
    assert.match(ex, /^VERSION:\s+v1$/m);
    assert.match(ex, /rollingUpdate\s+<RollingUpdateDeployment>/);
    assert.match(await k(['explain', 'rs.spec.replicas']), /Replicas is the number of desired pods/);
    const res = await kubectlOk(p, ['api-resources', '--api-group=apps', '--no-headers']);
    assert.match(res, /^deployments\s+deploy\s+apps\/v1\s+true\s+Deployment$/m);
    assert.match(res, /^replicasets\s+rs\s+apps\/v1\s+true\s+ReplicaSet$/m);
    const all = await k(['get', 'all', '-o', 'name']);
    assert.match(all, /^deployment\.apps\/web$/m);
    assert.match(all, /^replicaset\.apps\/web-\w+$/m);
  });

  it('kubectl scale deploy/x and rs/x go through the scale subresource', async () => {
    assert.match(await k(['scale', 'deploy/web', '--replicas=2']), /^deployment\.apps\/web scaled$/m);
    await waitFor(async () => (await podCount()) === 2, 'two pods');
    const scale = await request(p, 'GET', `/apis/apps/v1/namespaces/${NS}/deployments/web/scale`);
    const s = scale.json<{ apiVersion: string; kind: string; spec: { replicas: number }; status: { selector: string } }>();
    assert.deepEqual([s.apiVersion, s.kind, s.spec.replicas, s.status.selector], ['autoscaling/v1', 'Scale', 2, 'app=web']);
    const bad = await request(p, 'PATCH', `/apis/apps/v1/namespaces/${NS}/deployments/web/scale`, { body: { spec: { replicas: -1 } }, headers: { 'Content-Type': 'application/merge-patch+json' } });
    assert.equal(bad.status, 422);
    assert.equal(bad.json().message, 'Scale.autoscaling "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0');
    // A ReplicaSet of its own.
    await k(['apply', '-f', '-'], `apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: solo}
spec:
  replicas: 1
  selector: {matchLabels: {app: solo}}
  template:
    metadata: {labels: {app: solo}}
    spec: {containers: [{name: c, image: busybox}]}
`);
    assert.match(await k(['scale', 'rs/solo', '--replicas=3']), /^replicaset\.apps\/solo scaled$/m);
    await waitFor(async () => (await podCount('app=solo')) === 3, 'three solo pods');
    await k(['delete', 'rs/solo']);
    await waitFor(async () => (await podCount('app=solo')) === 0, 'solo pods gone with their ReplicaSet');
  });

  it('a changed template makes revision 2; rollout history lists both; undo brings the first template back', async () => {
    assert.match(await k(['apply', '-f', '-'], manifest('nginx:1.26', 'v2', 2)), /^deployment\.apps\/web configured$/m);
    const d = await json<Deploy>(['get', 'deploy', 'web']);
    assert.equal(d.metadata.generation, 3, 'scale, then the template: generation 1 → 2 → 3');
    await revisions({ '1': 0, '2': 2 });
    const hist = await k(['rollout', 'history', 'deploy/web']);
    assert.match(hist, /^REVISION\s+CHANGE-CAUSE\n1\s+v1\n2\s+v2\n/m);
    const first = (await rsList()).find((r) => r.metadata.annotations?.['deployment.kubernetes.io/revision'] === '1')!;

    assert.match(await k(['rollout', 'undo', 'deploy/web']), /^deployment\.apps\/web rolled back$/m);
    const back = await json<Deploy>(['get', 'deploy', 'web']);
    assert.equal(back.spec.template.spec.containers[0]!.image, 'nginx:1.25');
    await revisions({ '2': 0, '3': 2 });
    const rs3 = (await rsList()).find((r) => r.metadata.annotations?.['deployment.kubernetes.io/revision'] === '3')!;
    assert.equal(rs3.metadata.name, first.metadata.name, 'the first ReplicaSet is reused');
    assert.match(await k(['rollout', 'history', 'deploy/web']), /^2\s+v2\n3\s+v1\n/m);
    assert.match(await k(['rollout', 'undo', 'deploy/web', '--to-revision=3']), /skipped rollback \(current template already matches revision 3\)/);
  });

  it('rollout restart stamps the template and makes a new ReplicaSet', async () => {
    assert.match(await k(['rollout', 'restart', 'deploy/web']), /^deployment\.apps\/web restarted$/m);
    const d = await json<Deploy>(['get', 'deploy', 'web']);
    assert.match(d.spec.template.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt'] ?? '', /^\d{4}-\d\d-\d\dT/);
    await waitFor(async () => (await rsList()).some((r) => r.metadata.annotations?.['deployment.kubernetes.io/revision'] === '4'), 'revision 4');
  });

  it('rollout status returns once a rollout is complete', async () => {
    await k(['apply', '-f', '-'], manifest('nginx:1.25', 'zero', 0).replace('name: web', 'name: zero').replace(/app: web/g, 'app: zero'));
    const r = await kubectl(p, ['-n', NS, 'rollout', 'status', 'deploy/zero', '--timeout=30s']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /deployment "zero" successfully rolled out/);
    const pending = await kubectl(p, ['-n', NS, 'rollout', 'status', 'deploy/web', '--timeout=2s']);
    assert.notEqual(pending.code, 0, 'pods that never run: the rollout of web does not finish');
    assert.match(pending.stdout, /Waiting for deployment "web" rollout to finish/);
  });

  it('rollout pause holds template changes (scale still works) until rollout resume', async () => {
    const held = (image: string, replicas: number) => manifest(image, 'held', replicas).replace('name: web', 'name: held').replace(/app: web/g, 'app: held');
    const heldRS = async () => (await rsList()).filter((r) => r.metadata.name.startsWith('held-'));
    await k(['apply', '-f', '-'], held('nginx:1.25', 2));
    await waitFor(async () => (await podCount('app=held')) === 2, 'two held pods');
    assert.match(await k(['rollout', 'pause', 'deploy/held']), /^deployment\.apps\/held paused$/m);
    assert.match(await k(['set', 'image', 'deploy/held', 'web=nginx:1.27']), /^deployment\.apps\/held image updated$/m);
    assert.match(await k(['scale', 'deploy/held', '--replicas=3']), /^deployment\.apps\/held scaled$/m);
    // The controller has seen both changes once it reports the latest generation with 3 replicas.
    const d = await waitFor(async () => {
      const x = await json<Deploy & { status?: { conditions?: Array<{ type: string; reason: string }> } }>(['get', 'deploy', 'held']);
      return x.status?.observedGeneration === x.metadata.generation && x.status?.replicas === 3 ? x : undefined;
    }, 'held: generation observed, 3 replicas');
    assert.equal(d.status?.conditions?.find((c) => c.type === 'Progressing')?.reason, 'DeploymentPaused');
    const paused = await heldRS();
    assert.deepEqual(paused.map((r) => [r.metadata.annotations?.['deployment.kubernetes.io/revision'], r.spec.replicas, r.spec.template.spec.containers[0]!.image]), [['1', 3, 'nginx:1.25']]);

    assert.match(await k(['rollout', 'resume', 'deploy/held']), /^deployment\.apps\/held resumed$/m);
    await waitFor(async () => {
      const rss = await heldRS();
      const byRev = Object.fromEntries(rss.map((r) => [r.metadata.annotations?.['deployment.kubernetes.io/revision'], [r.spec.replicas, r.spec.template.spec.containers[0]!.image]]));
      return JSON.stringify(byRev) === JSON.stringify({ '1': [0, 'nginx:1.25'], '2': [3, 'nginx:1.27'] }) || undefined;
    }, 'held rolled out to nginx:1.27 after resume');
    await k(['delete', 'deploy', 'held']);
  });

  it('invalid Deployments get 422 naming the field; the selector is immutable; unknown fields are refused', async () => {
    const noSelector = await kubectl(p, ['-n', NS, 'apply', '-f', '-'], { input: manifest('x', 'bad').replace('name: web', 'name: bad').replace('  selector: {matchLabels: {app: web}}\n', '') });
    assert.notEqual(noSelector.code, 0);
    assert.match(noSelector.stderr, /The Deployment "bad" is invalid: \n\* spec\.selector: Required value\n\* spec\.template\.metadata\.labels: Invalid value: map\[string\]string\{"app":"web"\}: `selector` does not match template `labels`/);
    const r = await request(p, 'POST', `/apis/apps/v1/namespaces/${NS}/deployments`, {
      body: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'bad' }, spec: { replicas: -1, selector: { matchLabels: { app: 'x' } }, strategy: { rollingUpdate: { maxSurge: 0, maxUnavailable: 0 } }, template: { metadata: { labels: { app: 'x' } }, spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'i' }] } } } },
    });
    assert.equal(r.status, 422);
    const st = r.json<{ message: string; details: { kind: string; group: string; causes: Array<{ field: string }> } }>();
    assert.deepEqual([st.details.kind, st.details.group], ['Deployment', 'apps']);
    assert.deepEqual(st.details.causes.map((c) => c.field), ['spec.replicas', 'spec.template.spec.restartPolicy', 'spec.strategy.rollingUpdate.maxUnavailable']);
    assert.match(st.message, /^Deployment\.apps "bad" is invalid: \[spec\.replicas: Invalid value: -1: must be greater than or equal to 0, spec\.template\.spec\.restartPolicy: Unsupported value: "Never": supported values: "Always", /);
    const imm = await kubectl(p, ['-n', NS, 'patch', 'deploy', 'web', '--type=merge', '-p', '{"spec":{"selector":{"matchLabels":{"app":"web","v":"2"}},"template":{"metadata":{"labels":{"v":"2"}}}}}']);
    assert.notEqual(imm.code, 0);
    assert.match(imm.stderr, /spec\.selector: Invalid value: v1\.LabelSelector\{MatchLabels:map\[string\]string\{"app":"web", "v":"2"\}, MatchExpressions:\[\]v1\.LabelSelectorRequirement\(nil\)\}: field is immutable/);
    const typo = await kubectl(p, ['-n', NS, 'apply', '-f', '-'], { input: manifest('x', 'typo').replace('  replicas:', '  replicaz:') });
    assert.match(typo.stderr, /strict decoding error: unknown field "spec\.replicaz"/);
  });

  it('deleting a Deployment deletes its ReplicaSets and their pods', async () => {
    await k(['delete', 'deploy', 'web']);
    await waitFor(async () => (await rsList()).filter((r) => r.metadata.name.startsWith('web-')).length === 0 && (await podCount()) === 0, 'ReplicaSets and pods of web gone');
  });

  it('delete --cascade=orphan leaves the ReplicaSet and its pods, without the reference to the Deployment', async () => {
    await k(['apply', '-f', '-'], manifest('nginx:1', 'keep', 2).replaceAll('web', 'keep'));
    await waitFor(async () => (await podCount('app=keep')) === 2, 'two pods of keep');
    const [rs] = (await rsList()).filter((r) => r.metadata.name.startsWith('keep-'));
    assert.ok(rs);
    // kubectl waits until the Deployment is gone, i.e. until the collector dropped `orphan`.
    await k(['delete', 'deploy', 'keep', '--cascade=orphan']);
    const left = await json<RS>(['get', 'rs', rs.metadata.name]);
    assert.equal(left.metadata.ownerReferences, undefined);
    assert.equal(await podCount('app=keep'), 2);
    const pods = (await json<{ items: RS[] }>(['get', 'pods', '-l', 'app=keep'])).items;
    assert.deepEqual(pods.map((x) => x.metadata.ownerReferences?.map((r) => `${r.kind}/${r.name}`)), [[`ReplicaSet/${rs.metadata.name}`], [`ReplicaSet/${rs.metadata.name}`]]);
    await k(['delete', 'rs', rs.metadata.name]);
    await waitFor(async () => (await podCount('app=keep')) === 0, 'pods of keep gone with their ReplicaSet');
  });

  it('delete --cascade=foreground deletes the pods and the ReplicaSet before the Deployment', async () => {
    await k(['apply', '-f', '-'], manifest('nginx:1', 'fg', 2).replaceAll('web', 'fg'));
    await waitFor(async () => (await podCount('app=fg')) === 2, 'two pods of fg');
    const [rs] = (await rsList()).filter((r) => r.metadata.name.startsWith('fg-'));
    assert.ok(rs);
    const pods = (await json<{ items: RS[] }>(['get', 'pods', '-l', 'app=fg'])).items.map((x) => x.metadata.name);
    // A finalizer of our own holds one pod in deletion, so the order can be seen.
    await k(['patch', 'pod', pods[0]!, '--type=merge', '-p', '{"metadata":{"finalizers":["example.com/hold"]}}']);
    await k(['delete', 'deploy', 'fg', '--cascade=foreground', '--wait=false']);
    type Meta = { metadata: { deletionTimestamp?: string; finalizers?: string[] } };
    await waitFor(async () => Boolean((await json<Meta>(['get', 'pod', pods[0]!])).metadata.deletionTimestamp) && (await podCount('app=fg')) === 1, 'the held pod terminating, the other gone');
    const [d, r] = [await json<Meta>(['get', 'deploy', 'fg']), await json<Meta>(['get', 'rs', rs.metadata.name])];
    assert.deepEqual([Boolean(d.metadata.deletionTimestamp), d.metadata.finalizers, Boolean(r.metadata.deletionTimestamp), r.metadata.finalizers], [true, ['foregroundDeletion'], true, ['foregroundDeletion']]);
    await k(['patch', 'pod', pods[0]!, '--type=json', '-p', '[{"op":"remove","path":"/metadata/finalizers"}]']);
    await waitFor(async () => {
      const gone = await kubectl(p, ['-n', NS, 'get', 'deploy/fg', `rs/${rs.metadata.name}`, '--ignore-not-found', '-o', 'name']);
      return gone.code === 0 && gone.stdout.trim() === '' && (await podCount('app=fg')) === 0;
    }, 'pods, ReplicaSet and Deployment fg gone');
  });

  it("a bad propagationPolicy, or one beside orphanDependents, gets kube-apiserver's 422", async () => {
    await k(['apply', '-f', '-'], manifest('nginx:1', 'bad', 1).replaceAll('web', 'bad-policy'));
    const bad = await request(p, 'DELETE', `/apis/apps/v1/namespaces/${NS}/deployments/bad-policy?propagationPolicy=Sideways`);
    assert.equal(bad.status, 422);
    assert.equal(bad.json<{ message: string }>().message, 'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "Sideways": supported values: "Foreground", "Background", "Orphan"');
    const both = await request(p, 'DELETE', `/apis/apps/v1/namespaces/${NS}/deployments/bad-policy`, { body: { kind: 'DeleteOptions', apiVersion: 'v1', orphanDependents: true, propagationPolicy: 'Orphan' } });
    assert.equal(both.status, 422);
    assert.equal(both.json<{ message: string }>().message, 'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Invalid value: "Orphan": orphanDependents and deletionPropagation cannot be both set');
    await k(['get', 'deploy', 'bad-policy']);
    await k(['delete', 'deploy', 'bad-policy']);
  });
});
