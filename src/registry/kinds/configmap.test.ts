import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_CLUSTER } from '../../api/controlplane.js';
import { configMapKind, secretKind, type ConfigMap, type Secret } from './configmap.js';

const cfg = DEFAULT_CLUSTER;
const cm = (extra: Partial<ConfigMap>): ConfigMap => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, ...extra }) as ConfigMap;
const secret = (extra: Partial<Secret>): Secret => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, ...extra }) as Secret;
const fields = (errs: Array<{ field: string; type: string }>) => errs.map((e) => `${e.field} ${e.type}`);

describe('ConfigMap validation', () => {
  it('config keys, a key in both data and binaryData, binaryData base64', () => {
    const errs = configMapKind.validate!(cm({ data: { ok: '1', 'a/b': '2', '..x': '3', dup: '4' }, binaryData: { dup: 'AA==', raw: 'not base64!' } }), cfg);
    assert.deepEqual(fields(errs), ['data[a/b] FieldValueInvalid', 'data[..x] FieldValueInvalid', 'binaryData[raw] FieldValueInvalid', 'data[dup] FieldValueInvalid']);
  });

  it('at most 1 MiB of values in all', () => {
    assert.deepEqual(configMapKind.validate!(cm({ data: { a: 'x'.repeat(1024 * 1024 - 1) }, binaryData: { b: 'AA==' } }), cfg), []);
    assert.deepEqual(fields(configMapKind.validate!(cm({ data: { a: 'x'.repeat(1024 * 1024) }, binaryData: { b: 'AA==' } }), cfg)), [' FieldValueTooLong']);
  });

  it('immutable: data and binaryData frozen, the flag cannot be unset, metadata may change', () => {
    const old = cm({ immutable: true, data: { a: '1' } });
    assert.deepEqual(configMapKind.validateUpdate!(cm({ immutable: true, data: { a: '1' }, metadata: { name: 'c', labels: { x: 'y' } } }), old, cfg), []);
    assert.deepEqual(fields(configMapKind.validateUpdate!(cm({ data: { a: '2' }, binaryData: { b: 'AA==' } }), old, cfg)), ['immutable FieldValueForbidden', 'data FieldValueForbidden', 'binaryData FieldValueForbidden']);
    assert.deepEqual(configMapKind.validateUpdate!(cm({ data: { a: '2' } }), cm({ data: { a: '1' } }), cfg), [], 'mutable by default');
  });
});

describe('Secret', () => {
  it('defaults the type to Opaque and merges stringData into data (stringData wins), dropping it', () => {
    const s = secret({ data: { a: 'b2xk', keep: 'eA==' }, stringData: { a: 'new' } });
    secretKind.defaults!(s, cfg);
    assert.deepEqual(s, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, type: 'Opaque', data: { a: Buffer.from('new').toString('base64'), keep: 'eA==' } });
  });

  it("each type's required keys", () => {
    assert.deepEqual(fields(secretKind.validate!(secret({ type: 'kubernetes.io/tls', data: { 'tls.crt': 'AA==' } }), cfg)), ['data[tls.key] FieldValueRequired']);
    assert.deepEqual(fields(secretKind.validate!(secret({ type: 'kubernetes.io/basic-auth', data: {} }), cfg)), ['data[username] FieldValueRequired']);
    assert.deepEqual(secretKind.validate!(secret({ type: 'example.com/any', data: { x: 'AA==' } }), cfg), []);
  });

  it('the type is immutable; an immutable Secret keeps its data', () => {
    assert.deepEqual(fields(secretKind.validateUpdate!(secret({ type: 'example.com/b' }), secret({ type: 'Opaque' }), cfg)), ['type FieldValueInvalid']);
    assert.deepEqual(fields(secretKind.validateUpdate!(secret({ type: 'Opaque', immutable: true, data: { a: 'AA==' } }), secret({ type: 'Opaque', immutable: true }), cfg)), ['data FieldValueForbidden']);
  });
});
