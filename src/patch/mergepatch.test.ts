import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applyMergePatch } from './mergepatch.js';

// The examples of RFC 7386 appendix A, one behaviour per row.
describe('applyMergePatch (RFC 7386)', () => {
  const rows: Array<[unknown, unknown, unknown, string]> = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }, 'replaces a member'],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }, 'adds a member'],
    [{ a: 'b' }, { a: null }, {}, 'null removes a member'],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }, 'null removes only that member'],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }, 'a scalar replaces a list'],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }, 'a list replaces a scalar'],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }, 'objects merge recursively'],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }, 'lists are replaced whole'],
    [['a', 'b'], ['c', 'd'], ['c', 'd'], 'a list patch replaces a list'],
    [{ a: 'b' }, ['c'], ['c'], 'a list patch replaces an object'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }, 'existing nulls stay'],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }, 'an object patch on a non-object starts empty'],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }, 'nulls inside new objects are dropped'],
  ];
  for (const [target, patch, want, why] of rows) {
    it(why, () => {
      const before = structuredClone(target);
      assert.deepEqual(applyMergePatch(target, patch), want);
      assert.deepEqual(target, before, 'target not mutated');
    });
  }
});
