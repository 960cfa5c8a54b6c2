import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { storeConformance } from './conformance.js';
import { MemoryStore } from './memory.js';
import { openStore } from './index.js';

storeConformance('memory', async () => new MemoryStore());

describe('MemoryStore', () => {
  it('is what openStore("memory") returns', async () => {
    const store = await openStore('memory');
    assert.ok(store instanceof MemoryStore);
    await store.close();
  });

  it('drops a watcher whose buffer overflows, without blocking the writer', async () => {
    const store = new MemoryStore({ maxWatchBuffer: 5 });
    const errors: Error[] = [];
    const delivered: number[] = [];
    const failed = new Promise<void>((resolve) => {
      void store.watch('/', {
        afterRevision: 0,
        onEvents: (evs) => delivered.push(...evs.map((e) => e.kv.modRevision)),
        onError: (err) => {
          errors.push(err);
          resolve();
        },
      });
    });
    // No await between writes that yields to the event loop: the watcher cannot drain.
    for (let i = 0; i < 10; i++) await store.create(`/k${i}`, 'v');
    await failed;
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.name, 'WatcherOverflowError');
    assert.deepEqual(delivered, []);
    assert.equal(await store.count('/'), 10);
    await store.close();
  });
});
