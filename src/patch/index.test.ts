import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Type } from '@sinclair/typebox';
import { BadRequestError, UnsupportedMediaTypeError } from '../util/errors.js';
import { applyPatch } from './index.js';

const schema = Type.Object({ list: Type.Optional(Type.Array(Type.Object({ k: Type.String(), v: Type.Optional(Type.String()) }), { 'x-kubernetes-patch-strategy': 'merge', 'x-kubernetes-patch-merge-key': 'k' })) });
const obj = { list: [{ k: 'a', v: '1' }] };

describe('applyPatch dispatches on Content-Type', () => {
  const rows: Array<[string, unknown, unknown, string]> = [
    ['application/json-patch+json', [{ op: 'add', path: '/list/-', value: { k: 'b' } }], { list: [{ k: 'a', v: '1' }, { k: 'b' }] }, 'JSON patch'],
    ['application/merge-patch+json', { list: [{ k: 'b' }] }, { list: [{ k: 'b' }] }, 'merge patch replaces lists'],
    ['application/strategic-merge-patch+json', { list: [{ k: 'b' }] }, { list: [{ k: 'b' }, { k: 'a', v: '1' }] }, 'strategic merge patch merges by key'],
    ['application/strategic-merge-patch+json; charset=utf-8', { list: [{ k: 'a', v: '2' }] }, { list: [{ k: 'a', v: '2' }] }, 'parameters are ignored'],
    ['Application/Merge-Patch+JSON', { x: 1 }, { list: [{ k: 'a', v: '1' }], x: 1 }, 'media type is case-insensitive'],
    ['application/merge-patch+json', Buffer.from('{"x":2}'), { list: [{ k: 'a', v: '1' }], x: 2 }, 'raw bytes are decoded'],
  ];
  for (const [ct, body, want, why] of rows) {
    it(why, () => assert.deepEqual(applyPatch(ct, obj, body, schema), want));
  }

  for (const ct of ['application/apply-patch+yaml', 'application/json', 'text/plain']) {
    it(`415 for ${ct}`, () => assert.throws(() => applyPatch(ct, obj, {}, schema), (e: unknown) => e instanceof UnsupportedMediaTypeError && e.code === 415));
  }

  it('400 for a merge patch that is not an object', () => assert.throws(() => applyPatch('application/merge-patch+json', obj, [1], schema), BadRequestError));
  it('400 for bytes that are not JSON', () => assert.throws(() => applyPatch('application/merge-patch+json', obj, Buffer.from('{'), schema), BadRequestError));
});
