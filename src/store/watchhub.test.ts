import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WatchEvent } from './types.js';
import { WatchHub, WatcherOverflowError } from './watchhub.js';

const put = (key: string, rev: number): WatchEvent => ({
  type: 'PUT',
  kv: { key, value: 'v', createRevision: rev, modRevision: rev },
  created: true,
});

/** Resolves on the next macrotask, after any deliveries scheduled before it. */
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('WatchHub', () => {
  it('holds live events during catch-up and drops those history already covered', async () => {
    const hub = new WatchHub();
    const got: number[] = [];
    const w = hub.add('/k/', { afterRevision: 0, onEvents: (evs) => got.push(...evs.map((e) => e.kv.modRevision)) }, true);
    hub.publish(put('/k/live', 4));
    hub.publish(put('/other', 5));
    w.offerHistory([put('/k/a', 1), put('/k/b', 3)]);
    await tick();
    assert.deepEqual(got, [1, 3], 'live event waits for the end of catch-up');
    w.offerHistory([put('/k/b', 3)]);
    w.finishCatchUp();
    hub.publish(put('/k/c', 6));
    await tick();
    assert.deepEqual(got, [1, 3, 4, 6]);
    w.cancel();
    assert.equal(hub.size, 0);
  });

  it('counts held live events toward the overflow limit', async () => {
    const hub = new WatchHub(3);
    const errors: Error[] = [];
    hub.add('/', { afterRevision: 0, onEvents: () => {}, onError: (e) => errors.push(e) }, true);
    for (let i = 1; i <= 4; i++) hub.publish(put(`/k${i}`, i));
    await tick();
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof WatcherOverflowError);
    assert.equal(hub.size, 0);
  });

  it('stops a watcher whose callback throws and reports the error', async () => {
    const hub = new WatchHub();
    const errors: Error[] = [];
    let calls = 0;
    hub.add(
      '/',
      {
        afterRevision: 0,
        onEvents: () => {
          calls++;
          throw new Error('consumer bug');
        },
        onError: (e) => errors.push(e),
      },
      false,
    );
    hub.publish(put('/a', 1));
    await tick();
    hub.publish(put('/b', 2));
    await tick();
    await tick();
    assert.equal(calls, 1);
    assert.deepEqual(
      errors.map((e) => e.message),
      ['consumer bug'],
    );
  });

  it('splits a large backlog into bounded batches, in order', async () => {
    const hub = new WatchHub();
    const sizes: number[] = [];
    const revs: number[] = [];
    hub.add('/', { afterRevision: 0, onEvents: (evs) => (sizes.push(evs.length), revs.push(...evs.map((e) => e.kv.modRevision))) }, false);
    for (let i = 1; i <= 2500; i++) hub.publish(put(`/k${i}`, i));
    for (let i = 0; i < 4; i++) await tick();
    assert.deepEqual(sizes, [1000, 1000, 500]);
    assert.deepEqual(revs, Array.from({ length: 2500 }, (_, i) => i + 1));
  });
});
