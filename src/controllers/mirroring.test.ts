// The mirroring controller: hand-made Endpoints of selectorless Services show up as slices.
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoints } from '../registry/kinds/endpoints.js';
import { mirroredGroups, mirroredMeta } from './mirroring.js';
import type { NetworkControllers } from './networking.js';
import { createPod, eventually, service, slicesOf, startTestNetwork, type TestAPI } from './testing.js';

const eps = (subsets: Endpoints['subsets'], labels?: Record<string, string>): Endpoints =>
  ({ apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'ext', namespace: 'default', uid: 'e1', ...(labels ? { labels } : {}) }, subsets }) as Endpoints;

describe('mirroredGroups', () => {
  const rows: Array<{ why: string; ep: Endpoints; want: Array<[string, number[], Array<[string, boolean | undefined]>]> }> = [
    { why: 'addresses are ready, notReadyAddresses are not', ep: eps([{ addresses: [{ ip: '198.19.1.1' }], notReadyAddresses: [{ ip: '198.19.1.2' }], ports: [{ port: 80, protocol: 'TCP' }] }]), want: [['IPv4', [80], [['198.19.1.1', true], ['198.19.1.2', false]]]] },
    { why: 'each family gets its own slices', ep: eps([{ addresses: [{ ip: '198.19.1.1' }, { ip: 'fd00::1' }], ports: [{ port: 80 }] }]), want: [['IPv4', [80], [['198.19.1.1', true]]], ['IPv6', [80], [['fd00::1', true]]]] },
    { why: 'subsets with different ports are apart', ep: eps([{ addresses: [{ ip: '198.19.1.1' }], ports: [{ port: 80 }] }, { addresses: [{ ip: '198.19.1.2' }], ports: [{ port: 81 }] }]), want: [['IPv4', [80], [['198.19.1.1', true]]], ['IPv4', [81], [['198.19.1.2', true]]]] },
    { why: 'no subsets, no slices', ep: eps([]), want: [] },
  ];
  for (const r of rows) {
    it(r.why, () => {
      const got = mirroredGroups(r.ep).map((g): [string, number[], Array<[string, boolean | undefined]>] => [g.addressType, g.ports.map((p) => p.port ?? 0), [...g.endpoints.values()].map((e) => [e.addresses[0]!, e.conditions?.ready])]);
      assert.deepEqual(got, r.want);
    });
  }

  it('labels and owner: managed by the mirroring controller, owned by the Endpoints', () => {
    const m = mirroredMeta({ ...eps([]), metadata: { name: 'ext', namespace: 'default', uid: 'e1', labels: { team: 't' }, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}', note: 'x' } } });
    assert.deepEqual(m.labels, { team: 't', 'kubernetes.io/service-name': 'ext', 'endpointslice.kubernetes.io/managed-by': 'endpointslicemirroring-controller.k8s.io' });
    assert.deepEqual(m.annotations, { note: 'x' });
    assert.deepEqual(m.ownerReferences, [{ apiVersion: 'v1', kind: 'Endpoints', name: 'ext', uid: 'e1', controller: true, blockOwnerDeletion: true }]);
  });
});

describe('EndpointSliceMirroringController over the API', () => {
  let api: TestAPI;
  let ctl: NetworkControllers;
  beforeEach(async () => {
    ({ api, ctl } = await startTestNetwork());
  });
  afterEach(() => ctl.stop());

  const mirrored = async (name: string) => (await slicesOf(api, 'default', name)).filter((s) => s.metadata?.labels?.['endpointslice.kubernetes.io/managed-by'] === 'endpointslicemirroring-controller.k8s.io');

  it('mirrors a selectorless Service\'s Endpoints, follows edits, and goes with them', async () => {
    await api.services.create('default', service('ext', { selector: undefined, ports: [{ name: 'http', port: 80 }] }));
    const created = await api.endpoints.create('default', eps([{ addresses: [{ ip: '198.19.1.1' }, { ip: '198.19.1.2' }], ports: [{ name: 'http', port: 8080 }] }]));
    const s = await eventually(async () => {
      const list = await mirrored('ext');
      assert.equal(list.length, 1);
      assert.deepEqual(list[0]!.endpoints.map((e) => e.addresses[0]), ['198.19.1.1', '198.19.1.2']);
      return list[0]!;
    });
    assert.deepEqual(s.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
    assert.equal(s.metadata?.ownerReferences?.[0]?.uid, created.metadata?.uid);
    await api.endpoints.guaranteedUpdate('default', 'ext', (e) => ({ ...e, subsets: [{ addresses: [{ ip: '198.19.1.3' }], ports: [{ name: 'http', port: 8080 }] }] }));
    await eventually(async () => assert.deepEqual((await mirrored('ext')).flatMap((x) => x.endpoints.map((e) => e.addresses[0])), ['198.19.1.3']));
    await api.endpoints.delete('default', 'ext');
    await eventually(async () => assert.deepEqual(await mirrored('ext'), []));
  });

  it('does not mirror Endpoints labelled skip-mirror, nor those of selector Services', async () => {
    await api.services.create('default', service('skip', { selector: undefined }));
    await api.endpoints.create('default', { ...eps([{ addresses: [{ ip: '198.19.1.1' }], ports: [{ port: 80 }] }], { 'endpointslice.kubernetes.io/skip-mirror': 'true' }), metadata: { name: 'skip', labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' } } });
    await api.services.create('default', service('web'));
    await createPod(api, 'default', 'a', { labels: { app: 'web' }, ip: '198.19.0.1' });
    await eventually(async () => assert.equal((await slicesOf(api, 'default', 'web')).flatMap((x) => x.endpoints).length, 1));
    await new Promise((r) => setTimeout(r, 50));
    await ctl.whenIdle();
    assert.deepEqual([(await mirrored('skip')).length, (await mirrored('web')).length], [0, 0]);
  });

  it('a Service gaining a selector stops the mirroring', async () => {
    await api.services.create('default', service('ext', { selector: undefined }));
    await api.endpoints.create('default', eps([{ addresses: [{ ip: '198.19.1.1' }], ports: [{ port: 80 }] }]));
    await eventually(async () => assert.equal((await mirrored('ext')).length, 1));
    await api.services.guaranteedUpdate('default', 'ext', (s) => ({ ...s, spec: { ...s.spec, selector: { app: 'ext' } } }));
    await eventually(async () => assert.equal((await mirrored('ext')).length, 0));
  });
});
