// The EndpointSlice controller: the slice planner's write economy row by row, the desired
// endpoints computation, then the controller over an in-process API (memory store).
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoint, EndpointSlice } from '../registry/kinds/endpointslice.js';
import type { Pod } from '../registry/kinds/pod.js';
import type { Service } from '../registry/kinds/service.js';
import type { Node } from '../registry/kinds/node.js';
import { NotFoundError } from '../util/errors.js';
import { planSlices, type DesiredGroup, type SliceMeta } from './slicesync.js';
import { desiredSliceGroups, sliceMetaFor } from './endpointslices.js';
import type { NetworkControllers } from './networking.js';
import { createPod, eventually, service, setPodReady, slicesOf, startTestNetwork, type TestAPI } from './testing.js';

const meta: SliceMeta = { namespace: 'default', generateName: 'web-', labels: { 'kubernetes.io/service-name': 'web' }, annotations: {}, ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: 'web', uid: 'u1', controller: true, blockOwnerDeletion: true }] };
const ports = [{ name: '', port: 8080, protocol: 'TCP' }];
const ep = (i: number, ready = true): Endpoint => ({ addresses: [`198.19.0.${i}`], conditions: { ready, serving: ready, terminating: false } });
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
const group = (ids: number[], notReady: number[] = []): DesiredGroup => ({ addressType: 'IPv4', ports, endpoints: new Map(ids.map((i) => [`198.19.0.${i}`, ep(i, !notReady.includes(i))])) });
const slice = (name: string, ids: number[]): EndpointSlice => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name, namespace: 'default', labels: { ...meta.labels }, ownerReferences: structuredClone(meta.ownerReferences), resourceVersion: '1' },
  addressType: 'IPv4',
  ports,
  endpoints: ids.map((i) => ep(i)),
});

describe('planSlices', () => {
  const rows: Array<{ why: string; existing: EndpointSlice[]; desired: DesiredGroup[]; max: number; creates: number; updates: number; deletes: number }> = [
    { why: 'nothing changed: no writes', existing: [slice('a', [1, 2, 3])], desired: [group([1, 2, 3])], max: 100, creates: 0, updates: 0, deletes: 0 },
    { why: 'one condition flips: one update', existing: [slice('a', [1, 2, 3]), slice('b', [4, 5])], desired: [group([1, 2, 3, 4, 5], [4])], max: 100, creates: 0, updates: 1, deletes: 0 },
    { why: 'a new endpoint goes into a slice with room, not a new slice', existing: [slice('a', [1, 2, 3])], desired: [group([1, 2, 3, 4])], max: 100, creates: 0, updates: 1, deletes: 0 },
    { why: 'a new endpoint with every slice full makes a new slice', existing: [slice('a', [1, 2])], desired: [group([1, 2, 3])], max: 2, creates: 1, updates: 0, deletes: 0 },
    { why: 'removing and adding at once is one update of the same slice', existing: [slice('a', [1, 2]), slice('b', [3, 4])], desired: [group([1, 3, 4, 9])], max: 2, creates: 0, updates: 1, deletes: 0 },
    { why: 'an emptied slice is deleted', existing: [slice('a', [1, 2]), slice('b', [3])], desired: [group([1, 2])], max: 2, creates: 0, updates: 0, deletes: 1 },
    { why: 'an emptied slice is recycled for new endpoints instead of delete + create', existing: [slice('a', [1, 2]), slice('b', [3, 4])], desired: [group([1, 2, 7, 8])], max: 2, creates: 0, updates: 1, deletes: 0 },
    { why: '250 endpoints from scratch make 3 slices of 100', existing: [], desired: [group(range(1, 250))], max: 100, creates: 3, updates: 0, deletes: 0 },
    { why: 'no endpoints and no slices: one placeholder', existing: [], desired: [], max: 100, creates: 1, updates: 0, deletes: 0 },
    { why: 'the last endpoint going turns its slice into the placeholder', existing: [slice('a', [1])], desired: [], max: 100, creates: 0, updates: 1, deletes: 0 },
  ];
  for (const r of rows) {
    it(r.why, () => {
      const p = planSlices(r.existing, r.desired, meta, r.max, 'IPv4');
      assert.deepEqual([p.create.length, p.update.length, p.delete.length], [r.creates, r.updates, r.deletes]);
      // Whatever the plan, the result holds every desired endpoint once and no slice is over the limit.
      const after = new Map<string, EndpointSlice>();
      for (const s of r.existing) after.set(s.metadata!.name!, s);
      for (const s of p.update) after.set(s.metadata!.name!, s);
      for (const s of p.delete) after.delete(s.metadata!.name!);
      const all = [...after.values(), ...p.create];
      const addrs = all.flatMap((s) => s.endpoints.map((e) => e.addresses[0]));
      const want = r.desired.flatMap((g) => [...g.endpoints.keys()]);
      assert.deepEqual([...addrs].sort(), [...want].sort());
      for (const s of all) assert.ok(s.endpoints.length <= r.max);
    });
  }

  it('a placeholder has no ports and no endpoints', () => {
    const p = planSlices([], [], meta, 100, 'IPv4');
    assert.deepEqual([p.create[0]?.endpoints, p.create[0]?.ports, p.create[0]?.addressType], [[], [], 'IPv4']);
  });
});

describe('desiredSliceGroups', () => {
  const svc = (spec: Partial<NonNullable<Service['spec']>> = {}) => ({ metadata: { name: 'web', namespace: 'default', uid: 's1' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'web', protocol: 'TCP' }], ...spec } }) as Service;
  const pod = (name: string, ip: string, o: { ready?: boolean; deleting?: boolean; port?: number; node?: string } = {}): Pod =>
    ({
      metadata: { name, namespace: 'default', uid: `u-${name}`, ...(o.deleting ? { deletionTimestamp: '2030-01-01T00:00:00Z' } : {}) },
      spec: { nodeName: o.node, containers: [{ name: 'c', ports: [{ name: 'web', containerPort: o.port ?? 8080 }] }] },
      status: { phase: 'Running', podIP: ip, conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }] },
    }) as Pod;
  const cond = (g: DesiredGroup[], ip: string) => g.flatMap((x) => [...x.endpoints.values()]).find((e) => e.addresses[0] === ip)?.conditions;

  const rows: Array<{ why: string; svc: Service; pod: Pod; want: Endpoint['conditions'] }> = [
    { why: 'ready pod: ready, serving', svc: svc(), pod: pod('a', '198.19.0.1'), want: { ready: true, serving: true, terminating: false } },
    { why: 'unready pod: neither', svc: svc(), pod: pod('a', '198.19.0.1', { ready: false }), want: { ready: false, serving: false, terminating: false } },
    { why: 'terminating ready pod: serving, terminating, not ready', svc: svc(), pod: pod('a', '198.19.0.1', { deleting: true }), want: { ready: false, serving: true, terminating: true } },
    { why: 'terminating unready pod: not serving', svc: svc(), pod: pod('a', '198.19.0.1', { deleting: true, ready: false }), want: { ready: false, serving: false, terminating: true } },
    { why: 'publishNotReadyAddresses: ready whatever the pod says', svc: svc({ publishNotReadyAddresses: true }), pod: pod('a', '198.19.0.1', { deleting: true, ready: false }), want: { ready: true, serving: false, terminating: true } },
  ];
  for (const r of rows) it(r.why, () => assert.deepEqual(cond(desiredSliceGroups(r.svc, [r.pod], () => undefined), '198.19.0.1'), r.want));

  it('pods resolving a named port differently land in different groups', () => {
    const g = desiredSliceGroups(svc(), [pod('a', '198.19.0.1', { port: 8080 }), pod('b', '198.19.0.2', { port: 9090 })], () => undefined);
    assert.deepEqual(g.map((x) => [x.ports[0]?.port, [...x.endpoints.keys()]]), [[8080, ['198.19.0.1']], [9090, ['198.19.0.2']]]);
  });

  it('sets nodeName and the zone of the node', () => {
    const g = desiredSliceGroups(svc(), [pod('a', '198.19.0.1', { node: 'n1' })], (n) => (n === 'n1' ? 'zone-a' : undefined));
    const e = [...g[0]!.endpoints.values()][0]!;
    assert.deepEqual([e.nodeName, e.zone, e.targetRef?.name], ['n1', 'zone-a', 'a']);
  });

  it('dual-stack Services get one group per family', () => {
    const p = pod('a', '198.19.0.1');
    p.status!.podIPs = [{ ip: '198.19.0.1' }, { ip: 'fd00::1' }];
    const g = desiredSliceGroups(svc({ ipFamilies: ['IPv4', 'IPv6'] }), [p], () => undefined);
    assert.deepEqual(g.map((x) => [x.addressType, [...x.endpoints.keys()]]), [['IPv4', ['198.19.0.1']], ['IPv6', ['fd00::1']]]);
  });

  it('labels and owner reference of a headless Service\'s slices', () => {
    const m = sliceMetaFor({ ...svc({ clusterIP: 'None' }), metadata: { name: 'web', namespace: 'default', uid: 's1', labels: { team: 't' } } }, 'endpointslice-controller.k8s.io');
    assert.deepEqual(m.labels, { team: 't', 'kubernetes.io/service-name': 'web', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io', 'service.kubernetes.io/headless': '' });
    assert.deepEqual(m.ownerReferences, [{ apiVersion: 'v1', kind: 'Service', name: 'web', uid: 's1', controller: true, blockOwnerDeletion: true }]);
    assert.equal(m.generateName, 'web-');
  });
});

describe('EndpointSliceController over the API', () => {
  let api: TestAPI;
  let ctl: NetworkControllers;
  beforeEach(async () => {
    ({ api, ctl } = await startTestNetwork());
  });
  afterEach(() => ctl.stop());

  const endpointsOf = (slices: EndpointSlice[]) => slices.flatMap((s) => s.endpoints);

  it('spreads 250 pods over 3 slices with the labels and owner of the Service', async () => {
    const svc = await api.services.create('default', service('web'));
    for (let i = 0; i < 250; i++) await createPod(api, 'default', `p${i}`, { labels: { app: 'web' }, ip: `198.19.${Math.floor(i / 200)}.${(i % 200) + 1}` });
    const slices = await eventually(async () => {
      const s = await slicesOf(api, 'default', 'web');
      assert.equal(endpointsOf(s).length, 250);
      return s;
    });
    assert.equal(slices.length, 3);
    for (const s of slices) {
      assert.ok(s.endpoints.length <= 100);
      assert.match(s.metadata?.name ?? '', /^web-[a-z0-9]{5}$/);
      assert.equal(s.metadata?.labels?.['endpointslice.kubernetes.io/managed-by'], 'endpointslice-controller.k8s.io');
      assert.equal(s.metadata?.ownerReferences?.[0]?.uid, svc.metadata?.uid);
      assert.equal(s.metadata?.ownerReferences?.[0]?.controller, true);
      assert.deepEqual(s.ports, [{ name: '', port: 8080, protocol: 'TCP' }]);
    }
  });

  it('keeps a placeholder slice for a Service without endpoints', async () => {
    await api.services.create('default', service('empty'));
    const s = await eventually(async () => {
      const list = await slicesOf(api, 'default', 'empty');
      assert.equal(list.length, 1);
      return list[0]!;
    });
    assert.deepEqual([s.endpoints, s.addressType], [[], 'IPv4']);
  });

  it('a Ready flip costs one slice write, and unrelated pod changes none', async () => {
    await api.services.create('default', service('web'));
    for (let i = 0; i < 5; i++) await createPod(api, 'default', `p${i}`, { labels: { app: 'web' }, ip: `198.19.0.${i + 1}` });
    await eventually(async () => assert.equal(endpointsOf(await slicesOf(api, 'default', 'web')).length, 5));
    await ctl.whenIdle();
    const before = { ...ctl.slices.writes };
    await setPodReady(api, 'default', 'p2', false);
    await eventually(async () => assert.equal(endpointsOf(await slicesOf(api, 'default', 'web')).find((e) => e.addresses[0] === '198.19.0.3')?.conditions?.ready, false));
    await api.pods.guaranteedUpdate('default', 'p1', (p) => ({ ...p, metadata: { ...p.metadata, annotations: { unrelated: 'yes' } } }));
    await new Promise((r) => setTimeout(r, 50));
    await ctl.whenIdle();
    assert.deepEqual(ctl.slices.writes, { ...before, updates: before.updates + 1 });
  });

  it('graceful deletion keeps the pod as a terminating endpoint, serving as it reports', async () => {
    await api.nodes.create(undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1', labels: { 'topology.kubernetes.io/zone': 'z1' } } } as Node);
    await api.services.create('default', service('web'));
    await createPod(api, 'default', 'a', { labels: { app: 'web' }, ip: '198.19.0.1', node: 'n1' });
    await eventually(async () => assert.equal(endpointsOf(await slicesOf(api, 'default', 'web')).length, 1));
    const del = await api.pods.delete('default', 'a', { gracePeriodSeconds: 30 });
    assert.equal(del.deleted, false);
    const e = await eventually(async () => {
      const x = endpointsOf(await slicesOf(api, 'default', 'web'))[0];
      assert.equal(x?.conditions?.terminating, true);
      return x!;
    });
    assert.deepEqual([e.conditions, e.nodeName, e.zone], [{ ready: false, serving: true, terminating: true }, 'n1', 'z1']);
    await setPodReady(api, 'default', 'a', false);
    await eventually(async () => assert.equal(endpointsOf(await slicesOf(api, 'default', 'web'))[0]?.conditions?.serving, false));
    await api.pods.delete('default', 'a', { gracePeriodSeconds: 0 });
    await eventually(async () => assert.deepEqual(endpointsOf(await slicesOf(api, 'default', 'web')), []));
  });

  it('a node zone change reaches the endpoints on that node', async () => {
    await api.nodes.create(undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1', labels: { 'topology.kubernetes.io/zone': 'z1' } } } as Node);
    await api.services.create('default', service('web'));
    await createPod(api, 'default', 'a', { labels: { app: 'web' }, ip: '198.19.0.1', node: 'n1' });
    await eventually(async () => assert.equal(endpointsOf(await slicesOf(api, 'default', 'web'))[0]?.zone, 'z1'));
    await api.nodes.guaranteedUpdate(undefined, 'n1', (n) => ({ ...n, metadata: { ...n.metadata, labels: { 'topology.kubernetes.io/zone': 'z2' } } }));
    await eventually(async () => assert.equal(endpointsOf(await slicesOf(api, 'default', 'web'))[0]?.zone, 'z2'));
  });

  it('slices go with their Service (garbage collection)', async () => {
    await api.services.create('default', service('web'));
    await createPod(api, 'default', 'a', { labels: { app: 'web' }, ip: '198.19.0.1' });
    await eventually(async () => assert.equal(endpointsOf(await slicesOf(api, 'default', 'web')).length, 1));
    await api.services.delete('default', 'web');
    await eventually(async () => assert.deepEqual(await slicesOf(api, 'default', 'web'), []));
    await eventually(() => assert.rejects(api.endpoints.get('default', 'web'), NotFoundError));
  });

  it('a selector removed withdraws the controller\'s slices', async () => {
    await api.services.create('default', service('web'));
    await createPod(api, 'default', 'a', { labels: { app: 'web' }, ip: '198.19.0.1' });
    await eventually(async () => assert.equal(endpointsOf(await slicesOf(api, 'default', 'web')).length, 1));
    await api.services.guaranteedUpdate('default', 'web', (s) => ({ ...s, spec: { ...s.spec, selector: undefined } }));
    await eventually(async () => assert.deepEqual((await slicesOf(api, 'default', 'web')).filter((s) => s.metadata?.labels?.['endpointslice.kubernetes.io/managed-by'] === 'endpointslice-controller.k8s.io'), []));
  });

  it('namespace deletion leaves nothing behind and nothing recreated', async () => {
    await api.registry.kind('Namespace').create(undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } });
    await api.services.create('team', service('web'));
    await createPod(api, 'team', 'a', { labels: { app: 'web' }, ip: '198.19.0.1' });
    await eventually(async () => assert.equal(endpointsOf(await slicesOf(api, 'team', 'web')).length, 1));
    // What the namespace controller does: mark the namespace, then delete its content kind by kind.
    await api.registry.deleteHooks.get('Namespace')!('team', { dryRun: false });
    for (const s of api.registry.namespacedStorages()) await s.deleteCollection('team', {});
    await new Promise((r) => setTimeout(r, 50));
    await ctl.whenIdle();
    assert.deepEqual([(await api.slices.list('team')).items.length, (await api.endpoints.list('team')).items.length], [0, 0]);
  });
});
