import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IpvsApplier, IpvsApplyError } from './apply.js';
import { FakeIpvs } from './fake.js';
import { FakeIptables } from '../iptables/fake.js';
import type { Exec } from '../exec.js';
import type { NodeState } from './render.js';
import { ep, modelOf, sport } from '../testing.js';

const node: NodeState = { nodeName: 'node-a', nodeIPs: ['198.19.255.1'], nodePortAddresses: [], clusterCIDR: '198.19.0.0/16', masqueradeAll: false };

/** The kernel tools the applier drives, answered from fakes (ipset and the dummy interface as plain sets). */
class FakeHost {
  readonly ipvs = new FakeIpvs();
  readonly ipt = new FakeIptables();
  readonly sets = new Map<string, Set<string>>();
  readonly addrs = new Set<string>();
  dummy = false;
  ipvsAvailable = true;
  readonly log: string[] = [];

  private ipset(text: string): void {
    for (const line of text.split('\n').filter(Boolean)) {
      const [op, a = '', b = ''] = line.split(' ');
      if (op === 'create') {
        if (this.sets.has(a) && !line.endsWith(' -exist')) throw new Error(`ipset v7.17: Set cannot be created: set with the same name already exists (${a})`);
        this.sets.set(a, this.sets.get(a) ?? new Set());
      }
      else if (op === 'flush') this.sets.get(a)!.clear();
      else if (op === 'add') this.sets.get(a)!.add(b);
      else if (op === 'del') this.sets.get(a)!.delete(b);
      else if (op === 'swap') {
        const x = this.sets.get(a)!;
        this.sets.set(a, this.sets.get(b)!);
        this.sets.set(b, x);
      } else if (op === 'destroy') this.sets.delete(a);
    }
  }

  readonly exec: Exec = async (argv, stdin) => {
    this.log.push(argv.join(' '));
    const ok = (stdout = '') => ({ code: 0, stdout, stderr: '' });
    const [cmd] = argv;
    const rest = argv.slice(1).join(' ');
    if (cmd === 'sysctl') return this.ipvsAvailable ? ok() : { code: 255, stdout: '', stderr: 'sysctl: cannot stat /proc/sys/net/ipv4/vs/conntrack: No such file or directory\n' };
    if (cmd === 'ipvsadm') {
      if (rest === '-Sn') return ok(this.ipvs.save());
      if (rest.startsWith('-Ln')) return ok(this.ipvs.list());
      if (rest === '-C') {
        this.ipvs.restore('-C');
        return ok();
      }
      if (rest === '-R') {
        try {
          this.ipvs.restore(stdin);
          return ok();
        } catch (err) {
          return { code: 1, stdout: '', stderr: `${(err as Error).message}\n` };
        }
      }
    }
    if (cmd === 'iptables' && rest === '--version') return ok('iptables v1.8.9 (nf_tables)\n');
    if (cmd === 'iptables-nft-save') return ok(this.ipt.dump());
    if (cmd?.startsWith('ip6tables')) throw new Error(`spawn ${cmd} ENOENT`);
    if (cmd === 'iptables-nft-restore') {
      this.ipt.apply(stdin);
      return ok();
    }
    if (cmd === 'ipset' && rest === 'restore') {
      this.ipset(stdin);
      return ok();
    }
    if (cmd === 'ipset' && rest === 'list -n') return ok([...this.sets.keys()].join('\n') + '\n');
    if (cmd === 'ipset' && rest === 'list -t') return ok([...this.sets].map(([n, e]) => `Name: ${n}\nType: hash:ip,port\nNumber of entries: ${e.size}\n`).join('\n'));
    if (cmd === 'ip') {
      if (rest.startsWith('link add')) {
        if (this.dummy) return { code: 2, stdout: '', stderr: 'RTNETLINK answers: File exists\n' };
        this.dummy = true;
        return ok();
      }
      if (rest.startsWith('link del')) {
        if (!this.dummy) return { code: 1, stdout: '', stderr: 'Cannot find device "portico-ipvs0"\n' };
        this.dummy = false;
        this.addrs.clear();
        return ok();
      }
      if (rest.startsWith('link set')) return ok();
      if (rest.startsWith('-o addr show')) {
        const lines = [...this.addrs].map((a) => (a.includes(':') ? `9: portico-ipvs0    inet6 ${a}/128 scope global` : `9: portico-ipvs0    inet ${a}/32 scope global portico-ipvs0`));
        return ok([...lines, '9: portico-ipvs0    inet6 fe80::1/64 scope link'].join('\n'));
      }
      if (rest === '-force -batch -') {
        for (const l of stdin.split('\n').filter(Boolean)) {
          const [, op, a] = l.split(' ');
          if (op === 'add') this.addrs.add(a!.replace(/\/\d+$/, ''));
          else this.addrs.delete(a!.replace(/\/\d+$/, ''));
        }
        return ok();
      }
    }
    return { code: 127, stdout: '', stderr: `unexpected: ${argv.join(' ')}` };
  };
}

const web = (eps: string[]) => sport({ name: 'web', clusterIP: '198.18.0.10', nodePort: 30080, endpoints: eps.map((ip) => ep(ip, 8080)) });

test('applier: full sync programs IPVS, addresses, sets and the fixed rules; partial sends only the difference', async () => {
  const h = new FakeHost();
  const a = new IpvsApplier({ exec: h.exec, scheduler: 'rr' });
  const r1 = await a.sync(modelOf([web(['198.19.1.1', '198.19.1.2'])]), node);
  assert.equal(r1.kind, 'full');
  assert.equal(h.ipvs.save(), [
    '-A -t 198.18.0.10:80 -s rr', '-a -t 198.18.0.10:80 -r 198.19.1.1:8080 -m -w 1', '-a -t 198.18.0.10:80 -r 198.19.1.2:8080 -m -w 1',
    '-A -t 198.19.255.1:30080 -s rr', '-a -t 198.19.255.1:30080 -r 198.19.1.1:8080 -m -w 1', '-a -t 198.19.255.1:30080 -r 198.19.1.2:8080 -m -w 1', '',
  ].join('\n'));
  assert.deepEqual([...h.addrs], ['198.18.0.10']);
  assert.deepEqual([...h.sets.get('PORTICO-EXTERNAL')!], ['198.19.255.1,30080']);
  assert.ok(!h.sets.has('PORTICO-EXTERNAL-T'), 'the swap twin is destroyed');
  assert.match(h.ipt.dump(), /-A PREROUTING .*-j PORTICO-SERVICES/);
  assert.ok(h.log.includes('sysctl -q -w net.ipv4.vs.conntrack=1 net.ipv4.vs.expire_nodest_conn=1 net.ipv4.vs.expire_quiescent_template=1'));

  h.log.length = 0;
  const m2 = modelOf([web(['198.19.1.1', '198.19.1.3'])]);
  const r2 = await a.sync(m2, node);
  assert.equal(r2.kind, 'partial');
  assert.ok(!h.log.some((l) => l.startsWith('iptables') || l === 'ipvsadm -Sn'), `a partial sync reads nothing back: ${h.log.join('; ')}`);
  assert.deepEqual(a.drainingReals().sort(), ['tcp 198.18.0.10:80|198.19.1.2:8080', 'tcp 198.19.255.1:30080|198.19.1.2:8080']);
  assert.match(h.ipvs.save(), /-a -t 198\.18\.0\.10:80 -r 198\.19\.1\.2:8080 -m -w 0/);

  // Drain: connections left keep the real server; none left deletes it.
  h.ipvs.setConnections('tcp 198.18.0.10:80', '198.19.1.2:8080', 1);
  assert.equal(await a.drain(), 1);
  assert.match(h.ipvs.save(), /198\.18\.0\.10:80 -r 198\.19\.1\.2:8080 -m -w 0/);
  assert.doesNotMatch(h.ipvs.save(), /198\.19\.255\.1:30080 -r 198\.19\.1\.2/);
  h.ipvs.setConnections('tcp 198.18.0.10:80', '198.19.1.2:8080', 0, 0);
  assert.equal(await a.drain(), 1);
  assert.deepEqual(a.drainingReals(), []);
  assert.doesNotMatch(h.ipvs.save(), /198\.19\.1\.2/);

  // A Service removed: its servers, address and entries go.
  await a.sync({ services: new Map(), changed: new Set([web([]).key]) }, node);
  assert.equal(h.ipvs.size, 0);
  assert.deepEqual([...h.addrs], []);
  assert.deepEqual([...h.sets.get('PORTICO-CLUSTER-IP')!], []);
});

test('applier: draining times out with connections left', async () => {
  const h = new FakeHost();
  let now = 1_000;
  const a = new IpvsApplier({ exec: h.exec, scheduler: 'rr', drainTimeoutMs: 60_000, clock: () => now });
  const svc = (eps: string[]) => sport({ name: 'a', clusterIP: '198.18.0.1', endpoints: eps.map((ip) => ep(ip, 80)) });
  await a.sync(modelOf([svc(['198.19.0.1', '198.19.0.2'])]), node);
  await a.sync(modelOf([svc(['198.19.0.1'])]), node);
  h.ipvs.setConnections('tcp 198.18.0.1:80', '198.19.0.2:80', 7);
  assert.equal(await a.drain(), 0);
  now += 60_000;
  assert.equal(await a.drain(), 1);
  assert.doesNotMatch(h.ipvs.save(), /198\.19\.0\.2/);
});

test('applier: after a restart the full sync adopts what is there and removes leftovers', async () => {
  const h = new FakeHost();
  await new IpvsApplier({ exec: h.exec, scheduler: 'rr' }).sync(modelOf([web(['198.19.1.1']), sport({ name: 'old', clusterIP: '198.18.0.99', endpoints: [ep('198.19.9.9', 80)] })]), node);
  h.ipvs.restore('-A -t 10.9.9.9:80 -s rr'); // not Portico's: not on its dummy nor a node address
  h.log.length = 0;
  const b = new IpvsApplier({ exec: h.exec, scheduler: 'wrr' });
  await b.sync(modelOf([web(['198.19.1.1'])]), node);
  assert.deepEqual(sortedIpvs(h.ipvs.save()), sortedIpvs([
    '-A -t 10.9.9.9:80 -s rr', '-A -t 198.18.0.10:80 -s wrr', '-a -t 198.18.0.10:80 -r 198.19.1.1:8080 -m -w 1',
    '-A -t 198.19.255.1:30080 -s wrr', '-a -t 198.19.255.1:30080 -r 198.19.1.1:8080 -m -w 1',
  ].join('\n')));
  assert.deepEqual([...h.addrs], ['198.18.0.10']);
  assert.equal((h.ipt.dump().match(/^-A (PREROUTING|OUTPUT|FORWARD) .*-j PORTICO-SERVICES$/gm) ?? []).length, 4, 'each jump exists once (nat PREROUTING, OUTPUT; filter FORWARD, OUTPUT)');
});

const sortedIpvs = (s: string) => s.split('\n').filter(Boolean).sort();

test('applier: a rejected ipvsadm line fails the sync and the next one is full; no IPVS says so', async () => {
  const h = new FakeHost();
  const a = new IpvsApplier({ exec: h.exec, scheduler: 'rr' });
  await a.sync(modelOf([web(['198.19.1.1'])]), node);
  h.ipvs.restore('-D -t 198.18.0.10:80'); // someone deleted it behind our back
  const m = modelOf([web(['198.19.1.2'])]);
  await assert.rejects(a.sync(m, node), (e: Error) => e instanceof IpvsApplyError && /Service not defined/.test(e.message));
  assert.equal((await a.sync(m, node)).kind, 'full');
  assert.match(h.ipvs.save(), /-a -t 198\.18\.0\.10:80 -r 198\.19\.1\.2:8080/);

  const none = new FakeHost();
  none.ipvsAvailable = false;
  await assert.rejects(new IpvsApplier({ exec: none.exec, scheduler: 'rr' }).sync(m, node), /IPVS is not available in this kernel .*ip_vs module/);
});

test('applier: cleanup removes IPVS, the dummy interface and the sets', async () => {
  const h = new FakeHost();
  const a = new IpvsApplier({ exec: h.exec, scheduler: 'rr' });
  await a.sync(modelOf([web(['198.19.1.1'])]), node);
  h.ipt.apply('*filter\n-F PORTICO-PROXY-FIREWALL\nCOMMIT\n'); // the caller's iptables cleanup comes first; here only the references
  await a.cleanupIpvs();
  assert.equal(h.ipvs.size, 0);
  assert.equal(h.dummy, false);
  assert.deepEqual([...h.sets.keys()], []);
  await a.cleanupIpvs(); // twice is fine
});

test('applier: a full sync over sets it wrote sends only their difference; after a failure it refills', async () => {
  const h = new FakeHost();
  const a = new IpvsApplier({ exec: h.exec, scheduler: 'rr' });
  const m = modelOf([web(['198.19.1.1', '198.19.1.2'])]);
  await a.sync(m, node);
  h.log.length = 0;
  assert.equal((await a.sync(m, node, true)).kind, 'full');
  assert.ok(h.log.includes('ipset list -t'), 'the set headers are read');
  assert.ok(!h.log.includes('ipset restore'), `unchanged sets: nothing sent (${h.log.join('; ')})`);
  // Someone empties a set: its entry count no longer matches, so it is refilled.
  h.sets.get('PORTICO-LOOP-BACK')!.clear();
  await a.sync(m, node, true);
  assert.deepEqual([...h.sets.get('PORTICO-LOOP-BACK')!].sort(), ['198.19.1.1,8080,198.19.1.1', '198.19.1.2,8080,198.19.1.2']);
  // A failed sync forgets what the sets hold: the next full sync refills through the twins.
  h.ipvs.restore('-D -t 198.18.0.10:80');
  await assert.rejects(a.sync(modelOf([web(['198.19.1.3'])]), node));
  h.log.length = 0;
  await a.sync(modelOf([web(['198.19.1.3'])]), node);
  assert.deepEqual([...h.sets.get('PORTICO-LOOP-BACK')!], ['198.19.1.3,8080,198.19.1.3']);
  assert.ok(!h.sets.has('PORTICO-LOOP-BACK-T'));
});
