// Micro-benchmark of the DNS answer path without sockets (parse + index lookup + response build),
// and the scale figures: 10,000 Services with 100,000 endpoints (memory, time from an EndpointSlice
// change to the new answer). Usage: node --expose-gc dist/bench/dns/micro.js
import { performance } from 'node:perf_hooks';
import { FakeInformer } from '../../src/client/fake.js';
import type { Service } from '../../src/registry/kinds/service.js';
import type { EndpointSlice } from '../../src/registry/kinds/endpointslice.js';
import { ZoneIndex } from '../../src/dns/zone.js';
import { buildResponse } from '../../src/dns/server.js';
import { TYPE, buildQuery, parseQuery } from '../../src/dns/wire.js';
import { DnsHandler, DnsMetrics } from '../../src/dns/handler.js';
import { AnswerCache, Forwarder } from '../../src/dns/upstream.js';
import { pino } from 'pino';

const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
const ip = (i: number, base: number): string => `198.${base}.${(i >> 8) & 255}.${i & 255}`;

function mkSvc(i: number, headless: boolean): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'bench', name: `svc-${i}` }, spec: { clusterIP: headless ? 'None' : ip(i, 18), ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } };
}
function mkSlice(i: number, n: number, gen = 0): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
    metadata: { namespace: 'bench', name: `svc-${i}-a`, labels: { 'kubernetes.io/service-name': `svc-${i}` }, resourceVersion: String(gen) },
    endpoints: Array.from({ length: n }, (_, j) => ({ addresses: [`10.${(i >> 8) & 255}.${i & 255}.${(j + gen) & 255}`], conditions: { ready: true } })),
    ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
  };
}

// 1. Answer path, 1,000 ClusterIP services.
{
  const zone = new ZoneIndex();
  zone.attach({ services: new FakeInformer(Array.from({ length: 1000 }, (_, i) => mkSvc(i, false))), endpointSlices: new FakeInformer<EndpointSlice>([]) });
  const queries = Array.from({ length: 1000 }, (_, i) => buildQuery(i, `svc-${i}.bench.svc.cluster.local`, TYPE.A));
  const nx = Array.from({ length: 1000 }, (_, i) => buildQuery(i, `svc-${i}.bench.svc.cluster.local.bench.svc.cluster.local`, TYPE.A));
  for (const [label, set] of [['positive A', queries], ['NXDOMAIN (search-path miss)', nx]] as const) {
    const N = 1_000_000;
    let bytes = 0;
    const t0 = performance.now();
    for (let k = 0; k < N; k++) {
      const raw = set[k % 1000]!;
      const p = parseQuery(raw);
      if (!p.ok) throw new Error('parse');
      const a = zone.lookup(p.query.qname, p.query.qtype);
      const out = a.t === 'answer' ? buildResponse(raw, p.query, 0, true, a.r, null, 1232) : buildResponse(raw, p.query, 3, true, null, zone.soaRecord(), 1232);
      bytes += out.length;
    }
    const dt = performance.now() - t0;
    console.log(`answer path, ${label}: ${((dt * 1e6) / N).toFixed(0)} ns/query (${(N / dt * 1000 / 1e6).toFixed(2)} M queries/s, ${bytes} bytes)`);
  }
  // The UDP handler as served: whole-reply cache in front, metrics recorded.
  const cache = new AnswerCache();
  const handler = new DnsHandler(zone, new Forwarder([]), cache, new DnsMetrics(cache), pino({ level: 'silent' }));
  for (const [label, set] of [['positive A', queries], ['NXDOMAIN (search-path miss)', nx]] as const) {
    const N = 1_000_000;
    const t0 = performance.now();
    for (let k = 0; k < N; k++) if (!handler.handle(set[k % 1000]!, false)) throw new Error('no reply');
    const dt = performance.now() - t0;
    console.log(`UDP handler (whole-reply cache, metrics), ${label}: ${((dt * 1e6) / N).toFixed(0)} ns/query`);
  }
}

// 2. Scale: 10,000 headless Services x 10 endpoints.
{
  gc();
  const before = process.memoryUsage().heapUsed;
  const services = new FakeInformer(Array.from({ length: 10000 }, (_, i) => mkSvc(i, true)));
  const slices = new FakeInformer(Array.from({ length: 10000 }, (_, i) => mkSlice(i, 10)));
  const t0 = performance.now();
  const zone = new ZoneIndex();
  zone.attach({ services, endpointSlices: slices });
  const built = performance.now() - t0;
  gc();
  const heap = process.memoryUsage().heapUsed - before;
  console.log(`10,000 services + 100,000 endpoints: index built in ${built.toFixed(0)} ms, ${zone.size()} names, heap incl. informer caches ${(heap / 1e6).toFixed(0)} MB, rss ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB`);
  const times: number[] = [];
  for (let g = 1; g <= 200; g++) {
    const i = (g * 37) % 10000;
    const t = performance.now();
    slices.set(mkSlice(i, 10, g));
    const a = zone.lookup(`svc-${i}.bench.svc.cluster.local`, TYPE.A);
    times.push(performance.now() - t);
    if (a.t !== 'answer') throw new Error('no answer after change');
  }
  times.sort((x, y) => x - y);
  console.log(`EndpointSlice change -> new answer rendered: p50 ${(times[100]! * 1000).toFixed(0)} us, p99 ${(times[198]! * 1000).toFixed(0)} us`);
}
