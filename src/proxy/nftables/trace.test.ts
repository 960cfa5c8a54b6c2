import { test } from 'node:test';
import assert from 'node:assert/strict';
import { render, type NodeState } from './render.js';
import { FakeNftables } from './fake.js';
import { Tracer, type Packet } from './trace.js';
import { CLIENT, ep, modelOf, NODE, outcome, pkt, POD, sport, traceModel } from '../testing.js';

const node: NodeState = {
  nodeName: 'node-a', nodeIPs: ['198.19.255.1'], nodePortAddresses: [], clusterCIDR: '198.19.0.0/17', masqueradeAll: false, serviceCIDRs: ['198.18.0.0/16'],
};
const model = traceModel();

function setup(n: NodeState = node): Tracer {
  const fake = new FakeNftables();
  fake.apply(render(model, 'full', n).text);
  return new Tracer(fake);
}

test('tracer: what happens to the first packet', () => {
  const rows: Array<{ why: string; p: Packet; want: string[]; n?: NodeState }> = [
    { why: 'ClusterIP from a pod: any endpoint, source kept', p: pkt(POD, '198.18.0.10', 80), want: ['dnat 198.19.1.1:8080', 'dnat 198.19.1.2:8080'] },
    { why: 'ClusterIP from outside the cluster CIDR: masqueraded', p: pkt(CLIENT, '198.18.0.10', 80), want: ['dnat 198.19.1.1:8080 masq', 'dnat 198.19.1.2:8080 masq'] },
    { why: 'ClusterIP from the node itself: masqueraded', p: pkt(NODE, '198.18.0.10', 80, { hook: 'output' }), want: ['dnat 198.19.1.1:8080 masq', 'dnat 198.19.1.2:8080 masq'] },
    { why: 'ClusterIP UDP', p: { ...pkt(POD, '198.18.0.18', 53), proto: 'udp' }, want: ['dnat 198.19.8.1:53'] },
    { why: 'ClusterIP with masqueradeAll: pods masqueraded too', p: pkt(POD, '198.18.0.10', 80), n: { ...node, masqueradeAll: true }, want: ['dnat 198.19.1.1:8080 masq', 'dnat 198.19.1.2:8080 masq'] },
    { why: 'NodePort from outside: Cluster policy masquerades', p: pkt(CLIENT, NODE, 30080, { isLocalDst: true }), want: ['dnat 198.19.2.1:8080 masq'] },
    { why: 'NodePort on a non-local address is not a node port', p: pkt(CLIENT, '198.19.255.77', 30080), want: ['accept'] },
    { why: 'NodePort outside nodePortAddresses is not served', p: pkt(CLIENT, NODE, 30080, { isLocalDst: true }), n: { ...node, nodePortAddresses: ['198.19.254.0/24'] }, want: ['accept'] },
    { why: 'externalIP', p: pkt(CLIENT, '198.19.255.50', 80), want: ['dnat 198.19.2.1:8080 masq'] },
    { why: 'LB IP, ETP Local, allowed source: local endpoint, client address kept', p: pkt('198.19.255.5', '198.19.255.100', 80), want: ['dnat 198.19.3.1:8080'] },
    { why: 'LB IP from outside loadBalancerSourceRanges: dropped', p: pkt(CLIENT, '198.19.255.100', 80), want: ['drop'] },
    { why: 'NodePort, ETP Local with a local endpoint: source kept', p: pkt(CLIENT, NODE, 30081, { isLocalDst: true }), want: ['dnat 198.19.3.1:8080'] },
    { why: 'LB IP, ETP Local, no local endpoint: dropped', p: pkt('198.19.255.5', '198.19.255.101', 80), want: ['drop'] },
    { why: 'NodePort, ETP Local, no local endpoint: dropped', p: pkt(CLIENT, NODE, 30082, { isLocalDst: true }), want: ['drop'] },
    { why: 'LB IP, ETP Local, no local endpoint, from a pod: cluster policy', p: pkt(POD, '198.19.255.101', 80), want: ['dnat 198.19.4.1:8080'] },
    { why: 'LB IP, ETP Local, no local endpoint, from the node: cluster policy, masqueraded', p: pkt(NODE, '198.19.255.101', 80, { hook: 'output' }), want: ['dnat 198.19.4.1:8080 masq'] },
    { why: 'ITP Local: only this node\'s endpoint', p: pkt(POD, '198.18.0.14', 80), want: ['dnat 198.19.5.1:8080'] },
    { why: 'ITP Local without local endpoints: dropped', p: pkt(POD, '198.18.0.15', 80), want: ['drop'] },
    { why: 'no endpoints: ClusterIP rejected', p: pkt(POD, '198.18.0.16', 80), want: ['reject'] },
    { why: 'no endpoints: ClusterIP rejected from the node', p: pkt(NODE, '198.18.0.16', 80, { hook: 'output' }), want: ['reject'] },
    { why: 'no endpoints: NodePort rejected', p: pkt(CLIENT, NODE, 30083, { isLocalDst: true }), want: ['reject'] },
    { why: 'cluster IP on a port it does not serve: rejected', p: pkt(POD, '198.18.0.10', 81), want: ['reject'] },
    { why: 'unallocated service address: dropped', p: pkt(POD, '198.18.0.99', 80), want: ['drop'] },
    { why: 'unallocated service address from the node: dropped', p: pkt(NODE, '198.18.0.99', 80, { hook: 'output' }), want: ['drop'] },
    { why: 'traffic straight to a pod is left alone', p: pkt(CLIENT, '198.19.1.1', 8080), want: ['accept'] },
  ];
  for (const r of rows) {
    const got = setup(r.n).traceAll(r.p).map(outcome).sort();
    assert.deepEqual(got, r.want, r.why);
  }
});

test('tracer: hairpin (a pod reaching itself through its Service) is masqueraded', () => {
  const tr = setup();
  const got = tr.traceAll(pkt('198.19.1.1', '198.18.0.10', 80)).map(outcome).sort();
  assert.deepEqual(got, ['dnat 198.19.1.1:8080 masq', 'dnat 198.19.1.2:8080']);
});

test('tracer: hairpin entries exist for this node\'s endpoints (and those of unknown node) only', () => {
  const fake = new FakeNftables();
  fake.apply(render(modelOf([sport({
    name: 'hp', clusterIP: '198.18.0.40',
    endpoints: [ep('198.19.30.1', 80, { nodeName: 'node-a' }), ep('198.19.30.2', 80, { nodeName: 'node-b' }), ep('198.19.30.3', 80)],
  })]), 'full', node).text);
  const hairpin = [...fake.getTable('ip', 'portico')!.sets.get('hairpin')!.elements.keys()].sort();
  assert.deepEqual(hairpin, ['198.19.30.1 . 198.19.30.1', '198.19.30.3 . 198.19.30.3'], 'a pod on node-b is DNATed (and hairpinned) by node-b');
  const tr = new Tracer(fake);
  assert.deepEqual(tr.traceAll(pkt('198.19.30.1', '198.18.0.40', 80)).map(outcome).sort(), ['dnat 198.19.30.1:80 masq', 'dnat 198.19.30.2:80', 'dnat 198.19.30.3:80']);
});

test('tracer: ClientIP affinity sticks to the first endpoint chosen', () => {
  const tr = setup();
  const first = tr.trace(pkt(POD, '198.18.0.17', 80), { pick: 1 });
  assert.equal(outcome(first), 'dnat 198.19.7.2:8080');
  const again = tr.traceAll(pkt(POD, '198.18.0.17', 80)).map(outcome);
  assert.deepEqual(again, ['dnat 198.19.7.2:8080'], 'same client, any random pick: same endpoint');
  const other = tr.trace(pkt('198.19.9.10', '198.18.0.17', 80), { pick: 0 });
  assert.equal(outcome(other), 'dnat 198.19.7.1:8080', 'another client is not bound to the first one\'s endpoint');
  tr.resetDynamic();
  assert.equal(outcome(tr.trace(pkt(POD, '198.18.0.17', 80), { pick: 0 })), 'dnat 198.19.7.1:8080', 'after the timeout the choice is random again');
});

test('tracer: the deciding rule names the Service', () => {
  const r = setup().trace(pkt(POD, '198.18.0.10', 80));
  assert.equal(r.comment, 'default/web');
  const d = setup().trace(pkt('198.19.255.5', '198.19.255.101', 80));
  assert.equal(d.comment, 'default/lbnolocal has no local endpoints');
});

test('tracer: many endpoints (one endpoint-map window each) are all reachable', () => {
  const eps = Array.from({ length: 40 }, (_, i) => ep(`198.19.10.${i + 1}`, 8080));
  const fake = new FakeNftables();
  const text = render(modelOf([sport({ name: 'big', clusterIP: '198.18.0.30', endpoints: eps })]), 'full', node).text;
  assert.match(text, /dnat ip to numgen random mod 65536 offset 0 map @endpoints-tcp-0/);
  fake.apply(text);
  const got = new Tracer(fake).traceAll(pkt(POD, '198.18.0.30', 80)).map(outcome).sort();
  assert.deepEqual(got, eps.map((e) => `dnat ${e.ip}:8080`).sort());
});

test('tracer: the endpoint map gives endpoint i of N the share 1/N of the numgen window', () => {
  for (const N of [1, 3, 5, 7, 10, 33]) {
    const eps = Array.from({ length: N }, (_, i) => ep(`198.19.11.${i + 1}`, 8080));
    const fake = new FakeNftables();
    // Two services: the second one's window starts at 65536 in the same map.
    fake.apply(render(modelOf([
      sport({ name: 'first', clusterIP: '198.18.0.32', endpoints: [ep('198.19.12.1', 80)] }),
      sport({ name: 'many', clusterIP: '198.18.0.31', endpoints: eps }),
    ]), 'full', node).text);
    const map = fake.getTable('ip', 'portico')!.sets.get('endpoints-tcp-0')!;
    const windows = [...map.elements.values()]
      .map((e) => ({ lo: Number(e.key[0]!.split('-')[0]), hi: Number(e.key[0]!.split('-')[1]), ip: e.value![0]! }))
      .filter((w) => w.ip.startsWith('198.19.11.'))
      .sort((a, b) => a.lo - b.lo);
    assert.equal(windows.length, N);
    assert.equal(windows[0]!.lo, 65536, 'second slot');
    assert.equal(windows[N - 1]!.hi, 2 * 65536 - 1, 'the window is covered to its end');
    for (const [i, w] of windows.entries()) {
      if (i > 0) assert.equal(w.lo, windows[i - 1]!.hi + 1, 'no gap');
      assert.equal(w.ip, eps[i]!.ip);
      assert.ok(Math.abs((w.hi - w.lo + 1) / 65536 - 1 / N) <= 1 / 65536, `N=${N}: endpoint ${i} share`);
    }
    assert.equal(new Set(new Tracer(fake).traceAll(pkt(POD, '198.18.0.31', 80)).map(outcome)).size, N, 'every endpoint reachable');
  }
});
