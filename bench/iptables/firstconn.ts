// First-connection latency against the number of Services, iptables (legacy and nft variants)
// beside nftables in one run: for each data plane and each size, a node namespace programmed with
// N generated Services x 10 endpoints plus the measured Service (10 endpoints, served by a pod
// namespace behind that node), placed in the middle of the Service list. One client namespace,
// linked to every node, opens fresh TCP connections to the measured cluster IPs in turn
// (interleaved, so load changes hit all alike); the time to `connect` is the first packet's trip
// through the node's NAT rules: iptables walks PORTICO-SERVICES rule by rule (kube-proxy's O(n)),
// nftables looks the address up in a verdict map. Everything made is removed (Sandbox).
//   node dist/bench/iptables/firstconn.js [--sizes 100,1000,10000] [--planes iptables-legacy,iptables-nft,nftables] [--connects 200]
//     [--skip plane:size,...] [--program-bound-s 600]
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { binaries } from '../../src/proxy/iptables/apply.js';
import { emptyState, jumps, render as renderIpt } from '../../src/proxy/iptables/render.js';
import { NftApplier } from '../../src/proxy/nftables/apply.js';
import { ep, generatedModel, modelOf, sport } from '../../src/proxy/testing.js';
import type { NodeState, ProxyModel } from '../../src/proxy/model.js';
import { PORTICO, REPO_ROOT } from '../../test/scenarios/plan.js';
import { round, summarize } from '../api/stats.js';
import { Sandbox } from '../nftables/sandbox.js';
import { CONNECT_CLIENT } from '../nftables/connect-client.js';

type Plane = 'iptables-legacy' | 'iptables-nft' | 'nftables';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
};
const SIZES = arg('sizes', '100,1000,10000').split(',').map(Number).filter((n) => n > 0);
const PLANES = arg('planes', 'iptables-legacy,iptables-nft,nftables').split(',') as Plane[];
const CONNECTS = Number(arg('connects', '200'));
/** `plane:size` pairs not to program (e.g. one known to fail), reported as skipped. */
const SKIP = new Set(arg('skip', '').split(',').filter(Boolean));
/** A restore or sync that takes longer than this is given up (reported, the rest goes on). */
const PROGRAM_BOUND_MS = Number(arg('program-bound-s', '600')) * 1000;
const TARGET_PORT = 7000;
const POD_IPS = Array.from({ length: 10 }, (_, i) => `198.19.254.${i + 1}`);
const log = (s: string) => process.stderr.write(`[bench:first-connection] ${s}\n`);
const uptime = () => spawnSync('uptime', { encoding: 'utf8' }).stdout.trim();

const nodeState = (ip: string): NodeState => ({
  nodeName: 'node-a', nodeIPs: [ip], nodePortAddresses: [], clusterCIDR: '198.19.0.0/16', masqueradeAll: false, serviceCIDRs: ['198.18.0.0/16'],
});

/** N generated Services with the measured one in the middle of the list (the rule order of the iptables chains). */
function modelWithTarget(n: number, vip: string): ProxyModel {
  const ports = [...generatedModel(n, 10).services.values()];
  const target = sport({
    namespace: 'bench', name: 'target', portName: 'tcp', clusterIP: vip, port: 80,
    endpoints: POD_IPS.map((ip) => ep(ip, TARGET_PORT, { nodeName: 'node-a' })),
  });
  ports.splice(Math.floor(n / 2), 0, target);
  return modelOf(ports);
}


interface Target {
  plane: Plane;
  services: number;
  vip: string;
  programMs: number;
}

/** Programs a node namespace with the data plane. iptables: the full restore text (with the jumps from the built-in chains) into an empty namespace, as one plain restore. */
async function program(sb: Sandbox, ns: string, plane: Plane, model: ProxyModel, node: NodeState): Promise<number> {
  const t0 = performance.now();
  if (plane === 'nftables') {
    const a = new NftApplier({ exec: sb.nftExec(ns), transport: 'netlink', netnsPath: `/run/netns/${ns}` });
    try {
      await a.sync(model, node);
    } finally {
      a.close();
    }
  } else {
    const text = renderIpt(model, 'full', node, emptyState('ip'), 'ip', { installJumps: jumps() }).text;
    const argv = binaries(plane === 'iptables-legacy' ? 'legacy' : 'nft', 'ip').restore.filter((a) => a !== '--noflush');
    const r = await sb.exec(ns, argv, { input: text, boundMs: PROGRAM_BOUND_MS });
    if (r.code !== 0) throw new Error(`${argv[0]} failed: ${r.stderr.slice(0, 500)}`);
  }
  return performance.now() - t0;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('needs root (network namespaces)');
  const started = new Date();
  const up0 = uptime();
  log(`uptime before: ${up0}`);
  const sb = new Sandbox();
  const targets: Target[] = [];
  const notProgrammed: Array<{ plane: Plane; services: number; why: string }> = [];
  try {
    const cli = await sb.addNs('cli');
    let k = 0;
    for (const plane of PLANES) {
      for (const n of SIZES) {
        k++;
        if (SKIP.has(`${plane}:${n}`)) {
          notProgrammed.push({ plane, services: n + 1, why: 'skipped (--skip)' });
          continue;
        }
        // Link k: client 198.19.253.(4k+1), node .(4k+2), /30; the measured cluster IP 198.18.250.k.
        const cliIP = `198.19.253.${4 * k + 1}`;
        const nodeIP = `198.19.253.${4 * k + 2}`;
        const vip = `198.18.250.${k}`;
        const nodeNs = await sb.addNs(`n${k}`);
        const podNs = await sb.addNs(`p${k}`);
        await sb.nodeWithPods(cli, `to${k}`, nodeNs, podNs, { cliIP, nodeIP, vip, podIPs: POD_IPS });
        const server = sb.spawn(podNs, `server ${k}`, [process.execPath, PORTICO, 'echo', '--name', `n${k}`, '--tcp', `0.0.0.0:${TARGET_PORT}`]);
        await server.waitFor(/^Portico echo is up/m);
        let programMs: number;
        try {
          programMs = await program(sb, nodeNs, plane, modelWithTarget(n, vip), nodeState(nodeIP));
        } catch (err) {
          const why = (err as Error).message.split('\n')[0]!;
          log(`${plane}: ${n + 1} Services could not be programmed: ${why}`);
          notProgrammed.push({ plane, services: n + 1, why });
          await sb.stop(server);
          await sb.delNs(podNs);
          await sb.delNs(nodeNs);
          continue;
        }
        log(`${plane}: ${n + 1} Services programmed in ${Math.round(programMs)} ms`);
        targets.push({ plane, services: n + 1, vip, programMs });
      }
    }
    const client = sb.spawn(cli, 'client', [process.execPath, '-e', CONNECT_CLIENT, targets.map((t) => t.vip).join(','), String(CONNECTS)]);
    const m = await client.waitFor(/^RESULT (.*)$/m, 900_000);
    const raw = JSON.parse(m[1]!) as Record<string, number[]>;
    const rows = targets.map((t) => {
      const xs = raw[t.vip]!;
      const s = summarize(xs.filter((x) => x >= 0));
      return { plane: t.plane, services: t.services, programMs: Math.round(t.programMs), failed: xs.filter((x) => x < 0).length, connectMs: s };
    });
    for (const r of rows) log(`${r.plane} ${r.services}: connect p50 ${r.connectMs.p50} ms, p99 ${r.connectMs.p99} ms, mean ${r.connectMs.mean} ms (failed ${r.failed})`);
    const out = {
      date: started.toISOString(), uptimeBefore: up0, uptimeAfter: uptime(), loadavgAfter: loadavg().map((x) => round(x, 2)),
      connectsPerTarget: CONNECTS, targetPosition: 'middle of the Service list', rows, notProgrammed,
    };
    console.log(JSON.stringify(out, null, 1));
    const file = join(REPO_ROOT, 'bench', 'iptables', `firstconn-${started.toISOString().slice(0, 16).replace(':', '')}.json`);
    writeFileSync(file, JSON.stringify(out, null, 1) + '\n');
    log(`written ${file}`);
  } finally {
    await sb.destroy();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
