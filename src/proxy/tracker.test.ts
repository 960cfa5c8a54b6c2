import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChangeTracker, type TrackedEndpointSlice, type TrackedService } from './tracker.js';
import type { Service } from '../registry/kinds/service.js';
import type { EndpointSlice } from '../registry/kinds/endpointslice.js';

function svc(name: string, spec: TrackedService['spec'] = {}, extra: Partial<TrackedService> = {}): TrackedService {
  return { metadata: { namespace: 'default', name }, spec: { type: 'ClusterIP', clusterIP: '198.18.0.10', clusterIPs: ['198.18.0.10'], ports: [{ name: 'http', protocol: 'TCP', port: 80 }], ...spec }, ...extra };
}

function slice(name: string, svcName: string, ips: string[], o: { ready?: boolean; port?: number; annotations?: Record<string, string> } = {}): TrackedEndpointSlice & { metadata: { annotations?: Record<string, string> } } {
  return {
    metadata: { namespace: 'default', name, labels: { 'kubernetes.io/service-name': svcName }, ...(o.annotations ? { annotations: o.annotations } : {}) },
    addressType: 'IPv4',
    ports: [{ name: 'http', protocol: 'TCP', port: o.port ?? 8080 }],
    endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: o.ready ?? true }, nodeName: 'n1' })),
  };
}

const KEY = 'default/web/http/TCP';

test('tracker: add, merge slices, no-op updates, delete', () => {
  const t = new ChangeTracker();
  assert.equal(t.serviceUpdate(undefined, svc('web')), true);
  assert.equal(t.endpointSliceUpdate(undefined, slice('web-a', 'web', ['198.19.0.1'])), true);
  assert.equal(t.endpointSliceUpdate(undefined, slice('web-b', 'web', ['198.19.0.2', '198.19.0.1'])), true);
  let m = t.snapshot();
  assert.deepEqual([...m.changed], [KEY], 'new service port reported');
  assert.deepEqual(m.services.get(KEY)?.endpoints.map((e) => e.ip), ['198.19.0.1', '198.19.0.2'], 'two slices merged, duplicate dropped');

  const before = slice('web-a', 'web', ['198.19.0.1']);
  const after = slice('web-a', 'web', ['198.19.0.1'], { annotations: { note: 'x' } });
  assert.equal(t.endpointSliceUpdate(before, after), false, 'annotation-only slice update is a no-op');
  assert.equal(t.serviceUpdate(svc('web'), svc('web', undefined, { status: {} })), false, 'irrelevant service change is a no-op');
  m = t.snapshot();
  assert.equal(m.changed.size, 0, 'no-op updates change nothing');

  t.endpointSliceUpdate(before, slice('web-a', 'web', ['198.19.0.1'], { ready: false }));
  t.endpointSliceUpdate(slice('web-a', 'web', ['198.19.0.1'], { ready: false }), before);
  assert.deepEqual(t.pending(), { services: 0, endpointSlices: 0 }, 'change and revert before a sync cancel out');

  t.endpointSliceUpdate(slice('web-b', 'web', ['198.19.0.2', '198.19.0.1']), undefined);
  m = t.snapshot();
  assert.deepEqual([...m.changed], [KEY]);
  assert.deepEqual(m.services.get(KEY)?.endpoints.map((e) => e.ip), ['198.19.0.1'], 'deleted slice removes its endpoints');

  t.serviceUpdate(svc('web'), undefined);
  m = t.snapshot();
  assert.deepEqual([...m.changed], [KEY]);
  assert.equal(m.services.size, 0, 'deleted service leaves the model');
});

test('tracker: service shapes', () => {
  const rows: Array<{ why: string; s: TrackedService; keys: string[] }> = [
    { why: 'headless service has no ports in the model', s: svc('h', { clusterIP: 'None', clusterIPs: ['None'] }), keys: [] },
    { why: 'ExternalName has no ports in the model', s: svc('x', { type: 'ExternalName', clusterIP: '', clusterIPs: [] }), keys: [] },
    { why: 'one key per port and protocol', s: svc('d', { ports: [{ name: 'dns', protocol: 'UDP', port: 53 }, { name: 'dns-tcp', protocol: 'TCP', port: 53 }] }), keys: ['default/d/dns-tcp/TCP', 'default/d/dns/UDP'] },
  ];
  for (const r of rows) {
    const t = new ChangeTracker();
    t.serviceUpdate(undefined, r.s);
    assert.deepEqual([...t.snapshot().services.keys()].sort(), r.keys, r.why);
  }
});

test('tracker: LoadBalancer fields', () => {
  const t = new ChangeTracker();
  t.serviceUpdate(undefined, svc('lb', {
    type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 32000, loadBalancerSourceRanges: ['198.19.255.0/24'],
    sessionAffinity: 'ClientIP', externalIPs: ['198.19.255.9'], ports: [{ name: 'http', protocol: 'TCP', port: 80, nodePort: 30080 }],
  }, { status: { loadBalancer: { ingress: [{ ip: '198.19.255.10' }, { ip: '198.19.255.11', ipMode: 'Proxy' }] } } }));
  const sp = t.snapshot().services.get('default/lb/http/TCP');
  assert.ok(sp);
  assert.deepEqual(sp.loadBalancerIPs, ['198.19.255.10'], 'ipMode Proxy ingress skipped');
  assert.equal(sp.nodePort, 30080);
  assert.equal(sp.healthCheckNodePort, 32000);
  assert.equal(sp.externalPolicyLocal, true);
  assert.equal(sp.affinityTimeoutSeconds, 10800, 'default ClientIP timeout');
  assert.deepEqual(sp.loadBalancerSourceRanges, ['198.19.255.0/24']);
  assert.deepEqual(sp.externalIPs, ['198.19.255.9']);
});

test('tracker: registry kinds fit the tracked shapes', () => {
  const s: Service = { metadata: { namespace: 'default', name: 'k' }, spec: { clusterIP: '198.18.0.9', ports: [{ port: 80 }] } };
  const e: EndpointSlice = { metadata: { namespace: 'default', name: 'k-1', labels: { 'kubernetes.io/service-name': 'k' } }, addressType: 'IPv4', endpoints: [{ addresses: ['198.19.0.9'] }], ports: [{ port: 8080 }] };
  const t = new ChangeTracker();
  t.serviceUpdate(undefined, s);
  t.endpointSliceUpdate(undefined, e);
  assert.deepEqual(t.snapshot().services.get('default/k//TCP')?.endpoints.map((x) => `${x.ip}:${x.port}`), ['198.19.0.9:8080']);
});
