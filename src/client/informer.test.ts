// The list/watch informer over the in-process storage: it sees every change once, and after its
// watch falls behind compaction it relists and reconciles the cache, emitting only the differences.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../store/memory.js';
import { ApiRegistry } from '../api/registry.js';
import type { ClusterConfig } from '../registry/types.js';
import type { KubeObject } from '../registry/kinds/meta.js';
import { ListWatchInformer, type ListWatcher } from './informer.js';
import { localListWatcher } from './local.js';

const cfg: ClusterConfig = { serviceCIDRs: ['198.18.0.0/16'], podCIDR: '198.19.0.0/16', nodePortRange: { base: 30000, size: 100 }, clusterDomain: 'cluster.local', lbPool: [] };

const ns = (name: string, labels: Record<string, string> = {}): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), `timed out waiting for ${what}`);
}

describe('ListWatchInformer', () => {
  it('delivers adds, updates and deletes in order, once each', async () => {
    const store = new MemoryStore();
    const reg = new ApiRegistry(store, cfg);
    const storage = reg.kind('Namespace');
    await storage.create(undefined, ns('before'));
    const inf = new ListWatchInformer(localListWatcher(storage)).start();
    const seen: string[] = [];
    inf.addHandler({
      onAdd: (o) => seen.push(`add ${o.metadata?.name}`),
      onUpdate: (_o, n) => seen.push(`update ${n.metadata?.name}`),
      onDelete: (o) => seen.push(`delete ${o.metadata?.name}`),
    });
    await inf.waitForSync();
    await storage.create(undefined, ns('a'));
    await storage.guaranteedUpdate(undefined, 'a', (o) => ({ ...o, metadata: { ...o.metadata, labels: { x: 'y' } } }));
    await storage.forceDelete(undefined, 'a');
    await until(() => seen.length >= 4, 'four events');
    inf.stop();
    assert.deepEqual(seen, ['add before', 'add a', 'update a', 'delete a']);
    assert.equal(inf.get('', 'a'), undefined);
    assert.ok(inf.get('', 'before'));
  });

  it('relists after its watch expires and emits only what changed meanwhile', async () => {
    const store = new MemoryStore();
    const reg = new ApiRegistry(store, cfg);
    const storage = reg.kind('Namespace');
    await storage.create(undefined, ns('keep'));
    await storage.create(undefined, ns('gone'));
    // A list/watcher whose first watch is cut; writes and compaction happen while it is away.
    const inner = localListWatcher(storage);
    let watches = 0;
    let release: (() => void) | undefined;
    const lw: ListWatcher<KubeObject> = {
      list: () => inner.list(),
      async watch(rv, onEvent, done) {
        watches++;
        if (watches === 1) {
          await new Promise<void>((r) => (release = r));
          return inner.watch(rv, onEvent, done);
        }
        return inner.watch(rv, onEvent, done);
      },
    };
    const inf = new ListWatchInformer(lw).start();
    const seen: string[] = [];
    inf.addHandler({ onAdd: (o) => seen.push(`add ${o.metadata?.name}`), onUpdate: (_o, n) => seen.push(`update ${n.metadata?.name}`), onDelete: (o) => seen.push(`delete ${o.metadata?.name}`) });
    await inf.waitForSync();
    await until(() => release !== undefined, 'first watch to start');
    await storage.forceDelete(undefined, 'gone');
    await storage.create(undefined, ns('new'));
    await store.compact(await store.currentRevision());
    release!();
    await until(() => seen.includes('add new') && seen.includes('delete gone'), 'reconciled cache');
    inf.stop();
    assert.equal(inf.relists, 2, 'expired watch must cause exactly one relist');
    assert.deepEqual(inf.list().map((o) => o.metadata?.name).sort(), ['keep', 'new']);
    assert.equal(seen.filter((s) => s === 'add keep').length, 1, 'unchanged objects are not re-added');
  });

  it('applies its transform to listed and watched objects before caching and handlers', async () => {
    const store = new MemoryStore();
    const reg = new ApiRegistry(store, cfg);
    const storage = reg.kind('Namespace');
    await storage.create(undefined, ns('listed', { big: 'x' }));
    const slim = (o: KubeObject): KubeObject => ({ apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.metadata?.name, resourceVersion: o.metadata?.resourceVersion } });
    const inf = new ListWatchInformer(localListWatcher(storage), undefined, slim).start();
    const seen: string[] = [];
    inf.addHandler({
      onAdd: (o) => seen.push(`add ${o.metadata?.name} ${JSON.stringify(o.metadata?.labels)}`),
      onUpdate: (_o, n) => seen.push(`update ${n.metadata?.name} ${JSON.stringify(n.metadata?.labels)}`),
      onDelete: (o) => seen.push(`delete ${o.metadata?.name} ${JSON.stringify(o.metadata?.labels)}`),
    });
    await inf.waitForSync();
    await storage.create(undefined, ns('watched', { big: 'y' }));
    await storage.guaranteedUpdate(undefined, 'watched', (o) => ({ ...o, metadata: { ...o.metadata, labels: { big: 'z' } } }));
    await storage.forceDelete(undefined, 'watched');
    await until(() => seen.length >= 4, 'four events');
    inf.stop();
    assert.deepEqual(seen, ['add listed undefined', 'add watched undefined', 'update watched undefined', 'delete watched undefined']);
    assert.deepEqual(Object.keys(inf.get('', 'listed')?.metadata ?? {}).sort(), ['name', 'resourceVersion']);
  });

  it('relists when its watch overflowed instead of replaying the same backlog again', async () => {
    // A writer that never yields queues more events than the watcher may buffer: the watch is
    // dropped, and a rewatch from the last revision would replay that backlog and overflow again.
    const store = new MemoryStore({ maxWatchBuffer: 20 });
    const reg = new ApiRegistry(store, cfg);
    const storage = reg.kind('Namespace');
    const inf = new ListWatchInformer(localListWatcher(storage)).start();
    await inf.waitForSync();
    const before = inf.relists;
    for (let i = 0; i < 50; i++) await storage.create(undefined, ns(`n${i}`));
    await until(() => inf.list().filter((o) => o.metadata?.name?.startsWith('n')).length === 50, 'all 50 namespaces');
    await storage.create(undefined, ns('after'));
    await until(() => inf.get('', 'after') !== undefined, 'a later write, through the new watch');
    inf.stop();
    assert.equal(inf.relists, before + 1, 'one overflow, one relist');
  });
});
