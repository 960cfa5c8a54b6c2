import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_BACKOFF, nextCrashCount, restartDelay, shouldRestart } from './backoff.js';

describe('restart back-off', () => {
  const rows: Array<[string, number, number]> = [
    ['the first crash restarts at once', 1, 0],
    ['the second waits the initial 10 s', 2, 10_000],
    ['then it doubles', 3, 20_000],
    ['and doubles again', 4, 40_000],
    ['160 s before the cap', 6, 160_000],
    ['capped at 5 min', 7, 300_000],
    ['stays capped far on', 100, 300_000],
  ];
  for (const [why, n, ms] of rows) it(why, () => assert.equal(restartDelay(n), ms));

  it('uses the configured initial and maximum', () => {
    const o = { initialMs: 100, maxMs: 350, resetAfterMs: 700 };
    assert.deepEqual([1, 2, 3, 4, 5].map((n) => restartDelay(n, o)), [0, 100, 200, 350, 350]);
  });

  const counts: Array<[string, number, number, number]> = [
    ['a short run counts on', 3, 1_000, 4],
    ['a run as long as the reset period starts afresh', 7, DEFAULT_BACKOFF.resetAfterMs, 1],
    ['the first exit is crash 1', 0, 5, 1],
  ];
  for (const [why, prev, ran, want] of counts) it(why, () => assert.equal(nextCrashCount(prev, ran), want));

  const policies: Array<[string | undefined, number, boolean]> = [
    ['Always', 0, true],
    ['Always', 1, true],
    [undefined, 0, true],
    ['OnFailure', 0, false],
    ['OnFailure', 2, true],
    ['Never', 1, false],
    ['Never', 0, false],
  ];
  for (const [p, code, want] of policies) it(`restartPolicy ${p ?? '(default)'} after exit ${code}: ${want ? 'restart' : 'stay stopped'}`, () => assert.equal(shouldRestart(p, code), want));
});
