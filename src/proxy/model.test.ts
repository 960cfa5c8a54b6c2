import { test } from 'node:test';
import assert from 'node:assert/strict';
import { categorizeEndpoints, externalEndpoints, internalEndpoints, type EndpointInfo } from './model.js';
import { ep, sport } from './testing.js';

const node = { nodeName: 'n1', zone: 'z1' };
const ids = (eps: EndpointInfo[]) => eps.map((e) => e.ip).sort();

test('categorizeEndpoints: kube-proxy selection rules', () => {
  const rows: Array<{ why: string; svc: Parameters<typeof sport>[0]; internal: string[]; external: string[]; hasAny: boolean }> = [
    {
      why: 'cluster policy: every ready endpoint, not-ready left out',
      svc: { name: 's', endpoints: [ep('10.0.0.1', 80, { nodeName: 'n1' }), ep('10.0.0.2', 80, { nodeName: 'n2' }), ep('10.0.0.3', 80, { ready: false })] },
      internal: ['10.0.0.1', '10.0.0.2'], external: ['10.0.0.1', '10.0.0.2'], hasAny: true,
    },
    {
      why: 'terminating-but-serving used only when no ready endpoint remains',
      svc: { name: 's', endpoints: [ep('10.0.0.1', 80, { ready: false, serving: true, terminating: true }), ep('10.0.0.2', 80, { ready: false, serving: false, terminating: true })] },
      internal: ['10.0.0.1'], external: ['10.0.0.1'], hasAny: true,
    },
    {
      why: 'terminating-but-serving ignored while a ready endpoint exists',
      svc: { name: 's', endpoints: [ep('10.0.0.1', 80, { ready: false, serving: true, terminating: true }), ep('10.0.0.2', 80)] },
      internal: ['10.0.0.2'], external: ['10.0.0.2'], hasAny: true,
    },
    {
      why: 'internalTrafficPolicy Local: only this node for internal traffic',
      svc: { name: 's', internalPolicyLocal: true, endpoints: [ep('10.0.0.1', 80, { nodeName: 'n1' }), ep('10.0.0.2', 80, { nodeName: 'n2' })] },
      internal: ['10.0.0.1'], external: [], hasAny: true,
    },
    {
      why: 'internalTrafficPolicy Local without local endpoints: none, but the service has endpoints',
      svc: { name: 's', internalPolicyLocal: true, endpoints: [ep('10.0.0.2', 80, { nodeName: 'n2' })] },
      internal: [], external: [], hasAny: true,
    },
    {
      why: 'externalTrafficPolicy Local: external gets local ones, internal all',
      svc: { name: 's', nodePort: 30001, externalPolicyLocal: true, endpoints: [ep('10.0.0.1', 80, { nodeName: 'n1' }), ep('10.0.0.2', 80, { nodeName: 'n2' })] },
      internal: ['10.0.0.1', '10.0.0.2'], external: ['10.0.0.1'], hasAny: true,
    },
    {
      why: 'externalTrafficPolicy Local: local terminating fallback decided on local endpoints alone',
      svc: { name: 's', nodePort: 30001, externalPolicyLocal: true, endpoints: [ep('10.0.0.1', 80, { nodeName: 'n1', ready: false, serving: true, terminating: true }), ep('10.0.0.2', 80, { nodeName: 'n2' })] },
      internal: ['10.0.0.2'], external: ['10.0.0.1'], hasAny: true,
    },
    {
      why: 'no usable endpoint anywhere',
      svc: { name: 's', nodePort: 30001, externalPolicyLocal: true, endpoints: [ep('10.0.0.1', 80, { ready: false })] },
      internal: [], external: [], hasAny: false,
    },
    {
      why: 'zone hints honoured when every ready endpoint has one and one is for this zone',
      svc: { name: 's', endpoints: [ep('10.0.0.1', 80, { zoneHints: ['z1'] }), ep('10.0.0.2', 80, { zoneHints: ['z2'] })] },
      internal: ['10.0.0.1'], external: ['10.0.0.1'], hasAny: true,
    },
    {
      why: 'zone hints ignored when one ready endpoint lacks a hint',
      svc: { name: 's', endpoints: [ep('10.0.0.1', 80, { zoneHints: ['z1'] }), ep('10.0.0.2', 80)] },
      internal: ['10.0.0.1', '10.0.0.2'], external: ['10.0.0.1', '10.0.0.2'], hasAny: true,
    },
    {
      why: 'zone hints ignored when none is for this zone',
      svc: { name: 's', endpoints: [ep('10.0.0.1', 80, { zoneHints: ['z3'] }), ep('10.0.0.2', 80, { zoneHints: ['z2'] })] },
      internal: ['10.0.0.1', '10.0.0.2'], external: ['10.0.0.1', '10.0.0.2'], hasAny: true,
    },
    {
      why: 'node hints win over zone hints',
      svc: { name: 's', endpoints: [ep('10.0.0.1', 80, { zoneHints: ['z1'], nodeHints: ['n2'] }), ep('10.0.0.2', 80, { zoneHints: ['z1'], nodeHints: ['n1'] })] },
      internal: ['10.0.0.2'], external: ['10.0.0.2'], hasAny: true,
    },
  ];
  for (const r of rows) {
    const sp = sport(r.svc);
    const c = categorizeEndpoints(sp, node);
    assert.deepEqual(ids(internalEndpoints(sp, c)), r.internal, `${r.why}: internal`);
    if (sp.externallyAccessible) assert.deepEqual(ids(externalEndpoints(sp, c)), r.external, `${r.why}: external`);
    assert.equal(c.hasAny, r.hasAny, `${r.why}: hasAny`);
  }
});

test('categorizeEndpoints: both policies Local and externally reachable still yields Cluster endpoints (for the pod and node short circuit)', () => {
  const sp = sport({
    name: 's', nodePort: 30001, internalPolicyLocal: true, externalPolicyLocal: true,
    endpoints: [ep('10.0.0.1', 80, { nodeName: 'n1' }), ep('10.0.0.2', 80, { nodeName: 'n2' })],
  });
  const c = categorizeEndpoints(sp, node);
  assert.deepEqual([ids(c.cluster), ids(c.local)], [['10.0.0.1', '10.0.0.2'], ['10.0.0.1']]);
  // A Service only reachable inside with ITP Local never uses Cluster policy.
  assert.deepEqual(categorizeEndpoints(sport({ ...sp, nodePort: 0, externallyAccessible: false }), node).cluster, []);
});
