// Runs every row of the case table through defaults and validation the way the storage layer does
// (metadata checks, kind defaults, kind validation; on update prepareServiceUpdate as well).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fieldErrorBody, fieldErrorString, type FieldError } from '../../util/errors.js';
import type { Service } from '../kinds/service.js';
import type { Endpoints } from '../kinds/endpoints.js';
import type { ObjectMeta } from '../kinds/meta.js';
import { validateObjectMeta, validateObjectMetaUpdate } from '../meta-validation.js';
import { caseClusterConfig as cfg, validationCases, type Manifest, type ValidationCase } from './cases.js';
import { defaultService, prepareServiceUpdate } from './defaults.js';
import { validateService, validateServiceUpdate } from './validation.js';
import { defaultEndpoints, validateEndpoints } from '../endpoints/validation.js';

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

function createService(m: Manifest): { obj: Service; errs: FieldError[] } {
  const obj = clone(m) as Service;
  defaultService(obj, cfg);
  const errs = [...validateObjectMeta(obj.metadata as ObjectMeta, true, 'dns1035'), ...validateService(obj, cfg)];
  return { obj, errs };
}

/** Stands in for the allocators so that update rows start from a stored object. */
function fakeAllocate(svc: Service): void {
  const spec = svc.spec!;
  if (spec.type !== 'ExternalName' && !spec.clusterIP) {
    spec.clusterIP = '198.18.200.1';
    spec.clusterIPs = ['198.18.200.1'];
  }
  if (spec.type === 'NodePort' || (spec.type === 'LoadBalancer' && spec.allocateLoadBalancerNodePorts !== false)) {
    (spec.ports ?? []).forEach((p, i) => (p.nodePort ??= 31000 + i));
  }
  svc.metadata = { ...svc.metadata, uid: 'u-1', creationTimestamp: '2026-01-01T00:00:00Z', resourceVersion: '5' };
}

function run(c: ValidationCase): FieldError[] {
  switch (c.kind) {
    case 'Service':
      return createService(c.manifest).errs;
    case 'Endpoints': {
      const obj = clone(c.manifest) as Endpoints;
      defaultEndpoints(obj);
      return [...validateObjectMeta(obj.metadata as ObjectMeta, true, 'dns1123subdomain'), ...validateEndpoints(obj, cfg)];
    }
    case 'ServiceUpdate': {
      const created = createService(c.old!);
      assert.deepEqual(created.errs.map(fieldErrorString), [], `${c.name}: the old Service must be valid`);
      const old = created.obj;
      fakeAllocate(old);
      const next = clone(c.manifest) as Service;
      // What the storage layer keeps from the stored object.
      next.metadata = { ...next.metadata, uid: old.metadata!.uid!, creationTimestamp: old.metadata!.creationTimestamp!, resourceVersion: '5' };
      defaultService(next, cfg);
      prepareServiceUpdate(next, old);
      return [
        ...validateObjectMetaUpdate(next.metadata as ObjectMeta, old.metadata as ObjectMeta),
        ...validateObjectMeta(next.metadata as ObjectMeta, true, 'dns1035'),
        ...validateService(next, cfg),
        ...validateServiceUpdate(next, old),
      ];
    }
  }
}

test('the table has at least 80 cases with unique names, and covers every kind', () => {
  assert.ok(validationCases.length >= 80, `only ${validationCases.length} cases`);
  const names = validationCases.map((c) => `${c.kind}: ${c.name}`);
  assert.equal(new Set(names).size, names.length, 'case names are unique');
  for (const k of ['Service', 'Endpoints', 'ServiceUpdate'] as const) assert.ok(validationCases.some((c) => c.kind === k), k);
  for (const c of validationCases) {
    if (c.expect === 'allocator') assert.ok(c.allocatorMessage, `${c.name}: allocator rows say what the allocator answers`);
    if (Array.isArray(c.expect)) assert.ok(c.expect.length > 0, `${c.name}: an error row expects at least one error`);
  }
});

for (const c of validationCases) {
  test(`${c.kind}: ${c.name}`, () => {
    const errs = run(c);
    const got = errs.map(fieldErrorString);
    if (c.expect === 'ok' || c.expect === 'allocator') {
      assert.deepEqual(got, [], 'accepted by validation');
      return;
    }
    assert.equal(errs.length, c.expect.length, `error count; got:\n${got.join('\n')}`);
    const unmatched = [...errs];
    for (const want of c.expect) {
      const i = unmatched.findIndex((e) => e.field === want.field && e.type === want.type && fieldErrorBody(e).includes(want.message));
      assert.ok(i >= 0, `expected ${want.field} (${want.type}) containing ${JSON.stringify(want.message)}; got:\n${got.join('\n')}`);
      unmatched.splice(i, 1);
    }
  });
}

test('defaults of the notes NodePort Service', () => {
  const c = validationCases.find((x) => x.name.startsWith('notes: NodePort'))!;
  const { obj } = createService(c.manifest);
  assert.deepEqual(obj.spec, {
    selector: { app: 'web', tier: 'frontend' },
    type: 'NodePort',
    clusterIP: '198.18.0.50',
    clusterIPs: ['198.18.0.50'],
    ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30080, protocol: 'TCP' }],
    sessionAffinity: 'None',
    externalTrafficPolicy: 'Cluster',
    internalTrafficPolicy: 'Cluster',
    ipFamilyPolicy: 'SingleStack',
    ipFamilies: ['IPv4'],
  });
});
