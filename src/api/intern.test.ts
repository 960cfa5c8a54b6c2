import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StringInterner } from './intern.js';

test('interning keeps every value and nesting as it was', () => {
  const i = new StringInterner();
  const text = '{"a":"x","b":["y",{"c":"x","d":1,"e":null,"f":true}],"g":{"h":"' + 'z'.repeat(100) + '"}}';
  const obj = i.internAll(JSON.parse(text) as unknown);
  assert.deepEqual(obj, JSON.parse(text));
  // Only the short values are kept, once each: "x" and "y".
  assert.equal(i.size, 2);
});

test('the table starts over at its capacity, so unique values cannot pile up', () => {
  const i = new StringInterner(4);
  for (let n = 0; n < 100; n++) i.internAll({ name: `pod-${n}` });
  assert.ok(i.size <= 4, `size ${i.size}`);
  assert.deepEqual(i.internAll({ name: 'pod-7', list: ['pod-8'] }), { name: 'pod-7', list: ['pod-8'] });
});
