import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fieldErrorString } from '../util/errors.js';
import type { ObjectMeta } from './kinds/meta.js';
import { validateObjectMeta, validateObjectMetaUpdate } from './meta-validation.js';

test('validateObjectMeta', () => {
  const rows: Array<[ObjectMeta, boolean, 'dns1035' | 'dns1123subdomain' | 'dns1123label', string[], string]> = [
    [{ name: 'web', namespace: 'default' }, true, 'dns1035', [], 'namespaced, valid'],
    [{ namespace: 'default' }, true, 'dns1035', ['metadata.name: Required value: name or generateName is required'], 'no name'],
    [{ name: 'web' }, true, 'dns1035', ['metadata.namespace: Required value'], 'namespace missing'],
    [{ name: 'node-1', namespace: 'x' }, false, 'dns1123subdomain', ['metadata.namespace: Forbidden: not allowed on this type'], 'cluster-scoped with namespace'],
    [{ name: 'web', namespace: 'Bad_NS' }, true, 'dns1035', ['metadata.namespace: Invalid value: "Bad_NS": a lowercase RFC 1123 label'], 'bad namespace'],
    [{ name: 'web-1', generateName: 'web-', namespace: 'd' }, true, 'dns1035', [], 'generateName with dash'],
    [{ name: 'a.b', namespace: 'd' }, true, 'dns1123subdomain', [], 'subdomain rule allows dots'],
    [{ name: 'a.b', namespace: 'd' }, true, 'dns1123label', ['metadata.name: Invalid value: "a.b": must not contain dots'], 'label rule refuses dots'],
    [{ name: 'w', namespace: 'd', generation: -1 }, true, 'dns1035', ['metadata.generation: Invalid value: -1: must be greater than or equal to 0'], 'negative generation'],
    [{ name: 'w', namespace: 'd', finalizers: ['bad/fin/alizer'] }, true, 'dns1035', ['metadata.finalizers: Invalid value: "bad/fin/alizer": a qualified name'], 'bad finalizer'],
    [{ name: 'w', namespace: 'd', ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: 'p', uid: '' }] }, true, 'dns1035', ['metadata.ownerReferences.uid: Invalid value: "": must not be empty'], 'owner without uid'],
  ];
  for (const [meta, namespaced, rule, want, reason] of rows) {
    const got = validateObjectMeta(meta, namespaced, rule).map(fieldErrorString);
    assert.equal(got.length, want.length, `${reason}: ${got.join('; ')}`);
    want.forEach((w, i) => assert.ok(got[i]!.startsWith(w), `${reason}: ${got[i]} should start with ${w}`));
  }
});

test('validateObjectMetaUpdate', () => {
  const old: ObjectMeta = { name: 'web', namespace: 'default', uid: 'u1', creationTimestamp: '2026-01-01T00:00:00Z', generation: 2 };
  const rows: Array<[ObjectMeta, string[], string]> = [
    [{ ...old }, [], 'unchanged'],
    [{ ...old, labels: { a: 'b' } }, [], 'labels may change'],
    [{ ...old, name: 'web2' }, ['metadata.name: Invalid value: "web2": field is immutable'], 'rename'],
    [{ ...old, namespace: 'other' }, ['metadata.namespace: Invalid value: "other": field is immutable'], 'move'],
    [{ ...old, uid: 'u2' }, ['metadata.uid: Invalid value: "u2": field is immutable'], 'new uid'],
    [{ ...old, creationTimestamp: '2026-02-02T00:00:00Z' }, ['metadata.creationTimestamp: Invalid value: "2026-02-02T00:00:00Z": field is immutable'], 'new timestamp'],
    [{ ...old, generation: 1 }, ['metadata.generation: Invalid value: 1: must not be decremented'], 'generation down'],
  ];
  for (const [next, want, reason] of rows) assert.deepEqual(validateObjectMetaUpdate(next, old).map(fieldErrorString), want, reason);
  assert.deepEqual(
    validateObjectMetaUpdate({ ...old }, old, 'metadata', { requireResourceVersion: true }).map(fieldErrorString),
    ['metadata.resourceVersion: Invalid value: "": must be specified for an update'],
    'resourceVersion when required',
  );
  assert.deepEqual(
    validateObjectMetaUpdate({ ...old, finalizers: ['a/b'] }, { ...old, deletionTimestamp: '2026-03-03T00:00:00Z' }).map((e) => e.field),
    ['metadata.finalizers', 'metadata.deletionTimestamp'],
    'no new finalizers while deleting (and the timestamp cannot be cleared)',
  );
});
