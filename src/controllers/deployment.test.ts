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
import { computeHash, equalIgnoreHash, fenceposts, newRSNewReplicas, scaleDownOld, scalePlan, maxScaledDown } from './deploymentutil.js';
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

  it('paused: a template change makes no ReplicaSet, replicas are still followed; resumed, the rollout happens', async () => {
    await deps().create('default', deployment('web', 2, 'web:1'));
    await complete('web', 2);
    await deps().guaranteedUpdate('default', 'web', (d) => {
      d.spec!.paused = true;
      return d;
    });
    await setImage('web', 'web:2');
    await deps().guaranteedUpdate('default', 'web', (d) => {
      d.spec!.replicas = 4;
      return d;
    });
    // The scale is seen (generation observed, 4 available pods, none of them of the new template).
    const paused = await eventually(async () => {
      const d = await deps().get('default', 'web');
      const st = d.status ?? {};
      assert.deepEqual([st.observedGeneration, st.replicas, st.updatedReplicas ?? 0, st.availableReplicas], [d.metadata?.generation, 4, 0, 4]);
      return d;
    }, 20_000);
    assert.equal(paused.status?.conditions?.find((c) => c.type === 'Progressing')?.reason, 'DeploymentPaused');
    const [only, ...more] = (await rss().list('default')).items;
    assert.equal(more.length, 0, 'no ReplicaSet for the paused template change');
    assert.equal(only!.spec!.template!.spec!.containers[0]!.image, 'web:1');
    assert.equal(only!.metadata!.annotations!['deployment.kubernetes.io/desired-replicas'], '4');
    assert.deepEqual((await podsOf(api)).map((p) => p.spec!.containers[0]!.image), ['web:1', 'web:1', 'web:1', 'web:1']);
    await deps().guaranteedUpdate('default', 'web', (d) => {
      d.spec!.paused = false;
      return d;
    });
    await complete('web', 4);
    await eventually(async () => {
      const images = (await podsOf(api)).map((p) => p.spec!.containers[0]!.image);
      assert.deepEqual(images, ['web:2', 'web:2', 'web:2', 'web:2']);
    }, 20_000);
    const revs = (await rss().list('default')).items.map((r) => [r.spec!.template!.spec!.containers[0]!.image, r.metadata!.annotations!['deployment.kubernetes.io/revision'], r.spec!.replicas]);
    assert.deepEqual(revs.sort(), [['web:1', '1', 0], ['web:2', '2', 4]]);
  });

  it('a resize mid-rollout is spread over the old and new ReplicaSets in proportion', async () => {
    await deps().create('default', deployment('web', 10, 'web:1', { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 3, maxUnavailable: 2 } } }));
    await complete('web', 10);
    // New pods never become ready: the rollout stops at 8 old + 5 new (10 - 2 available, 10 + 3 total)...
    autoReady = false;
    await setImage('web', 'web:2');
    const sizes = async () => {
      const items = (await rss().list('default')).items;
      const rev = (n: string) => items.find((r) => r.metadata!.annotations!['deployment.kubernetes.io/revision'] === n)?.spec?.replicas;
      return [rev('1'), rev('2')];
    };
    await eventually(async () => assert.deepEqual(await sizes(), [8, 5]));
    // ...then 15 replicas (max 18), kube's example: 8 -> 8*18/13 = 11, 5 -> 5*18/13 = 7. Growing
    // only the new ReplicaSet (8 + 10) would be the rollout step instead.
    await deps().guaranteedUpdate('default', 'web', (d) => {
      d.spec!.replicas = 15;
      return d;
    });
    await eventually(async () => assert.deepEqual(await sizes(), [11, 7]), 20_000);
    const annotations = (await rss().list('default')).items.map((r) => [r.metadata!.annotations!['deployment.kubernetes.io/desired-replicas'], r.metadata!.annotations!['deployment.kubernetes.io/max-replicas']]);
    assert.deepEqual(annotations, [['15', '18'], ['15', '18']]);
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

  const annotated = (r: ReplicaSet, desired: number, max: number, created?: string) => {
    const out = rs(r.spec!.replicas!, r.status!.availableReplicas!, created);
    out.metadata!.annotations = { 'deployment.kubernetes.io/desired-replicas': String(desired), 'deployment.kubernetes.io/max-replicas': String(max) };
    return out;
  };
  const sizes = (plan: Map<ReplicaSet, number>, order: ReplicaSet[]) => order.map((r) => plan.get(r));

  it('scalePlan: the one active ReplicaSet (or the newest) takes the whole size', () => {
    const dep = d(5, 1, 1);
    const only = rs(3, 3);
    const idle = rs(0, 0);
    assert.deepEqual(sizes(scalePlan(dep, idle, [only]), [only, idle]), [5, undefined]);
    assert.equal(scalePlan(dep, undefined, [rs(5, 5)]).size, 0, 'nothing when already at size');
    const older = rs(0, 0, '2026-01-01T00:00:00Z');
    const newer = rs(0, 0, '2026-01-02T00:00:00Z');
    assert.deepEqual(sizes(scalePlan(dep, undefined, [newer, older]), [older, newer]), [undefined, 5], 'none active: the newest');
  });

  it('scalePlan: a saturated new ReplicaSet sends the old ones to 0', () => {
    const dep = d(3, 1, 1);
    const fresh = annotated(rs(3, 3), 3, 4);
    const old = rs(1, 1);
    assert.deepEqual(sizes(scalePlan(dep, fresh, [old]), [old, fresh]), [0, undefined]);
  });

  it('scalePlan: mid-rollout, a resize is spread in proportion to the ReplicaSets, the leftover to the largest', () => {
    // kube's worked example: 10 replicas, maxSurge 3, mid-rollout at 8 old + 5 new (max 13); scaled to 15 (max 18).
    const old = annotated(rs(8, 8), 10, 13, '2026-01-01T00:00:00Z');
    const fresh = annotated(rs(5, 0), 10, 13, '2026-01-02T00:00:00Z');
    assert.deepEqual(sizes(scalePlan(d(15, 3, 2), fresh, [old]), [old, fresh]), [11, 7]);
    // Down to 5 (max 8): 8*8/13 = 4.9 -> 5, then 5*8/13 = 3.1 -> 3.
    assert.deepEqual(sizes(scalePlan(d(5, 3, 2), fresh, [old]), [old, fresh]), [5, 3]);
    // To 0: everything goes.
    assert.deepEqual(sizes(scalePlan(d(0, 3, 2), fresh, [old]), [old, fresh]), [0, 0]);
    // Recreate never spreads.
    const recreate = deployment('x', 15, 'i', { strategy: { type: 'Recreate' } });
    assert.equal(scalePlan(recreate, fresh, [old]).size, 0);
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
