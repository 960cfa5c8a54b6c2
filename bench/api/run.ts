// API benchmark (issue 2, "Measure it"): starts a private Portico and measures creates through the
// API against the bare SQLite store, list latency (JSON and Table), watch delivery latency with
// 100 watchers, and the server's RSS holding 10,000 Services and 50,000 Pods.
// Run: npm run bench:api. Prints a table and writes bench/api/results-<date>.json.
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { tmpdir, cpus, totalmem, hostname, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { openStore } from '../../src/store/index.js';
import { ApiClient, RawConnection, type Response } from './client.js';
import { startPortico, memoryOf, cpuSecondsOf, launcherFlags, type Portico } from './server.js';
import { runPool, summarize, round, type Summary } from './stats.js';

// Sizes and targets from the issue; env overrides exist only to try the harness quickly.
const N_SERVICES = Number(process.env.BENCH_SERVICES ?? 10_000);
const N_PODS = Number(process.env.BENCH_PODS ?? 50_000);
const CLIENTS = 16;
const LISTS = 20;
const WATCHERS = 100;
const UPDATES = 1_000;
const SETTLE_MS = 3_000;
const NS = 'bench';
const TARGET = { createsPerSec: 2_000, listMs: 500, watchP99Ms: 50, rssMiB: 300 };

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Deterministic PRNG (mulberry32) so every run patches the same services in the same order. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function serviceBody(i: number): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: `svc-${i}`, labels: { app: `app-${i}` } },
    spec: { type: 'ClusterIP', selector: { app: `app-${i}` }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
  });
}

function podBody(i: number): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `pod-${i}`, labels: { app: `app-${i % N_SERVICES}` } },
    spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }] },
  });
}

/** Counts unexpected statuses and keeps the first one's body, so a failing phase says why. */
class Errors {
  count = 0;
  first: string | undefined;
  check(r: Response, want: number, what: string): boolean {
    if (r.status === want) return true;
    this.count++;
    this.first ??= `${what}: HTTP ${r.status} ${r.body.slice(0, 300)}`;
    return false;
  }
}

interface CpuMark {
  wall: number;
  server: number;
  bench: NodeJS.CpuUsage;
}

async function cpuMark(pid: number): Promise<CpuMark> {
  return { wall: performance.now(), server: await cpuSecondsOf(pid), bench: process.cpuUsage() };
}

/** Where the time went: wall seconds, and CPU seconds of the server and of this (client) process. */
async function cpuSince(pid: number, m: CpuMark): Promise<{ wallS: number; serverCpuS: number; benchCpuS: number; loadAvg1m: number }> {
  const b = process.cpuUsage(m.bench);
  // The 1-minute load average shows whether other work shared the 2 cores during the phase.
  return { wallS: round((performance.now() - m.wall) / 1000), serverCpuS: round((await cpuSecondsOf(pid)) - m.server), benchCpuS: round((b.user + b.system) / 1e6), loadAvg1m: round(loadavg()[0] ?? NaN) };
}

/** Server CPU milliseconds per operation: the cost that does not depend on what else runs here. */
const cpuMsPerOp = (cpu: { serverCpuS: number }, ops: number) => round((cpu.serverCpuS * 1000) / ops, 3);

/**
 * `BENCH_CLIENT=https`: the creates go through node's `https` client instead (one keep-alive Agent
 * per client, as before 2026-11-25 03:00), to read the server's throughput with the costlier client
 * sharing the 2 cores.
 */
async function createManyNodeHttps(api: ApiClient, path: string, n: number, body: (i: number) => string) {
  const agents = Array.from({ length: CLIENTS }, () => api.agent());
  const answers: Buffer[] = new Array<Buffer>(n);
  const lat: number[] = [];
  const errors = new Errors();
  const t0 = performance.now();
  await runPool(n, CLIENTS, async (i, w) => {
    const r = await api.request(agents[w]!, 'POST', path, { body: body(i) });
    lat.push(r.end - r.start);
    if (r.status === 201) answers[i] = Buffer.from(r.body);
    else errors.check(r, 201, `create #${i}`);
  });
  const seconds = (performance.now() - t0) / 1000;
  for (const a of agents) a.destroy();
  return { seconds: round(seconds), perSec: round(n / seconds, 0), latencyMs: summarize(lat), errors: errors.count, firstError: errors.first, answers };
}

async function createMany(api: ApiClient, path: string, n: number, body: (i: number) => string) {
  if (process.env.BENCH_CLIENT === 'https') return createManyNodeHttps(api, path, n, body);
  // One lean keep-alive HTTPS connection per client (RawConnection: node's HTTP client would cost
  // the shared 2 cores as much as half the server's HTTP handling); every answer must be a 201.
  const conns = await Promise.all(Array.from({ length: CLIENTS }, () => RawConnection.open(api.host, api.port, api.ca)));
  // Requests are formatted before the clock starts: the client shares the 2 cores with the server.
  const requests = Array.from({ length: n }, (_, i) => RawConnection.format(api, api.token, 'POST', path, body(i)));
  const answers: Buffer[] = new Array<Buffer>(n);
  const lat: number[] = [];
  const errors = new Errors();
  const t0 = performance.now();
  await runPool(n, CLIENTS, async (i, w) => {
    const r = await conns[w]!.send(requests[i]!);
    lat.push(r.end - r.start);
    if (r.status === 201) answers[i] = r.body;
    else errors.check({ status: r.status, body: r.body.toString('utf8'), start: r.start, end: r.end }, 201, `create #${i}`);
  });
  const seconds = (performance.now() - t0) / 1000;
  for (const c of conns) c.close();
  return { seconds: round(seconds), perSec: round(n / seconds, 0), latencyMs: summarize(lat), errors: errors.count, firstError: errors.first, answers };
}

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'portico-bench-api-'));
  const dataDir = join(root, 'server');
  await mkdir(dataDir);
  let portico: Portico | undefined;
  // Ctrl-C still stops our server (by its pid) and removes the temp dir.
  process.once('SIGINT', () => {
    if (portico) process.kill(portico.pid, 'SIGTERM');
    rmSync(root, { recursive: true, force: true });
    process.exit(130);
  });
  const result: Record<string, unknown> = {};
  const t0 = performance.now();
  try {
    portico = await startPortico({ repoRoot, dataDir, store: 'sqlite' });
    const pid = portico.pid;
    const api = new ApiClient(portico.url.hostname, Number(portico.url.port), portico.ca, portico.token);
    const one = api.agent();
    const errors = new Errors();
    errors.check(await api.request(one, 'POST', '/api/v1/namespaces', { body: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } }) }), 201, 'create namespace');
    if (errors.count) throw new Error(errors.first);
    await sleep(1000);
    const rssIdle = await memoryOf(pid);
    log(`portico pid ${pid} at ${portico.url.href}, idle RSS ${rssIdle.rssMiB.toFixed(0)} MiB`);

    // 1. Creates through the API, then the same objects straight into a SQLite store.
    log(`1. creating ${N_SERVICES} Services with ${CLIENTS} clients ...`);
    const stored: string[] = new Array<string>(N_SERVICES);
    let mark = await cpuMark(pid);
    const { answers, ...apiCreates } = await createMany(api, `/api/v1/namespaces/${NS}/services`, N_SERVICES, serviceBody);
    const createsCpu = await cpuSince(pid, mark);
    answers.forEach((body, i) => {
      // The anchor writes what the API stored: the response minus resourceVersion (never stored).
      const obj = JSON.parse(body.toString('utf8')) as { metadata: { resourceVersion?: string } };
      delete obj.metadata.resourceVersion;
      stored[i] = JSON.stringify(obj);
    });
    log(`   ${apiCreates.perSec}/s (${apiCreates.seconds} s, ${apiCreates.errors} errors)`);
    const storeDir = join(root, 'anchor');
    await mkdir(storeDir);
    const store = await openStore('sqlite', storeDir);
    const ts = performance.now();
    await runPool(N_SERVICES, CLIENTS, async (i) => {
      await store.create(`/registry/services/${NS}/svc-${i}`, stored[i] ?? serviceBody(i));
    });
    const storeSeconds = (performance.now() - ts) / 1000;
    await store.close();
    const storePerSec = N_SERVICES / storeSeconds;
    log(`   store anchor: ${storePerSec.toFixed(0)}/s`);
    result.creates = {
      services: N_SERVICES,
      clients: CLIENTS,
      api: { ...apiCreates, ...createsCpu, serverCpuMsPerCreate: cpuMsPerOp(createsCpu, N_SERVICES) },
      sqliteStore: { seconds: round(storeSeconds), perSec: round(storePerSec, 0) },
      ratioApiToStore: round(apiCreates.perSec / storePerSec, 3),
    };

    // 2. Lists of every Service in the namespace, as JSON and as a Table (what kubectl get asks for).
    log(`2. listing ${N_SERVICES} Services, ${LISTS}x JSON and ${LISTS}x Table ...`);
    const lists: Record<string, unknown> = {};
    for (const [name, accept] of [
      ['json', 'application/json'],
      ['table', 'application/json;as=Table;v=v1;g=meta.k8s.io'],
    ] as const) {
      const path = `/api/v1/namespaces/${NS}/services`;
      const warm = await api.request(one, 'GET', path, { accept });
      errors.check(warm, 200, `list ${name}`);
      const parsed = JSON.parse(warm.body) as { items?: unknown[]; rows?: unknown[] };
      const count = (name === 'json' ? parsed.items : parsed.rows)?.length ?? 0;
      const lat: number[] = [];
      mark = await cpuMark(pid);
      for (let k = 0; k < LISTS; k++) {
        const r = await api.request(one, 'GET', path, { accept });
        errors.check(r, 200, `list ${name}`);
        lat.push(r.end - r.start);
      }
      const cpu = await cpuSince(pid, mark);
      lists[name] = { items: count, bytes: Buffer.byteLength(warm.body), latencyMs: summarize(lat), ...cpu, serverCpuMsPerList: cpuMsPerOp(cpu, LISTS) };
      log(`   ${name}: ${count} items, ${(Buffer.byteLength(warm.body) / 1e6).toFixed(1)} MB, p50 ${summarize(lat).p50} ms, p99 ${summarize(lat).p99} ms`);
    }
    result.lists = lists;

    // 3. Watch delivery: 100 watchers from the current resourceVersion, then 1,000 merge patches
    // sequentially and 1,000 with 4 clients; matched by resourceVersion (one event per write).
    log(`3. ${WATCHERS} watchers, ${UPDATES} updates sequential + ${UPDATES} with 4 clients ...`);
    const head = await api.request(one, 'GET', `/api/v1/namespaces/${NS}/services?limit=1`);
    const startRV = (JSON.parse(head.body) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
    const arrivals = new Map<number, number[]>();
    let otherFrames = 0;
    const watches = await Promise.all(
      Array.from({ length: WATCHERS }, () =>
        api.watch(`/api/v1/namespaces/${NS}/services?watch=true&resourceVersion=${startRV}`, (type, rv, at) => {
          if (type !== 'MODIFIED') {
            otherFrames++;
            return;
          }
          let a = arrivals.get(rv);
          if (!a) arrivals.set(rv, (a = []));
          a.push(at);
        }),
      ),
    );
    // The server registers each store watch just after sending headers; give them a moment.
    await sleep(1000);
    const random = rng(42);
    const watchRuns: Record<string, unknown> = {};
    for (const [label, conc] of [
      ['sequential', 1],
      ['concurrent4', 4],
    ] as const) {
      const agents = Array.from({ length: conc }, () => api.agent());
      const writes: Array<{ rv: number; sent: number; answered: number }> = [];
      const upd: number[] = [];
      mark = await cpuMark(pid);
      await runPool(UPDATES, conc, async (k, w) => {
        const i = Math.floor(random() * N_SERVICES);
        const r = await api.request(agents[w]!, 'PATCH', `/api/v1/namespaces/${NS}/services/svc-${i}`, {
          body: JSON.stringify({ metadata: { labels: { 'bench-update': `${label}-${k}` } } }),
          contentType: 'application/merge-patch+json',
        });
        upd.push(r.end - r.start);
        if (errors.check(r, 200, `patch svc-${i}`)) {
          writes.push({ rv: Number((JSON.parse(r.body) as { metadata: { resourceVersion: string } }).metadata.resourceVersion), sent: r.start, answered: r.end });
        }
      });
      const cpu = await cpuSince(pid, mark);
      await sleep(2000); // stragglers
      const fromResponse: number[] = [];
      const fromRequest: number[] = [];
      let missing = 0;
      let beforeResponse = 0;
      for (const wr of writes) {
        const got = arrivals.get(wr.rv) ?? [];
        missing += WATCHERS - got.length;
        for (const at of got) {
          fromResponse.push(at - wr.answered);
          fromRequest.push(at - wr.sent);
          if (at < wr.answered) beforeResponse++;
        }
      }
      for (const a of agents) a.destroy();
      const s = summarize(fromResponse);
      watchRuns[label] = {
        updates: writes.length,
        updatesPerSec: round(writes.length / cpu.wallS, 0),
        updateLatencyMs: summarize(upd),
        deliveries: fromResponse.length,
        missing,
        deliveredBeforeResponse: beforeResponse,
        deliveryFromResponseMs: s,
        deliveryFromRequestMs: summarize(fromRequest),
        ...cpu,
        serverCpuMsPerUpdate: cpuMsPerOp(cpu, writes.length),
      };
      log(`   ${label}: ${writes.length} updates in ${cpu.wallS} s, delivery p50 ${s.p50} ms p99 ${s.p99} ms, ${missing} missing`);
    }
    for (const w of watches) w.close();
    result.watch = { watchers: WATCHERS, otherFrames, runs: watchRuns };

    // 4. Memory holding everything: Services are in; add the Pods, settle, read VmRSS.
    await sleep(SETTLE_MS);
    const rssServices = await memoryOf(pid);
    log(`4. RSS with ${N_SERVICES} Services: ${rssServices.rssMiB.toFixed(0)} MiB; creating ${N_PODS} Pods with ${CLIENTS} clients ...`);
    mark = await cpuMark(pid);
    const { answers: _pods, ...podCreates } = await createMany(api, `/api/v1/namespaces/${NS}/pods`, N_PODS, podBody);
    const podCpu = await cpuSince(pid, mark);
    one.destroy();
    await sleep(SETTLE_MS);
    const rssAll = await memoryOf(pid);
    log(`   ${podCreates.perSec}/s (${podCreates.seconds} s, ${podCreates.errors} errors); RSS ${rssAll.rssMiB.toFixed(0)} MiB (peak ${rssAll.peakMiB.toFixed(0)} MiB)`);
    // "Holding" them: the controllers may still be catching up 3 s after the last create (the
    // faster the creates, the longer); at rest = the server used < 10 ms CPU in each of 4
    // consecutive 500 ms windows (at most 30 s more).
    const restStart = performance.now();
    let quiet = 0;
    let cpuBefore = await cpuSecondsOf(pid);
    while (quiet < 4 && performance.now() - restStart < 30_000) {
      await sleep(500);
      const c = await cpuSecondsOf(pid);
      quiet = c - cpuBefore < 0.01 ? quiet + 1 : 0;
      cpuBefore = c;
    }
    const rssRest = { ...(await memoryOf(pid)), afterMs: Math.round(performance.now() - restStart) + SETTLE_MS, atRest: quiet >= 4 };
    log(`   at rest ${rssRest.afterMs} ms after the last create: RSS ${rssRest.rssMiB.toFixed(0)} MiB${rssRest.atRest ? '' : ' (server still busy after 30 s)'}`);
    result.memory = {
      settleMs: SETTLE_MS,
      idle: rssIdle,
      withServices: rssServices,
      withServicesAndPods: rssAll,
      withServicesAndPodsAtRest: rssRest,
      podCreates: { pods: N_PODS, ...podCreates, ...podCpu, serverCpuMsPerCreate: cpuMsPerOp(podCpu, N_PODS) },
    };
    result.errors = { count: errors.count, first: errors.first };
  } finally {
    const code = await portico?.stop();
    result.serverExit = code;
    await rm(root, { recursive: true, force: true });
  }
  result.totalSeconds = round((performance.now() - t0) / 1000, 1);

  const date = new Date().toISOString().slice(0, 10);
  const out = {
    benchmark: 'api',
    date,
    machine: { loadAvgAtEnd: loadavg().map((x) => round(x)), host: hostname(), cpus: cpus().length, cpuModel: cpus()[0]?.model, memGiB: round(totalmem() / 2 ** 30, 1), node: process.version, commit: gitCommit() },
    targets: TARGET,
    createClient: process.env.BENCH_CLIENT === 'https' ? "node's https client" : 'RawConnection',
    serverNodeFlags: [...(await launcherFlags(repoRoot)), ...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean)],
    ...result,
  };
  const file = join(repoRoot, 'bench/api', `results-${date}.json`);
  await writeFile(file, JSON.stringify(out, null, 2) + '\n');
  printTable(out as unknown as Results);
  log(`results: ${file} (total ${result.totalSeconds} s)`);
}

function gitCommit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

function log(msg: string): void {
  process.stderr.write(msg + '\n');
}

interface Results {
  creates: { api: { perSec: number; latencyMs: Summary; serverCpuMsPerCreate: number; loadAvg1m: number }; sqliteStore: { perSec: number }; ratioApiToStore: number };
  lists: Record<'json' | 'table', { latencyMs: Summary; bytes: number }>;
  watch: { runs: Record<'sequential' | 'concurrent4', { deliveryFromResponseMs: Summary; missing: number; updatesPerSec: number; serverCpuMsPerUpdate: number }> };
  memory: { withServices: { rssMiB: number }; withServicesAndPods: { rssMiB: number; peakMiB: number }; withServicesAndPodsAtRest: { rssMiB: number; afterMs: number }; podCreates: { perSec: number; seconds: number } };
}

function printTable(r: Results): void {
  const ok = (b: boolean) => (b ? 'ok' : 'MISSED');
  const rows: Array<[string, string, string, string]> = [
    ['Service creates/s (API, 16 clients)', `${r.creates.api.perSec}`, `>= ${TARGET.createsPerSec}`, ok(r.creates.api.perSec >= TARGET.createsPerSec)],
    ['  same creates into SQLite store /s', `${r.creates.sqliteStore.perSec}`, '', `API/store ${r.creates.ratioApiToStore}`],
    ['  create latency p50 / p99 ms', `${r.creates.api.latencyMs.p50} / ${r.creates.api.latencyMs.p99}`, '', ''],
    ['  server CPU ms per create', `${r.creates.api.serverCpuMsPerCreate}`, '', `load ${r.creates.api.loadAvg1m}`],
    ['List JSON p50 / p99 ms', `${r.lists.json.latencyMs.p50} / ${r.lists.json.latencyMs.p99}`, `< ${TARGET.listMs}`, ok(r.lists.json.latencyMs.p99 < TARGET.listMs)],
    ['List Table p50 / p99 ms', `${r.lists.table.latencyMs.p50} / ${r.lists.table.latencyMs.p99}`, `< ${TARGET.listMs}`, ok(r.lists.table.latencyMs.p99 < TARGET.listMs)],
  ];
  for (const k of ['sequential', 'concurrent4'] as const) {
    const w = r.watch.runs[k];
    rows.push([`Watch delivery p50 / p99 ms (${k})`, `${w.deliveryFromResponseMs.p50} / ${w.deliveryFromResponseMs.p99}`, `p99 < ${TARGET.watchP99Ms}`, ok(w.deliveryFromResponseMs.p99 < TARGET.watchP99Ms && w.missing === 0)]);
    rows.push([`  updates/s, server CPU ms per update`, `${w.updatesPerSec}, ${w.serverCpuMsPerUpdate}`, '', `${w.missing} missed`]);
  }
  rows.push(
    ['RSS, 10k Services MiB', `${r.memory.withServices.rssMiB.toFixed(0)}`, '', ''],
    ['RSS, 10k Services + 50k Pods, 3 s after MiB', `${r.memory.withServicesAndPods.rssMiB.toFixed(0)} (peak ${r.memory.withServicesAndPods.peakMiB.toFixed(0)})`, '', ''],
    ['  same, server at rest MiB', `${r.memory.withServicesAndPodsAtRest.rssMiB.toFixed(0)} (${r.memory.withServicesAndPodsAtRest.afterMs} ms)`, `< ${TARGET.rssMiB}`, ok(r.memory.withServicesAndPodsAtRest.rssMiB < TARGET.rssMiB)],
    ['Pod creates/s (16 clients)', `${r.memory.podCreates.perSec} (${r.memory.podCreates.seconds} s)`, '', ''],
  );
  const w = [0, 1, 2].map((c) => Math.max(...rows.map((row) => row[c]!.length)));
  for (const row of rows) process.stdout.write(`${row[0].padEnd(w[0]!)}  ${row[1].padStart(w[1]!)}  ${row[2].padEnd(w[2]!)}  ${row[3]}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:api failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
