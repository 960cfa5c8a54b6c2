// The ReplicaSet controller: pods from the template with a controller reference, scale up and
// down (unready pods go first), adoption and release by selector, and the status it reports.
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { ReplicaSet } from '../registry/kinds/replicaset.js';
import type { Pod } from '../registry/kinds/pod.js';
import { SharedInformers } from './informers.js';
import { ReplicaSetController, deletionOrder, isPodAvailable, podFromTemplate } from './replicaset.js';
import { eventually, silentLogger, testRegistry, type TestAPI } from './testing.js';
import { markReady, podsOf, replicaSet } from './apps-testing.js';

describe('ReplicaSetController', () => {
  let api: TestAPI;
  let informers: SharedInformers;
  let ctl: ReplicaSetController;
  beforeEach(async () => {
    api = await testRegistry();
    informers = new SharedInformers(api.registry);
    ctl = new ReplicaSetController(api.registry, informers, silentLogger);
    await ctl.start();
  });
  afterEach(() => {
    ctl.stop();
    informers.stop();
  });
  const rsStorage = () => api.registry.kind<ReplicaSet>('ReplicaSet');

  it('creates replicas pods named <rs>-xxxxx, controlled by the ReplicaSet, and never more', async () => {
    const rs = await rsStorage().create('default', replicaSet('web', 3));
    await eventually(async () => assert.equal((await podsOf(api)).length, 3));
    await new Promise((r) => setTimeout(r, 50));
    await ctl.whenIdle();
    const pods = await podsOf(api);
    assert.equal(pods.length, 3);
    for (const p of pods) {
      assert.match(p.metadata!.name!, /^web-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
      assert.deepEqual(p.metadata!.ownerReferences, [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: rs.metadata!.uid, controller: true, blockOwnerDeletion: true }]);
      assert.deepEqual(p.metadata!.labels, { app: 'web' });
      assert.equal(p.spec!.restartPolicy, 'Always');
    }
    const st = await eventually(async () => {
      const cur = await rsStorage().get('default', 'web');
      assert.equal(cur.status?.replicas, 3);
      return cur.status!;
    });
    assert.deepEqual(st, { replicas: 3, fullyLabeledReplicas: 3, readyReplicas: 0, availableReplicas: 0, observedGeneration: 1 });
  });

  it('counts ready and available pods, and deletes the not-ready ones first when scaled down', async () => {
    await rsStorage().create('default', replicaSet('web', 3));
    await eventually(async () => assert.equal((await podsOf(api)).length, 3));
    const [keep] = await podsOf(api);
    await markReady(api, keep!);
    await eventually(async () => {
      const st = (await rsStorage().get('default', 'web')).status;
      assert.deepEqual([st?.readyReplicas, st?.availableReplicas], [1, 1]);
    });
    await rsStorage().guaranteedUpdate('default', 'web', (cur) => {
      cur.spec!.replicas = 1;
      return cur;
    });
    await eventually(async () => assert.deepEqual((await podsOf(api)).map((p) => p.metadata!.name), [keep!.metadata!.name]));
    await eventually(async () => {
      const cur = await rsStorage().get('default', 'web');
      assert.deepEqual([cur.metadata?.generation, cur.status?.observedGeneration, cur.status?.replicas], [2, 2, 1]);
    });
  });

  it('adopts an orphan pod its selector matches and releases a pod relabelled out of it', async () => {
    const orphan = await api.pods.create('default', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'orphan', labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'x' }] } } as Pod);
    const rs = await rsStorage().create('default', replicaSet('web', 1));
    await eventually(async () => {
      const p = await api.pods.get('default', 'orphan');
      assert.equal(p.metadata?.ownerReferences?.[0]?.uid, rs.metadata!.uid);
    });
    await new Promise((r) => setTimeout(r, 50));
    await ctl.whenIdle();
    assert.equal((await podsOf(api)).length, 1, 'the adopted pod counts: no new pod');
    await api.pods.guaranteedUpdate('default', 'orphan', (p) => {
      p.metadata!.labels = { app: 'other' };
      return p;
    });
    await eventually(async () => assert.equal((await api.pods.get('default', 'orphan')).metadata?.ownerReferences, undefined));
    await eventually(async () => assert.equal((await podsOf(api)).filter((p) => p.metadata?.labels?.app === 'web').length, 1));
    assert.ok(orphan.metadata?.uid);
  });
});

describe('ReplicaSet pod choice and availability', () => {
  const pod = (name: string, o: { node?: string; phase?: string; ready?: string; created?: string; restarts?: number }): Pod =>
    ({
      metadata: { name, creationTimestamp: o.created ?? '2026-01-01T00:00:00Z' },
      spec: { containers: [], ...(o.node ? { nodeName: o.node } : {}) },
      status: {
        phase: o.phase ?? 'Running',
        conditions: o.ready ? [{ type: 'Ready', status: 'True', lastTransitionTime: o.ready }] : [],
        containerStatuses: [{ name: 'c', ready: Boolean(o.ready), restartCount: o.restarts ?? 0, image: '', imageID: '' }],
      },
    }) as Pod;

  it('orders deletions: unbound, pending, not ready, ready for less time, more restarts, newer', () => {
    const pods = [
      pod('ready-long', { node: 'n', ready: '2026-01-01T00:00:00Z' }),
      pod('ready-short', { node: 'n', ready: '2026-01-01T01:00:00Z' }),
      pod('unready-restarts', { node: 'n', restarts: 3 }),
      pod('unready-new', { node: 'n', created: '2026-01-02T00:00:00Z' }),
      pod('unready-old', { node: 'n' }),
      pod('pending', { node: 'n', phase: 'Pending' }),
      pod('unbound', { phase: 'Pending' }),
    ];
    assert.deepEqual([...pods].sort(deletionOrder).map((p) => p.metadata!.name), ['unbound', 'pending', 'unready-restarts', 'unready-new', 'unready-old', 'ready-short', 'ready-long']);
  });

  it('a pod is available once ready for minReadySeconds', () => {
    const p = pod('p', { ready: '2026-01-01T00:00:00Z' });
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    assert.equal(isPodAvailable(p, 0, t0), true);
    assert.equal(isPodAvailable(p, 10, t0 + 9_000), false);
    assert.equal(isPodAvailable(p, 10, t0 + 10_000), true);
    assert.equal(isPodAvailable(pod('q', {}), 0, t0), false);
  });

  it('makes pods from the template: labels, annotations, generateName, owner', () => {
    const rs = replicaSet('web', 1);
    rs.metadata = { name: 'web', namespace: 'ns', uid: 'u1' };
    rs.spec!.template!.metadata!.annotations = { a: 'b' };
    const p = podFromTemplate(rs);
    assert.deepEqual(p.metadata, { generateName: 'web-', namespace: 'ns', labels: { app: 'web' }, annotations: { a: 'b' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: 'u1', controller: true, blockOwnerDeletion: true }] });
  });
});
