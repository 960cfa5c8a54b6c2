import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SortedKeys, lowerBound, prefixEnd } from './keys.js';

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

describe('SortedKeys', () => {
  it('reads the live keys in order, whatever order they were written in', () => {
    const live = new Set<string>();
    const keys = new SortedKeys();
    const add = (k: string) => (live.add(k), keys.add(k));
    const remove = (k: string) => (live.delete(k), keys.remove());
    for (const k of ['/b', '/d', '/a', '/c']) add(k);
    assert.deepEqual(keys.array((k) => live.has(k)), ['/a', '/b', '/c', '/d']);
    // Between reads: one removed, one removed and added again, one added and removed, new ones.
    remove('/b');
    remove('/c');
    add('/c');
    add('/e');
    remove('/e');
    add('/0');
    add('/bb');
    assert.deepEqual(keys.array((k) => live.has(k)), ['/0', '/a', '/bb', '/c', '/d']);
    // No writes: the same array again.
    const a = keys.array((k) => live.has(k));
    assert.equal(keys.array((k) => live.has(k)), a);
    remove('/a');
    remove('/0');
    remove('/bb');
    remove('/c');
    remove('/d');
    assert.deepEqual(keys.array((k) => live.has(k)), []);
  });

  it('orders as lowerBound expects (JS string order, not locale)', () => {
    const keys = new SortedKeys();
    const all = ['/a_b', '/aXb', '/a`', '/a^z', '/a', '/a_b/c', '/\u00e9', '/Z'];
    for (const k of all) keys.add(k);
    const sorted = keys.array(() => true);
    assert.deepEqual(sorted, [...all].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)));
    assert.equal(sorted[lowerBound(sorted, '/a_')], '/a_b');
  });
});
