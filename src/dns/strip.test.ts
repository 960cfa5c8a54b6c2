// The DNS informer transforms keep exactly what the zone reads: a zone fed stripped objects answers
// every query like one fed the full objects.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeInformer } from '../client/fake.js';
import type { Service } from '../registry/kinds/service.js';
import type { EndpointSlice } from '../registry/kinds/endpointslice.js';
import type { Pod } from '../registry/kinds/pod.js';
import type { Namespace } from '../registry/kinds/namespace.js';
import { ZoneIndex, type PodMode } from './zone.js';
import { buildResponse } from './server.js';
import { TYPE, buildQuery, parseQuery, reverseName } from './wire.js';
import { dnsTransforms, stripEndpointSlice, stripPod, stripService } from './strip.js';
import { pod, ports, slice, svc } from './testutil.js';

const S = 'svc.cluster.local';

function fixtures() {
  const full = (sl: EndpointSlice): EndpointSlice => ({
    ...sl,
    metadata: { ...sl.metadata, uid: 'u', labels: { ...sl.metadata?.labels, 'endpointslice.kubernetes.io/managed-by': 'x' }, ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: 'x', uid: 'u' }] },
    endpoints: sl.endpoints.map((e, i) => ({ ...e, nodeName: 'n1', zone: 'z', targetRef: { kind: 'Pod', namespace: 'default', name: `p${i}`, uid: `u${i}` }, conditions: { ...e.conditions, serving: true, terminating: false } })),
  });
  const services: Service[] = [
    svc('default', 'web', { clusterIP: '198.18.0.10', clusterIPs: ['198.18.0.10', 'fd00::10'], ports: ports(['http', 80], ['dns', 53, 'UDP']), selector: { app: 'web' } }),
    svc('default', 'hl', { clusterIP: 'None', ports: ports(['http', 80]) }),
    svc('default', 'all', { clusterIP: 'None', publishNotReadyAddresses: true, ports: ports(['http', 80]) }),
    svc('default', 'ext', { type: 'ExternalName', externalName: 'web.default.svc.cluster.local' }),
    svc('other', 'np', { clusterIP: '198.18.0.11' }),
  ];
  const slices: EndpointSlice[] = [
    full(slice('default', 'web-1', 'web', [{ ip: '198.19.0.1' }, { ip: '198.19.0.2', ready: false }], [{ name: 'http', port: 8080 }, { name: 'dns', port: 53, protocol: 'UDP' }])),
    full(slice('default', 'hl-1', 'hl', [{ ip: '198.19.1.1', hostname: 'h0' }, { ip: '198.19.1.2', ready: false }], [{ name: 'http', port: 80 }])),
    full(slice('default', 'all-1', 'all', [{ ip: '198.19.2.1' }, { ip: '198.19.2.2', ready: false }], [{ name: 'http', port: 80 }])),
    full(slice('other', 'np-1', 'np', [{ ip: '198.19.3.1' }])),
  ];
  const pods: Pod[] = [
    { ...pod('default', 'p1', '198.19.5.5'), spec: { containers: [{ name: 'c', image: 'x' }], nodeName: 'n1' } } as Pod,
    { ...pod('default', 'gone', '198.19.5.6'), metadata: { namespace: 'default', name: 'gone', resourceVersion: '2', deletionTimestamp: '2026-01-01T00:00:00Z' } } as Pod,
  ];
  const namespaces: Namespace[] = ['default', 'other', 'empty'].map((name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, resourceVersion: '1', labels: { a: 'b' } }, spec: { finalizers: ['kubernetes'] } } as Namespace));
  return { services, slices, pods, namespaces };
}

function zoneFrom(podMode: PodMode, strip: boolean): ZoneIndex {
  const f = fixtures();
  const t = <T>(xs: T[], fn: (x: T) => T): T[] => (strip ? xs.map(fn) : xs);
  const zone = new ZoneIndex({ podMode, now: () => 1 });
  zone.attach({
    services: new FakeInformer(t(f.services, dnsTransforms.services)),
    endpointSlices: new FakeInformer(t(f.slices, dnsTransforms.endpointSlices)),
    pods: new FakeInformer(t(f.pods, dnsTransforms.pods)),
    namespaces: new FakeInformer(t(f.namespaces, dnsTransforms.namespaces)),
  });
  return zone;
}

function wire(zone: ZoneIndex, name: string, type: number): string {
  const a = zone.lookup(name, type);
  if (a.t !== 'answer') return a.t;
  const raw = buildQuery(7, name, type, 65535);
  const p = parseQuery(raw);
  assert.ok(p.ok);
  return p.ok ? buildResponse(raw, p.query, 0, true, a.r, null, 65535).toString('hex') : 'bad';
}

describe('DNS informer transforms', () => {
  const names = [
    `web.default.${S}`, `_http._tcp.web.default.${S}`, `_dns._udp.web.default.${S}`, `198-19-0-1.web.default.${S}`, `198-19-0-2.web.default.${S}`,
    `hl.default.${S}`, `h0.hl.default.${S}`, `198-19-1-2.hl.default.${S}`, `_http._tcp.hl.default.${S}`,
    `all.default.${S}`, `198-19-2-2.all.default.${S}`, `ext.default.${S}`, `np.other.${S}`, `198-19-3-1.np.other.${S}`,
    `default.${S}`, `empty.${S}`, `nons.${S}`, '198-19-5-5.default.pod.cluster.local', '198-19-5-6.default.pod.cluster.local',
    ...['198.18.0.10', 'fd00::10', '198.19.0.1', '198.19.0.2', '198.19.1.1', '198.19.2.2', '198.19.3.1'].map((ip) => reverseName(ip)!),
  ];
  const types = [TYPE.A, TYPE.AAAA, TYPE.SRV, TYPE.PTR, TYPE.CNAME, TYPE.TXT];
  for (const mode of ['insecure', 'verified'] as const) {
    it(`a zone fed stripped objects answers like one fed full objects (pods ${mode})`, () => {
      const full = zoneFrom(mode, false);
      const slim = zoneFrom(mode, true);
      let answers = 0;
      for (const n of names) {
        for (const t of types) {
          const want = wire(full, n, t);
          if (want.length > 20) answers++;
          assert.equal(wire(slim, n, t), want, `${n} type ${t}`);
        }
      }
      assert.ok(answers > 20, `the fixture answers something (${answers} answers)`);
    });
  }

  it('drops what the zone does not read and keeps what the informer needs', () => {
    const f = fixtures();
    const sl = stripEndpointSlice(f.slices[0]!);
    assert.deepEqual(sl.metadata, { namespace: 'default', name: 'web-1', resourceVersion: f.slices[0]!.metadata?.resourceVersion, labels: { 'kubernetes.io/service-name': 'web' } });
    assert.deepEqual(sl.endpoints, [{ addresses: ['198.19.0.1'] }, { addresses: ['198.19.0.2'], conditions: { ready: false } }]);
    const s = stripService(f.services[0]!);
    assert.equal(s.spec?.selector, undefined);
    assert.deepEqual(s.spec?.clusterIPs, ['198.18.0.10', 'fd00::10']);
    const p = stripPod(f.pods[1]!);
    assert.equal(p.spec, undefined);
    assert.equal(p.metadata?.deletionTimestamp, '2026-01-01T00:00:00Z');
  });
});
