// Every acknowledged write survives kill -9: a stream of creates over raw HTTPS, SIGKILL mid-stream,
// restart on the same data dir; every create that got a 201 is there, with the same uid and
// resourceVersion it was acknowledged with.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, createNamespace, request, startPortico, waitFor, type Portico } from './harness.js';

after(cleanup);

let p: Portico;
before(async () => {
  p = await startPortico(['--store', 'sqlite']);
  await createNamespace(p, 'durable');
});

interface Acked {
  name: string;
  uid: string;
  rv: string;
}

interface ListedService {
  metadata: { name: string; uid: string; resourceVersion: string };
}

describe('kill -9 during a stream of creates', () => {
  it('keeps every create that got a 201', async () => {
    const acked: Acked[] = [];
    const failed: string[] = [];
    let killed = false;
    const clients = 4;
    const killAfter = 300;

    const client = async (id: number) => {
      for (let i = 0; ; i++) {
        const name = `s-${id}-${i}`;
        try {
          const r = await request(p, 'POST', '/api/v1/namespaces/durable/services', {
            body: { apiVersion: 'v1', kind: 'Service', metadata: { name, labels: { stream: 'yes' } }, spec: { ports: [{ port: 80 }] } },
          });
          if (r.status === 201) {
            const m = r.json<ListedService>().metadata;
            acked.push({ name, uid: m.uid, rv: m.resourceVersion });
          } else {
            failed.push(`${name}: ${r.status}`);
            if (!killed) throw new Error(`create ${name} before the kill: ${r.status} ${r.body}`);
          }
        } catch (e) {
          if (!killed) throw e;
          failed.push(`${name}: ${(e as Error).message}`);
          return;
        }
      }
    };

    const running = Array.from({ length: clients }, (_, i) => client(i));
    // Kill while requests are in flight: the clients never pause between creates.
    await waitFor(() => acked.length >= killAfter, `${killAfter} acknowledged creates`, 120_000, 5);
    killed = true;
    await p.kill9();
    await Promise.all(running);
    assert.ok(acked.length >= killAfter);

    await p.restart();
    const r = await request(p, 'GET', '/api/v1/namespaces/durable/services?labelSelector=stream%3Dyes');
    assert.equal(r.status, 200, r.body);
    const listed = new Map(r.json<{ items: ListedService[] }>().items.map((s) => [s.metadata.name, s.metadata]));
    const missing = acked.filter((a) => !listed.has(a.name));
    assert.deepEqual(missing.map((m) => m.name), [], `${missing.length} of ${acked.length} acknowledged creates lost`);
    for (const a of acked) {
      const m = listed.get(a.name)!;
      assert.equal(m.uid, a.uid, `${a.name} uid`);
      assert.equal(m.resourceVersion, a.rv, `${a.name} resourceVersion`);
    }
    // A create cut off by the kill may or may not have been committed; nothing else may appear.
    const extra = [...listed.keys()].filter((n) => !acked.some((a) => a.name === n));
    const cutOff = new Set(failed.map((f) => f.split(':')[0]));
    assert.deepEqual(extra.filter((n) => !cutOff.has(n)), [], 'only cut-off creates may appear unacknowledged');
  });

  it('keeps serving writes after the restart, with resourceVersions that keep growing', async () => {
    const before = await request(p, 'GET', '/api/v1/namespaces/durable/services');
    const listRV = BigInt(before.json<{ metadata: { resourceVersion: string } }>().metadata.resourceVersion);
    const r = await request(p, 'POST', '/api/v1/namespaces/durable/services', {
      body: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'after-restart' }, spec: { ports: [{ port: 80 }] } },
    });
    assert.equal(r.status, 201, r.body);
    assert.ok(BigInt(r.json<ListedService>().metadata.resourceVersion) > listRV);
  });
});
