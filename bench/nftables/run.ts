// nftables data plane benchmark, all in network namespaces it creates and always deletes (root):
//  1. full sync at 1k / 10k / 30k Services x 10 endpoints: Portico render and `nft -f` apply
//     separately, beside a plain `nft -f` of a kube-proxy-shaped ruleset of the same model (anchor.ts)
//     in a fresh namespace of its own;
//  2. partial syncs after one endpoint change at 10k Services (the applier's mirror makes them partial);
//  3. network programming latency, Pod Ready flip → commit in the kernel, with `portico up
//     --proxy-mode none` and `portico agent --mode nftables` in two namespaces (latency.ts);
//  4. first-connection latency (TCP connect) from a client namespace through a cluster IP DNATed to a
//     server in a pod namespace, on a node with 100 Services and on one with 30k, connects interleaved.
// Writes bench/nftables/results-<date>.json and prints a table.
//   npm run bench:nftables
//   node dist/bench/nftables/run.js [--sizes 1000,10000,30000] [--anchor-bound-s 180] [--partial 20]
//                                   [--flips 200] [--connects 200] [--conn-big 30000] [--skip 1,2,3,4]
//                                   [--settle-max-s 30]
// Before each full sync (Portico's and the anchor's) the run waits until the kernel has torn down
// the namespaces it deleted before (kernel workers quiet, at most --settle-max-s; 0: no wait), so
// no measurement overlaps the bench's own cleanup. (That teardown was suspected of the 10k batch's
// kernel time varying 0.8-5.2 s; kernel.ts showed it costs ~0.1 s of worker CPU and does not slow
// the batch, whose wall time is its own system CPU unless the process waits for a core.)
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { NftApplier, type NftTransport, type SyncReport } from '../../src/proxy/nftables/apply.js';
import type { NodeState } from '../../src/proxy/nftables/render.js';
import { ep, generatedModel, modelOf, sport } from '../../src/proxy/testing.js';
import type { ProxyModel, ServicePortInfo } from '../../src/proxy/model.js';
import { PORTICO, REPO_ROOT } from '../../test/scenarios/plan.js';
import { summarize, round, type Summary } from '../api/stats.js';
import { anchorText } from './anchor.js';
import { Sandbox } from './sandbox.js';
import { kworkersQuiet } from './kworkers.js';
import { CONNECT_CLIENT as CLIENT } from './connect-client.js';

const SERVICE_CIDR = '198.18.0.0/16';
const POD_CIDR = '198.19.0.0/16';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? def) : def;
}
const SIZES = arg('sizes', '1000,10000,30000').split(',').map(Number).filter((n) => n > 0);
const ANCHOR_BOUND_MS = Number(arg('anchor-bound-s', '180')) * 1000;
const PARTIALS = Number(arg('partial', '20'));
const FLIPS = Number(arg('flips', '200'));
const CONNECTS = Number(arg('connects', '200'));
const CONN_BIG = Number(arg('conn-big', '30000'));
const SKIP = new Set(arg('skip', '').split(',').filter(Boolean).map(Number));
const SETTLE_MAX_MS = Number(arg('settle-max-s', '30')) * 1000;

/** Waits for the kernel to finish tearing down deleted namespaces (see the header); returns ms waited. */
async function settle(): Promise<number> {
  if (SETTLE_MAX_MS <= 0) return 0;
  return Math.round(await kworkersQuiet(600, SETTLE_MAX_MS));
}
/** How Portico's applier reaches the kernel: netlink (the agent's default) or `nft -f`. */
const TRANSPORT = arg('nft-backend', 'netlink') as NftTransport;

/** Portico's applier for a namespace: a netlink socket opened inside it, or `ip netns exec NS nft -f -`. */
function applierFor(sb: Sandbox, ns: string): NftApplier {
  return new NftApplier({ exec: sb.nftExec(ns), transport: TRANSPORT, netnsPath: `/run/netns/${ns}` });
}

const node = (ip: string): NodeState => ({
  nodeName: 'node-a', nodeIPs: [ip], nodePortAddresses: [], clusterCIDR: POD_CIDR, masqueradeAll: false, serviceCIDRs: [SERVICE_CIDR],
});
const log = (s: string) => process.stderr.write(`[bench:nftables] ${s}\n`);
const uptime = () => spawnSync('uptime', { encoding: 'utf8' }).stdout.trim();

interface FullRow {
  /** How Portico's transaction reached the kernel. */
  via?: SyncReport['via'];
  services: number;
  endpoints: number;
  bytes: number;
  renderMs: number;
  applyMs: number;
  /** Part of applyMs: encoding the transaction as netlink messages (0 through `nft -f`). */
  encodeMs?: number;
  /** System CPU of this process during the full sync (over netlink: mostly the kernel processing the batch). */
  sysMs?: number;
  /** Waited before Portico's / the anchor's full sync for earlier namespaces' teardown. */
  settleMs?: number;
  anchorSettleMs?: number;
  totalMs: number;
  anchorBytes: number;
  anchorApplyMs: number | null;
  anchorNote?: string;
  ratio: number | null;
  /** Set when Portico's full sync failed at this size (the anchor still runs). */
  error?: string;
}

/** The last anchor that finished: (services, ms), to skip one projected to exceed the bound. */
let lastAnchor: { n: number; ms: number } | undefined;

// ---- 1 + 2: full and partial syncs ----

async function fullSync(sb: Sandbox, n: number, partials: number): Promise<{ row: FullRow; partial?: object }> {
  const model = generatedModel(n, 10);
  const portNs = await sb.addNs(`full${n}`);
  let row: FullRow = { services: n, endpoints: 10, bytes: 0, renderMs: NaN, applyMs: NaN, totalMs: NaN, anchorBytes: 0, anchorApplyMs: null, ratio: null };
  let partial: object | undefined;
  try {
    const applier = applierFor(sb, portNs);
    const settleMs = await settle();
    const u0 = process.cpuUsage();
    const full = await applier.sync(model, node('198.19.255.11'));
    const sysMs = Math.round(process.cpuUsage(u0).system / 1000);
    if (full.kind !== 'full') throw new Error('first sync was not full');
    log(`${n}: Portico render ${Math.round(full.renderMs)} ms, apply (${full.via}) ${Math.round(full.applyMs)} ms of which encoding ${Math.round(full.encodeMs)} ms (${full.bytes} bytes sent; system CPU ${sysMs} ms; waited ${settleMs} ms for earlier teardown)`);
    row = {
      via: full.via, services: n, endpoints: 10, bytes: full.bytes, renderMs: Math.round(full.renderMs), applyMs: Math.round(full.applyMs), encodeMs: Math.round(full.encodeMs),
      totalMs: Math.round(full.renderMs + full.applyMs), anchorBytes: 0, anchorApplyMs: null, ratio: null, sysMs, settleMs,
    };
    if (partials > 0) partial = await partialSyncs(sb, portNs, applier, model, partials);
    applier.close();
  } catch (err) {
    row.error = `${(err as Error).name}: ${(err as Error).message}; ${(err as Error).stack?.split('\n')[1]?.trim() ?? ''}`;
    log(`${n}: Portico full sync FAILED: ${row.error}`);
  } finally {
    await sb.delNs(portNs);
  }
  // The anchor in a fresh namespace, after Portico's is gone.
  const text = anchorText(model, POD_CIDR);
  row.anchorBytes = text.length;
  // Superlinear in practice; a linear projection from the last finished size is a lower bound.
  if (lastAnchor && (lastAnchor.ms * n) / lastAnchor.n > ANCHOR_BOUND_MS) {
    row.anchorNote = `skipped: at least ${Math.round((lastAnchor.ms * n) / lastAnchor.n / 1000)} s projected linearly from ${lastAnchor.n} services (${Math.round(lastAnchor.ms / 1000)} s), bound ${ANCHOR_BOUND_MS / 1000} s`;
    log(`${n}: anchor ${row.anchorNote}`);
    return { row, partial };
  }
  const anchorNs = await sb.addNs(`anchor${n}`);
  try {
    row.anchorSettleMs = await settle();
    const t0 = performance.now();
    const r = await sb.exec(anchorNs, ['nft', '-f', '-'], { input: text, boundMs: ANCHOR_BOUND_MS });
    const ms = performance.now() - t0;
    if (r.code === 0) {
      row.anchorApplyMs = Math.round(ms);
      lastAnchor = { n, ms };
      if (!row.error) row.ratio = round(row.totalMs / ms, 3);
    } else if (ms >= ANCHOR_BOUND_MS - 100) row.anchorNote = `not finished within ${ANCHOR_BOUND_MS / 1000} s (nft killed by pid)`;
    else throw new Error(`anchor nft -f failed: ${r.stderr.slice(0, 500)}`);
    log(`${n}: anchor nft -f ${row.anchorApplyMs ?? row.anchorNote} ms (${text.length} bytes)`);
  } finally {
    await sb.delNs(anchorNs);
  }
  return { row, partial };
}

function withService(m: ProxyModel, sp: ServicePortInfo): ProxyModel {
  const services = new Map(m.services);
  services.set(sp.key, sp);
  return { services, changed: new Set([sp.key]) };
}

/** Alternately removes the first endpoint of a Service and puts it back, on different Services. */
async function partialSyncs(sb: Sandbox, ns: string, applier: NftApplier, model0: ProxyModel, count: number): Promise<object> {
  const keys = [...model0.services.keys()];
  let model = model0;
  const reports: SyncReport[] = [];
  const wall: number[] = [];
  for (let i = 0; i < count; i++) {
    const key = keys[Math.floor(((i >> 1) * 7919 + 17) % keys.length)]!;
    const orig = model0.services.get(key)!;
    const next = i % 2 === 0 ? sport({ ...orig, endpoints: orig.endpoints.slice(1).map((e) => ep(e.ip, e.port, { nodeName: e.nodeName })) }) : orig;
    model = withService(model, next);
    const t0 = performance.now();
    const r = await applier.sync(model, node('198.19.255.11'));
    wall.push(performance.now() - t0);
    if (r.kind !== 'partial') throw new Error('expected a partial sync');
    if (r.via !== TRANSPORT) throw new Error(`partial sync went through ${r.via}, not ${TRANSPORT}`);
    reports.push(r);
  }
  // Floor: the `nft` process alone, against the same 10k-service table, for a transaction that
  // needs no cache (a table that already exists).
  const floor: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await sb.execOk(ns, ['nft', '-f', '-'], { input: 'add table ip portico\n' });
    floor.push(performance.now() - t0);
  }
  const out = {
    services: model0.services.size,
    changes: count,
    renderMs: summarize(reports.map((r) => r.renderMs)),
    applyMs: summarize(reports.map((r) => r.applyMs)),
    totalMs: summarize(wall),
    bytes: summarize(reports.map((r) => r.bytes)),
    nftNoCacheFloorMs: summarize(floor),
  };
  log(`partial @${out.services}: median ${out.totalMs.p50} ms, p90 ${out.totalMs.p90} ms (render p50 ${out.renderMs.p50} ms)`);
  return out;
}

// ---- 3: network programming latency ----

async function programmingLatency(sb: Sandbox): Promise<object> {
  const ctl = await sb.addNs('ctl');
  const n1 = await sb.addNs('n1');
  const root = await mkdtemp(join(tmpdir(), `pbn-${sb.id}-`));
  try {
    await sb.veth(ctl, 'eth0', n1, 'eth0');
    await sb.ip(ctl, 'addr add 198.19.255.1/24 dev eth0');
    await sb.ip(n1, 'addr add 198.19.255.11/24 dev eth0');
    const dataDir = join(root, 'data');
    const up = sb.spawn(ctl, 'portico up', [
      process.execPath, PORTICO, 'up', '--data-dir', dataDir, '--api-listen', '198.19.255.1:6443', '--dns-listen', '',
      '--service-cidr', SERVICE_CIDR, '--pod-cidr', POD_CIDR, '--proxy-mode', 'none',
    ]);
    await up.waitFor(/^Portico is up: API https:\/\/\S+/m);
    const kubeconfig = join(dataDir, 'kubeconfig.yaml');
    const agent = sb.spawn(n1, 'agent', [
      process.execPath, PORTICO, 'agent', '--kubeconfig', kubeconfig, '--node-name', 'n1', '--node-ip', '198.19.255.11',
      '--mode', 'nftables', '--cluster-cidr', POD_CIDR, '--service-cidr', SERVICE_CIDR,
      '--metrics-bind-address', '198.19.255.11:10249', '--healthz-bind-address', '198.19.255.11:10256',
    ]);
    await agent.waitFor(/^Portico agent is up/m);
    const driver = sb.spawn(ctl, 'latency driver', [
      process.execPath, join(REPO_ROOT, 'dist', 'bench', 'nftables', 'latency.js'), kubeconfig, n1, 'http://198.19.255.11:10249/metrics', String(FLIPS), '10',
    ]);
    const m = await driver.waitFor(/^RESULT (.*)$/m, 600_000);
    const res = JSON.parse(m[1]!) as { externalMs: Summary; metric: { p50Ms: number; p99Ms: number } };
    log(`programming latency: external p50 ${res.externalMs.p50} ms p99 ${res.externalMs.p99} ms; metric p50 ${res.metric.p50Ms} ms p99 ${res.metric.p99Ms} ms`);
    await sb.stop(driver);
    await sb.stop(agent);
    // The agent's table goes with the namespace; `up` is ended by pid.
    await sb.stop(up);
    return res;
  } finally {
    await sb.delNs(n1);
    await sb.delNs(ctl);
    await rm(root, { recursive: true, force: true });
  }
}

// ---- 4: first-connection latency ----

const TARGET_PORT = 7000;
const POD_IPS = Array.from({ length: 10 }, (_, i) => `198.19.254.${i + 1}`);

/** The measured Service: 10 endpoints, all served by the pod namespace behind this node. */
function withTarget(m: ProxyModel, clusterIP: string): ProxyModel {
  const target = sport({
    namespace: 'bench', name: 'target', portName: 'tcp', clusterIP, port: 80,
    endpoints: POD_IPS.map((ip) => ep(ip, TARGET_PORT, { nodeName: 'node-a' })),
  });
  return modelOf([...m.services.values(), target]);
}


async function firstConnection(sb: Sandbox): Promise<object> {
  try {
    return await firstConnectionAt(sb, CONN_BIG);
  } catch (err) {
    if (CONN_BIG <= 10000) throw err;
    const note = `${CONN_BIG} Services failed (${(err as Error).name}: ${(err as Error).message}); measured with 10000`;
    log(`first connection: ${note}`);
    return { note, ...(await firstConnectionAt(sb, 10000)) };
  }
}

async function firstConnectionAt(sb: Sandbox, bigSize: number): Promise<object> {
  const cli = await sb.addNs('cli');
  const sizes = { small: 100, big: bigSize };
  const routers = { small: { ip: '198.19.255.102', cli: '198.19.255.101', vip: '198.18.250.1' }, big: { ip: '198.19.255.106', cli: '198.19.255.105', vip: '198.18.250.2' } };
  const made: string[] = [cli];
  const procs: Array<ReturnType<Sandbox['spawn']>> = [];
  try {
    const syncs: Record<string, SyncReport> = {};
    for (const which of ['small', 'big'] as const) {
      const r = routers[which];
      const nodeNs = await sb.addNs(`node-${which}`);
      const podNs = await sb.addNs(`pod-${which}`);
      made.push(nodeNs, podNs);
      await sb.nodeWithPods(cli, `to-${which}`, nodeNs, podNs, { cliIP: r.cli, nodeIP: r.ip, vip: r.vip, podIPs: POD_IPS });
      const server = sb.spawn(podNs, `server ${which}`, [process.execPath, PORTICO, 'echo', '--name', which, '--tcp', `0.0.0.0:${TARGET_PORT}`]);
      procs.push(server);
      await server.waitFor(/^Portico echo is up/m);
      const applier = applierFor(sb, nodeNs);
      syncs[which] = await applier.sync(withTarget(generatedModel(sizes[which], 10), r.vip), node(r.ip));
      applier.close();
      log(`first connection: ${which} node has ${sizes[which] + 1} Services (full sync ${Math.round(syncs[which].applyMs)} ms)`);
    }
    const client = sb.spawn(cli, 'client', [process.execPath, '-e', CLIENT, `${routers.small.vip},${routers.big.vip}`, String(CONNECTS)]);
    procs.push(client);
    const m = await client.waitFor(/^RESULT (.*)$/m, 300_000);
    const raw = JSON.parse(m[1]!) as Record<string, number[]>;
    const failed = (xs: number[]) => xs.filter((x) => x < 0).length;
    const small = raw[routers.small.vip]!;
    const big = raw[routers.big.vip]!;
    const s = summarize(small.filter((x) => x >= 0));
    const b = summarize(big.filter((x) => x >= 0));
    const out = {
      connects: CONNECTS, interleaved: true,
      small: { services: sizes.small + 1, connectMs: s, failed: failed(small) },
      big: { services: sizes.big + 1, connectMs: b, failed: failed(big) },
      ratioMedian: round(b.p50 / s.p50, 3),
      ratioMean: round(b.mean / s.mean, 3),
    };
    log(`first connection: median ${s.p50} ms (${sizes.small}) vs ${b.p50} ms (${sizes.big}), ratio ${out.ratioMedian}`);
    return out;
  } finally {
    for (const p of procs) await sb.stop(p);
    for (const n of made.reverse()) await sb.delNs(n);
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('needs root (network namespaces, nft)');
  const started = new Date();
  const up0 = uptime();
  log(`uptime before: ${up0}`);
  const sb = new Sandbox();
  const results: Record<string, unknown> = {
    date: started.toISOString(), machine: { cpus: (await import('node:os')).cpus().length, loadavgBefore: loadavg(), uptimeBefore: up0 },
    nft: spawnSync('nft', ['--version'], { encoding: 'utf8' }).stdout.trim(), kernel: spawnSync('uname', ['-r'], { encoding: 'utf8' }).stdout.trim(),
  };
  const file = join(REPO_ROOT, 'bench', 'nftables', `results-${started.toISOString().slice(0, 10)}.json`);
  try {
    if (!SKIP.has(1)) {
      const full: FullRow[] = [];
      for (const n of SIZES) {
        const { row, partial } = await fullSync(sb, n, !SKIP.has(2) && n === 10000 ? PARTIALS : 0);
        full.push(row);
        if (partial) results.partial = partial;
      }
      results.full = full;
    }
    if (!SKIP.has(3)) results.programming = await programmingLatency(sb);
    if (!SKIP.has(4)) results.firstConnection = await firstConnection(sb);
  } catch (err) {
    // Keep what was measured before the failure.
    results.error = `${(err as Error).name}: ${(err as Error).message}`;
    throw err;
  } finally {
    await sb.destroy();
    results.machine = { ...(results.machine as object), loadavgAfter: loadavg(), uptimeAfter: uptime() };
    results.runtimeS = Math.round((Date.now() - started.getTime()) / 1000);
    await writeFile(file, JSON.stringify(results, null, 2) + '\n');
  }
  printTable(results);
  log(`uptime after: ${uptime()}; wrote ${file}`);
}

function printTable(r: Record<string, unknown>): void {
  const lines: string[] = [];
  const full = r.full as FullRow[] | undefined;
  if (full) {
    lines.push('full sync          render      apply     total   | anchor nft -f   Portico/anchor');
    for (const f of full) {
      if (f.error) {
        lines.push(`${String(f.services).padStart(6)} x 10      FAILED: ${f.error.slice(0, 60)}   | ${f.anchorApplyMs === null ? 'anchor skipped' : `anchor ${f.anchorApplyMs} ms`}`);
        continue;
      }
      lines.push(`${String(f.services).padStart(6)} x 10      ${`${f.renderMs} ms`.padStart(8)} ${`${f.applyMs} ms`.padStart(10)} ${`${f.totalMs} ms`.padStart(9)}   | ${(f.anchorApplyMs === null ? 'skipped' : `${f.anchorApplyMs} ms`).padStart(13)}   ${f.ratio ?? '-'}`);
    }
  }
  const p = r.partial as { services: number; totalMs: Summary; renderMs: Summary; applyMs: Summary; nftNoCacheFloorMs: Summary } | undefined;
  if (p) lines.push(`partial @${p.services}: median ${p.totalMs.p50} ms, p90 ${p.totalMs.p90} ms (render p50 ${p.renderMs.p50} ms, apply p50 ${p.applyMs.p50} ms; nft no-cache floor ${p.nftNoCacheFloorMs.p50} ms)`);
  const g = r.programming as { externalMs: Summary; metric: { p50Ms: number; p99Ms: number; count: number }; missed: number } | undefined;
  if (g) lines.push(`programming latency: external p50 ${g.externalMs.p50} ms, p99 ${g.externalMs.p99} ms (n=${g.externalMs.n}, missed ${g.missed}); metric p50 ${g.metric.p50Ms} ms, p99 ${g.metric.p99Ms} ms (n=${g.metric.count})`);
  const c = r.firstConnection as { small: { services: number; connectMs: Summary }; big: { services: number; connectMs: Summary }; ratioMedian: number } | undefined;
  if (c) lines.push(`first connection: median ${c.small.connectMs.p50} ms @${c.small.services} vs ${c.big.connectMs.p50} ms @${c.big.services}: ratio ${c.ratioMedian}`);
  process.stdout.write(lines.join('\n') + '\n');
}

// Exit explicitly: everything the run made is gone by now, and a handle left open somewhere (the
// 2026-11-24 run lingered after writing its results) must not keep holding /work/bench.lock.
main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
