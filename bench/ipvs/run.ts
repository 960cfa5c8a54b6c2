// IPVS backend benchmark: full and partial sync of N Services x 10 endpoints through the
// IpvsApplier, beside a plain `ipvsadm -R` of the same virtual and real servers into an empty
// namespace (the anchor), each in a fresh network namespace. The machine's kernel has no IP_VS, so
// on the host this boots the test VM (test/vm/qemu.ts, software emulation) and runs itself inside;
// the pure render is also timed on the host, and its ratio to the VM's render says how much slower
// the emulated CPU is. Every figure inside the VM carries that slowdown. Each phase's figures are
// printed as soon as it ends (`phase {...}` lines), so a VM run that dies or outlives its bound still
// leaves the phases it finished in the results file (marked incomplete).
//   node dist/bench/ipvs/run.js [services...] [--vm-timeout-min 60]      (default: 1000 10000)
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { IpvsApplier } from '../../src/proxy/ipvs/apply.js';
import { diffIpvs, render, type IpvsOptions } from '../../src/proxy/ipvs/render.js';
import { spawnExec, type Exec } from '../../src/proxy/exec.js';
import { ep, generatedModel, sport } from '../../src/proxy/testing.js';
import type { NodeState, ProxyModel } from '../../src/proxy/model.js';
import { runInVm } from '../../test/vm/qemu.js';
import { REPO_ROOT } from '../../test/scenarios/plan.js';

const node: NodeState = { nodeName: 'node-a', nodeIPs: ['198.19.255.1'], nodePortAddresses: [], clusterCIDR: '198.19.0.0/16', masqueradeAll: false };
const opts: IpvsOptions = { scheduler: 'rr' };

async function withNs<T>(fn: (exec: Exec, spent: Map<string, number>) => Promise<T>): Promise<T> {
  const ns = `portico-ipvs-${randomBytes(4).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', ns]);
  // Like a node: IPVS accepts a real server only when its address is routable.
  for (const args of [['link', 'set', 'lo', 'up'], ['link', 'add', 'eth0', 'type', 'dummy'], ['addr', 'add', '198.19.255.1/16', 'dev', 'eth0'], ['link', 'set', 'eth0', 'up']]) {
    execFileSync('ip', ['-n', ns, ...args]);
  }
  const spent = new Map<string, number>();
  try {
    return await fn(async (argv, stdin) => {
      const t = performance.now();
      const r = await spawnExec(['ip', 'netns', 'exec', ns, ...argv], stdin);
      const what = argv.slice(0, 2).join(' ');
      spent.set(what, (spent.get(what) ?? 0) + performance.now() - t);
      return r;
    }, spent);
  } finally {
    execFileSync('ip', ['netns', 'del', ns]);
  }
}

/** The middle Service loses its first endpoint (a drain: weight 0) and gains a new one. */
function oneEndpointSwapped(m: ProxyModel): ProxyModel {
  const services = new Map(m.services);
  const [key, sp] = [...services.entries()][Math.floor(services.size / 2)]!;
  services.set(key, sport({ ...sp, endpoints: [...sp.endpoints.slice(1), ep('198.19.254.254', 8080)] }));
  return { services, changed: new Set([key]) };
}

function renderMs(n: number): number {
  const model = generatedModel(n, 10);
  const t = performance.now();
  const r = render(model, 'full', node, opts);
  diffIpvs(r.state.vs, new Map(), 'all');
  return performance.now() - t;
}

const round = (x: number) => Math.round(x);

/** One finished phase of one size, printed at once (the host collects these lines). */
function phase(services: number, name: string, figures: object): void {
  console.log(`phase ${JSON.stringify({ services, phase: name, ...figures })}`);
}

async function inVm(sizes: number[]): Promise<unknown[]> {
  const rows: unknown[] = [];
  for (const n of sizes) {
    const model = generatedModel(n, 10);
    const r = render(model, 'full', node, opts);
    const lines = diffIpvs(r.state.vs, new Map(), 'all').lines;
    const anchorMs = await withNs(async (exec) => {
      const t = performance.now();
      const res = await exec(['ipvsadm', '-R'], lines.join('\n') + '\n');
      if (res.code !== 0) throw new Error(res.stderr);
      return performance.now() - t;
    });
    phase(n, 'anchor', { plainIpvsadmRestoreMs: round(anchorMs), ipvsadmLines: lines.length });
    const row = await withNs(async (exec, spent) => {
      const a = new IpvsApplier({ exec, scheduler: 'rr' });
      const full = await a.sync(model, node);
      const fullParts = Object.fromEntries([...spent].map(([k, v]) => [k, round(v)]));
      phase(n, 'full', { fullSyncRenderMs: round(full.renderMs), fullSyncApplyMs: round(full.applyMs), fullParts });
      spent.clear();
      const swapped = oneEndpointSwapped(model);
      const partial = await a.sync(swapped, node);
      const partialParts = Object.fromEntries([...spent].map(([k, v]) => [k, +v.toFixed(1)]));
      phase(n, 'partial', { partialRenderMs: +partial.renderMs.toFixed(2), partialApplyMs: +partial.applyMs.toFixed(1), partialParts });
      spent.clear();
      // A periodic full resync with nothing changed: reads back, sends no set entries.
      const resync = await a.sync(swapped, node, true);
      const resyncParts = Object.fromEntries([...spent].map(([k, v]) => [k, round(v)]));
      return { full, fullParts, partial, partialParts, resync, resyncParts };
    });
    const out = {
      services: n, endpoints: 10, virtualServers: r.state.vs.size, ipvsadmLines: lines.length,
      renderMs: round(renderMs(n)),
      fullSyncRenderMs: round(row.full.renderMs), fullSyncApplyMs: round(row.full.applyMs), fullParts: row.fullParts,
      plainIpvsadmRestoreMs: round(anchorMs),
      partialRenderMs: +row.partial.renderMs.toFixed(2), partialApplyMs: +row.partial.applyMs.toFixed(1), partialIpvsLines: row.partial.ipvsLines, partialParts: row.partialParts,
      resyncRenderMs: round(row.resync.renderMs), resyncApplyMs: round(row.resync.applyMs), resyncIpvsLines: row.resync.ipvsLines, resyncParts: row.resyncParts,
    };
    console.log(JSON.stringify(out));
    rows.push(out);
  }
  return rows;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const t = args.indexOf('--vm-timeout-min');
  const vmTimeoutMin = t >= 0 ? Number(args.splice(t, 2)[1]) : 60;
  const sizes = args.map(Number).filter((n) => n > 0);
  const use = sizes.length ? sizes : [1000, 10000];
  if (process.env.PORTICO_VM === '1') {
    const rows = await inVm(use);
    writeFileSync(join(process.env.VM_OUT ?? '/tmp', 'bench.json'), JSON.stringify(rows));
    return;
  }
  const hostRender = Object.fromEntries(use.map((n) => [n, round(renderMs(n))]));
  const started = new Date().toISOString();
  const load0 = loadavg();
  const phases: unknown[] = [];
  const r = await runInVm({
    command: `node dist/bench/ipvs/run.js ${use.join(' ')}`,
    cwd: REPO_ROOT,
    timeoutMs: vmTimeoutMin * 60_000,
    memoryMb: 6144,
    onStdout: (l) => {
      console.log(`[vm] ${l}`);
      if (l.startsWith('phase ')) phases.push(JSON.parse(l.slice(6)));
    },
  });
  const rows = JSON.parse(r.files.get('bench.json')?.toString('utf8') ?? '[]') as Array<{ services: number; renderMs: number }>;
  const summary = {
    started, load: `${load0.map((x) => x.toFixed(2)).join(' ')} at start, ${loadavg().map((x) => x.toFixed(2)).join(' ')} at end`,
    machine: '2-core VM; IPVS figures inside qemu (TCG, -smp 2) booting Debian linux-image-amd64', vmBootSeconds: +r.bootSeconds.toFixed(1),
    ...(r.code !== 0 ? { incomplete: `the VM run failed (exit ${r.code}, bound ${vmTimeoutMin} min); phases finished: see phases`, stderrTail: r.stderr.slice(-3000) } : {}),
    hostRenderMs: hostRender,
    emulationSlowdown: Object.fromEntries(rows.map((x) => [x.services, +(x.renderMs / (hostRender[x.services] ?? NaN)).toFixed(1)])),
    phases,
    rows,
  };
  console.log(JSON.stringify(summary, null, 1));
  const file = join(REPO_ROOT, 'bench', 'ipvs', `results-${started.slice(0, 16).replace(':', '')}.json`);
  writeFileSync(file, JSON.stringify(summary, null, 1) + '\n');
  console.log(`written ${file}`);
  if (r.code !== 0) throw new Error(`the VM run failed (exit ${r.code}): ${r.stderr.slice(-3000)}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
