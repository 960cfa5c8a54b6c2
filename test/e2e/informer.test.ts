// @kubernetes/client-node's informer (list + watch + cache) against Portico: it sees every change;
// across a server restart it resumes from its resourceVersion without losing or repeating events;
// once its resourceVersion is compacted away it gets 410 and relists.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type * as K8s from '@kubernetes/client-node';
import { cleanup, createNamespace, request, startPortico, waitFor, type Portico } from './harness.js';

after(cleanup);

// Loaded here rather than by a static import so that a client library that cannot load on this
// Node shows up as one clear failure instead of a crash of the whole file.
let k8s: typeof K8s;
before(async () => {
  try {
    k8s = await import('@kubernetes/client-node');
  } catch (e) {
    throw new Error(`@kubernetes/client-node does not load on Node ${process.version}: ${(e as Error).message}`, { cause: e });
  }
});

interface Ev {
  type: 'add' | 'update' | 'delete';
  name: string;
  rv: string;
}

interface Rec {
  informer: K8s.Informer<K8s.V1Service> & K8s.ObjectCache<K8s.V1Service>;
  events: Ev[];
  errors: unknown[];
  listCalls: number;
}

const informers: Rec[] = [];
after(async () => {
  for (const r of informers) await r.informer.stop();
});

function makeServiceInformer(p: Portico, ns: string): Rec {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(p.kubeconfig);
  const api = kc.makeApiClient(k8s.CoreV1Api);
  const rec: Rec = { events: [], errors: [], listCalls: 0, informer: undefined as unknown as Rec['informer'] };
  rec.informer = k8s.makeInformer<K8s.V1Service>(kc, `/api/v1/namespaces/${ns}/services`, () => {
    rec.listCalls++;
    return api.listNamespacedService({ namespace: ns });
  });
  const push = (type: Ev['type']) => (o: K8s.V1Service) => rec.events.push({ type, name: o.metadata?.name ?? '?', rv: o.metadata?.resourceVersion ?? '?' });
  rec.informer.on('add', push('add'));
  rec.informer.on('update', push('update'));
  rec.informer.on('delete', push('delete'));
  rec.informer.on('error', (e) => rec.errors.push(e));
  informers.push(rec);
  return rec;
}

const svcPath = (ns: string, name = '') => `/api/v1/namespaces/${ns}/services${name ? '/' + name : ''}`;

async function create(p: Portico, ns: string, name: string): Promise<string> {
  const r = await request(p, 'POST', svcPath(ns), { body: { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { ports: [{ port: 80 }] } } });
  assert.equal(r.status, 201, r.body);
  return r.json<{ metadata: { resourceVersion: string } }>().metadata.resourceVersion;
}

async function relabel(p: Portico, ns: string, name: string, value: string): Promise<string> {
  const r = await request(p, 'PATCH', svcPath(ns, name), { body: { metadata: { labels: { v: value } } }, headers: { 'Content-Type': 'application/merge-patch+json' } });
  assert.equal(r.status, 200, r.body);
  return r.json<{ metadata: { resourceVersion: string } }>().metadata.resourceVersion;
}

async function remove(p: Portico, ns: string, name: string): Promise<void> {
  const r = await request(p, 'DELETE', svcPath(ns, name));
  assert.equal(r.status, 200, r.body);
}

/** Live state as name → resourceVersion. */
async function serverState(p: Portico, ns: string): Promise<Map<string, string>> {
  const r = await request(p, 'GET', svcPath(ns));
  assert.equal(r.status, 200, r.body);
  return new Map(r.json<{ items: Array<{ metadata: { name: string; resourceVersion: string } }> }>().items.map((s) => [s.metadata.name, s.metadata.resourceVersion]));
}

function cacheState(rec: Rec): Map<string, string> {
  return new Map(rec.informer.list().map((s) => [s.metadata?.name ?? '?', s.metadata?.resourceVersion ?? '?']));
}

const fmt = (evs: Ev[]) => evs.map((e) => `${e.type} ${e.name}@${e.rv}`).join('\n');

/** Writes a sentinel and waits for its add: every event before it has been delivered by then. */
async function sync(p: Portico, rec: Rec, ns: string, name: string): Promise<Ev> {
  const rv = await create(p, ns, name);
  await waitFor(() => rec.events.some((e) => e.name === name), `the informer to see ${name}; events so far:\n${fmt(rec.events)}`);
  return { type: 'add', name, rv };
}

function assertDeleteAfter(ev: Ev | undefined, name: string, afterRV: string): void {
  assert.ok(ev, `a delete event for ${name}`);
  assert.equal(ev.type, 'delete');
  assert.equal(ev.name, name);
  assert.ok(BigInt(ev.rv) > BigInt(afterRV), `the delete of ${name} carries the deletion's resourceVersion (> ${afterRV}), got ${ev.rv}`);
}

describe('informer: changes and resume across a restart', () => {
  let p: Portico;
  let rec: Rec;
  const ns = 'inf';
  before(async () => {
    p = await startPortico();
    await createNamespace(p, ns);
    await create(p, ns, 'pre');
  });

  it('lists, then sees add, update and delete in order, exactly once each', async () => {
    rec = makeServiceInformer(p, ns);
    await rec.informer.start();
    const preRV = (await serverState(p, ns)).get('pre')!;
    await waitFor(() => rec.events.length >= 1, 'the initial list');
    const a1 = await create(p, ns, 'a');
    const b1 = await create(p, ns, 'b');
    const a2 = await relabel(p, ns, 'a', '2');
    await remove(p, ns, 'b');
    const s = await sync(p, rec, ns, 'sentinel-1');
    const evs = rec.events;
    assert.equal(evs.length, 6, fmt(evs));
    assert.deepEqual(evs.slice(0, 4), [
      { type: 'add', name: 'pre', rv: preRV },
      { type: 'add', name: 'a', rv: a1 },
      { type: 'add', name: 'b', rv: b1 },
      { type: 'update', name: 'a', rv: a2 },
    ], fmt(evs));
    assertDeleteAfter(evs[4], 'b', b1);
    assert.deepEqual(evs[5], s);
    assert.deepEqual(cacheState(rec), await serverState(p, ns));
    assert.deepEqual(rec.errors, []);
    assert.equal(rec.listCalls, 1);
  });

  it('resumes after a server restart from its resourceVersion: nothing lost, nothing repeated', async () => {
    const seen = rec.events.length;
    const errorsBefore = rec.errors.length;
    const { code } = await p.stop('SIGTERM');
    assert.equal(code, 0, 'clean shutdown');
    // The watch breaks; the informer reports it and waits for us to start it again.
    await waitFor(() => rec.errors.length > errorsBefore, 'the informer to report the lost connection');
    await p.restart();
    // Changes made while the informer is away, including two updates of one object (a relist
    // would show only the last one).
    const a3 = await relabel(p, ns, 'a', '3');
    const a4 = await relabel(p, ns, 'a', '4');
    const c1 = await create(p, ns, 'c');
    await remove(p, ns, 'a');
    await rec.informer.start();
    const s = await sync(p, rec, ns, 'sentinel-2');
    const evs = rec.events.slice(seen);
    assert.equal(evs.length, 5, fmt(evs));
    assert.deepEqual(evs.slice(0, 3), [
      { type: 'update', name: 'a', rv: a3 },
      { type: 'update', name: 'a', rv: a4 },
      { type: 'add', name: 'c', rv: c1 },
    ], fmt(evs));
    assertDeleteAfter(evs[3], 'a', c1);
    assert.deepEqual(evs[4], s);
    assert.equal(rec.listCalls, 1, 'resumed by watch, no relist');
    assert.deepEqual(cacheState(rec), await serverState(p, ns));
  });

  it('keeps watching after the resume', async () => {
    const seen = rec.events.length;
    const c2 = await relabel(p, ns, 'c', 'later');
    const s = await sync(p, rec, ns, 'sentinel-3');
    assert.deepEqual(rec.events.slice(seen), [{ type: 'update', name: 'c', rv: c2 }, s]);
  });
});

describe('informer: compaction while away → 410 → relist', () => {
  let p: Portico;
  let rec: Rec;
  const ns = 'compact';
  const args = ['--compaction-interval', '2s', '--bookmark-interval', '1s'];
  before(async () => {
    p = await startPortico(args);
    await createNamespace(p, ns);
  });

  it('relists after its resourceVersion was compacted and ends with the right cache', async () => {
    for (const n of ['x1', 'x2', 'x3']) await create(p, ns, n);
    rec = makeServiceInformer(p, ns);
    await rec.informer.start();
    await waitFor(() => rec.events.length >= 3, 'the initial list');
    await sync(p, rec, ns, 'x0');
    // ListWatch (what makeInformer returns) exposes the resourceVersion it would resume from.
    const rv = (rec.informer as unknown as { latestResourceVersion(): string }).latestResourceVersion();
    assert.ok(rv);

    const errorsBefore = rec.errors.length;
    await p.stop('SIGTERM');
    await waitFor(() => rec.errors.length > errorsBefore, 'the informer to report the lost connection');
    await p.restart(args);
    const seen = rec.events.length;
    await remove(p, ns, 'x1');
    const x2 = await relabel(p, ns, 'x2', 'changed');
    const x4 = await create(p, ns, 'x4');

    // Wait until the server says the informer's resourceVersion is gone (410 Expired).
    await waitFor(
      async () => {
        await relabel(p, ns, 'x3', String(Date.now()));
        const r = await request(p, 'GET', `${svcPath(ns)}?watch=true&resourceVersion=${rv}&timeoutSeconds=1`);
        if (r.status === 410) return true;
        const first = r.body.split('\n')[0];
        if (!first) return false;
        const ev = JSON.parse(first) as { type: string; object: { code?: number; reason?: string } };
        return ev.type === 'ERROR' && ev.object.code === 410 && ev.object.reason === 'Expired';
      },
      `resourceVersion ${rv} to be compacted (410 Expired)`,
      90_000,
      500,
    );

    await rec.informer.start();
    const want = await serverState(p, ns);
    await waitFor(() => {
      const have = cacheState(rec);
      return have.size === want.size && [...want].every(([n, v]) => have.get(n) === v);
    }, `the informer cache to match the server: want ${JSON.stringify([...want])}`);
    assert.equal(rec.listCalls, 2, 'one relist after the 410');
    const evs = rec.events.slice(seen);
    const x3 = want.get('x3')!;
    const byName = new Map(evs.map((e) => [e.name, e]));
    assert.equal(byName.get('x1')?.type, 'delete', fmt(evs));
    assert.deepEqual(byName.get('x2'), { type: 'update', name: 'x2', rv: x2 }, fmt(evs));
    assert.deepEqual(byName.get('x3'), { type: 'update', name: 'x3', rv: x3 }, fmt(evs));
    assert.deepEqual(byName.get('x4'), { type: 'add', name: 'x4', rv: x4 }, fmt(evs));
    assert.equal(evs.length, 4, fmt(evs));

    // And it watches again from the relisted resourceVersion.
    const s = await sync(p, rec, ns, 'x5');
    assert.deepEqual(rec.events.at(-1), s);
  });
});
