import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  contributionOf, deleteReals, diffIpvs, isIpvsScheduler, IPVS_SCHEDULERS, parseIpvsList, parseIpvsSave, render, renderAddrs, renderIptables, renderFullSets, renderPartialSets, familySets, hashSizeFor, parseIpsetHeaders, SET,
  type IpvsOptions, type KernelImage, type NodeState,
} from './render.js';
import { FakeIpvs } from './fake.js';
import { ep, modelOf, mutate, ON_A, ON_B, randomService, rng, sortedLines, sport } from '../testing.js';
import { jumps } from '../iptables/render.js';
import type { ServicePortInfo } from '../model.js';

const node: NodeState = { nodeName: 'node-a', nodeIPs: ['198.19.255.1'], nodePortAddresses: [], clusterCIDR: '198.19.0.0/16', masqueradeAll: false };
const rr: IpvsOptions = { scheduler: 'rr' };

/** A contribution in comparable lines: `VS key sched persistence -> reals`, `ADDR a`, `SET entry`. */
function lines(sp: ServicePortInfo, o: IpvsOptions = rr, n: NodeState = node): string[] {
  const c = contributionOf(sp, n, o);
  const out: string[] = [];
  for (const [k, v] of c.vs) out.push(`VS ${k} ${v.scheduler}${v.persistence ? ` p${v.persistence}` : ''} -> ${[...v.reals].map(([r, w]) => `${r}/${w}`).join(' ')}`);
  for (const a of c.addrs) out.push(`ADDR ${a}`);
  for (const e of c.entries) out.push(`SET ${e}`);
  return out.sort();
}

test('contribution: one row per feature, each with its reason', () => {
  const rows: Array<{ why: string; sp: ServicePortInfo; want: string[]; o?: IpvsOptions }> = [
    {
      why: 'ClusterIP: a virtual server on the cluster IP, the address on the dummy, cluster-IP and hairpin set entries',
      sp: sport({ name: 'web', clusterIP: '198.18.0.10', endpoints: [ep('198.19.1.1', 8080, ON_A), ep('198.19.1.2', 8080, ON_B)] }),
      want: [
        'ADDR 198.18.0.10',
        'SET PORTICO-CLUSTER-IP 198.18.0.10,80',
        'SET PORTICO-LOOP-BACK 198.19.1.1,8080,198.19.1.1',
        'SET PORTICO-LOOP-BACK 198.19.1.2,8080,198.19.1.2',
        'VS tcp 198.18.0.10:80 rr -> 198.19.1.1:8080/1 198.19.1.2:8080/1',
      ],
    },
    {
      why: 'no endpoints: no virtual server (the packet meets the REJECT), the address rejects',
      sp: sport({ name: 'empty', clusterIP: '198.18.0.16', protocol: 'UDP', port: 53 }),
      want: ['ADDR 198.18.0.16', 'SET PORTICO-CLUSTER-IP 198.18.0.16,udp:53', 'SET PORTICO-NO-ENDPOINTS 198.18.0.16,udp:53'],
    },
    {
      why: 'session affinity ClientIP: persistence with the Service timeout',
      sp: sport({ name: 'aff', clusterIP: '198.18.0.17', affinityTimeoutSeconds: 60, endpoints: [ep('198.19.7.1', 8080)] }),
      want: ['ADDR 198.18.0.17', 'SET PORTICO-CLUSTER-IP 198.18.0.17,80', 'SET PORTICO-LOOP-BACK 198.19.7.1,8080,198.19.7.1', 'VS tcp 198.18.0.17:80 rr p60 -> 198.19.7.1:8080/1'],
    },
    {
      why: 'NodePort with Cluster policy: a virtual server per node address, masqueraded (EXTERNAL)',
      sp: sport({ name: 'np', clusterIP: '198.18.0.11', nodePort: 30080, endpoints: [ep('198.19.2.1', 8080, ON_B)] }),
      want: [
        'ADDR 198.18.0.11',
        'SET PORTICO-CLUSTER-IP 198.18.0.11,80',
        'SET PORTICO-EXTERNAL 198.19.255.1,30080',
        'SET PORTICO-LOOP-BACK 198.19.2.1,8080,198.19.2.1',
        'VS tcp 198.18.0.11:80 rr -> 198.19.2.1:8080/1',
        'VS tcp 198.19.255.1:30080 rr -> 198.19.2.1:8080/1',
      ],
    },
    {
      why: 'LB with Local policy and a local endpoint: external servers get only local endpoints; source ranges go to LB-FW/LB-SRC',
      sp: sport({
        name: 'lb', clusterIP: '198.18.0.12', loadBalancerIPs: ['198.19.255.100'], externalPolicyLocal: true, loadBalancerSourceRanges: ['198.19.255.0/28'],
        endpoints: [ep('198.19.3.1', 8080, ON_A), ep('198.19.3.2', 8080, ON_B)],
      }),
      want: [
        'ADDR 198.18.0.12',
        'ADDR 198.19.255.100',
        'SET PORTICO-CLUSTER-IP 198.18.0.12,80',
        'SET PORTICO-EXTERNAL-LOCAL 198.19.255.100,80',
        'SET PORTICO-LB-FW 198.19.255.100,80',
        'SET PORTICO-LB-SRC 198.19.255.100,80,198.19.255.0/28',
        'SET PORTICO-LOOP-BACK 198.19.3.1,8080,198.19.3.1',
        'SET PORTICO-LOOP-BACK 198.19.3.2,8080,198.19.3.2',
        'VS tcp 198.18.0.12:80 rr -> 198.19.3.1:8080/1 198.19.3.2:8080/1',
        'VS tcp 198.19.255.100:80 rr -> 198.19.3.1:8080/1',
      ],
    },
    {
      why: 'Local policy without a local endpoint: outside clients dropped here (DROP-EXTERNAL); pods and the node reach every endpoint',
      sp: sport({ name: 'lbnolocal', clusterIP: '198.18.0.13', externalIPs: ['198.19.254.10'], externalPolicyLocal: true, endpoints: [ep('198.19.4.1', 8080, ON_B)] }),
      want: [
        'ADDR 198.18.0.13',
        'ADDR 198.19.254.10',
        'SET PORTICO-CLUSTER-IP 198.18.0.13,80',
        'SET PORTICO-DROP-EXTERNAL 198.19.254.10,80',
        'SET PORTICO-EXTERNAL-LOCAL 198.19.254.10,80',
        'SET PORTICO-LOOP-BACK 198.19.4.1,8080,198.19.4.1',
        'VS tcp 198.18.0.13:80 rr -> 198.19.4.1:8080/1',
        'VS tcp 198.19.254.10:80 rr -> 198.19.4.1:8080/1',
      ],
    },
    {
      why: 'internalTrafficPolicy Local without a local endpoint: no cluster-IP server, dropped (endpoints exist elsewhere)',
      sp: sport({ name: 'itpnone', clusterIP: '198.18.0.15', internalPolicyLocal: true, endpoints: [ep('198.19.6.2', 8080, ON_B)] }),
      want: ['ADDR 198.18.0.15', 'SET PORTICO-CLUSTER-IP 198.18.0.15,80', 'SET PORTICO-DROP-INTERNAL 198.18.0.15,80'],
    },
    {
      why: 'a per-Service scheduler and weights (the annotations) win over --ipvs-scheduler',
      sp: sport({ name: 'w', clusterIP: '198.18.0.20', endpoints: [ep('198.19.8.1', 80), ep('198.19.8.2', 80)] }),
      o: { scheduler: 'rr', schedulerFor: () => 'wrr', weightsFor: () => new Map([['198.19.8.1', 3], ['198.19.8.2:80', 0]]) },
      want: [
        'ADDR 198.18.0.20',
        'SET PORTICO-CLUSTER-IP 198.18.0.20,80',
        'SET PORTICO-LOOP-BACK 198.19.8.1,80,198.19.8.1',
        'SET PORTICO-LOOP-BACK 198.19.8.2,80,198.19.8.2',
        'VS tcp 198.18.0.20:80 wrr -> 198.19.8.1:80/3 198.19.8.2:80/0',
      ],
    },
    {
      why: 'serving-but-terminating endpoints only when none is ready (kube-proxy\'s fallback)',
      sp: sport({ name: 't', clusterIP: '198.18.0.21', endpoints: [ep('198.19.9.1', 80, { ready: false, serving: true, terminating: true })] }),
      want: ['ADDR 198.18.0.21', 'SET PORTICO-CLUSTER-IP 198.18.0.21,80', 'SET PORTICO-LOOP-BACK 198.19.9.1,80,198.19.9.1', 'VS tcp 198.18.0.21:80 rr -> 198.19.9.1:80/1'],
    },
  ];
  for (const r of rows) assert.deepEqual(lines(r.sp, r.o), [...r.want].sort(), r.why);
});

test('node ports only on addresses inside nodePortAddresses', () => {
  const n: NodeState = { ...node, nodeIPs: ['198.19.255.1', '10.0.0.1'], nodePortAddresses: ['198.19.255.0/24'] };
  const c = contributionOf(sport({ name: 'np', nodePort: 30000, endpoints: [ep('198.19.1.1', 80)] }), n, rr);
  assert.deepEqual([...c.vs.keys()].sort(), ['tcp 198.18.0.1:80', 'tcp 198.19.255.1:30000']);
});

test('scheduler names: every IPVS scheduler kube-proxy accepts, nothing else', () => {
  for (const s of ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'mh']) assert.ok(isIpvsScheduler(s), s);
  for (const s of ['random', 'RR', '', 'fo', 'ovf']) assert.ok(!isIpvsScheduler(s), `${s} is not offered`);
  assert.equal(IPVS_SCHEDULERS.length, 11);
  // The annotation picks a scheduler per Service, the flag is the default.
  const sp = sport({ name: 'x', endpoints: [ep('198.19.0.1', 80)] });
  for (const s of IPVS_SCHEDULERS) {
    const c = contributionOf(sp, node, { scheduler: 'rr', schedulerFor: () => s });
    assert.equal([...c.vs.values()][0]!.scheduler, s);
    const f = new FakeIpvs();
    f.restore(diffIpvs(c.vs, new Map(), 'all').lines.join('\n'));
    assert.match(f.save(), new RegExp(`-s ${s}\\n`));
  }
});

test('diff: creates, edits scheduler and persistence, adds and reweights, drains TCP, deletes UDP at once', () => {
  const kernel: KernelImage = new Map();
  const m1 = modelOf([
    sport({ name: 'a', clusterIP: '198.18.0.1', endpoints: [ep('198.19.0.1', 80), ep('198.19.0.2', 80)] }),
    sport({ name: 'u', clusterIP: '198.18.0.2', protocol: 'UDP', port: 53, endpoints: [ep('198.19.0.3', 53), ep('198.19.0.4', 53)] }),
  ]);
  const r1 = render(m1, 'full', node, rr);
  const d1 = diffIpvs(r1.state.vs, kernel, 'all');
  assert.deepEqual(sortedLines(d1.lines.join('\n')), sortedLines([
    '-A -t 198.18.0.1:80 -s rr', '-a -t 198.18.0.1:80 -r 198.19.0.1:80 -m -w 1', '-a -t 198.18.0.1:80 -r 198.19.0.2:80 -m -w 1',
    '-A -u 198.18.0.2:53 -s rr', '-a -u 198.18.0.2:53 -r 198.19.0.3:53 -m -w 1', '-a -u 198.18.0.2:53 -r 198.19.0.4:53 -m -w 1',
  ].join('\n')));
  const m2 = modelOf([
    sport({ name: 'a', clusterIP: '198.18.0.1', affinityTimeoutSeconds: 300, endpoints: [ep('198.19.0.1', 80)] }),
    sport({ name: 'u', clusterIP: '198.18.0.2', protocol: 'UDP', port: 53, endpoints: [ep('198.19.0.3', 53)] }),
  ], ['default/a//TCP', 'default/u//UDP']);
  const r2 = render(m2, m2.changed, node, rr, r1.state);
  const d2 = diffIpvs(r2.state.vs, kernel, r2.touched);
  assert.deepEqual(sortedLines(d2.lines.join('\n')), sortedLines([
    '-E -t 198.18.0.1:80 -s rr -p 300',
    '-e -t 198.18.0.1:80 -r 198.19.0.2:80 -m -w 0',
    '-d -u 198.18.0.2:53 -r 198.19.0.4:53',
  ].join('\n')));
  assert.deepEqual(d2.draining, ['tcp 198.18.0.1:80|198.19.0.2:80']);
  // The endpoint comes back while draining: weight restored, no longer draining.
  const m3 = modelOf([sport({ name: 'a', clusterIP: '198.18.0.1', affinityTimeoutSeconds: 300, endpoints: [ep('198.19.0.1', 80), ep('198.19.0.2', 80)] }), m2.services.get('default/u//UDP')!], ['default/a//TCP']);
  const r3 = render(m3, m3.changed, node, rr, r2.state);
  const d3 = diffIpvs(r3.state.vs, kernel, r3.touched);
  assert.deepEqual(d3.lines, ['-e -t 198.18.0.1:80 -r 198.19.0.2:80 -m -w 1']);
  assert.deepEqual(d3.undrained, ['tcp 198.18.0.1:80|198.19.0.2:80']);
  // Drained for good: deleteReals removes only weight-0 servers.
  diffIpvs(render(m2, 'full', node, rr).state.vs, kernel, ['tcp 198.18.0.1:80']);
  assert.deepEqual(deleteReals(kernel, ['tcp 198.18.0.1:80|198.19.0.2:80', 'tcp 198.18.0.1:80|198.19.0.1:80']), ['-d -t 198.18.0.1:80 -r 198.19.0.2:80']);
});

test('partial syncs applied to the fake IPVS match a full sync, over 240 random changes', () => {
  const r = rng(8);
  let model = modelOf(Array.from({ length: 12 }, (_, i) => randomService(r, i)));
  const fake = new FakeIpvs();
  const kernel: KernelImage = new Map();
  let res = render(model, 'full', node, rr);
  fake.restore(diffIpvs(res.state.vs, kernel, 'all').lines.join('\n'));
  const sets = new Set(res.state.entryRefs.keys());
  const addrs = new Set(res.state.addrRefs.keys());
  for (let step = 0; step < 240; step++) {
    model = mutate(r, model, 12);
    res = render(model, model.changed, node, rr, res.state);
    const d = diffIpvs(res.state.vs, kernel, res.touched);
    fake.restore(d.lines.join('\n'));
    // Finish draining at once, as drain() would once connections are gone.
    fake.restore(deleteReals(kernel, d.draining).join('\n'));
    for (const e of res.entryDel) assert.ok(sets.delete(e), `step ${step}: deleting absent entry ${e}`);
    for (const e of res.entryAdd) {
      assert.ok(!sets.has(e), `step ${step}: adding present entry ${e}`);
      sets.add(e);
    }
    for (const a of res.addrDel) addrs.delete(a);
    for (const a of res.addrAdd) addrs.add(a);
    const full = render(model, 'full', node, rr);
    const want = new FakeIpvs();
    want.restore(diffIpvs(full.state.vs, new Map(), 'all').lines.join('\n'));
    assert.equal(fake.save(), want.save(), `step ${step}: IPVS after partial syncs differs from a full sync`);
    assert.deepEqual([...sets].sort(), [...full.state.entryRefs.keys()].sort(), `step ${step}: set entries`);
    assert.deepEqual([...addrs].sort(), [...full.state.addrRefs.keys()].sort(), `step ${step}: dummy addresses`);
  }
});

test('a full diff deletes owned leftovers only, and a partial render consumes its state', () => {
  const kernel = parseIpvsSave('-A -t 198.18.9.9:80 -s rr\n-a -t 198.18.9.9:80 -r 198.19.0.9:80 -m -w 1\n-A -t 10.1.1.1:80 -s wlc -p 300\n');
  assert.equal(kernel.get('tcp 10.1.1.1:80')?.persistence, 300);
  const r = render(modelOf([]), 'full', node, rr);
  const d = diffIpvs(r.state.vs, kernel, 'all', (k) => k.includes('198.18.'));
  assert.deepEqual(d.lines, ['-D -t 198.18.9.9:80']);
  const m = modelOf([sport({ name: 'a' })]);
  render(m, m.changed, node, rr, r.state);
  assert.throws(() => render(m, m.changed, node, rr, r.state), /already consumed/);
});

test('parsers: ipvsadm -Ln connection counts, -Sn round trip through the fake', () => {
  const f = new FakeIpvs();
  f.restore('-A -t 198.18.0.1:80 -s sh -p 60\n-a -t 198.18.0.1:80 -r 198.19.0.1:80 -m -w 2\n-A -u 198.18.0.2:53 -s rr\n-a -u 198.18.0.2:53 -r 198.19.0.2:53 -m -w 1');
  f.setConnections('tcp 198.18.0.1:80', '198.19.0.1:80', 3, 2);
  assert.deepEqual([...parseIpvsList(f.list())], [['tcp 198.18.0.1:80|198.19.0.1:80', 5], ['udp 198.18.0.2:53|198.19.0.2:53', 0]]);
  const real = 'IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\nTCP  198.18.0.1:80 rr\n  -> 198.19.255.2:8080            Masq    0      1          4         \n';
  assert.deepEqual([...parseIpvsList(real)], [['tcp 198.18.0.1:80|198.19.255.2:8080', 5]]);
  const img = parseIpvsSave(f.save());
  assert.deepEqual([...img.get('tcp 198.18.0.1:80')!.reals], [['198.19.0.1:80', 2]]);
  assert.equal(img.get('tcp 198.18.0.1:80')!.scheduler, 'sh');
});

test('sets, addresses and the fixed iptables part', () => {
  const full = renderFullSets({ entryRefs: new Map([[`${SET.CLUSTER_IP} 198.18.0.1,80`, 1], ['PORTICO-LOOP-BACK 198.19.0.1,80,198.19.0.1', 1]]), existing: new Map([['PORTICO-LOOP-BACK', 5], ['PORTICO-LOOP-BACK-T', 0]]), v6: false });
  assert.match(full, /^create PORTICO-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 1048576\nadd PORTICO-CLUSTER-IP 198\.18\.0\.1,80$/m, 'a missing set is created and filled');
  assert.match(full, /^destroy PORTICO-LOOP-BACK-T\ncreate PORTICO-LOOP-BACK-T hash:ip,port,ip family inet hashsize 1024 maxelem 1048576\nadd PORTICO-LOOP-BACK-T 198\.19\.0\.1,80,198\.19\.0\.1\nswap PORTICO-LOOP-BACK PORTICO-LOOP-BACK-T\ndestroy PORTICO-LOOP-BACK-T$/m,
    'an existing set of unknown content is refilled through its twin (a leftover twin destroyed first)');
  assert.ok(full.includes('create PORTICO-LB-SRC hash:ip,port,net family inet hashsize 1024 maxelem'));
  assert.doesNotMatch(full, /PORTICO-6-/, 'no IPv6 sets without an IPv6 Service');
  // Known content: only the difference, nothing for an unchanged set.
  const known = new Map([['PORTICO-CLUSTER-IP 198.18.0.1,80', 1], ['PORTICO-CLUSTER-IP 198.18.0.2,80', 1], ['PORTICO-EXTERNAL 198.19.255.1,30080', 1]]);
  const want = new Map([['PORTICO-CLUSTER-IP 198.18.0.1,80', 1], ['PORTICO-CLUSTER-IP 198.18.0.3,80', 1], ['PORTICO-EXTERNAL 198.19.255.1,30080', 1]]);
  const existing = new Map<string, number>([...familySets(false).map((s): [string, number] => [s, 0]), ['PORTICO-CLUSTER-IP', 2], ['PORTICO-EXTERNAL', 1]]);
  assert.equal(renderFullSets({ entryRefs: want, existing, known, v6: false }), 'del PORTICO-CLUSTER-IP 198.18.0.2,80 -exist\nadd PORTICO-CLUSTER-IP 198.18.0.3,80 -exist\n');
  assert.equal(renderFullSets({ entryRefs: known, existing, known, v6: false }), '', 'nothing changed: nothing sent');
  // The kernel's count disagrees with what was written (someone changed the set): refilled.
  assert.match(renderFullSets({ entryRefs: want, existing: new Map([...existing, ['PORTICO-EXTERNAL', 7]]), known, v6: false }), /^swap PORTICO-EXTERNAL PORTICO-EXTERNAL-T$/m);
  assert.equal(hashSizeFor(0), 1024);
  assert.equal(hashSizeFor(100_000), 131072);
  assert.equal(renderPartialSets(['PORTICO-EXTERNAL 1.2.3.4,1'], ['PORTICO-EXTERNAL 1.2.3.4,2']), 'del PORTICO-EXTERNAL 1.2.3.4,2 -exist\nadd PORTICO-EXTERNAL 1.2.3.4,1 -exist\n');
  assert.equal(renderPartialSets([], []), '');
  assert.deepEqual([...parseIpsetHeaders('Name: A\nType: hash:ip,port\nRevision: 6\nHeader: family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x1\nSize in memory: 200\nReferences: 0\nNumber of entries: 3\n\nName: B\nType: hash:ip\nNumber of entries: 0\n')], [['A', 3], ['B', 0]]);
  assert.equal(renderAddrs(['198.18.0.1'], ['198.18.0.2']), 'address del 198.18.0.2/32 dev portico-ipvs0\naddress add 198.18.0.1/32 dev portico-ipvs0\n');
  const ipt = renderIptables(node, jumps().filter((j) => j.table === 'nat'));
  assert.match(ipt, /^-A PORTICO-SERVICES ! -s 198\.19\.0\.0\/16 -m set --match-set PORTICO-CLUSTER-IP dst,dst -j PORTICO-MARK-MASQ$/m);
  assert.match(ipt, /^-A PORTICO-POSTROUTING -m set --match-set PORTICO-LOOP-BACK dst,dst,src -j MASQUERADE$/m);
  assert.match(ipt, /^-A PORTICO-PROXY-FIREWALL -p tcp -m set --match-set PORTICO-NO-ENDPOINTS dst,dst -j REJECT --reject-with tcp-reset$/m);
  assert.match(ipt, /^-I PREROUTING 1 .*-j PORTICO-SERVICES$/m);
  assert.doesNotMatch(ipt, /^-I INPUT/m, 'only the jumps asked for');
  assert.match(renderIptables({ ...node, masqueradeAll: true }), /^-A PORTICO-SERVICES -m set --match-set PORTICO-CLUSTER-IP dst,dst -j PORTICO-MARK-MASQ$/m);
});

test('IPv6: virtual servers with bracketed addresses and IPv6 real servers, PORTICO-6- sets, /128 addresses, ip6tables rules', () => {
  const dual: NodeState = { ...node, nodeIPs: ['198.19.255.1', 'fd00:255::1'] };
  const sp = sport({
    name: 'dual', clusterIPs: ['198.18.0.30', 'fd00:18::30'], nodePort: 30090,
    endpoints: [ep('198.19.30.1', 8080), ep('fd00:19::30', 8080)],
  });
  assert.deepEqual(lines(sp, rr, dual), [
    'ADDR 198.18.0.30',
    'ADDR fd00:18::30',
    'SET PORTICO-6-CLUSTER-IP fd00:18::30,80',
    'SET PORTICO-6-EXTERNAL fd00:255::1,30090',
    'SET PORTICO-6-LOOP-BACK fd00:19::30,8080,fd00:19::30',
    'SET PORTICO-CLUSTER-IP 198.18.0.30,80',
    'SET PORTICO-EXTERNAL 198.19.255.1,30090',
    'SET PORTICO-LOOP-BACK 198.19.30.1,8080,198.19.30.1',
    'VS tcp 198.18.0.30:80 rr -> 198.19.30.1:8080/1',
    'VS tcp 198.19.255.1:30090 rr -> 198.19.30.1:8080/1',
    'VS tcp [fd00:18::30]:80 rr -> [fd00:19::30]:8080/1',
    'VS tcp [fd00:255::1]:30090 rr -> [fd00:19::30]:8080/1',
  ], 'each family with its own endpoints and sets');
  // Single-stack IPv4: no node port on the IPv6 node address; single-stack IPv6 with only IPv4 endpoints has none (its family's endpoints) and rejects.
  assert.ok(!lines(sport({ name: 'v4', clusterIP: '198.18.0.31', nodePort: 30091, endpoints: [ep('198.19.31.1', 80)] }), rr, dual).some((l) => l.includes('fd00')));
  assert.deepEqual(lines(sport({ name: 'v6', clusterIPs: ['fd00:18::32'], protocol: 'UDP', port: 53, endpoints: [ep('198.19.32.1', 53)] }), rr, dual), [
    'ADDR fd00:18::32', 'SET PORTICO-6-CLUSTER-IP fd00:18::32,udp:53', 'SET PORTICO-6-NO-ENDPOINTS fd00:18::32,udp:53',
  ]);
  // Load-balancer source ranges of the address's family only.
  assert.deepEqual(lines(sport({
    name: 'lb6', clusterIPs: ['fd00:18::33'], loadBalancerIPs: ['fd00:254::33', '198.19.254.33'], loadBalancerSourceRanges: ['fd00:1::/64', '10.0.0.0/8'],
    endpoints: [ep('fd00:19::33', 80)],
  }), rr, dual).filter((l) => l.includes('LB-')), ['SET PORTICO-6-LB-FW fd00:254::33,80', 'SET PORTICO-6-LB-SRC fd00:254::33,80,fd00:1::/64']);

  assert.equal(renderAddrs(['fd00:18::30'], ['fd00:18::31']), 'address del fd00:18::31/128 dev portico-ipvs0\naddress add fd00:18::30/128 dev portico-ipvs0 nodad\n');
  const sets = renderFullSets({ entryRefs: new Map([['PORTICO-6-CLUSTER-IP fd00:18::30,80', 1]]), existing: new Map(), v6: true });
  assert.match(sets, /^create PORTICO-6-CLUSTER-IP hash:ip,port family inet6 hashsize 1024 maxelem 1048576\nadd PORTICO-6-CLUSTER-IP fd00:18::30,80$/m);
  assert.match(sets, /^create PORTICO-6-LB-SRC hash:ip,port,net family inet6 /m);
  const ipt6 = renderIptables({ ...node, clusterCIDR: 'fd00:19::/64' }, [], 'ip6');
  assert.match(ipt6, /^-A PORTICO-SERVICES ! -s fd00:19::\/64 -m set --match-set PORTICO-6-CLUSTER-IP dst,dst -j PORTICO-MARK-MASQ$/m);
  assert.match(ipt6, /^-A PORTICO-POSTROUTING -m set --match-set PORTICO-6-LOOP-BACK dst,dst,src -j MASQUERADE$/m);
  assert.doesNotMatch(ipt6, /--match-set PORTICO-(?!6-)/, 'only IPv6 sets in the ip6tables part');
  assert.doesNotMatch(renderIptables(node, [], 'ip6'), / -s 198\./, 'an IPv4 cluster CIDR is not used in ip6tables');

  // The fake ipvsadm takes the bracketed forms and -Sn round-trips them.
  const f = new FakeIpvs();
  const diff = diffIpvs(contributionOf(sp, dual, rr).vs, new Map(), 'all');
  f.restore(diff.lines.join('\n'));
  assert.deepEqual([...parseIpvsSave(f.save()).get('tcp [fd00:18::30]:80')!.reals], [['[fd00:19::30]:8080', 1]]);
});
