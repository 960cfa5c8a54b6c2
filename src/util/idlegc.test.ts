import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IdleGcPolicy, startIdleGc } from './idlegc.js';

const MiB = 1024 * 1024;

test('idle gc: nothing without --expose-gc', () => {
  const g = globalThis as { gc?: () => void };
  const saved = g.gc;
  delete g.gc;
  try {
    assert.equal(startIdleGc(), undefined);
  } finally {
    if (saved) g.gc = saved;
  }
});

test('idle gc policy: collects once on the first quiet sample after a busy one', () => {
  const p = new IdleGcPolicy(100 * MiB);
  assert.equal(p.shouldCollect(0.01, 200 * MiB), false, 'quiet without a busy stretch before');
  assert.equal(p.shouldCollect(0.9, 200 * MiB), false, 'busy');
  assert.equal(p.shouldCollect(0.3, 200 * MiB), false, 'neither busy nor quiet: still waiting');
  assert.equal(p.shouldCollect(0.01, 200 * MiB), true, 'quiet after busy, heap grew');
  p.collected(120 * MiB);
  assert.equal(p.shouldCollect(0.01, 200 * MiB), false, 'stays quiet: no second collection');
});

test('idle gc policy: no collection when the busy stretch did not grow the heap', () => {
  const p = new IdleGcPolicy(100 * MiB);
  assert.equal(p.shouldCollect(0.8, 110 * MiB), false);
  assert.equal(p.shouldCollect(0.0, 110 * MiB), false, 'grew 10 MiB, under the 32 MiB default');
  assert.equal(p.shouldCollect(0.8, 140 * MiB), false);
  assert.equal(p.shouldCollect(0.0, 140 * MiB), true, 'grew 40 MiB');
});
