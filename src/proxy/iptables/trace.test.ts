import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jumps, render, type NodeState } from './render.js';
import { FakeIptables } from './fake.js';
import { Tracer, type Packet } from './trace.js';
import { CLIENT, ep, modelOf, NODE, outcome, pkt, POD, sport, traceModel } from '../testing.js';

const node: NodeState = { nodeName: 'node-a', nodeIPs: ['198.19.255.1'], nodePortAddresses: [], clusterCIDR: '198.19.0.0/17', masqueradeAll: false };
const model = traceModel({ externalIPs: ['198.19.255.51'] });

function setup(n: NodeState = node): Tracer {
  const fake = new FakeIptables();
  fake.apply(render(model, 'full', n, undefined, 'ip', { installJumps: jumps() }).text);
  return new Tracer(fake);
}

test('tracer: what happens to the first packet', () => {
  const rows: Array<{ why: string; p: Packet; want: string[]; n?: NodeState }> = [
    { why: 'ClusterIP from a pod: any endpoint, source kept', p: pkt(POD, '198.18.0.10', 80), want: ['dnat 198.19.1.1:8080', 'dnat 198.19.1.2:8080'] },
    { why: 'ClusterIP from outside the cluster CIDR: masqueraded', p: pkt(CLIENT, '198.18.0.10', 80), want: ['dnat 198.19.1.1:8080 masq', 'dnat 198.19.1.2:8080 masq'] },
    { why: 'ClusterIP from the node itself: masqueraded', p: pkt(NODE, '198.18.0.10', 80, { hook: 'output' }), want: ['dnat 198.19.1.1:8080 masq', 'dnat 198.19.1.2:8080 masq'] },
    { why: 'ClusterIP UDP', p: { ...pkt(POD, '198.18.0.18', 53), proto: 'udp' }, want: ['dnat 198.19.8.1:53'] },
    { why: 'ClusterIP, wrong protocol: not a service', p: pkt(POD, '198.18.0.18', 53), want: ['accept'] },
    { why: 'ClusterIP with masqueradeAll: pods masqueraded too', p: pkt(POD, '198.18.0.10', 80), n: { ...node, masqueradeAll: true }, want: ['dnat 198.19.1.1:8080 masq', 'dnat 198.19.1.2:8080 masq'] },
    { why: 'NodePort from outside: Cluster policy masquerades', p: pkt(CLIENT, NODE, 30080, { isLocalDst: true }), want: ['dnat 198.19.2.1:8080 masq'] },
    { why: 'NodePort on a non-local address is not a node port', p: pkt(CLIENT, '198.19.255.77', 30080), want: ['accept'] },
    { why: 'NodePort outside nodePortAddresses is not served', p: pkt(CLIENT, NODE, 30080, { isLocalDst: true }), n: { ...node, nodePortAddresses: ['198.19.254.0/24'] }, want: ['accept'] },
    { why: 'NodePort inside nodePortAddresses is served', p: pkt(CLIENT, NODE, 30080, { isLocalDst: true }), n: { ...node, nodePortAddresses: ['198.19.255.0/24'] }, want: ['dnat 198.19.2.1:8080 masq'] },
    { why: 'externalIP: Cluster policy masquerades', p: pkt(CLIENT, '198.19.255.50', 80), want: ['dnat 198.19.2.1:8080 masq'] },
    { why: 'LB IP, ETP Local, allowed source: local endpoint, client address kept', p: pkt('198.19.255.5', '198.19.255.100', 80), want: ['dnat 198.19.3.1:8080'] },
    { why: 'LB IP from outside loadBalancerSourceRanges: dropped', p: pkt(CLIENT, '198.19.255.100', 80), want: ['drop'] },
    { why: 'LB IP from the node (inside the ranges), ETP Local: cluster policy, masqueraded', p: pkt(NODE, '198.19.255.100', 80, { hook: 'output' }), want: ['dnat 198.19.3.1:8080 masq'] },
    { why: 'LB IP from a local address outside the ranges: dropped', p: pkt('198.19.254.1', '198.19.255.100', 80, { hook: 'output' }), want: ['drop'] },
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
    { why: 'no endpoints: externalIP rejected', p: pkt(CLIENT, '198.19.255.51', 80), want: ['reject'] },
    { why: 'traffic straight to a pod is left alone', p: pkt(CLIENT, '198.19.1.1', 8080), want: ['accept'] },
  ];
  for (const r of rows) {
    const got = setup(r.n).traceAll(r.p).map(outcome).sort();
    assert.deepEqual(got, r.want, r.why);
  }
});

test('tracer: hairpin (a pod reaching itself through its Service) is masqueraded', () => {
  const got = setup().traceAll(pkt('198.19.1.1', '198.18.0.10', 80)).map(outcome).sort();
  assert.deepEqual(got, ['dnat 198.19.1.1:8080 masq', 'dnat 198.19.1.2:8080']);
});

test('tracer: ClientIP affinity sticks until the recent entry is older than the timeout', () => {
  const tr = setup();
  const second = () => {
    let n = 0;
    return () => (n++ < 1 ? 0.9 : 0);
  };
  assert.equal(outcome(tr.trace(pkt(POD, '198.18.0.17', 80), { random: second() })), 'dnat 198.19.7.2:8080');
  assert.deepEqual(tr.traceAll(pkt(POD, '198.18.0.17', 80)).map(outcome), ['dnat 198.19.7.2:8080'], 'same client, any draw: same endpoint');
  assert.equal(outcome(tr.trace(pkt('198.19.9.10', '198.18.0.17', 80))), 'dnat 198.19.7.1:8080', 'another client is not bound');
  tr.advance(60);
  assert.equal(outcome(tr.trace(pkt(POD, '198.18.0.17', 80))), 'dnat 198.19.7.2:8080', 'still within --seconds 60');
  tr.advance(61);
  assert.equal(outcome(tr.trace(pkt(POD, '198.18.0.17', 80))), 'dnat 198.19.7.1:8080', 'after the timeout the choice is random again');
});

test('tracer: the deciding rule names the Service', () => {
  assert.equal(setup().trace(pkt(POD, '198.18.0.10', 80)).comment, 'default/web');
  assert.equal(setup().trace(pkt('198.19.255.5', '198.19.255.101', 80)).comment, 'default/lbnolocal has no local endpoints');
  assert.equal(setup().trace(pkt(POD, '198.18.0.16', 80)).comment, 'default/empty has no endpoints');
});

test('tracer: the statistic cascade gives endpoint i of N the share 1/N, every endpoint reachable', () => {
  const N = 5;
  const eps = Array.from({ length: N }, (_, i) => ep(`198.19.11.${i + 1}`, 8080));
  const fake = new FakeIptables();
  fake.apply(render(modelOf([sport({ name: 'five', clusterIP: '198.18.0.31', endpoints: eps })]), 'full', node, undefined, 'ip', { installJumps: jumps() }).text);
  const svc = [...fake.getTable('nat')!.chains.values()].find((c) => c.name.startsWith('PORTICO-SVC-'))!;
  const picks = svc.rules.filter((r) => r.target?.k === 'chain' && r.target.chain.startsWith('PORTICO-SEP-'));
  assert.equal(picks.length, N);
  let pass = 1;
  for (const r of picks) {
    const p = r.matches.find((m) => m.k === 'statistic');
    const share = pass * (p?.k === 'statistic' ? p.probability : 1);
    assert.ok(Math.abs(share - 1 / N) < 1e-9, `share of ${r.spec}`);
    pass -= share;
  }
  assert.equal(new Tracer(fake).traceAll(pkt(POD, '198.18.0.31', 80)).length, N);
});
