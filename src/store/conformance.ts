// The behaviour every Store implementation must show, as node:test cases. Each implementation's
// test file calls storeConformance() with a factory that opens a fresh, empty store.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  StoreClosedError,
  StoreCompactedError,
  StoreKeyExistsError,
  StoreKeyNotFoundError,
  StoreRevisionMismatchError,
  type KeyValue,
  type Store,
  type WatchEvent,
} from './types.js';

/** Guards against a hung test only; no test asserts on elapsed time. */
const HANG_GUARD_MS = 20_000;

interface Collector {
  events: WatchEvent[];
  errors: Error[];
  cancel(): void;
  /** Resolves once `pred` holds over the events (or an error) seen so far. */
  until(pred: (events: WatchEvent[]) => boolean, what: string): Promise<void>;
}

async function collect(store: Store, prefix: string, afterRevision: number): Promise<Collector> {
  const events: WatchEvent[] = [];
  const errors: Error[] = [];
  const waiters: { pred: (e: WatchEvent[]) => boolean; done: () => void }[] = [];
  const wake = (): void => {
    for (const w of [...waiters]) {
      if (errors.length || w.pred(events)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.done();
      }
    }
  };
  const watcher = await store.watch(prefix, {
    afterRevision,
    onEvents: (batch) => {
      events.push(...batch);
      wake();
    },
    onError: (err) => {
      errors.push(err);
      wake();
    },
  });
  return {
    events,
    errors,
    cancel: () => watcher.cancel(),
    until(pred, what) {
      if (errors.length || pred(events)) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`watch never saw ${what}; got ${events.length} events`)), HANG_GUARD_MS);
        waiters.push({
          pred,
          done: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
  };
}

const hasKey = (key: string) => (events: WatchEvent[]) => events.some((e) => e.kv.key === key);
const keysOf = (items: KeyValue[]): string[] => items.map((i) => i.key);

export function storeConformance(name: string, open: () => Promise<Store>): void {
  describe(`Store conformance: ${name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store.close();
    });

    it('starts empty at revision 0', async () => {
      assert.equal(await store.currentRevision(), 0);
      assert.equal(await store.compactedRevision(), 0);
      assert.deepEqual((await store.list('')).items, []);
    });

    it('create assigns increasing revisions and get reads them back', async () => {
      const a = await store.create('/r/a', 'A');
      const b = await store.create('/r/b', 'B');
      assert.deepEqual(a, { key: '/r/a', value: 'A', createRevision: 1, modRevision: 1 });
      assert.equal(b.modRevision, 2);
      assert.equal(await store.currentRevision(), 2);
      assert.deepEqual(await store.get('/r/a'), a);
      assert.equal(await store.get('/r/missing'), undefined);
    });

    it('create of a live key fails with StoreKeyExistsError and writes nothing', async () => {
      await store.create('/r/a', 'A');
      await assert.rejects(store.create('/r/a', 'again'), StoreKeyExistsError);
      assert.equal(await store.currentRevision(), 1);
      assert.equal((await store.get('/r/a'))?.value, 'A');
    });

    it('update checks the expected revision and keeps createRevision', async () => {
      const a = await store.create('/r/a', 'A');
      const a2 = await store.update('/r/a', 'A2', a.modRevision);
      assert.deepEqual(a2, { key: '/r/a', value: 'A2', createRevision: 1, modRevision: 2 });
      const err = await store.update('/r/a', 'stale', a.modRevision).catch((e: unknown) => e);
      assert.ok(err instanceof StoreRevisionMismatchError);
      assert.equal(err.expected, 1);
      assert.deepEqual(err.current, a2);
      await assert.rejects(store.update('/r/missing', 'x', 1), StoreKeyNotFoundError);
      assert.equal(await store.currentRevision(), 2);
    });

    it('delete returns the last value at the delete revision; guarded delete checks the revision', async () => {
      const a = await store.create('/r/a', 'A');
      await store.create('/r/b', 'B');
      await assert.rejects(store.delete('/r/a', a.modRevision + 100), StoreRevisionMismatchError);
      const gone = await store.delete('/r/a', a.modRevision);
      assert.deepEqual(gone, { key: '/r/a', value: 'A', createRevision: 1, modRevision: 3 });
      assert.equal(await store.get('/r/a'), undefined);
      await assert.rejects(store.delete('/r/a'), StoreKeyNotFoundError);
      const b = await store.delete('/r/b');
      assert.equal(b.modRevision, 4);
    });

    it('a key can be created again after delete, with a new createRevision', async () => {
      await store.create('/r/a', 'A');
      await store.delete('/r/a');
      const again = await store.create('/r/a', 'A again');
      assert.deepEqual(again, { key: '/r/a', value: 'A again', createRevision: 3, modRevision: 3 });
      await store.delete('/r/a');
      assert.equal((await store.create('/r/a', 'third')).createRevision, 5);
    });

    it('list matches the prefix exactly, in key order (no wildcard meaning for _ or %)', async () => {
      const keys = [
        '/registry/a_b/1',
        '/registry/axb/1',
        '/registry/a%b/1',
        '/registry/aXb/1',
        '/registry/a_b',
        '/registry/services/default/foo',
        '/registry/services/default-2/foo',
        '/registry/services/default/bar',
        '/registry/services/defaulz',
        '/u/\uffff/a',
        '/u/\uffffb',
        '/u/x',
      ];
      for (const k of keys) await store.create(k, k);
      const cases: [string, string[]][] = [
        ['/registry/a_b/', ['/registry/a_b/1']],
        ['/registry/a%b/', ['/registry/a%b/1']],
        ['/registry/a_', ['/registry/a_b', '/registry/a_b/1']],
        ['/registry/services/default/', ['/registry/services/default/bar', '/registry/services/default/foo']],
        ['/registry/services/default', ['/registry/services/default-2/foo', '/registry/services/default/bar', '/registry/services/default/foo']],
        ['/nothing/', []],
        ['/u/\uffff', ['/u/\uffff/a', '/u/\uffffb']],
        ['', [...keys].sort()],
      ];
      for (const [prefix, want] of cases) {
        assert.deepEqual(keysOf((await store.list(prefix)).items), want, `prefix ${prefix}`);
        assert.equal(await store.count(prefix), want.length, `count ${prefix}`);
      }
    });

    it('count follows creates and deletes', async () => {
      for (let i = 0; i < 5; i++) await store.create(`/c/${i}`, 'v');
      await store.create('/d/0', 'v');
      await store.delete('/c/3');
      assert.equal(await store.count('/c/'), 4);
      assert.equal(await store.count('/d/'), 1);
      assert.equal(await store.count(''), 5);
    });

    it('paginates at a fixed revision while writes continue', async () => {
      for (let i = 0; i < 25; i++) await store.create(`/p/${String(i).padStart(2, '0')}`, `v${i}`);
      await store.create('/q/other', 'x');
      const first = await store.list('/p/', { limit: 10 });
      const snapshot = first.revision;
      assert.equal(first.items.length, 10);
      assert.equal(first.more, true);
      const expected = (await store.list('/p/')).items;
      const seen = [...first.items];
      let page = first;
      let round = 0;
      while (page.more) {
        // Writes between pages: update a listed key, delete an unlisted one, add new ones.
        const k = `/p/${String(round).padStart(2, '0')}`;
        const cur = await store.get(k);
        if (cur) await store.update(k, 'changed', cur.modRevision);
        const later = `/p/${String(24 - round).padStart(2, '0')}`;
        if (await store.get(later)) await store.delete(later);
        await store.create(`/p/${String(round).padStart(2, '0')}x`, 'new');
        round++;
        const last = page.items[page.items.length - 1] as KeyValue;
        page = await store.list('/p/', { revision: snapshot, limit: 10, startAfter: last.key });
        assert.equal(page.revision, snapshot);
        seen.push(...page.items);
      }
      assert.deepEqual(seen, expected);
      assert.ok((await store.currentRevision()) > snapshot);
      // limit exactly matching the remaining items reports no more.
      const all = await store.list('/p/', { revision: snapshot, limit: 25 });
      assert.equal(all.items.length, 25);
      assert.equal(all.more, false);
    });

    it('lists past revisions from history', async () => {
      // Random-ish but deterministic mix of writes; remember the expected state after each.
      const states: Map<string, KeyValue>[] = [new Map()];
      const live = new Map<string, KeyValue>();
      let seed = 7;
      const rnd = (n: number): number => {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        return seed % n;
      };
      for (let step = 0; step < 80; step++) {
        const key = `/h/${rnd(8)}`;
        const cur = live.get(key);
        if (!cur) live.set(key, await store.create(key, `c${step}`));
        else if (rnd(3) === 0) {
          await store.delete(key, cur.modRevision);
          live.delete(key);
        } else live.set(key, await store.update(key, `u${step}`, cur.modRevision));
        if (step % 5 === 0) await store.create(`/other/${step}`, 'noise');
        while (states.length <= (await store.currentRevision())) states.push(new Map(live));
      }
      for (let rev = 1; rev < states.length; rev++) {
        const want = [...(states[rev] as Map<string, KeyValue>).values()].sort((a, b) => (a.key < b.key ? -1 : 1));
        const got = await store.list('/h/', { revision: rev });
        assert.equal(got.revision, rev);
        assert.deepEqual(got.items, want, `state at revision ${rev}`);
        const paged: KeyValue[] = [];
        let page = await store.list('/h/', { revision: rev, limit: 3 });
        paged.push(...page.items);
        while (page.more) {
          page = await store.list('/h/', { revision: rev, limit: 3, startAfter: (page.items[page.items.length - 1] as KeyValue).key });
          paged.push(...page.items);
        }
        assert.deepEqual(paged, want, `paged state at revision ${rev}`);
      }
    });

    it('compaction keeps current values and forbids reading below it', async () => {
      const a = await store.create('/k/a', 'a1');
      const a2 = await store.update('/k/a', 'a2', a.modRevision);
      await store.create('/k/b', 'b1');
      await store.delete('/k/b');
      const c = await store.create('/k/c', 'c1');
      const a3 = await store.update('/k/a', 'a3', a2.modRevision); // rev 6
      await store.compact(5);
      assert.equal(await store.compactedRevision(), 5);
      assert.equal(await store.currentRevision(), 6);
      assert.deepEqual((await store.list('/k/')).items, [a3, c]);
      assert.deepEqual((await store.list('/k/', { revision: 5 })).items, [a2, c]);
      await assert.rejects(store.list('/k/', { revision: 4 }), StoreCompactedError);
      assert.deepEqual(await store.get('/k/a'), a3);
      // Compacting again lower is a no-op; later writes continue the revision sequence.
      await store.compact(3);
      assert.equal(await store.compactedRevision(), 5);
      await store.compact(6);
      assert.deepEqual((await store.list('/k/')).items, [a3, c]);
      await store.create('/k/b', 'b2');
      assert.equal((await store.get('/k/b'))?.createRevision, 7);
      assert.deepEqual(keysOf((await store.list('/k/', { revision: 6 })).items), ['/k/a', '/k/c']);
    });

    it('watch from now delivers puts, updates and deletes with prevKv, only under the prefix', async () => {
      await store.create('/w/pre', 'old');
      const w = await collect(store, '/w/', await store.currentRevision());
      const a = await store.create('/w/a', 'A');
      await store.create('/x/ignored', 'x');
      const a2 = await store.update('/w/a', 'A2', a.modRevision);
      const gone = await store.delete('/w/a');
      await store.create('/w/zz-end', 'end');
      await w.until(hasKey('/w/zz-end'), 'the end marker');
      w.cancel();
      assert.deepEqual(w.errors, []);
      assert.deepEqual(
        w.events.map((e) => ({ type: e.type, created: e.created, kv: e.kv, prevKv: e.prevKv })),
        [
          { type: 'PUT', created: true, kv: a, prevKv: undefined },
          { type: 'PUT', created: false, kv: a2, prevKv: a },
          { type: 'DELETE', created: false, kv: gone, prevKv: a2 },
          { type: 'PUT', created: true, kv: { key: '/w/zz-end', value: 'end', createRevision: 6, modRevision: 6 }, prevKv: undefined },
        ],
      );
      assert.equal(gone.value, 'A2', 'a delete event carries the last value');
    });

    it('delivers events after the write returns, never inside it', async () => {
      let writing = false;
      const calledDuringWrite: boolean[] = [];
      const watcher = await store.watch('/s/', { afterRevision: 0, onEvents: () => calledDuringWrite.push(writing) });
      const w = await collect(store, '/s/', 0);
      writing = true;
      const p = store.create('/s/a', 'A');
      writing = false;
      await p;
      await w.until(hasKey('/s/a'), '/s/a');
      watcher.cancel();
      w.cancel();
      assert.deepEqual(calledDuringWrite, [false]);
    });

    it('watch from a past revision catches up then continues live, without gap or duplicate', async () => {
      for (let i = 0; i < 40; i++) await store.create(`/g/${i}`, `v${i}`);
      await store.create('/not-g/0', 'x');
      const from = 10;
      const w = await collect(store, '/g/', from);
      // Concurrent writers while the watch catches up.
      const writers = [0, 1, 2].map(async (n) => {
        for (let i = 0; i < 30; i++) {
          await store.create(`/g/live-${n}-${i}`, 'v');
          if (i % 7 === 0) await store.create(`/not-g/${n}-${i}`, 'x');
        }
      });
      await Promise.all(writers);
      await store.create('/g/zz-end', 'end');
      await w.until(hasKey('/g/zz-end'), 'the end marker');
      w.cancel();
      assert.deepEqual(w.errors, []);
      const revs = w.events.map((e) => e.kv.modRevision);
      const expected = (await store.list('/g/')).items
        .map((kv) => kv.modRevision)
        .filter((r) => r > from)
        .sort((x, y) => x - y);
      assert.deepEqual(revs, expected, 'every write under the prefix after `from`, once, in order');
      assert.ok(w.events.every((e) => e.kv.key.startsWith('/g/')));
    });

    it('watch at a compacted revision rejects with StoreCompactedError; at the compacted revision it works', async () => {
      for (let i = 0; i < 6; i++) await store.create(`/c/${i}`, 'v');
      await store.compact(4);
      await assert.rejects(store.watch('/c/', { afterRevision: 3, onEvents: () => {} }), StoreCompactedError);
      const w = await collect(store, '/c/', 4);
      await w.until((e) => e.length >= 2, 'revisions 5 and 6');
      w.cancel();
      assert.deepEqual(
        w.events.map((e) => e.kv.key),
        ['/c/4', '/c/5'],
      );
    });

    it('watch from the past replays deletes with their last value', async () => {
      const a = await store.create('/d/a', 'A');
      const gone = await store.delete('/d/a');
      const w = await collect(store, '/d/', 0);
      await w.until((e) => e.length >= 2, 'create and delete');
      w.cancel();
      assert.deepEqual(w.events[1], { type: 'DELETE', kv: gone, prevKv: a, created: false });
    });

    it('cancel stops delivery', async () => {
      const w = await collect(store, '/z/', 0);
      const other = await collect(store, '/z/', 0);
      w.cancel();
      w.cancel();
      await store.create('/z/a', 'A');
      await other.until(hasKey('/z/a'), '/z/a');
      other.cancel();
      assert.deepEqual(w.events, []);
    });

    it('close fails watchers and later calls', async () => {
      const w = await collect(store, '/', 0);
      await store.close();
      await w.until(() => false, 'an error');
      assert.ok(w.errors[0] instanceof StoreClosedError);
      await assert.rejects(store.get('/a'), StoreClosedError);
      await assert.rejects(store.create('/a', 'x'), StoreClosedError);
      await store.close();
    });
  });
}
