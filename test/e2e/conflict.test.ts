// Optimistic concurrency: two writers with the same resourceVersion, the second gets 409 Conflict
// with kube-apiserver's message, and its change is not applied.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, createNamespace, request, startPortico, type Portico, type StatusBody } from './harness.js';

after(cleanup);

let p: Portico;
before(async () => {
  p = await startPortico();
  await createNamespace(p, 'conflict');
});

interface Obj {
  metadata: { name: string; resourceVersion?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

describe('update with a stale resourceVersion', () => {
  it('second PUT with the same resourceVersion is 409 Conflict, first one wins', async () => {
    const base = '/api/v1/namespaces/conflict/services';
    const c = await request(p, 'POST', base, { body: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { ports: [{ port: 80 }] } } });
    assert.equal(c.status, 201, c.body);
    const got = await request(p, 'GET', `${base}/web`);
    assert.equal(got.status, 200, got.body);
    const obj = got.json<Obj>();
    const rv = obj.metadata.resourceVersion;
    assert.ok(rv, 'the object has a resourceVersion');

    const writerA = structuredClone(obj);
    writerA.metadata.labels = { writer: 'a' };
    const writerB = structuredClone(obj);
    writerB.metadata.labels = { writer: 'b' };

    const a = await request(p, 'PUT', `${base}/web`, { body: writerA });
    assert.equal(a.status, 200, a.body);
    const aRV = a.json<Obj>().metadata.resourceVersion;
    assert.ok(aRV && BigInt(aRV) > BigInt(rv), `resourceVersion grows: ${rv} -> ${aRV}`);

    const b = await request(p, 'PUT', `${base}/web`, { body: writerB });
    assert.equal(b.status, 409, b.body);
    const s = b.json<StatusBody>();
    assert.equal(s.kind, 'Status');
    assert.equal(s.apiVersion, 'v1');
    assert.equal(s.status, 'Failure');
    assert.equal(s.reason, 'Conflict');
    assert.equal(s.code, 409);
    assert.equal(s.message, 'Operation cannot be fulfilled on services "web": the object has been modified; please apply your changes to the latest version and try again');
    assert.equal(s.details?.name, 'web');
    assert.equal(s.details?.kind, 'services');

    const after = (await request(p, 'GET', `${base}/web`)).json<Obj>();
    assert.deepEqual(after.metadata.labels, { writer: 'a' });
    assert.equal(after.metadata.resourceVersion, aRV);
  });

  it('a PUT with the current resourceVersion after the conflict succeeds', async () => {
    const base = '/api/v1/namespaces/conflict/services';
    const obj = (await request(p, 'GET', `${base}/web`)).json<Obj>();
    obj.metadata.labels = { writer: 'b', retried: 'yes' };
    const r = await request(p, 'PUT', `${base}/web`, { body: obj });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(r.json<Obj>().metadata.labels, { writer: 'b', retried: 'yes' });
  });

  it('merge patch with a stale resourceVersion precondition is 409 too', async () => {
    const base = '/api/v1/namespaces/conflict/services';
    const obj = (await request(p, 'GET', `${base}/web`)).json<Obj>();
    const stale = obj.metadata.resourceVersion!;
    const first = await request(p, 'PATCH', `${base}/web`, {
      body: { metadata: { resourceVersion: stale, annotations: { step: '1' } } },
      headers: { 'Content-Type': 'application/merge-patch+json' },
    });
    assert.equal(first.status, 200, first.body);
    const second = await request(p, 'PATCH', `${base}/web`, {
      body: { metadata: { resourceVersion: stale, annotations: { step: '2' } } },
      headers: { 'Content-Type': 'application/merge-patch+json' },
    });
    assert.equal(second.status, 409, second.body);
    assert.equal(second.json<StatusBody>().reason, 'Conflict');
    const now = (await request(p, 'GET', `${base}/web`)).json<Obj>();
    assert.deepEqual((now.metadata as { annotations?: unknown }).annotations, { step: '1' });
  });

  it('concurrent PUTs with one resourceVersion: exactly one 200, the others 409', async () => {
    const base = '/api/v1/namespaces/conflict/services';
    const obj = (await request(p, 'GET', `${base}/web`)).json<Obj>();
    const writers = Array.from({ length: 8 }, (_, i) => {
      const o = structuredClone(obj);
      o.metadata.labels = { writer: `w${i}` };
      return request(p, 'PUT', `${base}/web`, { body: o });
    });
    const results = await Promise.all(writers);
    const codes = results.map((r) => r.status).sort();
    assert.deepEqual(codes, [200, 409, 409, 409, 409, 409, 409, 409], results.map((r) => r.body.slice(0, 200)).join('\n'));
  });
});
