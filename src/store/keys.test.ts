import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lowerBound, prefixEnd } from './keys.js';

describe('prefixEnd', () => {
  const cases: [string, string, string | undefined][] = [
    ['empty prefix has no bound', '', undefined],
    ['ASCII: last character + 1', '/registry/a_', '/registry/a`'],
    ['slash becomes 0', '/registry/', '/registry0'],
    ['percent is plain text', 'a%', 'a&'],
    ['U+D7FF skips the surrogate block', 'a\ud7ff', 'a\ue000'],
    ['U+FFFF has no code-point successor in one unit', 'a\uffff', undefined],
    ['trailing surrogate half: no tight bound', 'a\ud83d\ude00', undefined],
  ];
  for (const [why, prefix, want] of cases) {
    it(why, () => assert.equal(prefixEnd(prefix), want));
  }

  it('bounds exactly the keys starting with the prefix (ASCII)', () => {
    const keys = ['/a', '/a_b', '/a_b/c', '/a_c', '/a`', '/aXb', '/a^z'];
    const p = '/a_';
    const end = prefixEnd(p) as string;
    assert.deepEqual(
      keys.filter((k) => k >= p && k < end),
      keys.filter((k) => k.startsWith(p)),
    );
  });
});

describe('lowerBound', () => {
  const sorted = ['a', 'b', 'b', 'd'];
  const cases: [string, number][] = [
    ['', 0],
    ['a', 0],
    ['b', 1],
    ['c', 3],
    ['z', 4],
  ];
  for (const [key, want] of cases) {
    it(`first index >= ${JSON.stringify(key)} is ${want}`, () => assert.equal(lowerBound(sorted, key), want));
  }
});
