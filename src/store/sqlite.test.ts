import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { storeConformance } from './conformance.js';
import { openStore } from './index.js';
import { SqliteStore } from './sqlite.js';
import { StoreCompactedError, type WatchEvent } from './types.js';

const dir = mkdtempSync(join(tmpdir(), 'portico-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => join(dir, `t${n++}`, 'state.db');

storeConformance('sqlite', () => SqliteStore.open(fresh()));
// Tiny pages and batches so catch-up and compaction run many steps with writes in between.
storeConformance('sqlite (small pages)', () => SqliteStore.open(fresh(), { catchUpPageSize: 3, compactBatchSize: 2 }));

describe('SqliteStore', () => {
  it('openStore("sqlite") creates <dataDir>/state.db', async () => {
    const dataDir = join(dir, `open-${n++}`, 'nested');
    const store = await openStore('sqlite', dataDir);
    await store.create('/a', 'A');
    await store.close();
    assert.ok(existsSync(join(dataDir, 'state.db')));
  });

  it('keeps data, the revision counter and the compacted revision across close and reopen', async () => {
    const path = fresh();
    let store = await SqliteStore.open(path);
    const a = await store.create('/k/a', 'A');
    await store.update('/k/a', 'A2', a.modRevision);
    await store.create('/k/b', 'B');
    await store.delete('/k/b'); // rev 4: the newest row is a tombstone that compaction removes
    await store.compact(4);
    await store.close();

    store = await SqliteStore.open(path);
    assert.equal(await store.currentRevision(), 4);
    assert.equal(await store.compactedRevision(), 4);
    assert.deepEqual(await store.get('/k/a'), { key: '/k/a', value: 'A2', createRevision: 1, modRevision: 2 });
    await assert.rejects(store.list('/k/', { revision: 3 }), StoreCompactedError);
    const c = await store.create('/k/b', 'B again');
    assert.equal(c.modRevision, 5);
    await store.close();
  });

  it('refuses a second open of the same file while the first is open', async () => {
    const path = fresh();
    const store = await SqliteStore.open(path);
    await assert.rejects(SqliteStore.open(path, { busyTimeoutMs: 50 }), /in use by another process/);
    await store.close();
  });

  it('fails a watcher still catching up below a new compaction', async () => {
    const store = await SqliteStore.open(fresh(), { catchUpPageSize: 2 });
    for (let i = 0; i < 20; i++) await store.create(`/k/${i}`, 'v');
    const errors: Error[] = [];
    const events: WatchEvent[] = [];
    let failed!: () => void;
    const done = new Promise<void>((resolve) => (failed = resolve));
    await store.watch('/k/', {
      afterRevision: 0,
      onEvents: (evs) => events.push(...evs),
      onError: (err) => {
        errors.push(err);
        failed();
      },
    });
    await store.compact(15); // synchronous part runs before the first page after the initial one
    await done;
    assert.ok(errors[0] instanceof StoreCompactedError);
    await store.close();
  });

  it('loses no acknowledged write when the writing process is killed', async () => {
    const path = fresh();
    const child = spawn(process.execPath, [fileURLToPath(new URL('./durability-child.js', import.meta.url)), path], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    const acked: string[] = [];
    let partial = '';
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      acked.push(...lines);
      if (acked.length >= 300 && child.signalCode === null) child.kill('SIGKILL');
    });
    await exited;
    assert.equal(child.signalCode, 'SIGKILL');
    assert.ok(acked.length >= 300, `child acknowledged only ${acked.length} writes`);

    const store = await SqliteStore.open(path);
    const missing: string[] = [];
    for (const key of acked) if (!(await store.get(key))) missing.push(key);
    assert.deepEqual(missing, []);
    const rev = await store.currentRevision();
    assert.ok(rev >= acked.length);
    // The store is usable after the crash and continues the sequence.
    assert.equal((await store.create('/after-crash', 'x')).modRevision, rev + 1);
    await store.close();
  });
});
