import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeInformer } from '../client/fake.js';
import type { Service } from '../registry/kinds/service.js';
import type { EndpointSlice } from '../registry/kinds/endpointslice.js';
import type { Pod } from '../registry/kinds/pod.js';
import { ZoneIndex, endpointHostname, type Answer, type PodMode } from './zone.js';
import { buildResponse } from './server.js';
import { TYPE, buildQuery, decodeMessage, parseQuery, reverseName } from './wire.js';
import { pod, ports, slice, svc } from './testutil.js';

function setup(podMode: PodMode = 'insecure') {
  const services = new FakeInformer<Service>([
    svc('default', 'web', { clusterIP: '198.18.0.10', ports: ports(['http', 80]) }),
    svc('default', 'hl', { clusterIP: 'None', ports: ports(['http', 80]) }),
    svc('default', 'loop-a', { type: 'ExternalName', externalName: 'loop-b.default.svc.cluster.local' }),
    svc('default', 'loop-b', { type: 'ExternalName', externalName: 'loop-a.default.svc.cluster.local' }),
    svc('default', 'ipname', { type: 'ExternalName', externalName: '192.0.2.1' }),
  ]);
  const slices = new FakeInformer<EndpointSlice>([
    slice('default', 'web-a', 'web', [{ ip: '198.19.0.1' }], [{ name: 'http', port: 8080 }]),
    slice('default', 'hl-a', 'hl', [{ ip: '198.19.1.1', hostname: 'h0' }, { ip: '198.19.1.2', ready: false }], [{ name: 'http', port: 80 }]),
  ]);
  const pods = new FakeInformer<Pod>([pod('default', 'p1', '198.19.5.5'), pod('other', 'p2', '198.19.6.6')]);
  const zone = new ZoneIndex({ podMode });
  zone.attach({ services, endpointSlices: slices, pods });
  return { zone, services, slices, pods };
}

/** Decoded answer records ("type rdata") of a lookup, or the outcome kind. */
function outcome(zone: ZoneIndex, name: string, type: number): string[] | string {
  const a: Answer = zone.lookup(name, type);
  if (a.t !== 'answer') return a.t;
  const parsed = parseQuery(buildQuery(1, name, type, 65535));
  assert.ok(parsed.ok);
  if (!parsed.ok) return 'bad';
  const msg = decodeMessage(buildResponse(buildQuery(1, name, type, 65535), parsed.query, 0, true, a.r, null, 65535));
  return msg.answers.map((rr) => `${rr.type} ${typeof rr.data === 'string' ? rr.data : JSON.stringify(rr.data)}`).sort();
}

const S = 'svc.cluster.local';

describe('ZoneIndex lookups', () => {
  // [reason, pod mode, name, type, expected records or outcome]
  const rows: Array<[string, PodMode, string, number, string[] | string]> = [
    ['ClusterIP A', 'insecure', `web.default.${S}`, TYPE.A, ['1 198.18.0.10']],
    ['AAAA on IPv4 service is NODATA', 'insecure', `web.default.${S}`, TYPE.AAAA, 'nodata'],
    ['headless excludes not-ready endpoints', 'insecure', `hl.default.${S}`, TYPE.A, ['1 198.19.1.1']],
    ['headless hostname', 'insecure', `h0.hl.default.${S}`, TYPE.A, ['1 198.19.1.1']],
    ['ClusterIP PTR wins for its address', 'insecure', reverseName('198.18.0.10')!, TYPE.PTR, [`12 web.default.${S}`]],
    ['endpoint PTR', 'insecure', reverseName('198.19.1.1')!, TYPE.PTR, [`12 h0.hl.default.${S}`]],
    ['unknown reverse name is forwarded', 'insecure', reverseName('10.1.2.3')!, TYPE.PTR, 'forward'],
    ['A on a reverse name is forwarded', 'insecure', reverseName('198.18.0.10')!, TYPE.A, 'forward'],
    ['name outside the zone is forwarded', 'insecure', 'example.org', TYPE.A, 'forward'],
    ['AXFR is refused', 'insecure', 'cluster.local', TYPE.AXFR, 'refused'],
    ['IXFR is refused', 'insecure', `web.default.${S}`, TYPE.IXFR, 'refused'],
    ['ExternalName CNAME loop ends after a bounded chase', 'insecure', `loop-a.default.${S}`, TYPE.A, ['5 loop-a.default.svc.cluster.local', '5 loop-a.default.svc.cluster.local', '5 loop-a.default.svc.cluster.local', '5 loop-a.default.svc.cluster.local', '5 loop-b.default.svc.cluster.local', '5 loop-b.default.svc.cluster.local', '5 loop-b.default.svc.cluster.local', '5 loop-b.default.svc.cluster.local']],
    ['ExternalName that is an IP has no record', 'insecure', `ipname.default.${S}`, TYPE.A, 'nxdomain'],
    ['SRV on ExternalName is NODATA', 'insecure', `loop-a.default.${S}`, TYPE.SRV, 'nodata'],
    ['pods disabled: pod name NXDOMAIN', 'disabled', '198-19-5-5.default.pod.cluster.local', TYPE.A, 'nxdomain'],
    ['pods disabled: <ns>.pod NXDOMAIN', 'disabled', 'default.pod.cluster.local', TYPE.A, 'nxdomain'],
    ['pods insecure: any address in a known namespace', 'insecure', '10-0-0-1.default.pod.cluster.local', TYPE.A, ['1 10.0.0.1']],
    ['pods insecure: IPv6 dashed form', 'insecure', 'fd00--1.default.pod.cluster.local', TYPE.AAAA, ['28 fd00::1']],
    ['pods insecure: A on an IPv6 pod name is NODATA', 'insecure', 'fd00--1.default.pod.cluster.local', TYPE.A, 'nodata'],
    ['pods insecure: <ns>.pod is NODATA', 'insecure', 'default.pod.cluster.local', TYPE.A, 'nodata'],
    ['pods verified: existing pod', 'verified', '198-19-5-5.default.pod.cluster.local', TYPE.A, ['1 198.19.5.5']],
    ['pods verified: pod IP in another namespace', 'verified', '198-19-6-6.default.pod.cluster.local', TYPE.A, 'nxdomain'],
    ['pods verified: no such pod', 'verified', '10-0-0-1.default.pod.cluster.local', TYPE.A, 'nxdomain'],
    ['namespace known only through a Pod', 'insecure', `other.${S}`, TYPE.A, 'nodata'],
    ['dns-version A is NXDOMAIN (CoreDNS: not a svc/pod name)', 'insecure', 'dns-version.cluster.local', TYPE.A, 'nxdomain'],
    ['dns-version SOA is NODATA (SOA only at the apex)', 'insecure', 'dns-version.cluster.local', TYPE.SOA, 'nodata'],
    ['TXT on the apex is NODATA', 'insecure', 'cluster.local', TYPE.TXT, 'nodata'],
    ['TXT on an unknown service is NODATA (CoreDNS answers TXT only for dns-version)', 'insecure', `nope.default.${S}`, TYPE.TXT, 'nodata'],
    ['TXT on an unknown namespace name is NODATA', 'insecure', `nons.${S}`, TYPE.TXT, 'nodata'],
    ['TXT on an ExternalName is NODATA, not a CNAME', 'insecure', `loop-a.default.${S}`, TYPE.TXT, 'nodata'],
    ['SOA on a nonexistent name below the apex is NODATA', 'insecure', `nope.default.${S}`, TYPE.SOA, 'nodata'],
    ['NS on a nonexistent name below the apex is NXDOMAIN', 'insecure', `nope.default.${S}`, TYPE.NS, 'nxdomain'],
    ['A on <ns>.svc of an unknown namespace is NXDOMAIN', 'insecure', `nons.${S}`, TYPE.A, 'nxdomain'],
    ['apex A is NODATA', 'insecure', 'cluster.local', TYPE.A, 'nodata'],
  ];
  for (const [reason, mode, name, type, want] of rows) {
    it(reason, () => {
      assert.deepEqual(outcome(setup(mode).zone, name, type), want);
    });
  }
});

describe('ZoneIndex incremental updates', () => {
  it('an event on one Service leaves other names\' rendered answers untouched', () => {
    const { zone, services } = setup();
    const before = zone.lookup(`web.default.${S}`, TYPE.A);
    services.set(svc('default', 'hl', { clusterIP: 'None', ports: ports(['http', 81]) }));
    const after = zone.lookup(`web.default.${S}`, TYPE.A);
    assert.ok(before.t === 'answer' && after.t === 'answer');
    if (before.t === 'answer' && after.t === 'answer') assert.equal(after.r, before.r, 'same pre-rendered object');
  });

  it('a slice update replaces the Service\'s endpoint names', () => {
    const { zone, slices } = setup();
    slices.set(slice('default', 'hl-a', 'hl', [{ ip: '198.19.1.9', hostname: 'h9' }], [{ name: 'http', port: 80 }]));
    assert.deepEqual(outcome(zone, `h9.hl.default.${S}`, TYPE.A), ['1 198.19.1.9']);
    assert.equal(outcome(zone, `h0.hl.default.${S}`, TYPE.A), 'nxdomain');
    assert.equal(outcome(zone, reverseName('198.19.1.1')!, TYPE.PTR), 'forward');
  });

  it('a slice relabelled to another Service moves its endpoints', () => {
    const { zone, slices } = setup();
    slices.set(slice('default', 'hl-a', 'web', [{ ip: '198.19.1.1', hostname: 'h0' }], [{ name: 'http', port: 80 }]));
    assert.equal(outcome(zone, `hl.default.${S}`, TYPE.A), 'nxdomain');
    assert.deepEqual(outcome(zone, `h0.web.default.${S}`, TYPE.A), ['1 198.19.1.1']);
  });

  it('deleting the Service removes every name it owned', () => {
    const { zone, services, slices } = setup();
    const n = zone.size();
    services.remove('default', 'hl');
    slices.remove('default', 'hl-a');
    assert.equal(outcome(zone, `hl.default.${S}`, TYPE.A), 'nxdomain');
    assert.equal(outcome(zone, `h0.hl.default.${S}`, TYPE.A), 'nxdomain');
    assert.equal(outcome(zone, reverseName('198.19.1.1')!, TYPE.PTR), 'forward');
    assert.equal(outcome(zone, `_http._tcp.hl.default.${S}`, TYPE.SRV), 'nxdomain');
    assert.equal(zone.size(), n - 2, 'the hl entry and the PTR of 198.19.1.1 (port and endpoint names are found through the entry)');
  });

  it('a slice that arrives before its Service is used once the Service appears', () => {
    const { zone, services, slices } = setup();
    slices.set(slice('default', 'new-a', 'new', [{ ip: '198.19.7.1' }], [{ name: 'http', port: 80 }]));
    assert.equal(outcome(zone, `new.default.${S}`, TYPE.A), 'nxdomain');
    services.set(svc('default', 'new', { clusterIP: 'None', ports: ports(['http', 80]) }));
    assert.deepEqual(outcome(zone, `new.default.${S}`, TYPE.A), ['1 198.19.7.1']);
  });

  it('verified pod records follow Pod events', () => {
    const { zone, pods } = setup('verified');
    pods.set(pod('default', 'p3', '198.19.5.7'));
    assert.deepEqual(outcome(zone, '198-19-5-7.default.pod.cluster.local', TYPE.A), ['1 198.19.5.7']);
    pods.remove('default', 'p3');
    assert.equal(outcome(zone, '198-19-5-7.default.pod.cluster.local', TYPE.A), 'nxdomain');
  });
});

describe('ZoneIndex endpoint and reverse names (not indexed per endpoint)', () => {
  function zoneOf(services: Service[], slices: EndpointSlice[]) {
    const si = new FakeInformer<Service>(services);
    const sl = new FakeInformer<EndpointSlice>(slices);
    const zone = new ZoneIndex();
    zone.attach({ services: si, endpointSlices: sl });
    return { zone, si, sl };
  }

  it('an address in two Services\' slices has a PTR to each endpoint name, until one goes', () => {
    const { zone, si } = zoneOf(
      [svc('default', 'a', { clusterIP: 'None' }), svc('default', 'b', { clusterIP: 'None' })],
      [slice('default', 'a-1', 'a', [{ ip: '198.19.2.1' }]), slice('default', 'b-1', 'b', [{ ip: '198.19.2.1', hostname: 'pod0' }])],
    );
    assert.deepEqual(outcome(zone, reverseName('198.19.2.1')!, TYPE.PTR), [`12 198-19-2-1.a.default.${S}`, `12 pod0.b.default.${S}`]);
    si.remove('default', 'a');
    assert.deepEqual(outcome(zone, reverseName('198.19.2.1')!, TYPE.PTR), [`12 pod0.b.default.${S}`]);
  });

  it('IPv6 endpoints: PTR from the canonical reverse name whatever the address spelling; AAAA on the endpoint name', () => {
    const { zone } = zoneOf([svc('default', 'v6', { clusterIP: 'None', ports: ports(['http', 80]) })], [slice('default', 'v6-1', 'v6', [{ ip: 'fd00:0:0::0a' }], [{ name: 'http', port: 80 }], 'IPv6')]);
    assert.deepEqual(outcome(zone, reverseName('fd00::a')!, TYPE.PTR), [`12 fd00-0-0--0a.v6.default.${S}`]);
    assert.deepEqual(outcome(zone, `fd00-0-0--0a.v6.default.${S}`, TYPE.AAAA), ['28 fd00::a']);
    assert.equal(outcome(zone, `fd00-0-0--0a.v6.default.${S}`, TYPE.A), 'nodata');
  });

  it('endpoint names of a ClusterIP Service: A, SRV per port, and NXDOMAIN for an unknown host', () => {
    const { zone } = zoneOf([svc('default', 'web', { clusterIP: '198.18.0.10', ports: ports(['http', 80]) })], [slice('default', 'web-1', 'web', [{ ip: '198.19.3.1', hostname: 'w0' }], [{ name: 'http', port: 8080 }])]);
    assert.deepEqual(outcome(zone, `w0.web.default.${S}`, TYPE.A), ['1 198.19.3.1']);
    assert.deepEqual(outcome(zone, `w0.web.default.${S}`, TYPE.SRV), [`33 {"priority":0,"weight":100,"port":8080,"target":"w0.web.default.svc.cluster.local"}`]);
    assert.equal(outcome(zone, `w1.web.default.${S}`, TYPE.A), 'nxdomain');
    assert.equal(outcome(zone, `x.w0.web.default.${S}`, TYPE.A), 'nxdomain');
  });

  it('an ExternalName pointing at an endpoint name is followed to its address', () => {
    const { zone } = zoneOf(
      [svc('default', 'hl', { clusterIP: 'None' }), svc('default', 'alias', { type: 'ExternalName', externalName: `h0.hl.default.${S}` })],
      [slice('default', 'hl-1', 'hl', [{ ip: '198.19.4.1', hostname: 'h0' }])],
    );
    assert.deepEqual(outcome(zone, `alias.default.${S}`, TYPE.A), ['1 198.19.4.1', `5 h0.hl.default.${S}`]);
  });

  it('a slice update drops the old endpoint name\'s memoised answer', () => {
    const { zone, sl } = zoneOf([svc('default', 'hl', { clusterIP: 'None' })], [slice('default', 'hl-1', 'hl', [{ ip: '198.19.4.1', hostname: 'h0' }])]);
    assert.deepEqual(outcome(zone, `h0.hl.default.${S}`, TYPE.A), ['1 198.19.4.1']);
    sl.set(slice('default', 'hl-1', 'hl', [{ ip: '198.19.4.2', hostname: 'h0' }]));
    assert.deepEqual(outcome(zone, `h0.hl.default.${S}`, TYPE.A), ['1 198.19.4.2']);
    assert.equal(outcome(zone, reverseName('198.19.4.1')!, TYPE.PTR), 'forward');
  });
});

describe('endpointHostname', () => {
  const rows: Array<[string, string | undefined, string, string]> = [
    ['hostname wins', 'Web-0', '10.0.0.1', 'web-0'],
    ['IPv4 dashed', undefined, '172.0.0.2', '172-0-0-2'],
    ['IPv6 dashed', undefined, '5678:abcd::1', '5678-abcd--1'],
    ['IPv6 ending in :: gets a 0', undefined, 'fd00::', 'fd00--0'],
  ];
  for (const [reason, host, ip, want] of rows) it(reason, () => assert.equal(endpointHostname(host, ip), want));
});
