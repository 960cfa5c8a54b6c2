// Node IPAM: ranges handed out in order, kept across restarts, released with the Node.
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { Node } from '../registry/kinds/node.js';
import { Claims } from '../allocators/claims.js';
import { CLAIM_PREFIX } from '../allocators/service.js';
import { SharedInformers } from './informers.js';
import { NodeIpamController, nodeRanges } from './nodeipam.js';
import { eventually, silentLogger, testCluster, testRegistry, type TestAPI } from './testing.js';

const node = (name: string, podCIDR?: string): Node => ({ apiVersion: 'v1', kind: 'Node', metadata: { name }, ...(podCIDR ? { spec: { podCIDR, podCIDRs: [podCIDR] } } : {}) }) as Node;

describe('nodeRanges', () => {
  const rows: Array<{ why: string; cidr: string; mask?: number; first: string; size: number }> = [
    { why: 'a /16 holds 256 /24s', cidr: '198.19.0.0/16', first: '198.19.0.0/24', size: 256 },
    { why: 'a mask option changes the range size', cidr: '198.19.0.0/16', mask: 26, first: '198.19.0.0/26', size: 1024 },
    { why: 'host bits in the pod CIDR are ignored', cidr: '198.19.7.9/16', first: '198.19.0.0/24', size: 256 },
  ];
  for (const r of rows) {
    it(r.why, () => {
      const [range] = nodeRanges(r.cidr, { maskSizeIPv4: r.mask });
      assert.deepEqual([range!.text(range!.item(0)), range!.size], [r.first, r.size]);
    });
  }
  it('IPv6 gets /64s and dual-stack one range per family', () => {
    const rs = nodeRanges('198.19.0.0/16,fd00:10::/56');
    assert.deepEqual(rs.map((r) => r.text(r.item(1))), ['198.19.1.0/24', 'fd00:10:0:1::/64']);
  });
  it('refuses a mask wider than the pod CIDR', () => assert.throws(() => nodeRanges('198.19.0.0/16', { maskSizeIPv4: 8 })));
});

describe('NodeIpamController', () => {
  let api: TestAPI;
  let informers: SharedInformers;
  let ipam: NodeIpamController;
  const start = async () => {
    informers = new SharedInformers(api.registry);
    ipam = new NodeIpamController(api.registry, informers, silentLogger);
    await ipam.start();
  };
  beforeEach(async () => {
    api = await testRegistry({ ...testCluster, podCIDR: '198.19.0.0/23' });
    await start();
  });
  afterEach(() => {
    ipam.stop();
    informers.stop();
  });
  const cidrOf = async (name: string) => (await api.nodes.get(undefined, name)).spec?.podCIDR;
  const claims = () => new Claims(api.store, CLAIM_PREFIX + 'podcidrs/');

  it('gives each Node its own range, in order, and says so in podCIDRs', async () => {
    await api.nodes.create(undefined, node('n1'));
    await eventually(async () => assert.equal(await cidrOf('n1'), '198.19.0.0/24'));
    await api.nodes.create(undefined, node('n2'));
    await eventually(async () => assert.equal(await cidrOf('n2'), '198.19.1.0/24'));
    assert.deepEqual((await api.nodes.get(undefined, 'n2')).spec?.podCIDRs, ['198.19.1.0/24']);
  });

  it('releases the range with the Node, for the next Node to take', async () => {
    await api.nodes.create(undefined, node('n1'));
    await eventually(async () => assert.equal(await cidrOf('n1'), '198.19.0.0/24'));
    await api.nodes.delete(undefined, 'n1');
    await eventually(async () => assert.equal(await claims().count(), 0));
    await api.nodes.create(undefined, node('n3'));
    await eventually(async () => assert.equal(await cidrOf('n3'), '198.19.0.0/24'));
  });

  it('leaves a Node without a range when none is left, with a Warning event', async () => {
    for (const n of ['n1', 'n2']) await api.nodes.create(undefined, node(n));
    await eventually(async () => assert.ok((await cidrOf('n2')) && (await cidrOf('n1'))));
    await api.nodes.create(undefined, node('n3'));
    await eventually(async () => {
      const evs = (await api.registry.kind('Event').list('default')).items as Array<{ reason?: string; involvedObject?: { name?: string } }>;
      assert.ok(evs.some((e) => e.reason === 'CIDRNotAvailable' && e.involvedObject?.name === 'n3'));
    });
    assert.equal(await cidrOf('n3'), undefined);
  });

  it('repairs at start: a hand-set range is claimed, claims of vanished Nodes are freed', async () => {
    ipam.stop();
    informers.stop();
    await api.nodes.create(undefined, node('manual', '198.19.1.0/24'));
    await claims().claim('198.19.0.0', { namespace: '', name: 'ghost', uid: 'gone' });
    await start();
    await eventually(async () => assert.deepEqual([...(await claims().all()).entries()].map(([k, o]) => [k, o.name]), [['198.19.1.0', 'manual']]));
    await api.nodes.create(undefined, node('n1'));
    await eventually(async () => assert.equal(await cidrOf('n1'), '198.19.0.0/24'));
  });
});
