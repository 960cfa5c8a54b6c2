// Scale figures of the standalone DNS server (issue 5): 10,000 Services + 100,000 endpoints in a
// real Portico API (in this process, memory store), then `portico dns` started as its own process
// against it over HTTPS. Reports the RSS of every process of the DNS server once it answers the
// last Service, and the time from an EndpointSlice write to the new answer over UDP.
// Usage: node dist/bench/dns/scale.js [services=10000] [endpointsPerService=10] [workers=default,2]
// [nodeFlags=''] (`default`: no --dns-workers flag, as `portico dns` runs by default; nodeFlags:
// extra node options for the `portico dns` process, variants separated by ';', each run per worker count)
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { startControlPlane, DEFAULT_CLUSTER } from '../../src/api/controlplane.js';
import type { Service } from '../../src/registry/kinds/service.js';
import type { EndpointSlice } from '../../src/registry/kinds/endpointslice.js';
import type { Namespace } from '../../src/registry/kinds/namespace.js';
import { TYPE, buildQuery, decodeMessage } from '../../src/dns/wire.js';

const N = Number(process.argv[2] ?? 10_000);
const PER = Number(process.argv[3] ?? 10);
const WORKERS = (process.argv[4] ?? 'default,2').split(',');
const NODE_FLAGS = (process.argv[5] ?? '').split(';').map((f) => f.trim().split(/\s+/).filter(Boolean));
const NS = 'bench';
const ZONE = 'cluster.local';
const CHANGES = 100;

// 100,000 distinct addresses need more than a /16; these are only data, never routed.
const epIP = (i: number, j: number, gen = 0): string => { const k = i * PER + j; return `10.${(k >> 16) & 255}.${(k >> 8) & 255}.${(k + gen) & 255}`; };

function slice(i: number, svcUid: string, gen = 0): EndpointSlice {
  const svc = `svc-${i}`;
  // Shaped like the endpointslice controller's output (targetRef, nodeName, three conditions).
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
    metadata: {
      name: `${svc}-x7k2p`, namespace: NS,
      labels: { 'kubernetes.io/service-name': svc, 'endpointslice.kubernetes.io/managed-by': 'bench.portico.dev' },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: svc, uid: svcUid, controller: true, blockOwnerDeletion: true }],
    },
    endpoints: Array.from({ length: PER }, (_, j) => ({
      addresses: [epIP(i, j, gen)],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: `node-${j % 3}`,
      targetRef: { kind: 'Pod', namespace: NS, name: `${svc}-7d4b9c-${j}`, uid: randomUUID() },
    })),
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  };
}

/** One UDP query; resolves with the answer's A records (empty on any other outcome). */
function queryA(port: number, name: string, timeoutMs = 200): Promise<string[]> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    const t = setTimeout(() => { s.close(); resolve([]); }, timeoutMs);
    s.on('message', (m) => {
      clearTimeout(t);
      s.close();
      try {
        resolve(decodeMessage(m).answers.filter((a) => a.type === TYPE.A).map((a) => String(a.data)));
      } catch {
        resolve([]);
      }
    });
    s.send(buildQuery(Math.floor(Math.random() * 65535), name, TYPE.A), port, '127.0.0.1');
  });
}

async function rssOf(pid: number): Promise<number> {
  const st = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(st)?.[1] ?? 0) * 1024;
}

async function childrenOf(pid: number): Promise<number[]> {
  const tasks = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  return tasks.split(/\s+/).filter(Boolean).map(Number);
}

const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? NaN;
const mb = (b: number): string => `${(b / 1e6).toFixed(0)} MB`;

const dir = await mkdtemp(join(tmpdir(), 'portico-bench-dns-scale-'));
const cp = await startControlPlane({
  dataDir: dir, apiHost: '127.0.0.1', apiPort: 0, store: 'memory', compactionIntervalMs: 3_600_000,
  cluster: { ...DEFAULT_CLUSTER, serviceCIDRs: ['198.18.0.0/16'], podCIDR: '198.19.0.0/16' },
  logger: pino({ level: 'warn' }),
});
const children: ChildProcess[] = [];
try {
  await cp.registry.kind<Namespace>('Namespace').create('', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  const services = cp.registry.kind<Service>('Service');
  const slices = cp.registry.kind<EndpointSlice>('EndpointSlice');
  const t0 = performance.now();
  const uids: string[] = [];
  for (let i = 0; i < N; i++) {
    // Half ClusterIP, half headless; neither has a selector, so the slices below are the only ones.
    const s = await services.create(NS, {
      apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${i}`, namespace: NS, labels: { app: `svc-${i}` } },
      spec: { ...(i % 2 ? { clusterIP: 'None' } : {}), ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
    });
    uids.push(s.metadata?.uid ?? '');
    await slices.create(NS, slice(i, uids[i]!));
  }
  console.log(`API: ${N} Services + ${N * PER} endpoints written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const out: Record<string, unknown>[] = [];
  for (const w of WORKERS) for (const flags of NODE_FLAGS) {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const t1 = performance.now();
    const child = spawn(process.execPath, [...flags, 'bin/portico.js', 'dns', '--kubeconfig', cp.kubeconfigPath, '--listen', `127.0.0.1:${port}`, '--upstream', '127.0.0.1:9', ...(w === 'default' ? [] : ['--dns-workers', w])], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, PORTICO_LOG_LEVEL: 'warn' } });
    children.push(child);
    const last = `svc-${N - 1}.${NS}.svc.${ZONE}`;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`portico dns exited with ${child.exitCode}`);
      if ((await queryA(port, last)).length) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const readyS = (performance.now() - t1) / 1000;
    // Let the list's garbage go; then take the steady RSS (max over 5 samples, 1 s apart).
    await new Promise((r) => setTimeout(r, 3000));
    const pids = [child.pid!, ...(await childrenOf(child.pid!))];
    const rss = new Map<number, number>();
    for (let k = 0; k < 5; k++) {
      for (const p of pids) rss.set(p, Math.max(rss.get(p) ?? 0, await rssOf(p).catch(() => 0)));
      await new Promise((r) => setTimeout(r, 1000));
    }
    const total = [...rss.values()].reduce((a, b) => a + b, 0);
    // EndpointSlice change -> the new address answered over UDP (headless Services).
    const lat: number[] = [];
    for (let g = 1; g <= CHANGES; g++) {
      const i = ((g * 37) % (N / 2)) * 2 + 1;
      const cur = await slices.get(NS, `svc-${i}-x7k2p`);
      const next = slice(i, uids[i]!, 100 + g);
      const want = next.endpoints[0]!.addresses[0]!;
      const t = performance.now();
      await slices.update(NS, `svc-${i}-x7k2p`, { ...next, metadata: { ...next.metadata, resourceVersion: cur.metadata?.resourceVersion } });
      for (;;) {
        if ((await queryA(port, `svc-${i}.${NS}.svc.${ZONE}`)).includes(want)) break;
        if (performance.now() - t > 10_000) throw new Error(`no new answer for svc-${i} after 10 s`);
      }
      lat.push(performance.now() - t);
    }
    const row = {
      workers: w === 'default' ? 'default' : Number(w), ...(flags.length ? { node_flags: flags.join(' ') } : {}), ready_s: Number(readyS.toFixed(1)),
      rss_mb: Object.fromEntries([...rss.values()].map((v, k) => [k === 0 ? 'primary' : `worker${k}`, Number((v / 1e6).toFixed(0))])),
      rss_total_mb: Number((total / 1e6).toFixed(0)),
      change_to_answer_ms: { p50: Number(pct(lat, 0.5).toFixed(1)), p99: Number(pct(lat, 0.99).toFixed(1)) },
    };
    console.log(`${flags.length ? `node ${flags.join(' ')} ` : ''}portico dns${w === 'default' ? '' : ` --dns-workers ${w}`}: answering after ${readyS.toFixed(1)} s; RSS ${[...rss.values()].map(mb).join(' + ')} = ${mb(total)}; EndpointSlice change -> new answer p50 ${row.change_to_answer_ms.p50} ms, p99 ${row.change_to_answer_ms.p99} ms`);
    out.push(row);
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
  console.log(JSON.stringify({ date: new Date().toISOString(), loadavg: loadavg().map((x) => x.toFixed(2)).join(' '), services: N, endpoints: N * PER, runs: out }));
} finally {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await cp.close();
  await rm(dir, { recursive: true, force: true });
}
