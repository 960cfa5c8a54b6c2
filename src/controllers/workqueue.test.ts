// The work queue: coalescing, no concurrent runs of one key, retries after failure.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WorkQueue } from './workqueue.js';

describe('WorkQueue', () => {
  it('runs a key added many times while waiting once', async () => {
    const runs: string[] = [];
    const q = new WorkQueue(async (k) => void runs.push(k), { workers: 1 });
    q.add('a');
    q.add('b');
    q.add('b');
    q.add('b');
    await q.whenIdle();
    assert.deepEqual(runs, ['a', 'b']);
  });

  it('never runs one key twice at once; an add during a run runs it again after', async () => {
    let active = 0;
    let maxActive = 0;
    let runs = 0;
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const q = new WorkQueue(
      async () => {
        active++;
        maxActive = Math.max(maxActive, active);
        runs++;
        if (runs === 1) await gate;
        active--;
      },
      { workers: 4 },
    );
    q.add('k');
    await new Promise((r) => setImmediate(r));
    q.add('k');
    q.add('k');
    release();
    await q.whenIdle();
    assert.deepEqual([maxActive, runs], [1, 2]);
  });

  it('retries a failing key until it succeeds, reporting each error', async () => {
    let tries = 0;
    const errors: string[] = [];
    const q = new WorkQueue(
      async () => {
        if (++tries < 3) throw new Error(`fail ${tries}`);
      },
      { baseBackoffMs: 1, onError: (_k, e) => errors.push((e as Error).message) },
    );
    q.add('k');
    await q.whenIdle();
    assert.deepEqual([tries, errors], [3, ['fail 1', 'fail 2']]);
  });

  it('addAfter adds the key later, once: a second call for the key replaces the first; stop cancels', async () => {
    const runs: string[] = [];
    const q = new WorkQueue(async (k) => {
      runs.push(k);
    });
    let done!: () => void;
    const ran = new Promise<void>((r) => (done = r));
    const q2 = new WorkQueue(async (k) => {
      runs.push(k);
      done();
    });
    q2.addAfter('a', 5);
    q2.addAfter('a', 10);
    // The delay timers do not hold the process open (unref): this one does meanwhile.
    const keep = setInterval(() => {}, 5);
    await ran;
    clearInterval(keep);
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(runs, ['a']);
    q.addAfter('b', 5);
    q.stop();
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(runs, ['a'], 'stopped before it was due');
  });
});
