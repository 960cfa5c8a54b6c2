import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  contributionOf, emptyState, isLargeCluster, jumps, LARGE_CLUSTER_ENDPOINTS, missingJumps, probability, render, renderCleanup, staleFromSave, type NodeState,
} from './render.js';
import { FakeIptables } from './fake.js';
import { chainName, isOwnedChain, MAX_CHAIN_LEN, CH } from './names.js';
import { ep, modelOf, mutate, randomService, rng, sortedLines, sport, type RandomServiceOptions } from '../testing.js';
import type { ServicePortInfo } from '../model.js';

const node: NodeState = { nodeName: 'node-a', nodeIPs: ['198.19.255.1'], nodePortAddresses: [], clusterCIDR: '198.19.0.0/16', masqueradeAll: false };

// A ClusterIP service with two endpoints and a UDP NodePort service without endpoints.
const GOLDEN_FULL = `
*nat
:PORTICO-SERVICES - [0:0]
:PORTICO-NODEPORTS - [0:0]
:PORTICO-POSTROUTING - [0:0]
:PORTICO-MARK-MASQ - [0:0]
:PORTICO-SEP-6NWKQWOGYPDR7V63 - [0:0]
:PORTICO-SEP-M4HDU3CZSVLD4NUB - [0:0]
:PORTICO-SVC-3YSXENH5A4FVEF2F - [0:0]
-A PORTICO-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A PORTICO-POSTROUTING -j MARK --xor-mark 0x4000
-A PORTICO-POSTROUTING -m comment --comment "portico service traffic requiring SNAT" -j MASQUERADE --random-fully
-A PORTICO-MARK-MASQ -j MARK --or-mark 0x4000
-A PORTICO-SEP-6NWKQWOGYPDR7V63 -s 198.19.1.1/32 -m comment --comment "default/web:http" -j PORTICO-MARK-MASQ
-A PORTICO-SEP-6NWKQWOGYPDR7V63 -p tcp -m comment --comment "default/web:http" -j DNAT --to-destination 198.19.1.1:8080
-A PORTICO-SEP-M4HDU3CZSVLD4NUB -s 198.19.1.2/32 -m comment --comment "default/web:http" -j PORTICO-MARK-MASQ
-A PORTICO-SEP-M4HDU3CZSVLD4NUB -p tcp -m comment --comment "default/web:http" -j DNAT --to-destination 198.19.1.2:8080
-A PORTICO-SVC-3YSXENH5A4FVEF2F ! -s 198.19.0.0/16 -d 198.18.0.10/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j PORTICO-MARK-MASQ
-A PORTICO-SVC-3YSXENH5A4FVEF2F -m comment --comment "default/web:http" -m statistic --mode random --probability 0.5000000000 -j PORTICO-SEP-6NWKQWOGYPDR7V63
-A PORTICO-SVC-3YSXENH5A4FVEF2F -m comment --comment "default/web:http" -j PORTICO-SEP-M4HDU3CZSVLD4NUB
-A PORTICO-SERVICES -d 198.18.0.10/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j PORTICO-SVC-3YSXENH5A4FVEF2F
-A PORTICO-SERVICES ! -d 127.0.0.0/8 -m comment --comment "portico service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j PORTICO-NODEPORTS
COMMIT
*filter
:PORTICO-SERVICES - [0:0]
:PORTICO-NODEPORTS - [0:0]
:PORTICO-EXTERNAL-SERVICES - [0:0]
:PORTICO-PROXY-FIREWALL - [0:0]
:PORTICO-FORWARD - [0:0]
-A PORTICO-FORWARD -m comment --comment "portico forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A PORTICO-FORWARD -m comment --comment "portico forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A PORTICO-SERVICES -d 198.18.0.11/32 -p udp -m comment --comment "ops/np has no endpoints" -m udp --dport 53 -j REJECT
-A PORTICO-EXTERNAL-SERVICES ! -d 127.0.0.0/8 -p udp -m comment --comment "ops/np has no endpoints" -m addrtype --dst-type LOCAL -m udp --dport 30053 -j REJECT
COMMIT
`;

test('render: golden full restore text (order-insensitive)', () => {
  const m = modelOf([
    sport({ name: 'web', portName: 'http', clusterIP: '198.18.0.10', endpoints: [ep('198.19.1.1', 8080), ep('198.19.1.2', 8080)] }),
    sport({ name: 'np', namespace: 'ops', clusterIP: '198.18.0.11', protocol: 'UDP', port: 53, nodePort: 30053 }),
  ]);
  const text = render(m, 'full', node).text;
  assert.deepEqual(sortedLines(text), sortedLines(GOLDEN_FULL));
  // Table blocks stay ordered: declarations before the rules that jump to them.
  assert.ok(text.indexOf(':PORTICO-SEP-6NWKQWOGYPDR7V63') < text.indexOf('-j PORTICO-SEP-6NWKQWOGYPDR7V63'));
});

/** The rules one service port puts anywhere, as `-A CHAIN spec` lines (chains resolved by name). */
function rulesOf(sp: ServicePortInfo, n: NodeState = node, family: 'ip' | 'ip6' = 'ip'): string[] {
  const c = contributionOf(sp, family, n);
  const out: string[] = [];
  for (const [id, rules] of c.chains) for (const r of rules) out.push(`-A ${id.split('\0')[1]} ${r}`);
  for (const d of c.dispatch) {
    const [t, ch, spec] = d.split('\0');
    out.push(`${t}: -A ${ch} ${spec}`);
  }
  return out;
}

test('render: golden rules per feature', () => {
  const A = { nodeName: 'node-a' };
  const B = { nodeName: 'node-b' };
  const aff = sport({ name: 'aff', clusterIP: '198.18.0.17', affinityTimeoutSeconds: 60, endpoints: [ep('198.19.7.1', 8080)] });
  const etp = sport({ name: 'lb', clusterIP: '198.18.0.12', nodePort: 30081, loadBalancerIPs: ['198.19.255.100'], externalPolicyLocal: true, loadBalancerSourceRanges: ['198.19.255.0/28'], healthCheckNodePort: 32000, endpoints: [ep('198.19.3.1', 8080, A)] });
  const noLocal = sport({ name: 'nl', clusterIP: '198.18.0.13', externalIPs: ['198.19.255.50'], externalPolicyLocal: true, endpoints: [ep('198.19.4.1', 8080, B)] });
  const itp = sport({ name: 'itp', clusterIP: '198.18.0.15', internalPolicyLocal: true, endpoints: [ep('198.19.6.2', 8080, B)] });
  const v6 = sport({ name: 'v6', clusterIPs: ['fd00::10'], endpoints: [ep('fd00:1::1', 8080)] });
  const none = sport({ name: 'none', clusterIP: '198.18.0.19', nodePort: 30090, endpoints: [] });
  const sep = (sp: ServicePortInfo, e: string) => chainName('SEP', sp, e);
  const rows: Array<{ why: string; got: string[]; want: string[] }> = [
    {
      why: 'affinity: recent check before the random choice, recent set beside DNAT',
      got: rulesOf(aff),
      want: [
        `-A ${chainName('SVC', aff)} -m comment --comment "default/aff" -m recent --rcheck --seconds 60 --reap --name ${sep(aff, '198.19.7.1:8080')} -j ${sep(aff, '198.19.7.1:8080')}`,
        `-A ${sep(aff, '198.19.7.1:8080')} -p tcp -m comment --comment "default/aff" -m recent --set --name ${sep(aff, '198.19.7.1:8080')} -j DNAT --to-destination 198.19.7.1:8080`,
      ],
    },
    {
      why: 'ETP Local: pods and the node go to cluster policy, others to local endpoints; LB behind FW; health check port accepted',
      got: rulesOf(etp),
      want: [
        `-A ${chainName('EXT', etp)} -s 198.19.0.0/16 -m comment --comment "pod traffic for default/lb external destinations" -j ${chainName('SVC', etp)}`,
        `-A ${chainName('EXT', etp)} -m comment --comment "masquerade LOCAL traffic for default/lb external destinations" -m addrtype --src-type LOCAL -j ${CH.MARK_MASQ}`,
        `-A ${chainName('EXT', etp)} -m comment --comment "route LOCAL traffic for default/lb external destinations" -m addrtype --src-type LOCAL -j ${chainName('SVC', etp)}`,
        `-A ${chainName('EXT', etp)} -j ${chainName('SVL', etp)}`,
        `-A ${chainName('FW', etp)} -s 198.19.255.0/28 -m comment --comment "default/lb loadbalancer IP" -j ${chainName('EXT', etp)}`,
        `nat: -A PORTICO-SERVICES -d 198.19.255.100/32 -p tcp -m comment --comment "default/lb loadbalancer IP" -m tcp --dport 80 -j ${chainName('FW', etp)}`,
        `nat: -A PORTICO-NODEPORTS -p tcp -m comment --comment "default/lb" -m tcp --dport 30081 -j ${chainName('EXT', etp)}`,
        `filter: -A PORTICO-PROXY-FIREWALL -d 198.19.255.100/32 -p tcp -m comment --comment "default/lb traffic not accepted by ${chainName('FW', etp)}" -m tcp --dport 80 -j DROP`,
        'filter: -A PORTICO-NODEPORTS -p tcp -m comment --comment "default/lb health check node port" -m tcp --dport 32000 -j ACCEPT',
      ],
    },
    {
      why: 'ETP Local without local endpoints: external traffic dropped in filter',
      got: rulesOf(noLocal),
      want: ['filter: -A PORTICO-EXTERNAL-SERVICES -d 198.19.255.50/32 -p tcp -m comment --comment "default/nl has no local endpoints" -m tcp --dport 80 -j DROP'],
    },
    {
      why: 'ITP Local without local endpoints: cluster IP dropped, no nat dispatch',
      got: rulesOf(itp),
      want: ['filter: -A PORTICO-SERVICES -d 198.18.0.15/32 -p tcp -m comment --comment "default/itp has no local endpoints" -m tcp --dport 80 -j DROP'],
    },
    {
      why: 'no endpoints, TCP: reset (the kernel rate-limits ICMP errors per host; resets are not)',
      got: rulesOf(none),
      want: [
        'filter: -A PORTICO-SERVICES -d 198.18.0.19/32 -p tcp -m comment --comment "default/none has no endpoints" -m tcp --dport 80 -j REJECT --reject-with tcp-reset',
        'filter: -A PORTICO-EXTERNAL-SERVICES ! -d 127.0.0.0/8 -p tcp -m comment --comment "default/none has no endpoints" -m addrtype --dst-type LOCAL -m tcp --dport 30090 -j REJECT --reject-with tcp-reset',
      ],
    },
    {
      why: 'masqueradeAll marks every cluster IP connection',
      got: rulesOf(aff, { ...node, masqueradeAll: true }),
      want: [`-A ${chainName('SVC', aff)} -d 198.18.0.17/32 -p tcp -m comment --comment "default/aff cluster IP" -m tcp --dport 80 -j PORTICO-MARK-MASQ`],
    },
    {
      why: 'IPv6: /128, bracketed DNAT, only in the ip6 tables',
      got: rulesOf(v6, node, 'ip6'),
      want: [
        `-A ${sep(v6, 'fd00:1::1:8080')} -p tcp -m comment --comment "default/v6" -j DNAT --to-destination [fd00:1::1]:8080`,
        `nat: -A PORTICO-SERVICES -d fd00::10/128 -p tcp -m comment --comment "default/v6 cluster IP" -m tcp --dport 80 -j ${chainName('SVC', v6)}`,
      ],
    },
  ];
  for (const r of rows) for (const w of r.want) assert.ok(r.got.includes(w), `${r.why}: missing ${w}\n got:\n${r.got.join('\n')}`);
  assert.deepEqual(rulesOf(v6, node, 'ip'), [], 'an IPv6 service puts nothing in the IPv4 tables');
  assert.equal(rulesOf(itp).filter((l) => l.startsWith('nat:')).length, 0, 'ITP Local without local endpoints: nothing in nat dispatch');
});

test('render: nodePortAddresses restrict the node-port jump to those CIDRs', () => {
  const text = render(modelOf([]), 'full', { ...node, nodePortAddresses: ['198.19.255.0/24', 'fd00::/64'] }).text;
  const np = text.split('\n').filter((l) => l.includes(`-j ${CH.NODEPORTS}`));
  assert.deepEqual(np, [`-A PORTICO-SERVICES -d 198.19.255.0/24 -m comment --comment "portico service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j ${CH.NODEPORTS}`]);
});

test('render: probabilities 1/(n-i) with ten decimals', () => {
  const rows: Array<[number, number, string]> = [[2, 0, '0.5000000000'], [3, 0, '0.3333333333'], [3, 1, '0.5000000000'], [7, 0, '0.1428571429'], [6, 0, '0.1666666667']];
  for (const [n, i, want] of rows) assert.equal(probability(n, i), want, `${n} ${i}`);
});

test('names: bounded, deterministic, recognised by isOwnedChain', () => {
  const long = sport({ namespace: 'n'.repeat(63), name: 's'.repeat(63), portName: 'p'.repeat(15) });
  const rows: Array<{ why: string; name: string; owned: boolean }> = [
    { why: 'service chain', name: chainName('SVC', sport({ name: 'web' })), owned: true },
    { why: 'long service names hash to the same length', name: chainName('SEP', long, '198.19.1.1:8080'), owned: true },
    { why: 'firewall chain (shortest kind)', name: chainName('FW', long), owned: true },
    { why: 'fixed chain', name: CH.EXTERNAL, owned: true },
    { why: 'kube-proxy chain', name: 'KUBE-SVC-ABCDEFGHIJKLMNOP', owned: false },
    { why: 'lookalike with a bad hash', name: 'PORTICO-SVC-abc', owned: false },
    { why: 'built-in chain', name: 'PREROUTING', owned: false },
  ];
  for (const r of rows) {
    assert.ok(r.name.length <= MAX_CHAIN_LEN, `${r.why}: ${r.name.length}`);
    assert.equal(isOwnedChain(r.name), r.owned, r.why);
  }
  assert.equal(chainName('SVC', sport({ name: 'web' })), chainName('SVC', sport({ name: 'web' })), 'deterministic');
  assert.notEqual(chainName('SVC', sport({ name: 'web' })), chainName('SVC', sport({ name: 'web2' })));
  assert.notEqual(chainName('SEP', sport({ name: 'web' }), '1.1.1.1:80'), chainName('SEP', sport({ name: 'web' }), '1.1.1.1:81'));
});

// ---- partial sync == full sync, over random model changes ----

const RANDOM: RandomServiceOptions = { healthCheckNodePorts: true };

/**
 * A dump in which the order of rules inside the shared dispatch chains does not count (each rule
 * there matches its own address and port, so order carries no meaning), except that the node-port
 * jump must be the last rule of nat PORTICO-SERVICES.
 */
function canonicalDump(fake: FakeIptables): string {
  const out: string[] = [];
  for (const t of ['nat', 'filter']) {
    const table = fake.getTable(t)!;
    for (const name of fake.chainNames(t)) {
      const rules = table.chains.get(name)!.rules.map((r) => r.spec);
      const dispatch = [CH.SERVICES, CH.NODEPORTS, CH.EXTERNAL, CH.FIREWALL].includes(name as never);
      if (t === 'nat' && name === CH.SERVICES) {
        const last = rules.pop() ?? '';
        assert.ok(last.includes(`-j ${CH.NODEPORTS}`), 'node-port jump is the last rule');
        rules.sort().push(last);
      } else if (dispatch) rules.sort();
      out.push(`${t} ${name}`, ...rules.map((r) => `  ${r}`));
    }
  }
  return out.join('\n');
}

test('render: full(m1) then partial(m1→m2) equals full(m2) on the fake, over random changes', () => {
  for (let seed = 1; seed <= 40; seed++) {
    const r = rng(seed);
    const size = 12;
    let model = modelOf(Array.from({ length: size }, (_, i) => randomService(r, i, RANDOM)));
    const n: NodeState = { ...node, masqueradeAll: seed % 7 === 0, clusterCIDR: seed % 5 === 0 ? '' : node.clusterCIDR };
    const incremental = new FakeIptables();
    let res = render(model, 'full', n);
    incremental.apply(res.text);
    for (let step = 0; step < 6; step++) {
      model = mutate(r, model, size, RANDOM);
      res = render(model, model.changed, n, res.state);
      assert.equal(res.kind, 'partial');
      assert.ok(!/^:PORTICO-(SERVICES|NODEPORTS|EXTERNAL-SERVICES|PROXY-FIREWALL|FORWARD|POSTROUTING|MARK-MASQ) /m.test(res.text), 'a partial sync never flushes a fixed chain');
      incremental.apply(res.text);
      const fresh = new FakeIptables();
      fresh.apply(render(model, 'full', n).text);
      assert.equal(canonicalDump(incremental), canonicalDump(fresh), `seed ${seed} step ${step}`);
    }
  }
});

test('render: a partial sync of one endpoint removal touches only that service\'s chains', () => {
  const ports = Array.from({ length: 100 }, (_, i) => sport({ name: `s${i}`, clusterIP: `198.18.1.${i + 1}`, endpoints: [ep(`198.19.1.${i + 1}`, 80), ep(`198.19.2.${i + 1}`, 80)] }));
  const m1 = modelOf(ports);
  const full = render(m1, 'full', node);
  const changed = sport({ name: 's7', clusterIP: '198.18.1.8', endpoints: [ep('198.19.1.8', 80)] });
  const m2 = modelOf([...ports.filter((p) => p.key !== changed.key), changed], [changed.key]);
  const part = render(m2, m2.changed, node, full.state);
  const svc = chainName('SVC', changed);
  const gone = chainName('SEP', changed, '198.19.2.8:80');
  assert.deepEqual(sortedLines(part.text), sortedLines(`*nat
:${svc} - [0:0]
:${gone} - [0:0]
-A ${svc} ! -s 198.19.0.0/16 -d 198.18.1.8/32 -p tcp -m comment --comment "default/s7 cluster IP" -m tcp --dport 80 -j PORTICO-MARK-MASQ
-A ${svc} -m comment --comment "default/s7" -j ${chainName('SEP', changed, '198.19.1.8:80')}
-X ${gone}
COMMIT`));
  const fake = new FakeIptables();
  fake.apply(full.text);
  fake.apply(part.text);
  assert.ok(!fake.getTable('nat')!.chains.has(gone), 'the endpoint chain is deleted');
  const unchanged = render(m2, [], node, part.state);
  assert.equal(unchanged.text, '', 'nothing changed: nothing to restore');
  assert.throws(() => render(m2, [], node, part.state), /consumed/, 'a state is used once');
  assert.equal(render(m2, [], { ...node, masqueradeAll: true }, unchanged.state).kind, 'full', 'node state change forces a full sync');
});

test('render: above 1000 endpoints the per-endpoint rules go without comments (kube-proxy\'s large cluster mode); crossing over is a full sync', () => {
  // 100 x 10 = 1000 endpoints: not large; one more endpoint makes it large.
  const ports = Array.from({ length: 100 }, (_, i) => sport({
    name: `s${i}`, clusterIP: `198.18.${i >> 8}.${i & 255}`, affinityTimeoutSeconds: i === 0 ? 60 : 0,
    endpoints: Array.from({ length: 10 }, (_, j) => ep(`198.19.${i}.${j + 1}`, 80)),
  }));
  const small = modelOf(ports);
  assert.equal(LARGE_CLUSTER_ENDPOINTS, 1000);
  assert.equal(isLargeCluster(small, 'ip'), false);
  const before = render(small, 'full', node);
  const s0 = ports[0]!;
  const sep = chainName('SEP', s0, '198.19.0.1:80');
  const svc = chainName('SVC', s0);
  assert.ok(before.text.includes(`-A ${sep} -p tcp -m comment --comment "default/s0" -m recent --set --name ${sep} -j DNAT --to-destination 198.19.0.1:80\n`));

  const grown = sport({ ...s0, endpoints: [...s0.endpoints, ep('198.19.250.1', 80)] });
  const large = modelOf([grown, ...ports.slice(1)], [grown.key]);
  assert.equal(isLargeCluster(large, 'ip'), true);
  assert.equal(isLargeCluster(large, 'ip6'), false, 'counted per family');
  const after = render(large, large.changed, node, before.state);
  assert.equal(after.kind, 'full', 'every endpoint rule changes: a full sync');
  const rulesOfChain = (text: string, ch: string) => text.split('\n').filter((l) => l.startsWith(`-A ${ch} `));
  assert.deepEqual(rulesOfChain(after.text, sep), [
    `-A ${sep} -s 198.19.0.1/32 -j PORTICO-MARK-MASQ`,
    `-A ${sep} -p tcp -m recent --set --name ${sep} -j DNAT --to-destination 198.19.0.1:80`,
  ]);
  const svcRules = rulesOfChain(after.text, svc);
  assert.equal(svcRules.length, 1 + 11 + 11, 'masquerade, 11 affinity checks, 11 choices');
  assert.ok(svcRules[0]!.includes('-m comment --comment "default/s0 cluster IP"'), 'the cluster-IP masquerade rule keeps its comment');
  assert.equal(svcRules[1], `-A ${svc} -m recent --rcheck --seconds 60 --reap --name ${sep} -j ${sep}`);
  assert.ok(svcRules[12]!.startsWith(`-A ${svc} -m statistic --mode random --probability 0.0909090909 -j `));
  assert.ok(svcRules[22]!.startsWith(`-A ${svc} -j PORTICO-SEP-`));
  assert.ok(after.text.includes(`-A PORTICO-SERVICES -d 198.18.0.0/32 -p tcp -m comment --comment "default/s0 cluster IP" -m tcp --dport 80 -j ${svc}\n`), 'dispatch rules keep theirs');
  // The fake (kernel-like) takes the full text over the old one, and a partial sync in large mode stays partial.
  const fake = new FakeIptables();
  fake.apply(before.text);
  fake.apply(after.text);
  assert.equal(render(large, [], node, after.state).kind, 'partial');
});

test('render: a deleted service loses its dispatch rules (-D) and chains (-X); the node-port jump stays last on re-add', () => {
  const a = sport({ name: 'a', clusterIP: '198.18.0.1', nodePort: 30001, externalIPs: ['198.19.255.9'], endpoints: [ep('198.19.0.1', 80)] });
  const b = sport({ name: 'b', clusterIP: '198.18.0.2', endpoints: [] });
  const fake = new FakeIptables();
  const full = render(modelOf([a, b]), 'full', node);
  fake.apply(full.text);
  const del = render(modelOf([b], [a.key]), [a.key], node, full.state);
  assert.match(del.text, /^-D PORTICO-SERVICES -d 198\.18\.0\.1\/32 /m);
  assert.match(del.text, /^-D PORTICO-NODEPORTS /m);
  fake.apply(del.text);
  const owned = fake.chainNames('nat').filter((c) => /^PORTICO-(SVC|SEP|EXT)-/.test(c));
  assert.deepEqual(owned, [], 'no per-service chains left');
  const readd = render(modelOf([a, b], [a.key]), [a.key], node, del.state);
  assert.match(readd.text, /^-I PORTICO-SERVICES 1 -d 198\.18\.0\.1\/32 /m);
  fake.apply(readd.text);
  const rules = fake.getTable('nat')!.chains.get(CH.SERVICES)!.rules;
  assert.match(rules[rules.length - 1]!.spec, /-j PORTICO-NODEPORTS$/);
});

test('render: a full sync deletes chains the previous state or the kernel held that are gone', () => {
  const a = sport({ name: 'a', clusterIP: '198.18.0.1', endpoints: [ep('198.19.0.1', 80)] });
  const b = sport({ name: 'b', clusterIP: '198.18.0.2', endpoints: [ep('198.19.0.2', 80)] });
  const fake = new FakeIptables();
  fake.apply(render(modelOf([a, b]), 'full', node).text);
  // After a restart the applier knows nothing but what iptables-save shows.
  const stale = staleFromSave(fake.dump());
  assert.equal(stale.length, 4, 'SVC and SEP of both services');
  const r = render(modelOf([a]), 'full', node, emptyState('ip', stale));
  fake.apply(r.text);
  const left = fake.chainNames('nat').filter((c) => c.startsWith('PORTICO-S'));
  assert.deepEqual(left.sort(), [CH.SERVICES, chainName('SEP', a, '198.19.0.1:80'), chainName('SVC', a)].sort());
});

test('render: jumps from built-in chains are installed once, found by target, and cleanup removes everything', () => {
  const fake = new FakeIptables();
  const listing = () => new Map(jumps().map((j) => [`${j.table}\0${j.chain}`, fake.listChain(j.table, j.chain)] as const));
  const m = modelOf([sport({ name: 'a', clusterIP: '198.18.0.1', nodePort: 30001, loadBalancerIPs: ['198.19.255.7'], loadBalancerSourceRanges: ['198.19.255.0/28'], endpoints: [ep('198.19.0.1', 80)] })]);
  assert.equal(missingJumps(listing()).length, jumps().length, 'fresh tables: every jump missing');
  fake.apply(render(m, 'full', node, undefined, 'ip', { installJumps: missingJumps(listing()) }).text);
  assert.deepEqual(missingJumps(listing()), [], 'all present');
  assert.deepEqual(fake.listChain('filter', 'FORWARD').trim().split('\n').map((l) => l.split(' -j ')[1]), [CH.FIREWALL, CH.FORWARD, CH.SERVICES, CH.EXTERNAL], 'in the given order');
  fake.apply('*filter\n-A INPUT -s 198.19.255.3/32 -j ACCEPT\nCOMMIT\n');
  fake.apply(renderCleanup(fake.dump()));
  for (const t of ['nat', 'filter']) {
    assert.deepEqual(fake.chainNames(t).filter(isOwnedChain), [], `${t}: no Portico chain left`);
  }
  assert.equal(fake.listChain('filter', 'INPUT'), '-A INPUT -s 198.19.255.3/32 -j ACCEPT\n', 'foreign rules stay');
  assert.equal(renderCleanup(fake.dump()), '', 'nothing left to clean');
});
