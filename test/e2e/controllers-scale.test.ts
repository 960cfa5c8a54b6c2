// Issue 4 end to end, the large case: 1010 pods behind one Service. The Endpoints object keeps 1000
// addresses (ready ones first) and says so with `endpoints.kubernetes.io/over-capacity: truncated`;
// the EndpointSlices, which have no such cap, list all of them 100 per slice. Pods are created and
// their statuses set with raw HTTPS requests in parallel batches (a kubectl process per pod is slow).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, createNamespace, kubectlOk, request, startPortico, waitFor, writeManifest, type Portico } from './harness.js';

after(cleanup);

interface Address {
  ip: string;
}
interface Endpoints {
  metadata: { annotations?: Record<string, string> };
  subsets?: Array<{ addresses?: Address[]; notReadyAddresses?: Address[]; ports?: Array<{ port: number }> }>;
}
interface Slice {
  metadata: { name?: string };
  endpoints?: Array<{ addresses: string[]; conditions?: { ready?: boolean } }> | null;
}

const NS = 'c4-scale';
const OVER_CAPACITY = 'endpoints.kubernetes.io/over-capacity';
const READY = 1002;
const NOT_READY = 8;
const BATCH = 50;

let p: Portico;
/** pod index → IP; not-ready pods are the first NOT_READY indexes (the lowest addresses). */
const ipOf = (i: number) => `198.19.${100 + Math.floor(i / 200)}.${(i % 200) + 1}`;
const name = (i: number) => `big-${i}`;
const notReadySet = new Set(Array.from({ length: NOT_READY }, (_, i) => ipOf(i)));

async function inBatches(from: number, to: number, fn: (i: number) => Promise<void>): Promise<void> {
  for (let i = from; i < to; i += BATCH) await Promise.all(Array.from({ length: Math.min(BATCH, to - i) }, (_, j) => fn(i + j)));
}

async function setStatus(i: number, ready: boolean): Promise<void> {
  const ip = ipOf(i);
  const r = await request(p, 'PATCH', `/api/v1/namespaces/${NS}/pods/${name(i)}/status`, {
    body: { status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] } },
    headers: { 'Content-Type': 'application/merge-patch+json' },
  });
  assert.equal(r.status, 200, r.body);
}

async function endpoints(): Promise<Endpoints> {
  const r = await request(p, 'GET', `/api/v1/namespaces/${NS}/endpoints/big`);
  assert.equal(r.status, 200, r.body);
  return r.json<Endpoints>();
}

async function slices(): Promise<Slice[]> {
  const r = await request(p, 'GET', `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices?labelSelector=${encodeURIComponent('kubernetes.io/service-name=big')}`);
  assert.equal(r.status, 200, r.body);
  return r.json<{ items: Slice[] }>().items;
}

const count = (ep: Endpoints, which: 'addresses' | 'notReadyAddresses') => (ep.subsets ?? []).reduce((n, s) => n + (s[which]?.length ?? 0), 0);

before(async () => {
  p = await startPortico(['--pod-cidr', '198.19.0.0/16', '--service-cidr', '198.18.0.0/16']);
  await createNamespace(p, NS);
  const path = await writeManifest(p, 'big.yaml', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'big', namespace: NS }, spec: { selector: { app: 'big' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } });
  await kubectlOk(p, ['apply', '-f', path]);
  await inBatches(0, READY + NOT_READY, async (i) => {
    const r = await request(p, 'POST', `/api/v1/namespaces/${NS}/pods`, {
      body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: name(i), labels: { app: 'big' } }, spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10', ports: [{ name: 'http', containerPort: 8080 }] }] } },
    });
    assert.equal(r.status, 201, r.body);
  });
  // Not-ready ones first: any view of the pods with 1000 ready ones has seen them too (watch order).
  await inBatches(0, NOT_READY, (i) => setStatus(i, false));
  await inBatches(NOT_READY, READY + NOT_READY, (i) => setStatus(i, true));
});

describe('1000-address cap', () => {
  it('keeps 1000 ready addresses, drops the not-ready ones first and annotates over-capacity: truncated', async () => {
    let last: Endpoints | undefined;
    const ep = await waitFor(
      async () => {
        last = await endpoints();
        return last.metadata.annotations?.[OVER_CAPACITY] === 'truncated' && count(last, 'addresses') === 1000 ? last : undefined;
      },
      'truncated Endpoints',
      120_000,
      250,
    ).catch((e: unknown) => assert.fail(`${String(e)}; last seen ${count(last ?? { metadata: {} }, 'addresses')} addresses, annotations ${JSON.stringify(last?.metadata.annotations)}`));
    assert.equal(count(ep, 'notReadyAddresses'), 0, 'not-ready addresses are the first to go');
    const ips = (ep.subsets ?? []).flatMap((s) => (s.addresses ?? []).map((a) => a.ip));
    assert.equal(new Set(ips).size, 1000, 'no address twice');
    for (const ip of ips) assert.ok(!notReadySet.has(ip), `${ip} is a not-ready pod's`);
    for (const s of ep.subsets ?? []) assert.deepEqual(s.ports?.map((x) => x.port), [8080]);
  });

  it('lists every pod in the slices, 100 per slice', async () => {
    const all = await waitFor(
      async () => {
        const s = await slices();
        return s.reduce((n, x) => n + (x.endpoints ?? []).length, 0) === READY + NOT_READY ? s : undefined;
      },
      `${READY + NOT_READY} endpoints in slices`,
      120_000,
      250,
    );
    assert.equal(all.length, Math.ceil((READY + NOT_READY) / 100), 'slices packed full');
    const seen = new Set<string>();
    for (const s of all) {
      assert.ok((s.endpoints ?? []).length <= 100, `${s.metadata.name} holds at most 100`);
      for (const e of s.endpoints ?? []) {
        for (const a of e.addresses) {
          assert.ok(!seen.has(a), `${a} listed once`);
          seen.add(a);
          assert.equal(e.conditions?.ready, !notReadySet.has(a), `ready condition of ${a}`);
        }
      }
    }
  });

  it('drops the annotation and lists the not-ready pods again once under the cap', async () => {
    // 20 ready pods go: 982 ready + 8 not ready = 990 addresses.
    await inBatches(NOT_READY, NOT_READY + 20, async (i) => {
      const r = await request(p, 'DELETE', `/api/v1/namespaces/${NS}/pods/${name(i)}`);
      assert.equal(r.status, 200, r.body);
    });
    const ep = await waitFor(
      async () => {
        const e = await endpoints();
        return e.metadata.annotations?.[OVER_CAPACITY] === undefined && count(e, 'addresses') === READY - 20 && count(e, 'notReadyAddresses') === NOT_READY ? e : undefined;
      },
      'Endpoints under the cap',
      120_000,
      250,
    );
    const notReady = (ep.subsets ?? []).flatMap((s) => (s.notReadyAddresses ?? []).map((a) => a.ip)).sort();
    assert.deepEqual(notReady, [...notReadySet].sort());
  });
});
