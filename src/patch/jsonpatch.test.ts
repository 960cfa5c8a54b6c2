import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestError, StatusError } from '../util/errors.js';
import { applyJsonPatch, JsonPatchApplyError, MAX_JSON_PATCH_OPERATIONS, parsePointer } from './jsonpatch.js';

const doc = { metadata: { name: 'web', labels: { app: 'web', 'a/b': 'x', 'c~d': 'y' } }, spec: { ports: [{ port: 80 }, { port: 443 }] } };

function frozen<T>(v: T): T {
  if (v && typeof v === 'object') {
    for (const x of Object.values(v)) frozen(x);
    Object.freeze(v);
  }
  return v;
}

describe('applyJsonPatch applies RFC 6902 operations', () => {
  const rows: Array<[unknown[], (out: typeof doc) => unknown, unknown, string]> = [
    [[{ op: 'add', path: '/metadata/labels/tier', value: 'fe' }], (o) => o.metadata.labels, { app: 'web', 'a/b': 'x', 'c~d': 'y', tier: 'fe' }, 'add a member'],
    [[{ op: 'add', path: '/spec/ports/-', value: { port: 8080 } }], (o) => o.spec.ports.map((p) => p.port), [80, 443, 8080], 'append with -'],
    [[{ op: 'add', path: '/spec/ports/0', value: { port: 1 } }], (o) => o.spec.ports.map((p) => p.port), [1, 80, 443], 'insert at an index'],
    [[{ op: 'add', path: '/spec/ports/2', value: { port: 2 } }], (o) => o.spec.ports.map((p) => p.port), [80, 443, 2], 'insert at the length'],
    [[{ op: 'remove', path: '/spec/ports/0' }], (o) => o.spec.ports, [{ port: 443 }], 'remove an element'],
    [[{ op: 'remove', path: '/metadata/labels/a~1b' }], (o) => Object.keys(o.metadata.labels), ['app', 'c~d'], '~1 escapes a slash'],
    [[{ op: 'replace', path: '/metadata/labels/c~0d', value: 'z' }], (o) => o.metadata.labels['c~d'], 'z', '~0 escapes a tilde'],
    [[{ op: 'replace', path: '/spec/ports/-1', value: { port: 9 } }], (o) => o.spec.ports, [{ port: 80 }, { port: 9 }], 'negative index counts from the end'],
    [[{ op: 'move', from: '/metadata/labels/app', path: '/metadata/labels/name' }], (o) => o.metadata.labels, { 'a/b': 'x', 'c~d': 'y', name: 'web' }, 'move'],
    [[{ op: 'copy', from: '/spec/ports/0', path: '/spec/ports/-' }], (o) => o.spec.ports, [{ port: 80 }, { port: 443 }, { port: 80 }], 'copy'],
    [[{ op: 'test', path: '/metadata/name', value: 'web' }, { op: 'replace', path: '/metadata/name', value: 'x' }], (o) => o.metadata.name, 'x', 'passing test then replace'],
    [[{ op: 'test', path: '/spec', value: { ports: [{ port: 80 }, { port: 443 }] } }], (o) => o.spec.ports.length, 2, 'test compares structures'],
    [[{ op: 'replace', path: '', value: { replaced: true } }], (o) => o, { replaced: true }, 'replace the whole document'],
  ];
  for (const [ops, pick, want, why] of rows) {
    it(why, () => assert.deepEqual(pick(applyJsonPatch(frozen(structuredClone(doc)), frozen(ops)) as typeof doc), want));
  }
});

describe('applyJsonPatch failures', () => {
  const rows: Array<[unknown[], string, string]> = [
    [[{ op: 'test', path: '/metadata/name', value: 'db' }], 'testing value /metadata/name failed: test failed', 'failed test'],
    [[{ op: 'replace', path: '/metadata/nope', value: 1 }], 'replace operation does not apply: doc is missing key: /metadata/nope: missing value', 'replace of a missing key'],
    [[{ op: 'remove', path: '/metadata/nope' }], 'remove operation does not apply: doc is missing path: "/metadata/nope": missing value', 'remove of a missing key'],
    [[{ op: 'add', path: '/nope/x', value: 1 }], 'add operation does not apply: doc is missing path: "/nope/x": missing value', 'add under a missing parent'],
    [[{ op: 'add', path: '/spec/ports/5', value: 1 }], 'add operation does not apply: doc is missing path: "/spec/ports/5": index 5 out of bounds', 'index out of bounds'],
    [[{ op: 'move', from: '/nope', path: '/x' }], 'move operation does not apply: doc is missing from path: "/nope": missing value', 'move from a missing path'],
    [[{ op: 'move', from: '/spec', path: '/spec/x' }], 'move operation does not apply: "from" /spec is a prefix of "path" /spec/x', 'move into its own child'],
    [[{ op: 'frob', path: '/x' }], 'Unexpected kind: frob', 'unknown op'],
    [[{ op: 'add', path: 'metadata' , value: 1 }], 'invalid JSON pointer "metadata": must be empty or start with "/"', 'pointer without a leading slash'],
  ];
  for (const [ops, detail, why] of rows) {
    it(`422: ${why}`, () =>
      assert.throws(
        () => applyJsonPatch(structuredClone(doc), ops),
        (e: unknown) => e instanceof JsonPatchApplyError && e.code === 422 && e.reason === 'Invalid' && e.message === 'the server rejected our request due to an error in our request' && e.detail === detail,
      ),
    );
  }
  it('400 when the body is not a list of operations', () => {
    assert.throws(() => applyJsonPatch(doc, { op: 'add' }), (e: unknown) => e instanceof BadRequestError && e.message === 'json: cannot unmarshal object into Go value of type jsonpatch.Patch');
    assert.throws(() => applyJsonPatch(doc, ['x']), (e: unknown) => e instanceof BadRequestError && e.message === 'json: cannot unmarshal string into Go value of type jsonpatch.Operation');
  });
  it('413 beyond the operation limit', () => {
    const ops = Array.from({ length: MAX_JSON_PATCH_OPERATIONS + 1 }, () => ({ op: 'test', path: '/metadata/name', value: 'web' }));
    assert.throws(() => applyJsonPatch(doc, ops), (e: unknown) => e instanceof StatusError && e.code === 413 && e.reason === 'RequestEntityTooLarge');
  });
  it('leaves the document untouched when a later operation fails', () => {
    const input = structuredClone(doc);
    assert.throws(() => applyJsonPatch(input, [{ op: 'remove', path: '/spec' }, { op: 'test', path: '/x', value: 1 }]));
    assert.deepEqual(input, doc);
  });
});

describe('parsePointer', () => {
  it('splits and unescapes', () => assert.deepEqual(parsePointer('/a~1b/c~0d/'), ['a/b', 'c~d', '']));
  it('rejects a bad escape', () => assert.throws(() => parsePointer('/a~2'), JsonPatchApplyError));
});
