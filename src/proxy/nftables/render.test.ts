import { test } from 'node:test';
import assert from 'node:assert/strict';
import { render, renderCleanup, type NodeState } from './render.js';
import { FakeNftables } from './fake.js';
import { isOwnedName, objectName, MAX_NAME_LEN } from './names.js';
import { ep, generatedModel, modelOf, mutate, randomService, rng, sortedLines, sport } from '../testing.js';

const node: NodeState = { nodeName: 'node-a', nodeIPs: ['198.19.255.1'], nodePortAddresses: [], clusterCIDR: '198.19.0.0/16', masqueradeAll: false, serviceCIDRs: ['198.18.0.0/16'] };

// A ClusterIP service with two endpoints and a UDP NodePort service without endpoints.
const GOLDEN_FULL = `
add table ip portico
delete table ip portico
add table ip portico
add map ip portico service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }
add map ip portico service-nodeports { type inet_proto . inet_service : verdict ; }
add map ip portico no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; }
add map ip portico no-endpoint-nodeports { type inet_proto . inet_service : verdict ; }
add map ip portico firewall-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }
add set ip portico cluster-ips { type ipv4_addr ; }
add set ip portico hairpin { type ipv4_addr . ipv4_addr ; }
add map ip portico endpoints-tcp-0 { typeof numgen random mod 65536 : ip daddr . tcp dport ; flags interval ; }
add chain ip portico services
add chain ip portico endpoints-check
add chain ip portico firewall-check
add chain ip portico cluster-ips-check
add chain ip portico reject-chain
add chain ip portico mark-for-masquerade
add chain ip portico masquerading
add chain ip portico filter-prerouting { type filter hook prerouting priority -110 ; policy accept ; }
add chain ip portico filter-input { type filter hook input priority -110 ; policy accept ; }
add chain ip portico filter-forward { type filter hook forward priority -110 ; policy accept ; }
add chain ip portico filter-output { type filter hook output priority -110 ; policy accept ; }
add chain ip portico filter-output-post-dnat { type filter hook output priority -90 ; policy accept ; }
add chain ip portico nat-prerouting { type nat hook prerouting priority -100 ; policy accept ; }
add chain ip portico nat-output { type nat hook output priority -100 ; policy accept ; }
add chain ip portico nat-postrouting { type nat hook postrouting priority 100 ; policy accept ; }
add rule ip portico services ip daddr @cluster-ips ip saddr != 198.19.0.0/16 jump mark-for-masquerade
add rule ip portico services ip daddr . meta l4proto . th dport vmap @service-ips
add rule ip portico services fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports
add rule ip portico endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services
add rule ip portico endpoints-check fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @no-endpoint-nodeports
add rule ip portico firewall-check ip daddr . meta l4proto . th dport vmap @firewall-ips
add rule ip portico cluster-ips-check ip daddr @cluster-ips reject comment "cluster IP, no such port"
add rule ip portico cluster-ips-check ip daddr { 198.18.0.0/16 } drop comment "unallocated service address"
add rule ip portico reject-chain meta l4proto tcp reject with tcp reset
add rule ip portico reject-chain reject
add rule ip portico mark-for-masquerade meta mark set meta mark | 0x00004000
add rule ip portico masquerading ct status dnat ip saddr . ip daddr @hairpin jump mark-for-masquerade comment "hairpin"
add rule ip portico masquerading meta mark & 0x00004000 == 0x00000000 return
add rule ip portico masquerading meta mark set meta mark ^ 0x00004000
add rule ip portico masquerading masquerade fully-random
add rule ip portico filter-prerouting ct state new jump firewall-check
add rule ip portico filter-input ct state new jump endpoints-check
add rule ip portico filter-forward ct state new jump endpoints-check
add rule ip portico filter-forward ct state new jump cluster-ips-check
add rule ip portico filter-output ct state new jump endpoints-check
add rule ip portico filter-output ct state new jump firewall-check
add rule ip portico filter-output-post-dnat ct state new jump cluster-ips-check
add rule ip portico nat-prerouting jump services
add rule ip portico nat-output jump services
add rule ip portico nat-postrouting jump masquerading
add chain ip portico svc-QWFALJCY-default/web/tcp/http
add rule ip portico svc-QWFALJCY-default/web/tcp/http meta l4proto tcp dnat ip to numgen random mod 65536 offset 0 map @endpoints-tcp-0 comment "default/web:http"
add element ip portico cluster-ips { 198.18.0.10, 198.18.0.11 }
add element ip portico endpoints-tcp-0 { 0-32767 : 198.19.1.1 . 8080, 32768-65535 : 198.19.1.2 . 8080 }
add element ip portico hairpin { 198.19.1.1 . 198.19.1.1, 198.19.1.2 . 198.19.1.2 }
add element ip portico no-endpoint-nodeports { udp . 30053 : goto reject-chain }
add element ip portico no-endpoint-services { 198.18.0.11 . udp . 53 : goto reject-chain }
add element ip portico service-ips { 198.18.0.10 . tcp . 80 : goto svc-QWFALJCY-default/web/tcp/http }
`;

test('render: golden full transaction (order-insensitive)', () => {
  const m = modelOf([
    sport({ name: 'web', portName: 'http', clusterIP: '198.18.0.10', endpoints: [ep('198.19.1.1', 8080), ep('198.19.1.2', 8080)] }),
    sport({ name: 'np', namespace: 'ops', clusterIP: '198.18.0.11', protocol: 'UDP', port: 53, nodePort: 30053 }),
  ]);
  assert.deepEqual(sortedLines(render(m, 'full', node).text), sortedLines(GOLDEN_FULL));
});

test('render: golden service rules for node-state variants', () => {
  const web = sport({ name: 'web', portName: 'http', clusterIP: '198.18.0.10', endpoints: [ep('198.19.1.1', 8080)] });
  const svcChain = objectName('svc', web);
  const dnat = 'meta l4proto tcp dnat ip to numgen random mod 65536 offset 0 map @endpoints-tcp-0 comment "default/web:http"';
  const npAll = 'add rule ip portico services fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports';
  const svcRule = `add rule ip portico ${svcChain} ${dnat}`;
  const rows: Array<{ why: string; n: NodeState; want: string[] }> = [
    {
      why: 'cluster CIDR: cluster-IP traffic from outside it is marked',
      n: node,
      want: [npAll, 'add rule ip portico services ip daddr @cluster-ips ip saddr != 198.19.0.0/16 jump mark-for-masquerade', svcRule],
    },
    {
      why: 'masqueradeAll marks all cluster-IP traffic',
      n: { ...node, masqueradeAll: true },
      want: [npAll, 'add rule ip portico services ip daddr @cluster-ips jump mark-for-masquerade', svcRule],
    },
    {
      why: 'no cluster CIDR: no masquerade decision by source',
      n: { ...node, clusterCIDR: '' },
      want: [npAll, svcRule],
    },
    {
      why: 'nodePortAddresses restrict node-port matching',
      n: { ...node, clusterCIDR: '', nodePortAddresses: ['198.19.255.0/24'] },
      want: [
        svcRule,
        'add rule ip portico services fib daddr type local ip daddr { 198.19.255.0/24 } meta l4proto . th dport vmap @service-nodeports',
      ],
    },
  ];
  for (const r of rows) {
    const lines = render(modelOf([web]), 'full', r.n).text.split('\n').filter((l) => l.includes(svcChain + ' ') || l.includes('vmap @service-nodeports') || l.includes('mark-for-masquerade'));
    const rules = lines.filter((l) => l.startsWith('add rule') && !/ (mark-for-masquerade|masquerading) /.test(l));
    assert.deepEqual(rules.sort(), r.want.sort(), r.why);
  }
});

test('names: bounded, deterministic, recognised', () => {
  const long = sport({ namespace: 'n'.repeat(63), name: 's'.repeat(63), portName: 'p'.repeat(15), endpoints: [] });
  const rows: Array<{ why: string; name: string; owned: boolean }> = [
    { why: 'service chain', name: objectName('svc', sport({ name: 'web' })), owned: true },
    { why: 'long names are cut', name: objectName('ep', long, '198.19.1.1/8080/10800'), owned: true },
    { why: 'fixed chain', name: 'nat-prerouting', owned: true },
    { why: 'fixed map', name: 'service-ips', owned: true },
    { why: 'foreign chain', name: 'KUBE-SERVICES', owned: false },
    { why: 'foreign lowercase chain', name: 'svc-foo', owned: false },
  ];
  for (const r of rows) {
    assert.ok(r.name.length <= MAX_NAME_LEN, r.why);
    assert.equal(isOwnedName(r.name), r.owned, r.why);
  }
  assert.equal(objectName('svc', sport({ name: 'web' })), objectName('svc', sport({ name: 'web' })), 'deterministic');
  assert.notEqual(objectName('svc', sport({ name: 'web' })), objectName('svc', sport({ name: 'web2' })));
});

test('render: cleanup removes the table whether or not it exists', () => {
  const fake = new FakeNftables();
  fake.apply(renderCleanup('ip'));
  fake.apply(render(modelOf([sport({ name: 'a', endpoints: [ep('198.19.0.1', 80)] })]), 'full', node).text);
  fake.apply(renderCleanup('ip'));
  assert.deepEqual(fake.tableNames(), []);
});

// ---- partial sync == full sync, over random model changes ----

/**
 * A fake's dump with endpoint-map windows named by the chain that uses them: full and partial syncs
 * may give a chain different slots. Elements in a window no rule uses stay as `orphan` lines.
 */
function canonicalDump(dump: string): string {
  const owner = new Map<string, string>();
  let chain = '';
  for (const line of dump.split('\n')) {
    const c = /^\tchain (\S+) \{/.exec(line);
    if (c) chain = c[1]!;
    const r = / numgen random mod 65536 offset (\d+) map @(endpoints-[a-z]+-\d+)/.exec(line);
    if (r) owner.set(`${r[2]} ${r[1]}`, chain);
  }
  const out: string[] = [];
  const windows: string[] = [];
  let map = '';
  for (const line of dump.split('\n')) {
    const m = /^\tmap (endpoints-[a-z]+-\d+) \{/.exec(line);
    if (m) { map = m[1]!; continue; }
    if (map && line.startsWith('\t\telement ')) {
      const e = /^\t\telement (\d+)-(\d+) : (.*)$/.exec(line)!;
      const base = Math.floor(Number(e[1]) / 65536) * 65536;
      windows.push(`${owner.get(`${map} ${base}`) ?? `orphan ${map}`} ${Number(e[1]) - base}-${Number(e[2]) - base} : ${e[3]}`);
      continue;
    }
    map = '';
    out.push(line.replace(/ offset \d+ map @endpoints-[a-z]+-\d+/, ' map @window'));
  }
  return [...out, ...windows.sort()].join('\n');
}

test('render: full(m1) then partial(m1→m2) equals full(m2), over random changes', () => {
  for (let seed = 1; seed <= 40; seed++) {
    const r = rng(seed);
    const size = 12;
    let model = modelOf(Array.from({ length: size }, (_, i) => randomService(r, i)));
    const n: NodeState = { ...node, masqueradeAll: seed % 7 === 0, clusterCIDR: seed % 5 === 0 ? '' : node.clusterCIDR };
    const incremental = new FakeNftables();
    let res = render(model, 'full', n);
    incremental.apply(res.text);
    for (let step = 0; step < 6; step++) {
      model = mutate(r, model, size);
      res = render(model, model.changed, n, res.mirror);
      assert.equal(res.kind, 'partial');
      incremental.apply(res.text);
      const fresh = new FakeNftables();
      fresh.apply(render(model, 'full', n).text);
      assert.equal(canonicalDump(incremental.dump()), canonicalDump(fresh.dump()), `seed ${seed} step ${step}`);
    }
  }
});

test('render: elements shared by several services (endpoints in the hairpin set, external IPs, node ports) survive partial syncs as a full sync has them', () => {
  // Endpoints, external IPs and node ports drawn from small pools, so services share elements.
  const svc = (r: () => number, i: number) => {
    const eps = new Map<string, ReturnType<typeof ep>>();
    for (let j = Math.floor(r() * 4); j > 0; j--) {
      const e = ep(`198.19.0.${1 + Math.floor(r() * 6)}`, 8080 + Math.floor(r() * 2), { nodeName: r() < 0.7 ? 'node-a' : 'node-b' });
      eps.set(`${e.ip}:${e.port}`, e);
    }
    return sport({ name: `s${i}`, clusterIP: `198.18.0.${i + 1}`, port: r() < 0.5 ? 80 : 81, endpoints: [...eps.values()], externalIPs: r() < 0.5 ? [`198.19.255.${1 + Math.floor(r() * 3)}`] : [], nodePort: r() < 0.3 ? 30000 + Math.floor(r() * 3) : 0 });
  };
  for (let seed = 1; seed <= 30; seed++) {
    const r = rng(seed);
    let model = modelOf(Array.from({ length: 10 }, (_, i) => svc(r, i)));
    const incremental = new FakeNftables();
    let res = render(model, 'full', node);
    incremental.apply(res.text);
    for (let step = 0; step < 8; step++) {
      const i = Math.floor(r() * 10);
      const ports = [...model.services.values()].filter((p) => p.name !== `s${i}`);
      if (r() < 0.8) ports.push(svc(r, i));
      const next = modelOf(ports);
      const changed = [...new Set([...model.services.keys(), ...next.services.keys()])].filter((k) => JSON.stringify(model.services.get(k)) !== JSON.stringify(next.services.get(k)));
      model = next;
      res = render(model, changed, node, res.mirror);
      incremental.apply(res.text);
      const fresh = new FakeNftables();
      fresh.apply(render(model, 'full', node).text);
      assert.equal(canonicalDump(incremental.dump()), canonicalDump(fresh.dump()), `seed ${seed} step ${step}`);
    }
  }
});

test('render: a partial sync of one endpoint change is small and never recreates the table', () => {
  const ports = Array.from({ length: 100 }, (_, i) => sport({ name: `s${i}`, clusterIP: `198.18.1.${i + 1}`, endpoints: [ep(`198.19.1.${i + 1}`, 80), ep(`198.19.2.${i + 1}`, 80)] }));
  const m1 = modelOf(ports);
  const full = render(m1, 'full', node);
  const changedPort = sport({ name: 's7', clusterIP: '198.18.1.8', endpoints: [ep('198.19.1.8', 80)] });
  const m2 = modelOf([...ports.filter((p) => p.key !== changedPort.key), changedPort], [changedPort.key]);
  const part = render(m2, m2.changed, node, full.mirror);
  const lines = part.text.trim().split('\n');
  assert.equal(part.kind, 'partial');
  assert.ok(!part.text.includes('table ip portico\n'), 'no table-level command');
  // Elements only (no rule, so the kernel does not re-validate the table): the endpoint map's
  // windows of s7 are redrawn for one endpoint, and the endpoint that went leaves the hairpin set.
  assert.deepEqual(lines.map((l) => l.split(' ').slice(0, 4).join(' ')).sort(), [
    'add element ip portico', 'delete element ip portico', 'delete element ip portico',
  ]);
  assert.ok(part.text.includes('delete element ip portico hairpin { 198.19.2.8 . 198.19.2.8 }'), part.text);
  assert.ok(/add element ip portico endpoints-tcp-0 \{ \d+-\d+ : 198\.19\.1\.8 \. 80 \}/.test(part.text), part.text);
  const unchanged = render(m2, [], node, part.mirror);
  assert.equal(unchanged.text, '', 'nothing changed: empty transaction');
  assert.equal(render(m2, [], { ...node, masqueradeAll: true }, part.mirror).kind, 'full', 'node state change forces a full sync');
});

test('a 30,000-Service full sync renders (no argument spreads that overflow the stack)', () => {
  const node = { nodeName: 'n1', nodeIPs: ['198.19.255.11'], nodePortAddresses: [], clusterCIDR: '198.19.0.0/16', masqueradeAll: false };
  const r = render(generatedModel(30_000, 10), 'full', node, undefined, 'ip');
  assert.equal(r.kind, 'full');
  assert.equal(r.servicesRendered, 30_000);
});
