// Controllers benchmark (issue 4, "Measure it"), in process over the memory store (BENCH_STORE=
// sqlite for the SQLite one): N Services x 10 pods from an empty cluster to all slices written;
// then 1,000 Ready flips of one pod, each timed from the status write to the slice's watch event
// showing the flip (p50/p99), with the API writes the controllers made per flip; then sustained
// churn of FLIPS_PER_SEC flips/s over many pods, checking the lag does not grow.
// Run: npx tsc -p tsconfig.build.json && node dist/bench/controllers/run.js
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openStore } from '../../src/store/index.js';
import { ApiRegistry } from '../../src/api/registry.js';
import { ServiceAllocator } from '../../src/allocators/service.js';
import type { Service } from '../../src/registry/kinds/service.js';
import type { Pod } from '../../src/registry/kinds/pod.js';
import type { EndpointSlice } from '../../src/registry/kinds/endpointslice.js';
import { startNetworkControllers } from '../../src/controllers/networking.js';
import { pino } from 'pino';
import { podStatus, service, silentLogger, testCluster } from '../../src/controllers/testing.js';

const N_SERVICES = Number(process.env.BENCH_SERVICES ?? 10_000);
const PODS_PER_SERVICE = 10;
const FLIPS = Number(process.env.BENCH_FLIPS ?? 1_000);
const CHURN_PER_SEC = Number(process.env.BENCH_CHURN ?? 500);
const CHURN_SECONDS = Number(process.env.BENCH_CHURN_SECONDS ?? 10);
const NS = 'default';
// BENCH_LOG=warn shows the controllers' and informers' warnings on stderr (silent by default).
const log = process.env.BENCH_LOG ? pino({ level: process.env.BENCH_LOG }, pino.destination(2)) : silentLogger;

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const r2 = (x: number) => Math.round(x * 100) / 100;
const cpuMsSince = (from: NodeJS.CpuUsage) => {
  const u = process.cpuUsage(from);
  return Math.round((u.user + u.system) / 1000);
};
const ipOf = (i: number) => `198.19.${Math.floor(i / 250) % 256}.${(i % 250) + 1}`;

async function main(): Promise<void> {
  const kind = process.env.BENCH_STORE === 'sqlite' ? 'sqlite' : 'memory';
  const dir = await mkdtemp(join(tmpdir(), 'portico-bench-ctl-'));
  const store = await openStore(kind, dir);
  const cfg = { ...testCluster, podCIDR: '198.19.0.0/16' };
  const registry = new ApiRegistry(store, cfg);
  registry.kind<Service>('Service').hooks = new ServiceAllocator(store, cfg).hooks();
  await registry.ensureSystemNamespaces();
  const services = registry.kind<Service>('Service');
  const pods = registry.kind<Pod>('Pod');
  const slices = registry.kind<EndpointSlice>('EndpointSlice');

  // Watch slices: who is waiting for which pod's condition, and how many Services have all their
  // endpoints in slices (counted from the events: listing 10,000 slices to check would cost more
  // than the controllers' work it waits for).
  const waiters = new Map<string, { ready: boolean; done: () => void }>();
  let sliceEvents = 0;
  const sliceSize = new Map<string, { svc: string; n: number }>();
  const perService = new Map<string, number>();
  let fullServices = 0;
  let allFull: (() => void) | undefined;
  const countEndpoints = (svc: string, delta: number) => {
    const before = perService.get(svc) ?? 0;
    const after = before + delta;
    perService.set(svc, after);
    fullServices += Number(after === PODS_PER_SERVICE) - Number(before === PODS_PER_SERVICE);
    if (fullServices >= N_SERVICES) allFull?.();
  };
  await slices.watch(NS, { resourceVersion: String(await store.currentRevision()) }, (ev) => {
    sliceEvents++;
    const name = ev.object.metadata?.name ?? '';
    const old = sliceSize.get(name);
    if (old) countEndpoints(old.svc, -old.n);
    if (ev.type === 'DELETED') sliceSize.delete(name);
    else {
      const now = { svc: ev.object.metadata?.labels?.['kubernetes.io/service-name'] ?? '', n: ev.object.endpoints?.length ?? 0 };
      sliceSize.set(name, now);
      countEndpoints(now.svc, now.n);
    }
    if (waiters.size === 0) return;
    for (const e of ev.object.endpoints ?? []) {
      const w = waiters.get(e.targetRef?.name ?? '');
      if (w && e.conditions?.ready === w.ready) {
        waiters.delete(e.targetRef?.name ?? '');
        w.done();
      }
    }
  }, () => {});

  const ctl = await startNetworkControllers(registry, log);
  const out: Record<string, unknown> = { store: kind, services: N_SERVICES, podsPerService: PODS_PER_SERVICE, cpus: cpus().length };

  // Phase 1: Services and pods written (as fast as the API takes them), then until every Service has its slice.
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  for (let s = 0; s < N_SERVICES; s++) {
    await services.create(NS, service(`svc${s}`));
    for (let p = 0; p < PODS_PER_SERVICE; p++) {
      const i = s * PODS_PER_SERVICE + p;
      const pod = await pods.create(NS, { apiVersion: 'v1', kind: 'Pod', metadata: { name: `svc${s}-p${p}`, labels: { app: `svc${s}` } }, spec: { containers: [{ name: 'c', image: 'x' }] } } as Pod);
      await pods.update(NS, pod.metadata!.name!, { ...pod, status: podStatus({ ip: ipOf(i) }) }, { subresource: 'status' });
    }
  }
  const tWritten = performance.now();
  if (fullServices < N_SERVICES) await new Promise<void>((r) => (allFull = r));
  allFull = undefined;
  const tSynced = performance.now();
  out.initial = {
    writeObjectsMs: Math.round(tWritten - t0),
    allSlicesWrittenMs: Math.round(tSynced - t0),
    afterLastWriteMs: Math.round(tSynced - tWritten),
    // CPU of the whole process (writers, API, controllers): wall time on a shared machine is noisy.
    cpuMs: cpuMsSince(cpu0),
    endpointsWrites: { ...ctl.endpoints.writes },
    sliceWrites: { ...ctl.slices.writes },
  };
  await ctl.whenIdle();

  // Phase 2: one pod's Ready flips, one at a time.
  const flipPod = 'svc0-p0';
  const lat: number[] = [];
  const w0 = { ep: { ...ctl.endpoints.writes }, sl: { ...ctl.slices.writes } };
  const sum = (w: { creates: number; updates: number; deletes: number }) => w.creates + w.updates + w.deletes;
  let ready = true;
  for (let f = 0; f < FLIPS; f++) {
    ready = !ready;
    const want = ready;
    const seen = new Promise<void>((done) => waiters.set(flipPod, { ready: want, done }));
    const start = performance.now();
    await pods.guaranteedUpdate(NS, flipPod, (p) => ({ ...p, status: { ...p.status, conditions: [{ type: 'Ready', status: want ? 'True' : 'False' }] } }), { subresource: 'status' });
    await seen;
    lat.push(performance.now() - start);
  }
  await ctl.whenIdle();
  out.flips = {
    n: FLIPS,
    p50Ms: r2(pct(lat, 50)),
    p99Ms: r2(pct(lat, 99)),
    maxMs: r2(Math.max(...lat)),
    endpointsWritesPerFlip: r2((sum(ctl.endpoints.writes) - sum(w0.ep)) / FLIPS),
    sliceWritesPerFlip: r2((sum(ctl.slices.writes) - sum(w0.sl)) / FLIPS),
  };

  // Phase 3: sustained churn over many pods at a fixed rate; lag per second window.
  const total = N_SERVICES * PODS_PER_SERVICE;
  const state = new Map<string, boolean>();
  const windows: number[][] = [];
  const tick = 1000 / CHURN_PER_SEC;
  const churnStart = performance.now();
  const pending: Array<Promise<void>> = [];
  for (let k = 0; k < CHURN_PER_SEC * CHURN_SECONDS; k++) {
    const due = churnStart + k * tick;
    const now = performance.now();
    if (due > now) await new Promise((r) => setTimeout(r, due - now));
    const i = 1 + ((k * 7919) % (total - 1));
    const name = `svc${Math.floor(i / PODS_PER_SERVICE)}-p${i % PODS_PER_SERVICE}`;
    if (waiters.has(name)) continue;
    const want = !(state.get(name) ?? true);
    state.set(name, want);
    const win = Math.floor(k / CHURN_PER_SEC);
    const begin = performance.now();
    pending.push(
      new Promise<void>((done) =>
        waiters.set(name, {
          ready: want,
          done: () => {
            (windows[win] ??= []).push(performance.now() - begin);
            done();
          },
        }),
      ),
    );
    void pods.guaranteedUpdate(NS, name, (p) => ({ ...p, status: { ...p.status, conditions: [{ type: 'Ready', status: want ? 'True' : 'False' }] } }), { subresource: 'status' });
  }
  await Promise.all(pending);
  out.churn = { perSec: CHURN_PER_SEC, seconds: CHURN_SECONDS, achievedPerSec: r2((CHURN_PER_SEC * CHURN_SECONDS) / ((performance.now() - churnStart) / 1000)), p99MsPerSecond: windows.map((w) => r2(pct(w, 99))) };
  out.sliceWatchEvents = sliceEvents;
  out.loadavg = loadavg().map(r2);
  out.rssMiB = Math.round(process.memoryUsage().rss / 2 ** 20);

  ctl.stop();
  await store.close();
  await rm(dir, { recursive: true, force: true });
  console.log(JSON.stringify(out, null, 2));
}

await main();
