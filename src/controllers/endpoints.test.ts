// The Endpoints controller: the pure subset computation row by row, then the controller over an
// in-process API (memory store) for what only shows end to end.
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from '../registry/kinds/pod.js';
import type { Service } from '../registry/kinds/service.js';
import type { Endpoints } from '../registry/kinds/endpoints.js';
import { NotFoundError } from '../util/errors.js';
import { ANNOTATION_OVER_CAPACITY, desiredSubsets, endpointsLabels } from './endpoints.js';
import type { NetworkControllers } from './networking.js';
import { createPod, eventually, service, setPodReady, startTestNetwork, type TestAPI } from './testing.js';

function pod(name: string, o: { ip?: string; ready?: boolean; phase?: string; ports?: Array<{ name?: string; containerPort: number; protocol?: string }>; deleting?: boolean; hostname?: string; subdomain?: string; node?: string } = {}): Pod {
  return {
    metadata: { name, namespace: 'default', uid: `uid-${name}`, labels: { app: 'web' }, ...(o.deleting ? { deletionTimestamp: '2030-01-01T00:00:00Z' } : {}) },
    spec: { containers: [{ name: 'c', ports: o.ports ?? [] }], hostname: o.hostname, subdomain: o.subdomain, nodeName: o.node },
    status: { phase: o.phase ?? 'Running', podIP: o.ip, conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }] },
  } as Pod;
}

const svc = (spec: Partial<NonNullable<Service['spec']>> = {}): Service =>
  ({ metadata: { name: 'web', namespace: 'default' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }], ...spec } }) as Service;

const ips = (eps: Endpoints | { subsets: Endpoints['subsets'] }, which: 'addresses' | 'notReadyAddresses') => (eps.subsets ?? []).flatMap((s) => (s[which] ?? []).map((a) => a.ip));

describe('desiredSubsets', () => {
  const rows: Array<{ why: string; svc: Service; pods: Pod[]; ready: string[]; notReady: string[]; subsets?: number }> = [
    { why: 'a ready pod is in addresses', svc: svc(), pods: [pod('a', { ip: '198.19.0.1' })], ready: ['198.19.0.1'], notReady: [] },
    { why: 'an unready pod is in notReadyAddresses', svc: svc(), pods: [pod('a', { ip: '198.19.0.1', ready: false })], ready: [], notReady: ['198.19.0.1'] },
    { why: 'publishNotReadyAddresses puts every pod in addresses', svc: svc({ publishNotReadyAddresses: true }), pods: [pod('a', { ip: '198.19.0.1', ready: false })], ready: ['198.19.0.1'], notReady: [] },
    { why: 'a pod without an IP is left out', svc: svc(), pods: [pod('a')], ready: [], notReady: [] },
    { why: 'a Succeeded pod is left out', svc: svc(), pods: [pod('a', { ip: '198.19.0.1', phase: 'Succeeded' })], ready: [], notReady: [] },
    { why: 'a Failed pod is left out', svc: svc(), pods: [pod('a', { ip: '198.19.0.1', phase: 'Failed' })], ready: [], notReady: [] },
    { why: 'a terminating pod leaves the Endpoints', svc: svc(), pods: [pod('a', { ip: '198.19.0.1', deleting: true })], ready: [], notReady: [] },
    { why: 'a terminating pod stays with publishNotReadyAddresses', svc: svc({ publishNotReadyAddresses: true }), pods: [pod('a', { ip: '198.19.0.1', deleting: true })], ready: ['198.19.0.1'], notReady: [] },
    {
      why: 'a named port resolving to different numbers makes two subsets',
      svc: svc({ ports: [{ name: 'http', port: 80, targetPort: 'web', protocol: 'TCP' }] }),
      pods: [pod('a', { ip: '198.19.0.1', ports: [{ name: 'web', containerPort: 8080 }] }), pod('b', { ip: '198.19.0.2', ports: [{ name: 'web', containerPort: 9090 }] })],
      ready: ['198.19.0.1', '198.19.0.2'],
      notReady: [],
      subsets: 2,
    },
    {
      why: 'a pod without the named port is left out for that port',
      svc: svc({ ports: [{ name: 'http', port: 80, targetPort: 'web', protocol: 'TCP' }] }),
      pods: [pod('a', { ip: '198.19.0.1', ports: [{ name: 'other', containerPort: 8080 }] })],
      ready: [],
      notReady: [],
    },
    {
      why: 'a named port must match the protocol too',
      svc: svc({ ports: [{ name: 'dns', port: 53, targetPort: 'dns', protocol: 'UDP' }] }),
      pods: [pod('a', { ip: '198.19.0.1', ports: [{ name: 'dns', containerPort: 5353, protocol: 'TCP' }] })],
      ready: [],
      notReady: [],
    },
    { why: 'a headless Service without ports lists its pods', svc: svc({ clusterIP: 'None', ports: [] }), pods: [pod('a', { ip: '198.19.0.1' })], ready: ['198.19.0.1'], notReady: [], subsets: 1 },
    { why: 'ready and unready pods with the same ports share a subset', svc: svc(), pods: [pod('a', { ip: '198.19.0.1' }), pod('b', { ip: '198.19.0.2', ready: false })], ready: ['198.19.0.1'], notReady: ['198.19.0.2'], subsets: 1 },
  ];
  for (const r of rows) {
    it(r.why, () => {
      const out = desiredSubsets(r.svc, r.pods);
      assert.deepEqual(ips(out, 'addresses'), r.ready);
      assert.deepEqual(ips(out, 'notReadyAddresses'), r.notReady);
      if (r.subsets !== undefined) assert.equal(out.subsets.length, r.subsets);
    });
  }

  it('resolves a named targetPort per pod', () => {
    const s = svc({ ports: [{ name: 'http', port: 80, targetPort: 'web', protocol: 'TCP' }] });
    const out = desiredSubsets(s, [pod('a', { ip: '198.19.0.1', ports: [{ name: 'web', containerPort: 8080 }] }), pod('b', { ip: '198.19.0.2', ports: [{ name: 'web', containerPort: 9090 }] })]);
    const byIP = Object.fromEntries(out.subsets.flatMap((ss) => (ss.addresses ?? []).map((a) => [a.ip, ss.ports?.[0]?.port])));
    assert.deepEqual(byIP, { '198.19.0.1': 8080, '198.19.0.2': 9090 });
  });

  it('sets hostname only when the subdomain is the Service name', () => {
    const out = desiredSubsets(svc(), [pod('a', { ip: '198.19.0.1', hostname: 'h1', subdomain: 'web' }), pod('b', { ip: '198.19.0.2', hostname: 'h2', subdomain: 'other' })]);
    const addrs = out.subsets.flatMap((s) => s.addresses ?? []);
    assert.deepEqual(addrs.map((a) => [a.ip, a.hostname]), [['198.19.0.1', 'h1'], ['198.19.0.2', undefined]]);
  });

  it('carries nodeName and a targetRef to the pod', () => {
    const out = desiredSubsets(svc(), [pod('a', { ip: '198.19.0.1', node: 'n1' })]);
    assert.deepEqual(out.subsets[0]?.addresses?.[0], { ip: '198.19.0.1', nodeName: 'n1', targetRef: { kind: 'Pod', namespace: 'default', name: 'a', uid: 'uid-a' } });
  });

  it('truncates at the capacity keeping ready addresses first', () => {
    const pods: Pod[] = [];
    for (let i = 0; i < 8; i++) pods.push(pod(`p${i}`, { ip: `198.19.0.${i + 1}`, ready: i % 2 === 0 }));
    const out = desiredSubsets(svc(), pods, 5);
    assert.equal(out.truncated, true);
    assert.equal(ips(out, 'addresses').length, 4);
    assert.equal(ips(out, 'notReadyAddresses').length, 1);
  });

  it('labels the Endpoints skip-mirror and headless as the Service is', () => {
    assert.deepEqual(endpointsLabels({ ...svc({ clusterIP: 'None' }), metadata: { name: 'web', labels: { team: 'a' } } }), { team: 'a', 'endpointslice.kubernetes.io/skip-mirror': 'true', 'service.kubernetes.io/headless': '' });
  });
});

describe('EndpointsController over the API', () => {
  let api: TestAPI;
  let ctl: NetworkControllers;
  beforeEach(async () => {
    ({ api, ctl } = await startTestNetwork());
  });
  afterEach(() => ctl.stop());

  const getEps = (name: string, ns = 'default') => api.endpoints.get(ns, name);

  it('writes Endpoints for a selector Service, with trigger time and skip-mirror label', async () => {
    await api.services.create('default', service('web'));
    await createPod(api, 'default', 'a', { labels: { app: 'web' }, ip: '198.19.0.1' });
    await createPod(api, 'default', 'b', { labels: { app: 'web' }, ip: '198.19.0.2', ready: false });
    const eps = await eventually(async () => {
      const e = await getEps('web');
      assert.deepEqual(ips(e, 'addresses'), ['198.19.0.1']);
      assert.deepEqual(ips(e, 'notReadyAddresses'), ['198.19.0.2']);
      return e;
    });
    assert.equal(eps.metadata?.labels?.['endpointslice.kubernetes.io/skip-mirror'], 'true');
    assert.match(eps.metadata?.annotations?.['endpoints.kubernetes.io/last-change-trigger-time'] ?? '', /^\d{4}-\d\d-\d\dT/);
    assert.equal(eps.subsets?.[0]?.ports?.[0]?.port, 8080);
  });

  it('maps a named targetPort to different numbers on different pods', async () => {
    await api.services.create('default', service('web', { ports: [{ name: 'http', port: 80, targetPort: 'http-alt', protocol: 'TCP' }] }));
    await createPod(api, 'default', 'a', { labels: { app: 'web' }, ip: '198.19.0.1', ports: [{ name: 'http-alt', containerPort: 8080 }] });
    await createPod(api, 'default', 'b', { labels: { app: 'web' }, ip: '198.19.0.2', ports: [{ name: 'http-alt', containerPort: 9090 }] });
    await createPod(api, 'default', 'c', { labels: { app: 'web' }, ip: '198.19.0.3', ports: [{ name: 'metrics', containerPort: 9100 }] });
    await eventually(async () => {
      const e = await getEps('web');
      const byIP = Object.fromEntries((e.subsets ?? []).flatMap((ss) => (ss.addresses ?? []).map((a) => [a.ip, ss.ports?.[0]?.port])));
      assert.deepEqual(byIP, { '198.19.0.1': 8080, '198.19.0.2': 9090 });
    });
  });

  it('publishNotReadyAddresses lists unready pods as addresses', async () => {
    await api.services.create('default', service('web', { publishNotReadyAddresses: true }));
    await createPod(api, 'default', 'a', { labels: { app: 'web' }, ip: '198.19.0.1', ready: false });
    await eventually(async () => assert.deepEqual(ips(await getEps('web'), 'addresses'), ['198.19.0.1']));
  });

  it('truncates at 1000 addresses with the over-capacity annotation, ready ones kept', async () => {
    await api.services.create('default', service('big'));
    for (let i = 0; i < 1010; i++) {
      await createPod(api, 'default', `p${i}`, { labels: { app: 'big' }, ip: `198.19.${Math.floor(i / 250)}.${(i % 250) + 1}`, ready: i >= 10 });
    }
    await eventually(async () => {
      const e = await getEps('big');
      assert.equal(e.metadata?.annotations?.[ANNOTATION_OVER_CAPACITY], 'truncated');
      assert.equal(ips(e, 'addresses').length, 1000);
      assert.equal(ips(e, 'notReadyAddresses').length, 0);
    });
    // Back under the capacity: the annotation goes.
    for (let i = 0; i < 20; i++) await api.pods.delete('default', `p${i + 100}`);
    await eventually(async () => {
      const e = await getEps('big');
      assert.equal(e.metadata?.annotations?.[ANNOTATION_OVER_CAPACITY], undefined);
      assert.equal(ips(e, 'addresses').length + ips(e, 'notReadyAddresses').length, 990);
    });
  });

  it('leaves the Endpoints of a Service without a selector to the user', async () => {
    await api.services.create('default', service('manual', { selector: undefined }));
    await api.endpoints.create('default', { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'manual' }, subsets: [{ addresses: [{ ip: '198.19.9.9' }], ports: [{ port: 80 }] }] } as Endpoints);
    await createPod(api, 'default', 'a', { labels: { app: 'manual' }, ip: '198.19.0.1' });
    await ctl.whenIdle();
    await new Promise((r) => setTimeout(r, 50));
    await ctl.whenIdle();
    assert.deepEqual(ips(await getEps('manual'), 'addresses'), ['198.19.9.9']);
  });

  it('does not write when nothing the Endpoints show changed', async () => {
    await api.services.create('default', service('web'));
    await createPod(api, 'default', 'a', { labels: { app: 'web' }, ip: '198.19.0.1' });
    const first = await eventually(async () => {
      const e = await getEps('web');
      assert.equal(ips(e, 'addresses').length, 1);
      return e;
    });
    // A pod change the Endpoints do not show (an annotation), then a Service label-free edit.
    await api.pods.guaranteedUpdate('default', 'a', (p) => ({ ...p, metadata: { ...p.metadata, annotations: { x: '1' } } }));
    await createPod(api, 'default', 'other', { labels: { app: 'nope' }, ip: '198.19.0.7' });
    await new Promise((r) => setTimeout(r, 50));
    await ctl.whenIdle();
    assert.equal((await getEps('web')).metadata?.resourceVersion, first.metadata?.resourceVersion);
  });

  it('follows Ready flips, label changes, IP changes and selector changes', async () => {
    await api.services.create('default', service('web'));
    await createPod(api, 'default', 'a', { labels: { app: 'web' }, ip: '198.19.0.1' });
    await eventually(async () => assert.deepEqual(ips(await getEps('web'), 'addresses'), ['198.19.0.1']));
    await setPodReady(api, 'default', 'a', false);
    await eventually(async () => assert.deepEqual(ips(await getEps('web'), 'notReadyAddresses'), ['198.19.0.1']));
    await setPodReady(api, 'default', 'a', true);
    await eventually(async () => assert.deepEqual(ips(await getEps('web'), 'addresses'), ['198.19.0.1']));
    await api.pods.guaranteedUpdate('default', 'a', (p) => ({ ...p, status: { ...p.status, podIP: '198.19.0.5', podIPs: [{ ip: '198.19.0.5' }] } }), { subresource: 'status' });
    await eventually(async () => assert.deepEqual(ips(await getEps('web'), 'addresses'), ['198.19.0.5']));
    await api.pods.guaranteedUpdate('default', 'a', (p) => ({ ...p, metadata: { ...p.metadata, labels: { app: 'other' } } }));
    await eventually(async () => assert.equal((await getEps('web')).subsets?.length ?? 0, 0));
    await api.services.guaranteedUpdate('default', 'web', (s) => ({ ...s, spec: { ...s.spec, selector: { app: 'other' } } }));
    await eventually(async () => assert.deepEqual(ips(await getEps('web'), 'addresses'), ['198.19.0.5']));
  });

  it('deletes the Endpoints with the Service', async () => {
    await api.services.create('default', service('web'));
    await createPod(api, 'default', 'a', { labels: { app: 'web' }, ip: '198.19.0.1' });
    await eventually(() => getEps('web'));
    await api.services.delete('default', 'web');
    await eventually(() => assert.rejects(getEps('web'), NotFoundError));
  });

  it('puts back its Endpoints when someone else edits them', async () => {
    await api.services.create('default', service('web'));
    await createPod(api, 'default', 'a', { labels: { app: 'web' }, ip: '198.19.0.1' });
    await eventually(async () => assert.deepEqual(ips(await getEps('web'), 'addresses'), ['198.19.0.1']));
    await api.endpoints.guaranteedUpdate('default', 'web', (e) => ({ ...e, subsets: [{ addresses: [{ ip: '198.19.7.7' }], ports: [{ port: 1 }] }] }));
    await eventually(async () => assert.deepEqual(ips(await getEps('web'), 'addresses'), ['198.19.0.1']));
  });
});
