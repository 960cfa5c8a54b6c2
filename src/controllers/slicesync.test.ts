// canon is the controllers' equality test (desired vs stored); its hand-written serialisation must
// give exactly what JSON.stringify with a key-sorting replacer gives.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { canon, sameJSON } from './slicesync.js';

/** The definition canon replaces: JSON.stringify, every object's keys sorted. */
function reference(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) => {
    if (val && typeof val === 'object' && !Array.isArray(val)) {
      const o = val as Record<string, unknown>;
      return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
    }
    return val;
  });
}

/** Deterministic pseudo-random JSON-ish values, including what JSON drops or turns into null. */
function* values(seed: number, n: number): Generator<unknown> {
  let x = seed;
  const rnd = () => ((x = (x * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const gen = (depth: number): unknown => {
    const r = rnd();
    if (depth > 3 || r < 0.3) {
      const leaves = [null, true, false, 0, -1.5, 1e21, NaN, Infinity, '', 'a"b\\c', '\u00e9\n', undefined, () => 1];
      return leaves[Math.floor(rnd() * leaves.length)];
    }
    if (r < 0.55) return Array.from({ length: Math.floor(rnd() * 4) }, () => gen(depth + 1));
    const o: Record<string, unknown> = {};
    for (let i = Math.floor(rnd() * 5); i > 0; i--) o[['z', 'a', 'B', 'key with space', 'é'][Math.floor(rnd() * 5)]!] = gen(depth + 1);
    if (rnd() < 0.1) o.when = new Date(0);
    return o;
  };
  for (let i = 0; i < n; i++) yield gen(0);
}

describe('canon', () => {
  it('serialises as JSON.stringify with sorted keys does, for 2,000 generated values (no integer-like keys)', () => {
    for (const v of values(7, 2000)) assert.equal(canon(v), reference(v));
  });

  it('does not depend on key order', () => {
    const a = { addresses: ['198.19.0.1'], conditions: { ready: true, serving: true, terminating: false }, targetRef: { kind: 'Pod', name: 'p', uid: 'u' } };
    const b = { targetRef: { uid: 'u', name: 'p', kind: 'Pod' }, conditions: { terminating: false, serving: true, ready: true }, addresses: ['198.19.0.1'] };
    assert.equal(canon(a), canon(b));
    assert.notEqual(canon(a), canon({ ...b, conditions: { ...b.conditions, ready: false } }));
  });

  it('orders integer-like keys as strings, whatever order they were set in', () => {
    // (The replacer version put them first in numeric order, as objects do: equally canonical.)
    assert.equal(canon({ 10: 'a', 2: 'b', x: 1 }), '{"10":"a","2":"b","x":1}');
    assert.equal(canon({ x: 1, 2: 'b', 10: 'a' }), canon({ 10: 'a', x: 1, 2: 'b' }));
  });

  it('keeps array order and drops undefined members of objects only', () => {
    assert.equal(canon([2, 1]), '[2,1]');
    assert.equal(canon({ a: undefined, b: [undefined] }), '{"b":[null]}');
  });
});

/** A copy with every object's keys in reverse order, and sometimes one leaf changed. */
function variant(v: unknown, change: { left: number }): unknown {
  if (Array.isArray(v)) return v.map((x) => variant(x, change));
  if (v && typeof v === 'object' && !(v instanceof Date)) {
    const o = v as Record<string, unknown>;
    return Object.fromEntries(Object.keys(o).reverse().map((k) => [k, variant(o[k], change)]));
  }
  if (change.left-- === 0) return typeof v === 'string' ? `${v}!` : v === undefined ? 0 : undefined;
  return v;
}

describe('sameJSON', () => {
  it('agrees with comparing reference serialisations, for 2,000 generated pairs', () => {
    let i = 0;
    let same = 0;
    for (const v of values(11, 2000)) {
      const w = variant(v, { left: i++ % 3 === 0 ? i % 5 : -1 });
      const want = reference(v) === reference(w);
      same += Number(want);
      assert.equal(sameJSON(v, w), want, `${reference(v)} vs ${reference(w)}`);
    }
    // Both outcomes were exercised.
    assert.ok(same > 100 && same < 2000, `${same} equal pairs`);
  });

  it('ignores key order and undefined members, not values', () => {
    assert.ok(sameJSON({ a: 1, b: { c: [1, 2] } }, { b: { c: [1, 2] }, a: 1, d: undefined }));
    assert.ok(!sameJSON({ a: 1 }, { a: 1, b: null }));
    assert.ok(!sameJSON([1, 2], [2, 1]));
    assert.ok(!sameJSON({ a: [] }, { a: {} }));
  });
});
