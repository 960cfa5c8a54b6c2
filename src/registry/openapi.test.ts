import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kinds } from './index.js';
import { openapiV3 } from './openapi.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const oa = openapiV3(kinds);
const doc = (key: string): Json => JSON.parse(oa.docs.get(key)!.body) as Json;

test('the index lists one document per group-version with its hash', () => {
  assert.deepEqual(Object.keys(oa.index.paths).sort(), ['api/v1', 'apis/apps/v1', 'apis/coordination.k8s.io/v1', 'apis/discovery.k8s.io/v1']);
  for (const [key, entry] of Object.entries(oa.index.paths)) {
    assert.equal(entry.serverRelativeURL, `/openapi/v3/${key}?hash=${oa.docs.get(key)!.hash}`);
  }
  assert.equal(openapiV3(kinds), oa, 'computed once');
});

test('every kind has a PATCH operation with its GVK and a fieldValidation query parameter (kubectl leaves validation to the server)', () => {
  for (const k of kinds) {
    const d = doc(k.group === '' ? 'api/v1' : `apis/${k.group}/${k.version}`);
    const patches = Object.values(d.paths as Json).map((p: Json) => p.patch).filter((op: Json | undefined) => op
      && op['x-kubernetes-group-version-kind'].kind === k.kind && op['x-kubernetes-group-version-kind'].group === k.group);
    assert.ok(patches.length >= 1, k.kind);
    for (const op of patches) {
      assert.equal(op['x-kubernetes-action'], 'patch');
      assert.ok(op.parameters.some((p: Json) => p.name === 'fieldValidation' && p.in === 'query'), k.kind);
      assert.deepEqual(Object.keys(op.requestBody.content).sort(), ['application/apply-patch+yaml', 'application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json']);
    }
  }
});

test('paths: collection, item, status and all-namespaces list', () => {
  const d = doc('api/v1');
  for (const p of ['/api/v1/namespaces/{namespace}/services', '/api/v1/namespaces/{namespace}/services/{name}', '/api/v1/namespaces/{namespace}/services/{name}/status', '/api/v1/services', '/api/v1/nodes/{name}/status', '/api/v1/namespaces/{name}']) {
    assert.ok(d.paths[p], p);
  }
  assert.equal(d.paths['/api/v1/namespaces/{namespace}/endpoints/{name}/status'], undefined, 'endpoints have no status subresource');
  assert.equal(d.paths['/api/v1/namespaces/{namespace}/services'].post['x-kubernetes-action'], 'post');
  assert.ok(d.paths['/api/v1/namespaces/{namespace}/services'].post.parameters.some((p: Json) => p.name === 'fieldValidation'));
  assert.equal(d.paths['/api/v1/namespaces/{namespace}/services'].get['x-kubernetes-group-version-kind'].kind, 'ServiceList');
});

test('schemas: named sub-schemas become $refs that all resolve; kinds carry their GVK; merge keys as upstream', () => {
  for (const key of oa.docs.keys()) {
    const d = doc(key);
    const schemas = d.components.schemas as Json;
    const refs = oa.docs.get(key)!.body.match(/"\$ref":"#\/components\/schemas\/[^"]+"/g) ?? [];
    for (const r of refs) {
      const id = r.slice('"$ref":"#/components/schemas/'.length, -1);
      assert.ok(schemas[id], `${key}: ${id} resolves`);
    }
    assert.ok(!oa.docs.get(key)!.body.includes('"$id"'), 'no $id left');
    assert.ok(!oa.docs.get(key)!.body.includes('patternProperties'), 'maps use additionalProperties');
  }
  const s = doc('api/v1').components.schemas as Json;
  assert.deepEqual(s['io.k8s.api.core.v1.Service']['x-kubernetes-group-version-kind'], [{ group: '', version: 'v1', kind: 'Service' }]);
  assert.deepEqual(s['io.k8s.api.core.v1.ServiceList']['x-kubernetes-group-version-kind'], [{ group: '', version: 'v1', kind: 'ServiceList' }]);
  assert.deepEqual(s['io.k8s.api.core.v1.Service'].properties.spec.allOf, [{ $ref: '#/components/schemas/io.k8s.api.core.v1.ServiceSpec' }]);
  const ports = s['io.k8s.api.core.v1.ServiceSpec'].properties.ports;
  assert.equal(ports['x-kubernetes-patch-merge-key'], 'port');
  assert.equal(ports['x-kubernetes-patch-strategy'], 'merge');
  assert.deepEqual(ports.items, { $ref: '#/components/schemas/io.k8s.api.core.v1.ServicePort' });
  assert.equal(typeof s['io.k8s.api.core.v1.ServicePort'].properties.port.description, 'string');
  assert.deepEqual(s['io.k8s.api.core.v1.ServicePort'].properties.targetPort.allOf, [{ $ref: '#/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString' }]);
  assert.equal(s['io.k8s.api.core.v1.PodSpec'].properties.containers['x-kubernetes-patch-merge-key'], 'name');
  assert.equal(s['io.k8s.api.core.v1.Container'].properties.ports['x-kubernetes-patch-merge-key'], 'containerPort');
  assert.equal(s['io.k8s.api.core.v1.Endpoints'].properties.subsets['x-kubernetes-list-type'], 'atomic');
  assert.equal(s['io.k8s.api.core.v1.PodStatus'].properties.conditions['x-kubernetes-patch-merge-key'], 'type');
  assert.deepEqual(s['io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta'].properties.labels.additionalProperties, { type: 'string' });
  const es = doc('apis/discovery.k8s.io/v1').components.schemas as Json;
  assert.equal(es['io.k8s.api.discovery.v1.EndpointSlice'].properties.endpoints['x-kubernetes-list-type'], 'atomic');
});

test('apps/v1 serves the scale subresource as autoscaling/v1 Scale, and the pod template with its merge keys', () => {
  const d = doc('apis/apps/v1');
  const scale = d.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale'] as Json;
  assert.deepEqual(scale.patch['x-kubernetes-group-version-kind'], { group: 'autoscaling', kind: 'Scale', version: 'v1' });
  assert.equal(scale.get.responses['200'].content['application/json'].schema.$ref, '#/components/schemas/io.k8s.api.autoscaling.v1.Scale');
  assert.ok(d.paths['/apis/apps/v1/namespaces/{namespace}/replicasets/{name}/scale']);
  const schemas = d.components.schemas as Json;
  assert.deepEqual(schemas['io.k8s.api.apps.v1.DeploymentSpec'].required, ['selector', 'template']);
  const containers = schemas['io.k8s.api.core.v1.PodSpec'].properties.containers;
  assert.deepEqual([containers['x-kubernetes-patch-merge-key'], containers['x-kubernetes-patch-strategy']], ['name', 'merge']);
  assert.equal(schemas['io.k8s.api.apps.v1.DeploymentStrategy'].properties.rollingUpdate.allOf[0].$ref, '#/components/schemas/io.k8s.api.apps.v1.RollingUpdateDeployment');
});
