// The Deployment controller with the ReplicaSet controller over an in-process API, and a stand-in
// kubelet that marks each new pod Ready: ReplicaSets named by template hash, revisions, rolling
// updates within maxSurge/maxUnavailable, Recreate, rollback to an earlier template, history
// cleanup, status conditions; and the pure arithmetic of deploymentutil.
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { Deployment } from '../registry/kinds/deployment.js';
import type { ReplicaSet } from '../registry/kinds/replicaset.js';
import type { Pod } from '../registry/kinds/pod.js';
import { SharedInformers } from './informers.js';
import { ReplicaSetController } from './replicaset.js';
import { DeploymentController } from './deployment.js';
import { GarbageCollector } from './gc.js';
import { computeHash, equalIgnoreHash, fenceposts, newRSNewReplicas, scaleDownOld, maxScaledDown } from './deploymentutil.js';
import { eventually, silentLogger, testRegistry, type TestAPI } from './testing.js';
import { deployment, markReady, podsOf } from './apps-testing.js';
import { isPodReady } from './podselection.js';

describe('DeploymentController', () => {
  let api: TestAPI;
  let informers: SharedInformers;
  let stops: Array<() => void>;
  let autoReady: boolean;
  beforeEach(async () => {
    api = await testRegistry();
    informers = new SharedInformers(api.registry);
    const rs = new ReplicaSetController(api.registry, informers, silentLogger);
    const d = new DeploymentController(api.registry, informers, silentLogger);
    const gc = new GarbageCollector(api.registry, informers, silentLogger);
    await rs.start();
    await d.start();
    await gc.start();
    autoReady = true;
    const off = informers.get<Pod>('Pod').addHandler({ onAdd: (p) => void (autoReady && !isPodReady(p) ? markReady(api, p) : undefined) });
    stops = [off, () => rs.stop(), () => d.stop(), () => gc.stop(), () => informers.stop()];
  });
  afterEach(() => {
    for (const s of stops) s();
  });
  const deps = () => api.registry.kind<Deployment>('Deployment');
  const rss = () => api.registry.kind<ReplicaSet>('ReplicaSet');
  const setImage = (name: string, image: string) =>
    deps().guaranteedUpdate('default', name, (d) => {
      d.spec!.template.spec!.containers[0]!.image = image;
      return d;
    });
  const complete = (name: string, replicas: number) =>
    eventually(async () => {
      const d = await deps().get('default', name);
      const s = d.status ?? {};
      assert.deepEqual([s.observedGeneration, s.replicas, s.updatedReplicas, s.availableReplicas], [d.metadata?.generation, replicas, replicas, replicas]);
      return d;
    }, 20_000);

  it('makes a ReplicaSet <name>-<hash> with the hash label in selector and template, revision 1, and reports completion', async () => {
    const created = await deps().create('default', deployment('web', 2));
    const d = await complete('web', 2);
    const [rs, ...more] = (await rss().list('default')).items;
    assert.equal(more.length, 0);
    const hash = rs!.metadata!.labels!['pod-template-hash']!;
    assert.equal(rs!.metadata!.name, `web-${hash}`);
    assert.deepEqual(rs!.spec!.selector.matchLabels, { app: 'web', 'pod-template-hash': hash });
    assert.deepEqual(rs!.spec!.template!.metadata!.labels, { app: 'web', 'pod-template-hash': hash });
    assert.equal(rs!.metadata!.annotations!['deployment.kubernetes.io/revision'], '1');
    assert.equal(rs!.metadata!.ownerReferences![0]!.uid, created.metadata!.uid);
    assert.equal(d.metadata!.annotations!['deployment.kubernetes.io/revision'], '1');
    const conds = Object.fromEntries((d.status!.conditions ?? []).map((c) => [c.type, `${c.status}/${c.reason}`]));
    assert.deepEqual(conds, { Available: 'True/MinimumReplicasAvailable', Progressing: 'True/NewReplicaSetAvailable' });
    assert.equal((await podsOf(api)).length, 2);
  });

  it('rolls out a new template within maxSurge and maxUnavailable, then rolls back to the first', async () => {
    await deps().create('default', deployment('web', 4, 'web:1', { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 1 } } }));
    await complete('web', 4);
    const first = (await rss().list('default')).items[0]!;
    let maxTotal = 0;
    let minReady = Infinity;
    const off1 = informers.get<ReplicaSet>('ReplicaSet').addHandler({
      onUpdate: () => (maxTotal = Math.max(maxTotal, informers.get<ReplicaSet>('ReplicaSet').list().reduce((n, r) => n + (r.spec?.replicas ?? 0), 0))),
    });
    const off2 = informers.get<Pod>('Pod').addHandler({
      onUpdate: () => (minReady = Math.min(minReady, informers.get<Pod>('Pod').list().filter((p) => isPodReady(p) && !p.metadata?.deletionTimestamp).length)),
      onDelete: () => (minReady = Math.min(minReady, informers.get<Pod>('Pod').list().filter((p) => isPodReady(p) && !p.metadata?.deletionTimestamp).length)),
    });
    stops.push(off1, off2);
    await setImage('web', 'web:2');
    const d2 = await complete('web', 4);
    assert.equal(d2.metadata!.generation, 2);
    assert.ok(maxTotal <= 5, `total replicas reached ${maxTotal} > replicas + maxSurge`);
    assert.ok(minReady >= 3, `ready pods fell to ${minReady} < replicas - maxUnavailable`);
    const items = (await rss().list('default')).items;
    const byRev = Object.fromEntries(items.map((r) => [r.metadata!.annotations!['deployment.kubernetes.io/revision'], r.spec!.replicas]));
    assert.deepEqual(byRev, { '1': 0, '2': 4 });
    const pods = await podsOf(api);
    assert.equal(pods.length, 4);
    assert.ok(pods.every((p) => p.spec!.containers[0]!.image === 'web:2'));

    // Rollback as `kubectl rollout undo` does it: the old ReplicaSet's template (minus the hash) back in the Deployment.
    const tmpl = structuredClone(first.spec!.template!);
    delete tmpl.metadata!.labels!['pod-template-hash'];
    await deps().guaranteedUpdate('default', 'web', (d) => {
      d.spec!.template = tmpl;
      return d;
    });
    await complete('web', 4);
    const back = await rss().get('default', first.metadata!.name!);
    assert.equal(back.metadata!.annotations!['deployment.kubernetes.io/revision'], '3');
    assert.equal(back.spec!.replicas, 4);
    assert.equal((await rss().list('default')).items.length, 2, 'the first ReplicaSet is reused, not copied');
  });

  it('Recreate scales the old ReplicaSet to 0 and waits for its pods before the new one grows', async () => {
    await deps().create('default', deployment('web', 2, 'web:1', { strategy: { type: 'Recreate' } }));
    await complete('web', 2);
    let overlap = false;
    const off = informers.get<Pod>('Pod').addHandler({
      onAdd: () => {
        const imgs = new Set(informers.get<Pod>('Pod').list().map((p) => p.spec!.containers[0]!.image));
        if (imgs.size > 1) overlap = true;
      },
    });
    stops.push(off);
    await setImage('web', 'web:2');
    await complete('web', 2);
    assert.equal(overlap, false, 'no new pod while an old one existed');
  });

  it('keeps revisionHistoryLimit old ReplicaSets, deleting the oldest revisions', async () => {
    await deps().create('default', deployment('web', 1, 'web:1', { revisionHistoryLimit: 1 }));
    for (const img of ['web:2', 'web:3', 'web:4']) {
      await complete('web', 1);
      await setImage('web', img);
    }
    await complete('web', 1);
    await eventually(async () => {
      const revs = (await rss().list('default')).items.map((r) => r.metadata!.annotations!['deployment.kubernetes.io/revision']).sort();
      assert.deepEqual(revs, ['3', '4']);
    });
  });

  it('scales with spec.replicas, and deleting the Deployment removes its ReplicaSets and pods', async () => {
    await deps().create('default', deployment('web', 1));
    await complete('web', 1);
    await deps().guaranteedUpdate('default', 'web', (d) => {
      d.spec!.replicas = 3;
      return d;
    });
    await complete('web', 3);
    await deps().delete('default', 'web');
    await eventually(async () => assert.deepEqual([(await rss().list('default')).items.length, (await api.pods.list('default')).items.length], [0, 0]));
  });

  it('a rollout that makes no progress reports ProgressDeadlineExceeded', async () => {
    autoReady = false;
    await deps().create('default', deployment('stuck', 1, 'web:1', { progressDeadlineSeconds: 1 }));
    await eventually(async () => {
      const c = (await deps().get('default', 'stuck')).status?.conditions?.find((x) => x.type === 'Progressing');
      assert.equal(c?.reason, 'ProgressDeadlineExceeded');
      assert.equal(c?.status, 'False');
    }, 10_000);
  });
});

describe('deployment arithmetic', () => {
  const d = (replicas: number, maxSurge: number | string, maxUnavailable: number | string) => deployment('x', replicas, 'i', { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge, maxUnavailable } } });
  const rs = (replicas: number, available: number, created = '2026-01-01T00:00:00Z') => ({ metadata: { creationTimestamp: created }, spec: { replicas }, status: { replicas, availableReplicas: available } }) as ReplicaSet;

  it('resolves fenceposts: surge rounds up, unavailable down, never both 0', () => {
    assert.deepEqual(fenceposts(d(10, '25%', '25%')), { surge: 3, unavailable: 2 });
    assert.deepEqual(fenceposts(d(1, '25%', '25%')), { surge: 1, unavailable: 0 });
    assert.deepEqual(fenceposts(d(3, 0, 0)), { surge: 0, unavailable: 1 });
  });

  it('grows the new ReplicaSet up to replicas + maxSurge in total', () => {
    const dep = d(4, 1, 1);
    const old = rs(4, 4);
    const fresh = rs(0, 0);
    assert.equal(newRSNewReplicas(dep, [old, fresh], fresh), 1);
    assert.equal(newRSNewReplicas(dep, [rs(3, 3), rs(1, 0)], rs(1, 0)), 2);
  });

  it('shrinks old ReplicaSets only as far as availability allows', () => {
    const dep = d(4, 1, 1);
    const old = rs(4, 4);
    const fresh = rs(1, 0);
    assert.equal(maxScaledDown(dep, [old, fresh], fresh), 1);
    assert.deepEqual([...scaleDownOld(dep, [old, fresh], [old]).values()], [3]);
    const ready = rs(1, 1);
    assert.deepEqual([...scaleDownOld(dep, [old, ready], [old]).values()], [2]);
  });

  it('hashes templates stably, in kube\'s alphabet, ignoring the hash label', () => {
    const t = { metadata: { labels: { app: 'a' } }, spec: { containers: [{ name: 'c', image: 'i' }] } };
    const h = computeHash(t);
    assert.match(h, /^[bcdfghjklmnpqrstvwxz2456789]+$/);
    assert.equal(computeHash(structuredClone(t)), h);
    assert.notEqual(computeHash(t, 1), h);
    assert.ok(equalIgnoreHash(t, { ...t, metadata: { labels: { app: 'a', 'pod-template-hash': h } } }));
    assert.ok(!equalIgnoreHash(t, { ...t, spec: { containers: [{ name: 'c', image: 'j' }] } }));
  });
});
