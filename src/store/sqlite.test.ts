import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { storeConformance } from './conformance.js';
import { openStore } from './index.js';
import Database from 'better-sqlite3';
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

  it('opens a data dir written before values were stored once, keeping its data and history', async () => {
    // The layout and rows the earlier store wrote: `current` repeated each live value.
    const path = fresh();
    mkdirSync(dirname(path), { recursive: true });
    const old = new Database(path);
    old.pragma('journal_mode = WAL');
    old.exec(`
      CREATE TABLE log (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, created INTEGER NOT NULL,
        deleted INTEGER NOT NULL, create_revision INTEGER NOT NULL, prev_revision INTEGER NOT NULL,
        value TEXT NOT NULL, old_value TEXT);
      CREATE INDEX log_name_id ON log (name, id);
      CREATE TABLE current (name TEXT PRIMARY KEY, create_revision INTEGER NOT NULL, mod_revision INTEGER NOT NULL,
        value TEXT NOT NULL) WITHOUT ROWID;
      CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
      INSERT INTO log VALUES (1, '/k/a', 1, 0, 1, 0, 'A', NULL);
      INSERT INTO log VALUES (2, '/k/a', 0, 0, 1, 1, 'A2', 'A');
      INSERT INTO log VALUES (3, '/k/b', 1, 0, 3, 0, 'B', NULL);
      INSERT INTO log VALUES (4, '/k/b', 0, 1, 3, 3, 'B', 'B');
      INSERT INTO log VALUES (5, '/k/c', 1, 0, 5, 0, 'C', NULL);
      INSERT INTO current VALUES ('/k/a', 1, 2, 'A2'), ('/k/c', 5, 5, 'C');
      INSERT INTO meta VALUES ('compact_revision', 1);
    `);
    old.close();

    for (let open = 0; open < 2; open++) {
      const store = await SqliteStore.open(path);
      assert.equal(await store.currentRevision(), 5 + 2 * open);
      assert.equal(await store.compactedRevision(), 1);
      assert.deepEqual(await store.get('/k/a'), { key: '/k/a', value: 'A2', createRevision: 1, modRevision: 2 });
      assert.deepEqual(
        (await store.list('/k/')).items.map((kv) => [kv.key, kv.value, kv.modRevision]),
        open === 0 ? [['/k/a', 'A2', 2], ['/k/c', 'C', 5]] : [['/k/a', 'A2', 2], ['/k/c', 'C2', 6], ['/k/d', 'D', 7]],
      );
      assert.deepEqual(
        (await store.list('/k/', { revision: 3 })).items.map((kv) => [kv.key, kv.value]),
        [['/k/a', 'A2'], ['/k/b', 'B']],
      );
      const events: WatchEvent[] = [];
      const watcher = await store.watch('/k/', { afterRevision: 1, onEvents: (evs) => events.push(...evs) });
      while (events.length < 4 + open) await new Promise((r) => setTimeout(r, 5));
      watcher.cancel();
      assert.deepEqual(
        events.slice(0, 4).map((e) => [e.type, e.kv.key, e.kv.value, e.kv.modRevision, e.prevKv?.value, e.prevKv?.modRevision]),
        [
          ['PUT', '/k/a', 'A2', 2, 'A', 1],
          ['PUT', '/k/b', 'B', 3, undefined, undefined],
          ['DELETE', '/k/b', 'B', 4, 'B', 3],
          ['PUT', '/k/c', 'C', 5, undefined, undefined],
        ],
      );
      // Writes after the migration use the new layout and read back.
      if (open === 0) {
        assert.equal((await store.update('/k/c', 'C2', 5)).modRevision, 6);
        assert.equal((await store.create('/k/d', 'D')).modRevision, 7);
      }
      await store.close();
    }
    const db = new Database(path, { readonly: true });
    const cols = db.prepare("SELECT name FROM pragma_table_info('current')").pluck().all();
    db.close();
    assert.deepEqual(cols, ['name', 'create_revision', 'mod_revision']);
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
