import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Type } from '@sinclair/typebox';
import { BadRequestError } from '../util/errors.js';
import { ObjectMeta } from '../registry/kinds/meta.js';
import { applyStrategicMergePatch, type Schema } from './strategic.js';

// Small schemas shaped like the real kinds, carrying the extensions kube-apiserver publishes.
const IntOrString = Type.Unsafe<number | string>({ 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] });
const ServicePort = Type.Object({ name: Type.Optional(Type.String()), protocol: Type.Optional(Type.String()), port: Type.Integer(), targetPort: Type.Optional(IntOrString) });
const Service = Type.Object({
  apiVersion: Type.Optional(Type.String()),
  kind: Type.Optional(Type.String()),
  metadata: Type.Optional(ObjectMeta),
  spec: Type.Optional(
    Type.Object({
      type: Type.Optional(Type.String()),
      selector: Type.Optional(Type.Record(Type.String(), Type.String(), { 'x-kubernetes-map-type': 'atomic' })),
      ports: Type.Optional(Type.Array(ServicePort, { 'x-kubernetes-patch-strategy': 'merge', 'x-kubernetes-patch-merge-key': 'port', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['port', 'protocol'] })),
      clusterIPs: Type.Optional(Type.Array(Type.String(), { 'x-kubernetes-list-type': 'atomic' })),
    }),
  ),
});

const EnvVar = Type.Object({ name: Type.String(), value: Type.Optional(Type.String()) });
const ContainerPort = Type.Object({ containerPort: Type.Integer(), name: Type.Optional(Type.String()), protocol: Type.Optional(Type.String()) });
const Container = Type.Object({
  name: Type.String(),
  image: Type.Optional(Type.String()),
  args: Type.Optional(Type.Array(Type.String(), { 'x-kubernetes-list-type': 'atomic' })),
  env: Type.Optional(Type.Array(EnvVar, { 'x-kubernetes-patch-strategy': 'merge', 'x-kubernetes-patch-merge-key': 'name' })),
  ports: Type.Optional(Type.Array(ContainerPort, { 'x-kubernetes-patch-strategy': 'merge', 'x-kubernetes-patch-merge-key': 'containerPort' })),
});
const Pod = Type.Object({
  metadata: Type.Optional(ObjectMeta),
  spec: Type.Optional(Type.Object({ containers: Type.Array(Container, { 'x-kubernetes-patch-strategy': 'merge', 'x-kubernetes-patch-merge-key': 'name' }) })),
});

const Address = Type.Object({ ip: Type.String() });
const Endpoints = Type.Object({
  metadata: Type.Optional(ObjectMeta),
  subsets: Type.Optional(Type.Array(Type.Object({ addresses: Type.Optional(Type.Array(Address)), ports: Type.Optional(Type.Array(Type.Object({ port: Type.Integer() }))) }), { 'x-kubernetes-list-type': 'atomic' })),
});

const Deployment = Type.Object({
  spec: Type.Object({
    strategy: Type.Optional(
      Type.Object(
        { type: Type.Optional(Type.String()), rollingUpdate: Type.Optional(Type.Object({ maxSurge: Type.Optional(IntOrString), maxUnavailable: Type.Optional(IntOrString) })) },
        { 'x-kubernetes-patch-strategy': 'retainKeys' },
      ),
    ),
  }),
});

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object') {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

// Frozen inputs make any mutation throw (ES modules run in strict mode).
function smp(original: unknown, patch: unknown, schema: Schema): unknown {
  return applyStrategicMergePatch(deepFreeze(structuredClone(original)), deepFreeze(structuredClone(patch)), schema);
}

const svc = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'web', labels: { app: 'web', tier: 'fe' }, finalizers: ['a'] },
  spec: { type: 'ClusterIP', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }], clusterIPs: ['10.96.0.5'] },
};

describe('strategic merge patch: what kubectl apply sends', () => {
  it('adds a port to spec.ports with $setElementOrder/ports', () => {
    const out = smp(svc, { spec: { '$setElementOrder/ports': [{ port: 80 }, { port: 443 }], ports: [{ name: 'https', port: 443, targetPort: 8443 }] } }, Service) as typeof svc;
    assert.deepEqual(out.spec.ports, [
      { name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' },
      { name: 'https', port: 443, targetPort: 8443 },
    ]);
  });

  it('reorders by $setElementOrder even when the list content is unchanged', () => {
    const two = structuredClone(svc);
    two.spec.ports.push({ name: 'https', port: 443, targetPort: 8443, protocol: 'TCP' });
    const out = smp(two, { spec: { '$setElementOrder/ports': [{ port: 443 }, { port: 80 }] } }, Service) as typeof svc;
    assert.deepEqual(out.spec.ports.map((p) => p.port), [443, 80]);
  });

  it('puts a new item first without $setElementOrder (upstream ordering)', () => {
    const out = smp(svc, { spec: { ports: [{ port: 443 }] } }, Service) as typeof svc;
    assert.deepEqual(out.spec.ports.map((p) => p.port), [443, 80]);
  });

  it('changes a field of a merged item and keeps the rest of it', () => {
    const out = smp(svc, { spec: { ports: [{ port: 80, targetPort: 9090 }] } }, Service) as typeof svc;
    assert.deepEqual(out.spec.ports, [{ name: 'http', port: 80, targetPort: 9090, protocol: 'TCP' }]);
  });

  it('removes one label with null and keeps the others', () => {
    const out = smp(svc, { metadata: { labels: { app: null } } }, Service) as typeof svc;
    assert.deepEqual(out.metadata.labels, { tier: 'fe' });
    assert.equal(out.metadata.name, 'web');
  });

  it('deletes a list item with $patch: delete', () => {
    const two = structuredClone(svc);
    two.spec.ports.push({ name: 'https', port: 443, targetPort: 8443, protocol: 'TCP' });
    const out = smp(two, { spec: { '$setElementOrder/ports': [{ port: 443 }], ports: [{ $patch: 'delete', port: 80 }] } }, Service) as typeof svc;
    assert.deepEqual(out.spec.ports, [{ name: 'https', port: 443, targetPort: 8443, protocol: 'TCP' }]);
  });

  it('changes one env var of one container', () => {
    const pod = {
      spec: {
        containers: [
          { name: 'app', image: 'nginx:1', env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }], ports: [{ containerPort: 80, name: 'http' }] },
          { name: 'sidecar', image: 'busybox', args: ['sleep', '1d'] },
        ],
      },
    };
    const out = smp(pod, { spec: { containers: [{ name: 'app', '$setElementOrder/env': [{ name: 'A' }, { name: 'B' }], env: [{ name: 'A', value: '10' }] }] } }, Pod) as typeof pod;
    assert.deepEqual(out.spec.containers, [
      { name: 'app', image: 'nginx:1', env: [{ name: 'A', value: '10' }, { name: 'B', value: '2' }], ports: [{ containerPort: 80, name: 'http' }] },
      { name: 'sidecar', image: 'busybox', args: ['sleep', '1d'] },
    ]);
  });

  it('merges container ports by containerPort inside a container', () => {
    const pod = { spec: { containers: [{ name: 'app', ports: [{ containerPort: 80, name: 'http' }] }] } };
    const out = smp(pod, { spec: { containers: [{ name: 'app', '$setElementOrder/ports': [{ containerPort: 80 }, { containerPort: 9000 }], ports: [{ containerPort: 9000, name: 'metrics' }] }] } }, Pod) as typeof pod;
    assert.deepEqual(out.spec.containers[0]!.ports, [{ containerPort: 80, name: 'http' }, { containerPort: 9000, name: 'metrics' }]);
  });

  it('replaces an atomic list (args) whole', () => {
    const pod = { spec: { containers: [{ name: 'app', args: ['a', 'b'] }] } };
    const out = smp(pod, { spec: { containers: [{ name: 'app', args: ['c'] }] } }, Pod) as typeof pod;
    assert.deepEqual(out.spec.containers[0]!.args, ['c']);
  });

  it('merges finalizers as a set', () => {
    const out = smp(svc, { metadata: { '$setElementOrder/finalizers': ['a', 'b'], finalizers: ['b'] } }, Service) as typeof svc;
    assert.deepEqual(out.metadata.finalizers, ['a', 'b']);
    const dup = smp(svc, { metadata: { finalizers: ['a'] } }, Service) as typeof svc;
    assert.deepEqual(dup.metadata.finalizers, ['a']);
  });

  it('removes a finalizer with $deleteFromPrimitiveList', () => {
    const two = structuredClone(svc);
    two.metadata.finalizers = ['a', 'b', 'c'];
    const out = smp(two, { metadata: { '$deleteFromPrimitiveList/finalizers': ['b'] } }, Service) as typeof svc;
    assert.deepEqual(out.metadata.finalizers, ['a', 'c']);
  });

  it('merges ownerReferences by uid', () => {
    const o = { metadata: { ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: 's', uid: 'u1' }] } };
    const out = smp(o, { metadata: { ownerReferences: [{ uid: 'u1', controller: true }, { apiVersion: 'v1', kind: 'Service', name: 't', uid: 'u2' }] } }, Service) as typeof o;
    assert.deepEqual(out.metadata.ownerReferences, [
      { apiVersion: 'v1', kind: 'Service', name: 's', uid: 'u1', controller: true },
      { apiVersion: 'v1', kind: 'Service', name: 't', uid: 'u2' },
    ]);
  });

  it('replaces Endpoints subsets (atomic) whole', () => {
    const ep = { metadata: { name: 'web' }, subsets: [{ addresses: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }], ports: [{ port: 80 }] }] };
    const out = smp(ep, { subsets: [{ addresses: [{ ip: '10.0.0.3' }], ports: [{ port: 80 }] }] }, Endpoints) as typeof ep;
    assert.deepEqual(out.subsets, [{ addresses: [{ ip: '10.0.0.3' }], ports: [{ port: 80 }] }]);
  });

  it('applies $retainKeys to a strategy-like field', () => {
    const d = { spec: { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: '25%' } } } };
    const out = smp(d, { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate', rollingUpdate: null } } }, Deployment) as typeof d;
    assert.deepEqual(out.spec.strategy, { type: 'Recreate' });
  });

  it('replaces a map with $patch: replace', () => {
    const out = smp(svc, { spec: { selector: { $patch: 'replace', run: 'x' } } }, Service) as typeof svc;
    assert.deepEqual(out.spec.selector, { run: 'x' });
  });

  it('replaces a merge list with a $patch: replace item', () => {
    const out = smp(svc, { spec: { ports: [{ $patch: 'replace' }, { port: 9 }] } }, Service) as typeof svc;
    assert.deepEqual(out.spec.ports, [{ port: 9 }]);
  });

  it('empties a map with $patch: delete', () => {
    const out = smp(svc, { metadata: { labels: { $patch: 'delete' } } }, Service) as typeof svc;
    assert.deepEqual(out.metadata.labels, {});
  });

  it('treats $patch: merge as the default', () => {
    const out = smp(svc, { metadata: { labels: { $patch: 'merge', new: 'x' } } }, Service) as typeof svc;
    assert.deepEqual(out.metadata.labels, { app: 'web', tier: 'fe', new: 'x' });
  });

  it('replaces lists the schema knows nothing about', () => {
    const out = smp({ ...svc, extra: [1, 2] }, { extra: [3] }, Service) as { extra: number[] };
    assert.deepEqual(out.extra, [3]);
  });

  it('drops nulls and directives inside values that are new to the object', () => {
    const out = smp({ metadata: { name: 'x' } }, { metadata: { labels: { a: 'b', gone: null } }, spec: { ports: [{ port: 80 }, { $patch: 'delete', port: 81 }] } }, Service) as typeof svc;
    assert.deepEqual(out.metadata.labels, { a: 'b' });
    assert.deepEqual(out.spec.ports, [{ port: 80 }]);
  });

  it('follows $ref through the refs option and nullable unions', () => {
    const Port = Type.Object({ port: Type.Integer(), name: Type.Optional(Type.String()) }, { $id: 'Port' });
    const schema = Type.Object({ ports: Type.Union([Type.Array(Type.Ref(Port), { 'x-kubernetes-patch-strategy': 'merge', 'x-kubernetes-patch-merge-key': 'port' }), Type.Null()]) });
    const out = applyStrategicMergePatch({ ports: [{ port: 1, name: 'a' }] }, { ports: [{ port: 1, name: 'b' }] }, schema, { refs: { Port } });
    assert.deepEqual(out, { ports: [{ port: 1, name: 'b' }] });
  });
});

describe('strategic merge patch: malformed patches are 400', () => {
  const rows: Array<[unknown, string | RegExp, string]> = [
    [{ spec: { ports: [{ name: 'x' }] } }, 'map: map[name:x] does not contain declared merge key: port', 'merge-keyed item without its key'],
    [{ spec: { ports: [{ $patch: 'delete' }] } }, 'map: map[$patch:delete] does not contain declared merge key: port', 'delete directive without the key'],
    [{ spec: { ports: ['x'] } }, 'spec.ports: expected a map[string]interface {}, but received a string', 'list item of the wrong type'],
    [{ spec: { ports: 'x' } }, 'spec.ports: expected a list, but the patch has a string', 'list field given a string'],
    [{ spec: { selector: ['x'] } }, 'spec.selector: expected an object, but the patch has a list', 'map field given a list'],
    [{ metadata: { labels: { $patch: 'bogus' } } }, 'unknown patch type: bogus in map: map[$patch:bogus]', 'unknown $patch'],
    [{ spec: { $retainKeys: 'type' } }, 'invalid patch format of retainKeys', '$retainKeys not a list'],
    [{ spec: { $retainKeys: ['type'], ports: [] } }, 'invalid patch format of retainKeys', 'patch sets a field missing from $retainKeys'],
    [{ spec: { '$setElementOrder/ports': {} } }, 'invalid patch format of setElementOrder list', '$setElementOrder not a list'],
    [{ metadata: { '$deleteFromPrimitiveList/finalizers': 'a' } }, 'invalid patch format of primitive list', '$deleteFromPrimitiveList not a list'],
    [[{ op: 'add' }], 'json: cannot unmarshal array into Go value of type map[string]interface {}', 'patch body is not an object'],
  ];
  for (const [patch, msg, why] of rows) {
    it(why, () =>
      assert.throws(
        () => smp(svc, patch, Service),
        (e: unknown) => e instanceof BadRequestError && e.code === 400 && (typeof msg === 'string' ? e.message === msg : msg.test(e.message)),
      ),
    );
  }
});
