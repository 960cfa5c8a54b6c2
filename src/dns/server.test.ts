// Conformance: the live server on 127.0.0.1 (random port) with fake informers, queried by the real
// `dig` and by Node's resolver; upstream answers come from a fake resolver on 127.0.0.2.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Resolver } from 'node:dns/promises';
import { pino } from 'pino';
import { FakeInformer } from '../client/fake.js';
import type { Service } from '../registry/kinds/service.js';
import type { EndpointSlice } from '../registry/kinds/endpointslice.js';
import type { Pod } from '../registry/kinds/pod.js';
import { startDnsServer, type DnsServer } from './server.js';
import { FakeUpstream, aRecord, dig, pod, ports, rdata, slice, svc } from './testutil.js';
import { RCODE, TYPE, buildQuery, decodeMessage, reverseName } from './wire.js';

const quiet = pino({ level: 'silent' });

function udpQuery(port: number, packet: Buffer, timeoutMs = 2000): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    const t = setTimeout(() => {
      s.close();
      resolve(undefined);
    }, timeoutMs);
    s.on('message', (m) => {
      clearTimeout(t);
      s.close();
      resolve(m);
    });
    s.send(packet, port, '127.0.0.1');
  });
}

function fixtures(): { services: Service[]; slices: EndpointSlice[]; pods: Pod[] } {
  const many = Array.from({ length: 1000 }, (_, i) => ({ ip: `198.19.${100 + (i >> 8)}.${i & 255}` }));
  return {
    services: [
      svc('default', 'web', { type: 'ClusterIP', clusterIP: '198.18.0.10', clusterIPs: ['198.18.0.10'], ports: ports(['http', 80], ['dns', 53, 'UDP']) }),
      svc('default', 'empty', { clusterIP: '198.18.0.11', ports: ports(['http', 80]) }),
      svc('default', 'multi', { clusterIP: '198.18.0.12', ports: ports(['http', 80], ['https', 443], ['dns', 53, 'UDP'], [undefined, 8080]) }),
      svc('default', 'hl', { clusterIP: 'None', ports: ports(['http', 80]) }),
      svc('default', 'hl-none', { clusterIP: 'None', ports: ports(['http', 80]) }),
      svc('default', 'hl-pub', { clusterIP: 'None', publishNotReadyAddresses: true, ports: ports(['http', 80]) }),
      svc('default', 'v6', { clusterIP: 'fd00::10', clusterIPs: ['fd00::10'], ports: ports(['http', 80]) }),
      svc('default', 'hl6', { clusterIP: 'None', ports: ports(['http', 80]) }),
      svc('default', 'ext', { type: 'ExternalName', externalName: 'www.example.org' }),
      svc('default', 'alias', { type: 'ExternalName', externalName: 'web.default.svc.cluster.local' }),
      svc('kube-system', 'kube-dns', { clusterIP: '198.18.0.53', ports: ports(['dns', 53, 'UDP'], ['dns-tcp', 53]) }),
      svc('big', 'many', { clusterIP: 'None', ports: ports(['http', 80]) }),
    ],
    slices: [
      slice('default', 'web-a', 'web', [{ ip: '198.19.0.1' }, { ip: '198.19.0.2' }, { ip: '198.19.0.3', ready: false }], [{ name: 'http', port: 8080 }, { name: 'dns', port: 53, protocol: 'UDP' }]),
      slice('default', 'hl-a', 'hl', [{ ip: '198.19.1.1', hostname: 'web-0' }, { ip: '198.19.1.2' }, { ip: '198.19.1.3', ready: false }], [{ name: 'http', port: 80 }]),
      slice('default', 'hl-none-a', 'hl-none', [{ ip: '198.19.2.1', ready: false }], [{ name: 'http', port: 80 }]),
      slice('default', 'hl-pub-a', 'hl-pub', [{ ip: '198.19.3.1', ready: false }, { ip: '198.19.3.2' }], [{ name: 'http', port: 80 }]),
      slice('default', 'hl6-a', 'hl6', [{ ip: '5678:abcd::1' }], [{ name: 'http', port: 80 }], 'IPv6'),
      slice('big', 'many-a', 'many', many.slice(0, 500), [{ name: 'http', port: 80 }]),
      slice('big', 'many-b', 'many', many.slice(500), [{ name: 'http', port: 80 }]),
    ],
    pods: [pod('default', 'p1', '198.19.5.5')],
  };
}

// Every rule over both UDP paths: the batched native shim (recvmmsg/sendmmsg) and dgram.
for (const udpIo of ['recvmmsg', 'dgram'] as const)
describe(`dns server conformance (dig), UDP through ${udpIo}`, () => {
  let server: DnsServer;
  let upstream: FakeUpstream;
  let services: FakeInformer<Service>;
  let slices: FakeInformer<EndpointSlice>;

  before(async () => {
    upstream = new FakeUpstream({
      'www.example.org A': [aRecord('192.0.2.10')],
      'outside.example A': [aRecord('192.0.2.20')],
    });
    const upPort = await upstream.start('127.0.0.2');
    const f = fixtures();
    services = new FakeInformer(f.services);
    slices = new FakeInformer(f.slices);
    server = await startDnsServer({
      listen: '127.0.0.1:0', httpListen: '127.0.0.1:0', services, endpointSlices: slices, pods: new FakeInformer(f.pods),
      upstreams: [`127.0.0.2:${upPort}`], udpIo, logger: quiet,
    });
    assert.equal(server.udpIo, udpIo);
  });
  after(async () => {
    await server.close();
    upstream.close();
  });

  const S = 'svc.cluster.local';
  // [reason, name, type, status, expected answer rdata of `rrType` (sorted), rrType]
  const rows: Array<[string, string, string, string, string[], string?]> = [
    ['ClusterIP A', `web.default.${S}`, 'A', 'NOERROR', ['198.18.0.10']],
    ['ClusterIP with no endpoints still answers A', `empty.default.${S}`, 'A', 'NOERROR', ['198.18.0.11']],
    ['AAAA on an IPv4 service is NODATA', `web.default.${S}`, 'AAAA', 'NOERROR', []],
    ['TXT on a service is NODATA', `web.default.${S}`, 'TXT', 'NOERROR', []],
    ['unknown service is NXDOMAIN', `nope.default.${S}`, 'A', 'NXDOMAIN', []],
    ['unknown namespace is NXDOMAIN', `web.nons.${S}`, 'A', 'NXDOMAIN', []],
    ['A on svc.<zone> is NODATA', S, 'A', 'NOERROR', []],
    ['A on <ns>.svc.<zone> is NODATA', `default.${S}`, 'A', 'NOERROR', []],
    ['A on an unknown namespace name is NXDOMAIN', `nons.${S}`, 'A', 'NXDOMAIN', []],
    ['name under the zone outside svc/pod is NXDOMAIN', 'foo.cluster.local', 'A', 'NXDOMAIN', []],
    ['too many labels is NXDOMAIN', `a.b.c.web.default.${S}`, 'A', 'NXDOMAIN', []],
    ['headless: one A per ready endpoint', `hl.default.${S}`, 'A', 'NOERROR', ['198.19.1.1', '198.19.1.2']],
    ['headless: endpoint hostname', `web-0.hl.default.${S}`, 'A', 'NOERROR', ['198.19.1.1']],
    ['headless: dashed-address name without hostname', `198-19-1-2.hl.default.${S}`, 'A', 'NOERROR', ['198.19.1.2']],
    ['headless: not-ready endpoint has no name', `198-19-1-3.hl.default.${S}`, 'A', 'NXDOMAIN', []],
    ['headless: none ready is NXDOMAIN', `hl-none.default.${S}`, 'A', 'NXDOMAIN', []],
    ['headless: publishNotReadyAddresses publishes not-ready endpoints', `hl-pub.default.${S}`, 'A', 'NOERROR', ['198.19.3.1', '198.19.3.2']],
    ['headless IPv6: AAAA', `hl6.default.${S}`, 'AAAA', 'NOERROR', ['5678:abcd::1']],
    ['headless IPv6: dashed name', `5678-abcd--1.hl6.default.${S}`, 'AAAA', 'NOERROR', ['5678:abcd::1']],
    ['ClusterIP endpoint name (CoreDNS answers it too)', `198-19-0-1.web.default.${S}`, 'A', 'NOERROR', ['198.19.0.1']],
    ['SRV on a ClusterIP named port targets the service', `_http._tcp.web.default.${S}`, 'SRV', 'NOERROR', [`0 100 80 web.default.${S}.`]],
    ['SRV on a UDP named port', `_dns._udp.multi.default.${S}`, 'SRV', 'NOERROR', [`0 100 53 multi.default.${S}.`]],
    ['SRV second port of a multi-port service', `_https._tcp.multi.default.${S}`, 'SRV', 'NOERROR', [`0 100 443 multi.default.${S}.`]],
    ['SRV with the wrong protocol is NXDOMAIN', `_http._udp.multi.default.${S}`, 'SRV', 'NXDOMAIN', []],
    ['SRV on an unknown port name is NXDOMAIN', `_nope._tcp.multi.default.${S}`, 'SRV', 'NXDOMAIN', []],
    ['SRV on the service name lists every port', `multi.default.${S}`, 'SRV', 'NOERROR', [`0 25 443 multi.default.${S}.`, `0 25 53 multi.default.${S}.`, `0 25 80 multi.default.${S}.`, `0 25 8080 multi.default.${S}.`]],
    ['SRV on a headless named port: one per endpoint', `_http._tcp.hl.default.${S}`, 'SRV', 'NOERROR', [`0 50 80 198-19-1-2.hl.default.${S}.`, `0 50 80 web-0.hl.default.${S}.`]],
    ['A on a named-port name answers the addresses', `_http._tcp.web.default.${S}`, 'A', 'NOERROR', ['198.18.0.10']],
    ['PTR of a cluster IP', reverseName('198.18.0.10')!, 'PTR', 'NOERROR', [`web.default.${S}.`]],
    ['PTR of a headless endpoint with hostname', reverseName('198.19.1.1')!, 'PTR', 'NOERROR', [`web-0.hl.default.${S}.`]],
    ['PTR of a headless endpoint without hostname', reverseName('198.19.1.2')!, 'PTR', 'NOERROR', [`198-19-1-2.hl.default.${S}.`]],
    ['PTR of an IPv6 cluster IP (nibbles)', reverseName('fd00::10')!, 'PTR', 'NOERROR', [`v6.default.${S}.`]],
    ['AAAA of an IPv6 service', `v6.default.${S}`, 'AAAA', 'NOERROR', ['fd00::10']],
    ['ExternalName CNAME', `ext.default.${S}`, 'CNAME', 'NOERROR', ['www.example.org.'], 'CNAME'],
    ['ExternalName A: CNAME first', `ext.default.${S}`, 'A', 'NOERROR', ['www.example.org.'], 'CNAME'],
    ['ExternalName A: then the upstream target records', `ext.default.${S}`, 'A', 'NOERROR', ['192.0.2.10']],
    ['ExternalName to a cluster name: CNAME', `alias.default.${S}`, 'A', 'NOERROR', [`web.default.${S}.`], 'CNAME'],
    ['ExternalName to a cluster name: target answered from the cluster', `alias.default.${S}`, 'A', 'NOERROR', ['198.18.0.10']],
    ['dns-version', 'dns-version.cluster.local', 'TXT', 'NOERROR', ['"1.1.0"'], 'TXT'],
    ['A on dns-version is NXDOMAIN (as CoreDNS)', 'dns-version.cluster.local', 'A', 'NXDOMAIN', []],
    ['TXT on the apex is NODATA', 'cluster.local', 'TXT', 'NOERROR', []],
    ['TXT on an unknown namespace name is NODATA (as CoreDNS)', `nons.${S}`, 'TXT', 'NOERROR', []],
    ['SOA on a nonexistent name below the apex is NODATA (as CoreDNS)', `nope.default.${S}`, 'SOA', 'NOERROR', []],
    ['apex SOA', 'cluster.local', 'SOA', 'NOERROR', ['ns.dns.cluster.local.'], 'SOA'],
    ['apex NS', 'cluster.local', 'NS', 'NOERROR', ['ns.dns.cluster.local.'], 'NS'],
    ['SOA below the apex is NODATA', `web.default.${S}`, 'SOA', 'NOERROR', []],
    ['NS below the apex is NODATA', `web.default.${S}`, 'NS', 'NOERROR', []],
    ['ns.dns.<zone> answers the kube-dns address', 'ns.dns.cluster.local', 'A', 'NOERROR', ['198.18.0.53']],
    ['pod A record (insecure)', '198-19-5-5.default.pod.cluster.local', 'A', 'NOERROR', ['198.19.5.5']],
    ['pod name that is not an address is NXDOMAIN', 'nope.default.pod.cluster.local', 'A', 'NXDOMAIN', []],
    ['pod in an unknown namespace is NXDOMAIN', '198-19-5-5.nons.pod.cluster.local', 'A', 'NXDOMAIN', []],
    ['outside name forwarded to the upstream', 'outside.example', 'A', 'NOERROR', ['192.0.2.20']],
    ['outside NXDOMAIN from the upstream', 'missing.example', 'A', 'NXDOMAIN', []],
  ];

  for (const [reason, name, type, status, want, rrType] of rows) {
    it(reason, async () => {
      const r = await dig(server.port, name, type);
      assert.equal(r.status, status, r.raw);
      const got = rdata(r.answer, rrType ?? type);
      if (rrType === 'SOA') assert.equal(got[0]?.split(' ')[0], want[0], r.raw);
      else assert.deepEqual(got, [...want].sort(), r.raw);
      const inZone = name.endsWith('cluster.local') || name.endsWith('.arpa');
      // Forwarded answers carry the upstream's flags; cluster answers are authoritative.
      if (inZone) assert.ok(r.flags.includes('aa'), `aa flag: ${r.raw}`);
      if (inZone && r.answer.length === 0) assert.equal(r.authority[0]?.[3], 'SOA', `negative answers carry the SOA: ${r.raw}`);
    });
  }

  it('keeps the query case in the answer', async () => {
    const r = await dig(server.port, 'WeB.DeFault.SVC.Cluster.LOCAL', 'A');
    assert.equal(r.status, 'NOERROR');
    assert.equal(r.answer[0]?.[0], 'WeB.DeFault.SVC.Cluster.LOCAL.');
    assert.equal(r.answer[0]?.[4], '198.18.0.10');
  });

  it('puts SRV targets\' addresses in the additional section', async () => {
    const r = await dig(server.port, `_http._tcp.hl.default.${S}`, 'SRV');
    assert.deepEqual(r.additional.filter((x) => x[3] === 'A').map((x) => `${x[0]} ${x[4]}`).sort(), [
      `198-19-1-2.hl.default.${S}. 198.19.1.2`, `web-0.hl.default.${S}. 198.19.1.1`,
    ]);
  });

  it('uses the TTL option (30) and 28800 for dns-version', async () => {
    assert.equal((await dig(server.port, `web.default.${S}`, 'A')).answer[0]?.[1], '30');
    assert.equal((await dig(server.port, 'dns-version.cluster.local', 'TXT')).answer[0]?.[1], '28800');
  });

  it('echoes EDNS: OPT in the reply with our UDP size', async () => {
    const r = await dig(server.port, `web.default.${S}`, 'A', '+edns=0', '+bufsize=4096');
    assert.match(r.raw, /; EDNS: version: 0, flags:; udp: 1232/);
  });

  it('answers EDNS version 1 with BADVERS', async () => {
    const r = await dig(server.port, `web.default.${S}`, 'A', '+edns=1', '+noednsneg');
    assert.equal(r.status, 'BADVERS', r.raw);
  });

  it('refuses AXFR and IXFR', async () => {
    for (const type of [TYPE.AXFR, TYPE.IXFR]) {
      const ans = await udpQuery(server.port, buildQuery(7, 'cluster.local', type));
      assert.ok(ans);
      assert.equal(decodeMessage(ans).rcode, RCODE.REFUSED);
    }
  });

  it('truncates a 1,000-endpoint headless answer over UDP and answers it whole over TCP', async () => {
    const udp = await dig(server.port, `many.big.${S}`, 'A', '+notcp', '+ignore', '+bufsize=1232');
    assert.ok(udp.flags.includes('tc'), udp.raw);
    const noEdns = await dig(server.port, `many.big.${S}`, 'A', '+notcp', '+ignore', '+noedns');
    assert.ok(noEdns.flags.includes('tc'), noEdns.raw);
    const tcp = await dig(server.port, `many.big.${S}`, 'A', '+tcp');
    assert.equal(tcp.status, 'NOERROR');
    assert.equal(new Set(rdata(tcp.answer, 'A')).size, 1000);
    const auto = await dig(server.port, `many.big.${S}`, 'A');
    assert.equal(rdata(auto.answer, 'A').length, 1000, 'dig retries over TCP after TC');
  });

  it('answers a burst of 200 UDP queries from one socket (several receive batches), each with its own ID', async () => {
    const sock = createSocket('udp4');
    const got = new Map<number, string[]>();
    const all = new Promise<void>((resolve) => {
      sock.on('message', (m) => {
        const d = decodeMessage(m);
        got.set(d.id, d.answers.map((a) => String(a.data)));
        if (got.size === 200) resolve();
      });
    });
    try {
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
      const names = [`web.default.${S}`, `empty.default.${S}`, `multi.default.${S}`];
      // 200: the client socket's default receive buffer holds ~256 small datagrams.
      for (let id = 0; id < 200; id++) sock.send(buildQuery(id, names[id % 3]!, TYPE.A), server.port, '127.0.0.1');
      await Promise.race([all, new Promise((r) => setTimeout(r, 5000))]);
      assert.equal(got.size, 200);
      for (const [id, a] of got) assert.deepEqual(a, [['198.18.0.10', '198.18.0.11', '198.18.0.12'][id % 3]], `query ${id}`);
    } finally {
      sock.close();
    }
  });

  it('drops a UDP datagram larger than a receive slot and keeps answering', async () => {
    const big = Buffer.concat([buildQuery(9, `web.default.${S}`, TYPE.A), Buffer.alloc(5000)]);
    const r = await udpQuery(server.port, big, 300);
    // dgram reads any size (and ignores the trailing bytes); the ring's slots are 4 KiB.
    if (udpIo === 'recvmmsg') assert.equal(r, undefined, 'dropped');
    else assert.equal(decodeMessage(r!).id, 9);
    assert.equal((await dig(server.port, `web.default.${S}`, 'A')).status, 'NOERROR');
  });

  it('answers many queries on one TCP connection', async () => {
    const r = await dig(server.port, `web.default.${S}`, 'A', '+tcp', '+keepopen', `hl.default.${S}`, 'A', `v6.default.${S}`);
    assert.equal((r.raw.match(/status: NOERROR/g) ?? []).length, 3, r.raw);
  });

  it('answers a Node resolver', async () => {
    const res = new Resolver();
    res.setServers([`127.0.0.1:${server.port}`]);
    assert.deepEqual(await res.resolve4(`web.default.${S}`), ['198.18.0.10']);
    assert.deepEqual((await res.resolveSrv(`_http._tcp.web.default.${S}`)).map((s) => `${s.name}:${s.port}`), [`web.default.${S}:80`]);
  });

  it('answers on a second address too (listenAlso: where pods reach it), UDP and TCP', async () => {
    await server.listenAlso('127.0.0.3');
    const res = new Resolver();
    res.setServers([`127.0.0.3:${server.port}`]);
    assert.deepEqual(await res.resolve4(`web.default.${S}`), ['198.18.0.10']);
    const { stdout } = await promisify(execFile)('dig', ['@127.0.0.3', '-p', String(server.port), '+tcp', '+short', '+tries=1', '+time=3', `web.default.${S}`, 'A']);
    assert.equal(stdout.trim(), '198.18.0.10');
  });

  it('serves a record right after the informer event, and drops it after the delete', async () => {
    services.set(svc('default', 'late', { clusterIP: 'None', ports: ports(['http', 80]) }));
    slices.set(slice('default', 'late-a', 'late', [{ ip: '198.19.9.1' }], [{ name: 'http', port: 80 }]));
    assert.deepEqual(rdata((await dig(server.port, `late.default.${S}`, 'A')).answer, 'A'), ['198.19.9.1']);
    slices.set(slice('default', 'late-a', 'late', [{ ip: '198.19.9.1' }, { ip: '198.19.9.2' }], [{ name: 'http', port: 80 }]));
    assert.deepEqual(rdata((await dig(server.port, `late.default.${S}`, 'A')).answer, 'A'), ['198.19.9.1', '198.19.9.2']);
    services.remove('default', 'late');
    assert.equal((await dig(server.port, `late.default.${S}`, 'A')).status, 'NXDOMAIN');
  });

  it('whole-reply cache: equal query bytes get equal replies but for the ID, and a zone change is seen at once', async () => {
    const name = `cached.default.${S}`;
    services.set(svc('default', 'cached', { clusterIP: '198.18.0.77' }));
    const first = await udpQuery(server.port, buildQuery(0x1111, name, TYPE.A));
    const second = await udpQuery(server.port, buildQuery(0x2222, name, TYPE.A));
    assert.ok(first && second);
    assert.equal(second.readUInt16BE(0), 0x2222);
    assert.deepEqual(second.subarray(2), first.subarray(2));
    // Another spelling is another key: its reply keeps that spelling.
    const upper = await udpQuery(server.port, buildQuery(0x3333, name.toUpperCase(), TYPE.A));
    assert.ok(upper?.includes(Buffer.from('CACHED')) && !upper.includes(Buffer.from('cached')), 'reply spells the name as asked');
    services.set(svc('default', 'cached', { clusterIP: '198.18.0.78' }));
    const third = decodeMessage((await udpQuery(server.port, buildQuery(0x4444, name, TYPE.A)))!);
    assert.deepEqual(third.answers.map((r) => r.data), ['198.18.0.78']);
    services.remove('default', 'cached');
    assert.equal(decodeMessage((await udpQuery(server.port, buildQuery(0x5555, name, TYPE.A)))!).rcode, RCODE.NXDOMAIN);
  });

  it('serves /health, /ready and /metrics', async () => {
    const base = `http://127.0.0.1:${server.httpPort}`;
    assert.equal((await fetch(`${base}/health`)).status, 200);
    assert.equal((await fetch(`${base}/ready`)).status, 200);
    const text = await (await fetch(`${base}/metrics`)).text();
    assert.match(text, /portico_dns_requests_total\{type="A",rcode="NOERROR"\} \d+/);
    assert.match(text, /portico_dns_request_duration_seconds_bucket/);
    assert.match(text, /portico_dns_cache_hits_total \d+/);
  });

  it('caches upstream answers', async () => {
    const before = upstream.queries;
    await dig(server.port, 'www.example.org', 'A');
    await dig(server.port, 'WWW.example.org', 'A');
    const r = await dig(server.port, 'www.example.org', 'A');
    assert.deepEqual(rdata(r.answer, 'A'), ['192.0.2.10']);
    assert.ok(upstream.queries - before <= 1, `upstream asked ${upstream.queries - before} times`);
  });
});

describe('dns server before sync', () => {
  it('answers SERVFAIL until the informers have synced, then answers', async () => {
    const services = new FakeInformer<Service>([svc('default', 'web', { clusterIP: '198.18.0.10', ports: ports(['http', 80]) })], false);
    const slices = new FakeInformer<EndpointSlice>([], false);
    const server = await startDnsServer({ listen: '127.0.0.1:0', httpListen: '127.0.0.1:0', services, endpointSlices: slices, upstreams: [], logger: quiet });
    try {
      assert.equal((await dig(server.port, 'web.default.svc.cluster.local', 'A')).status, 'SERVFAIL');
      assert.equal((await fetch(`http://127.0.0.1:${server.httpPort}/ready`)).status, 503);
      services.markSynced();
      assert.equal((await dig(server.port, 'web.default.svc.cluster.local', 'A')).status, 'SERVFAIL', 'one informer still syncing');
      slices.markSynced();
      const r = await dig(server.port, 'web.default.svc.cluster.local', 'A');
      assert.equal(r.status, 'NOERROR');
      assert.deepEqual(rdata(r.answer, 'A'), ['198.18.0.10']);
      assert.equal((await fetch(`http://127.0.0.1:${server.httpPort}/ready`)).status, 200);
    } finally {
      await server.close();
    }
  });
});

for (const udpIo of ['recvmmsg', 'dgram'] as const)
describe(`dns server under a packet fuzz (bounded), UDP through ${udpIo}`, () => {
  it('survives 20,000 random and mutated packets over UDP and TCP, then still answers correctly', async () => {
    const services = new FakeInformer<Service>([svc('default', 'web', { clusterIP: '198.18.0.10', ports: ports(['http', 80]) })]);
    const server = await startDnsServer({ listen: '127.0.0.1:0', services, endpointSlices: new FakeInformer<EndpointSlice>([]), upstreams: [], udpIo, logger: quiet });
    const sock = createSocket('udp4');
    let replies = 0;
    sock.on('message', () => replies++);
    let seed = 99;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const seeds = [
      buildQuery(1, 'web.default.svc.cluster.local', TYPE.A),
      buildQuery(2, '_http._tcp.web.default.svc.cluster.local', TYPE.SRV),
      buildQuery(3, reverseName('198.18.0.10')!, TYPE.PTR),
    ];
    const packets: Buffer[] = [];
    for (let i = 0; i < 20000; i++) {
      let p: Buffer;
      if (i % 3 === 0) {
        p = Buffer.alloc(rnd(600));
        for (let j = 0; j < p.length; j++) p[j] = rnd(256);
        if (p.length >= 3) p[2] = p[2]! & 0x7f; // mostly "queries", so they get past the QR check
      } else {
        p = Buffer.from(seeds[i % seeds.length]!);
        for (let k = rnd(6) + 1; k > 0; k--) p[rnd(p.length)] = rnd(256);
        if (rnd(5) === 0) p = p.subarray(0, rnd(p.length));
        if (rnd(7) === 0) p.writeUInt16BE(rnd(65536), 4 + 2 * rnd(4)); // huge counts
      }
      packets.push(p);
    }
    try {
      for (let i = 0; i < packets.length; i += 200) {
        await Promise.all(packets.slice(i, i + 200).map((p) => new Promise<void>((r) => sock.send(p, server.port, '127.0.0.1', () => r()))));
        await udpQuery(server.port, seeds[0]!, 1000); // pace the sender so the socket buffer keeps up
      }
      // The same garbage as TCP frames on one connection.
      const { connect } = await import('node:net');
      await new Promise<void>((resolve) => {
        const c = connect(server.port, '127.0.0.1', () => {
          for (const p of packets.slice(0, 2000)) {
            const f = Buffer.alloc(p.length + 2);
            f.writeUInt16BE(p.length, 0);
            p.copy(f, 2);
            c.write(f);
          }
          c.end();
        });
        c.on('data', () => undefined);
        c.on('close', () => resolve());
        c.on('error', () => resolve());
      });
      assert.ok(replies > 0, 'the server answered part of the garbage (FORMERR and friends)');
      const r = await dig(server.port, 'web.default.svc.cluster.local', 'A');
      assert.equal(r.status, 'NOERROR');
      assert.deepEqual(rdata(r.answer, 'A'), ['198.18.0.10']);
    } finally {
      sock.close();
      await server.close();
    }
  });
});

/** Retries `probe` until it returns true (the relay to workers is asynchronous); false after `tries`. */
async function eventually(probe: () => Promise<boolean>, tries = 100): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (await probe()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

describe('dns server with UDP workers', () => {
  it('serves UDP from 2 workers fed by relayed informer events: SERVFAIL before sync, updates, summed metrics, restart, close', async () => {
    const { default: cluster } = await import('node:cluster');
    const services = new FakeInformer<Service>([svc('default', 'web', { clusterIP: '198.18.0.10', ports: ports(['http', 80]) })], false);
    const slices = new FakeInformer<EndpointSlice>([], false);
    const server = await startDnsServer({
      listen: '127.0.0.1:0', httpListen: '127.0.0.1:0', services, endpointSlices: slices, upstreams: [], workers: 2, logger: quiet,
    });
    const name = 'web.default.svc.cluster.local';
    try {
      assert.equal(server.udpProcesses(), 2);
      assert.equal((await dig(server.port, name, 'A', '+notcp')).status, 'SERVFAIL');
      services.markSynced();
      slices.markSynced();
      // Each worker must have synced: ask enough times that both (kernel-chosen) readers answer.
      assert.ok(await eventually(async () => {
        const all = await Promise.all(Array.from({ length: 8 }, () => dig(server.port, name, 'A', '+notcp')));
        return all.every((r) => r.status === 'NOERROR' && rdata(r.answer, 'A')[0] === '198.18.0.10');
      }), 'answered after sync');
      assert.deepEqual(rdata((await dig(server.port, name, 'A', '+tcp')).answer, 'A'), ['198.18.0.10'], 'TCP from the primary');

      services.set(svc('default', 'late', { clusterIP: '198.18.0.20', ports: ports(['http', 80]) }));
      assert.ok(await eventually(async () => rdata((await dig(server.port, 'late.default.svc.cluster.local', 'A', '+notcp')).answer, 'A')[0] === '198.18.0.20'));
      services.remove('default', 'late');
      assert.ok(await eventually(async () => (await dig(server.port, 'late.default.svc.cluster.local', 'A', '+notcp')).status === 'NXDOMAIN'));

      const text = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
      const m = /portico_dns_requests_total\{type="A",rcode="NOERROR"\} (\d+)/.exec(text);
      assert.ok(m && Number(m[1]) >= 10, `UDP answers of the workers are counted: ${text}`);

      // A worker that dies is replaced and the newcomer gets the current zone.
      const victim = Object.values(cluster.workers ?? {})[0];
      assert.ok(victim?.process.pid);
      process.kill(victim.process.pid, 'SIGKILL');
      assert.ok(await eventually(async () => server.udpProcesses() === 2 && victim.isDead()), 'a new worker replaced the dead one');
      assert.ok(await eventually(async () => {
        const all = await Promise.all(Array.from({ length: 8 }, () => dig(server.port, name, 'A', '+notcp')));
        return all.every((r) => r.status === 'NOERROR');
      }));
    } finally {
      await server.close();
    }
    assert.equal(Object.keys(cluster.workers ?? {}).length, 0, 'close stops every worker');
    // The UDP port is free again once every worker has closed the shared socket.
    const probe = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.bind(server.port, '127.0.0.1', () => resolve());
    });
    probe.close();
  });
});
