import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestError, StatusError, UnsupportedMediaTypeError } from '../util/errors.js';
import { decodeBody, findDuplicateJsonFields, pruneAndCheck } from './decode.js';
import { serviceKind } from './kinds/service.js';
import { podKind } from './kinds/pod.js';
import { endpointSliceKind } from './kinds/endpointslice.js';
import type { KindDef } from './types.js';

const svc = serviceKind as unknown as KindDef;
const pod = podKind as unknown as KindDef;
const JSONCT = 'application/json';

const goodService = JSON.stringify({
  apiVersion: 'v1', kind: 'Service',
  metadata: { name: 'web', namespace: 'default', labels: { app: 'web' } },
  spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }, { name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353 }] },
});

function badRequest(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof BadRequestError, `expected BadRequestError, got ${String(e)}`);
    assert.equal(e.code, 400);
    return e.message;
  }
  assert.fail('expected an error');
}

test('a valid Service decodes unchanged in every mode', () => {
  for (const mode of ['Strict', 'Warn', 'Ignore'] as const) {
    const { obj, warnings } = decodeBody(goodService, JSONCT, svc, mode);
    assert.deepEqual(obj, JSON.parse(goodService), mode);
    assert.deepEqual(warnings, [], mode);
  }
});

test('unknown and duplicate fields per fieldValidation', () => {
  const body = '{"apiVersion":"v1","kind":"Service","metadata":{"name":"a","name":"b"},"spec":{"foo":1,"ports":[{"port":80,"nodeport":30080}]}}';
  assert.equal(
    badRequest(() => decodeBody(body, JSONCT, svc, 'Strict')),
    'Service in version "v1" cannot be handled as a Service: strict decoding error: duplicate field "metadata.name", unknown field "spec.foo", unknown field "spec.ports[0].nodeport"',
  );
  const warn = decodeBody(body, JSONCT, svc, 'Warn');
  assert.deepEqual(warn.warnings, ['duplicate field "metadata.name"', 'unknown field "spec.foo"', 'unknown field "spec.ports[0].nodeport"']);
  assert.deepEqual(warn.obj.spec, { ports: [{ port: 80 }] }, 'unknown fields are dropped');
  assert.equal(warn.obj.metadata?.name, 'b', 'the last duplicate wins, as in Go');
  const ignore = decodeBody(body, JSONCT, svc, 'Ignore');
  assert.deepEqual(ignore.warnings, []);
  assert.deepEqual(ignore.obj.spec, { ports: [{ port: 80 }] });
});

test('type errors are 400s naming the field, in every mode', () => {
  const rows: [string, unknown, string][] = [
    ['string for an int32', { spec: { ports: [{ port: '80' }] } }, 'json: cannot unmarshal string into Go struct field ServicePort.spec.ports.port of type int32'],
    ['fraction for an int32', { spec: { ports: [{ port: 1.5 }] } }, 'json: cannot unmarshal number 1.5 into Go struct field ServicePort.spec.ports.port of type int32'],
    ['int32 overflow', { spec: { ports: [{ port: 4294967296 }] } }, 'json: cannot unmarshal number 4294967296 into Go struct field ServicePort.spec.ports.port of type int32'],
    ['number for a string', { spec: { type: 5 } }, 'json: cannot unmarshal number 5 into Go struct field ServiceSpec.spec.type of type string'],
    ['object for a list', { spec: { ports: {} } }, 'json: cannot unmarshal object into Go struct field ServiceSpec.spec.ports of type []v1.ServicePort'],
    ['string for an object', { spec: 'x' }, 'json: cannot unmarshal string into Go struct field Service.spec of type v1.ServiceSpec'],
    ['number in a label map', { metadata: { labels: { a: 1 } } }, 'json: cannot unmarshal number 1 into Go struct field ObjectMeta.metadata.labels of type string'],
    ['bool for int-or-string', { spec: { ports: [{ port: 80, targetPort: true }] } }, 'json: cannot unmarshal bool into Go value of type int32'],
  ];
  for (const [why, obj, want] of rows) {
    for (const mode of ['Strict', 'Ignore'] as const) {
      assert.equal(badRequest(() => decodeBody(JSON.stringify(obj), JSONCT, svc, mode)), `Service in version "v1" cannot be handled as a Service: ${want}`, `${why} (${mode})`);
    }
  }
});

test('malformed bodies are 400s, never crashes', () => {
  const rows: [string, string, string][] = [
    ['truncated JSON', '{"spec":', JSONCT],
    ['empty body', '', JSONCT],
    ['JSON array', '[1,2]', JSONCT],
    ['JSON scalar', '"x"', JSONCT],
    ['bad YAML', 'a: [1\n', 'application/yaml'],
    ['two YAML documents', 'a: 1\n---\nb: 2\n', 'application/yaml'],
    ['YAML scalar', 'hello', 'application/yaml'],
  ];
  for (const [why, text, ct] of rows) assert.match(badRequest(() => decodeBody(text, ct, svc, 'Strict')), /./, why);
  assert.throws(() => decodeBody('{}', 'text/plain', svc, 'Strict'), UnsupportedMediaTypeError);
});

test('YAML bodies: Go YAML 1.1 scalars, duplicate keys with line numbers', () => {
  const yaml = 'apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  name: web2\n  creationTimestamp: 2024-01-01T00:00:00Z\nspec:\n  publishNotReadyAddresses: yes\n  ports:\n  - port: 80\n    targetPort: 8080\n';
  const warn = decodeBody(yaml, 'application/yaml; charset=utf-8', svc, 'Warn');
  assert.deepEqual(warn.warnings, ['yaml: unmarshal errors:\n  line 5: key "name" already set in map']);
  assert.equal(warn.obj.metadata?.name, 'web2');
  assert.equal(warn.obj.metadata?.creationTimestamp, '2024-01-01T00:00:00Z', 'timestamps stay strings');
  assert.deepEqual(warn.obj.spec, { publishNotReadyAddresses: true, ports: [{ port: 80, targetPort: 8080 }] });
  assert.match(badRequest(() => decodeBody(yaml, 'application/yaml', svc, 'Strict')), /strict decoding error: yaml: unmarshal errors:\n {2}line 5: key "name" already set in map/);
});

test('preserve-unknown sub-trees, maps and nulls', () => {
  const body = JSON.stringify({
    metadata: { name: 'p', annotations: { anything: 'goes' }, labels: null },
    spec: { containers: [{ name: 'a', image: 'x', securityContext: { whatever: { deep: 1 } }, env: [{ name: 'A', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }], resources: { limits: { cpu: '100m', memory: 1024 } } }], affinity: { nodeAffinity: {} } },
    status: null,
  });
  const { obj, warnings } = decodeBody(body, JSONCT, pod, 'Strict');
  assert.deepEqual(warnings, []);
  assert.equal(obj.status, undefined, 'null members are dropped');
  assert.equal(obj.metadata?.labels, undefined);
  assert.deepEqual((obj.spec as { affinity: unknown }).affinity, { nodeAffinity: {} });
  assert.match(badRequest(() => decodeBody('{"spec":{"containers":[{"name":"a","readinessProbe":{"httpGet":{"port":80,"initialDelaySeconds":5}}}]}}', JSONCT, pod, 'Strict')),
    /unknown field "spec.containers\[0\].readinessProbe.httpGet.initialDelaySeconds"/);
});

test('findDuplicateJsonFields handles escapes, nesting and arrays', () => {
  assert.deepEqual(findDuplicateJsonFields('{"a":1,"b":{"c":"x\\"}","c":2},"l":[{"k":1,"k":2},{"k":3}],"a\\u0062":0,"ab":1}'), ['b.c', 'l[0].k', 'ab']);
  assert.deepEqual(findDuplicateJsonFields('{"a": [ ] , "b" : { } , "c":[1, 2.5e3, true, null, "s"]}'), []);
});

test('pruneAndCheck applies the same rules to built objects', () => {
  const patched = { metadata: { name: 's' }, addressType: 'IPv4', endpoints: [{ addresses: ['10.0.0.1'], bogus: true }] };
  assert.match(badRequest(() => pruneAndCheck(structuredClone(patched), endpointSliceKind.schema)),
    /^EndpointSlice in version "v1" cannot be handled as a EndpointSlice: strict decoding error: unknown field "endpoints\[0\].bogus"$/);
  const warned = pruneAndCheck(structuredClone(patched), endpointSliceKind as unknown as KindDef, 'Warn');
  assert.deepEqual(warned.warnings, ['unknown field "endpoints[0].bogus"']);
  assert.deepEqual(warned.obj.endpoints, [{ addresses: ['10.0.0.1'] }]);
  assert.throws(() => pruneAndCheck({ spec: { ports: [{ port: 'x' }] } }, serviceKind.schema, 'Ignore'), StatusError);
});

test('decode speed (measured, not asserted)', () => {
  const n = 20000;
  for (let i = 0; i < 2000; i++) decodeBody(goodService, JSONCT, svc, 'Strict');
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) decodeBody(goodService, JSONCT, svc, 'Strict');
  const perOp = Number(process.hrtime.bigint() - t0) / n / 1e6;
  console.log(`# decodeBody(Service, Strict): ${(perOp * 1000).toFixed(2)} µs per body`);
  assert.ok(perOp > 0);
});
