// Network programming latency, run by run.ts INSIDE the control-plane namespace (it talks to the API
// on the link address): a Service with a selector and PODS Pods on node n1, then FLIPS flips of one
// Pod's Ready condition (False, then back to True, one Pod after another), each timed from just
// before the status PATCH to the nftables commit on n1 that carries it, seen by `nft monitor` in
// n1's namespace (event-driven, no polling). Before and after, the agent's
// kubeproxy_network_programming_duration_seconds histogram is read from its /metrics.
//   node dist/bench/nftables/latency.js KUBECONFIG NODE_NS METRICS_URL FLIPS PODS
// Prints one line `RESULT <json>` at the end.
import { spawn } from 'node:child_process';
import { get } from 'node:http';
import { KubeClient, loadKubeconfig } from '../../src/client/http.js';
import { summarize } from '../api/stats.js';

const NS = 'bench';
const now = () => performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Block {
  at: number;
  lines: string[];
}

/** `nft monitor` in a namespace, cut into committed transactions ("# new generation" ends one). */
class Monitor {
  private cur: string[] = [];
  private waiters: Array<{ test: (b: Block) => boolean; resolve: (b: Block) => void }> = [];
  readonly child;
  constructor(ns: string) {
    this.child = spawn('ip', ['netns', 'exec', ns, 'stdbuf', '-oL', 'nft', 'monitor'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let buf = '';
    this.child.stdout.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('# new generation')) {
          const b = { at: now(), lines: this.cur };
          this.cur = [];
          this.waiters = this.waiters.filter((w) => (w.test(b) ? (w.resolve(b), false) : true));
        } else this.cur.push(line);
      }
    });
  }
  /** The next committed transaction passing `test` (registered before the change is made). */
  next(test: (b: Block) => boolean, boundMs: number): Promise<Block | undefined> {
    return new Promise((resolve) => {
      const w = { test, resolve: (b: Block | undefined) => (clearTimeout(t), resolve(b)) };
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        resolve(undefined);
      }, boundMs);
      this.waiters.push(w);
    });
  }
  stop(): void {
    if (this.child.pid !== undefined && this.child.exitCode === null) process.kill(this.child.pid, 'SIGTERM');
  }
}

function fetchText(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let s = '';
      res.setEncoding('utf8').on('data', (d: string) => (s += d)).on('end', () => resolve(s));
    }).on('error', reject);
  });
}

interface Hist {
  buckets: Array<[number, number]>;
  sum: number;
  count: number;
}

function parseHist(text: string, name: string): Hist {
  const buckets: Array<[number, number]> = [];
  let sum = 0;
  let count = 0;
  for (const line of text.split('\n')) {
    const b = new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\S+)`).exec(line);
    if (b) buckets.push([b[1] === '+Inf' ? Infinity : Number(b[1]), Number(b[2])]);
    else if (line.startsWith(`${name}_sum `)) sum = Number(line.split(' ')[1]);
    else if (line.startsWith(`${name}_count `)) count = Number(line.split(' ')[1]);
  }
  return { buckets, sum, count };
}

/** Prometheus' histogram_quantile: linear interpolation inside the bucket. */
function quantile(h: Hist, q: number): number {
  const total = h.count;
  if (!total) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, c] of h.buckets) {
    if (c >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(1, c - prevCount);
    }
    prevLe = le;
    prevCount = c;
  }
  return NaN;
}

async function main(): Promise<void> {
  const [kubeconfig, nodeNs, metricsURL, flipsArg, podsArg] = process.argv.slice(2);
  if (!kubeconfig || !nodeNs || !metricsURL) throw new Error('usage: latency.js KUBECONFIG NODE_NS METRICS_URL [FLIPS] [PODS]');
  const flips = Number(flipsArg ?? 200);
  const podCount = Number(podsArg ?? 10);
  const kc = new KubeClient(loadKubeconfig(kubeconfig));
  const mon = new Monitor(nodeNs);
  try {
    await kc.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    await kc.request('POST', `/api/v1/namespaces/${NS}/services`, {
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'lat' },
      spec: { selector: { app: 'lat' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
    });
    const pods = Array.from({ length: podCount }, (_, i) => ({ name: `lat-${i}`, ip: `198.19.1.${10 + i}` }));
    const status = (ip: string, ready: boolean) => ({
      status: {
        phase: 'Running', podIP: ip, podIPs: [{ ip }],
        conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }, { type: 'ContainersReady', status: ready ? 'True' : 'False' }],
      },
    });
    const patch = (name: string, ip: string, ready: boolean) =>
      kc.request('PATCH', `/api/v1/namespaces/${NS}/pods/${name}/status`, status(ip, ready), 'application/merge-patch+json');
    for (const p of pods) {
      await kc.request('POST', `/api/v1/namespaces/${NS}/pods`, {
        apiVersion: 'v1', kind: 'Pod', metadata: { name: p.name, labels: { app: 'lat' } },
        spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'portico/echo', ports: [{ name: 'http', containerPort: 8080 }] }] },
      });
      await patch(p.name, p.ip, true);
    }
    // Wait until the kernel holds all the endpoints.
    const t0 = Date.now();
    for (;;) {
      const r = await new Promise<string>((resolve) => {
        const c = spawn('ip', ['netns', 'exec', nodeNs, 'nft', 'list', 'table', 'ip', 'portico'], { stdio: ['ignore', 'pipe', 'ignore'] });
        let s = '';
        c.stdout.setEncoding('utf8').on('data', (d: string) => (s += d));
        c.on('close', () => resolve(s));
      });
      // Endpoints sit in an endpoint map as `lo-hi : addr . port` (render.ts).
      if (pods.every((p) => r.includes(`${p.ip} . 8080`))) break;
      if (Date.now() - t0 > 60_000) throw new Error('the endpoints never reached the kernel');
      await sleep(100);
    }
    await sleep(500);

    const text0 = await fetchText(metricsURL);
    const before = parseHist(text0, 'kubeproxy_network_programming_duration_seconds');
    const syncBefore = parseHist(text0, 'kubeproxy_sync_partial_proxy_rules_duration_seconds');
    const e2e: number[] = [];
    const patchRtt: number[] = [];
    let missed = 0;
    for (let k = 0; k < flips; k++) {
      const p = pods[Math.floor(k / 2) % pods.length]!;
      const ready = k % 2 === 1;
      // The commit that adds (ready) or deletes (not ready) the pod's window in its endpoint map.
      const needle = `${p.ip} . 8080`;
      const verb = ready ? 'add element ip portico endpoints-' : 'delete element ip portico endpoints-';
      const seen = mon.next((b) => b.lines.some((l) => l.startsWith(verb) && l.includes(needle)), 5000);
      const start = now();
      await patch(p.name, p.ip, ready);
      patchRtt.push(now() - start);
      const b = await seen;
      if (b) e2e.push(b.at - start);
      else missed++;
      await sleep(20 + Math.random() * 20);
    }
    await sleep(300);
    const text1 = await fetchText(metricsURL);
    const after = parseHist(text1, 'kubeproxy_network_programming_duration_seconds');
    const syncAfter = parseHist(text1, 'kubeproxy_sync_partial_proxy_rules_duration_seconds');
    const syncCount = syncAfter.count - syncBefore.count;
    const delta: Hist = {
      buckets: after.buckets.map(([le, c], i) => [le, c - (before.buckets[i]?.[1] ?? 0)]),
      sum: after.sum - before.sum,
      count: after.count - before.count,
    };
    const result = {
      flips, pods: podCount, missed,
      externalMs: summarize(e2e),
      patchRoundTripMs: summarize(patchRtt),
      /** The agent's partial syncs meanwhile (kubeproxy_sync_partial_proxy_rules_duration_seconds). */
      agentPartialSyncs: { count: syncCount, meanMs: syncCount ? Math.round(((syncAfter.sum - syncBefore.sum) / syncCount) * 1e4) / 10 : NaN },
      metric: {
        count: delta.count,
        meanMs: delta.count ? Math.round((delta.sum / delta.count) * 1e4) / 10 : NaN,
        p50Ms: Math.round(quantile(delta, 0.5) * 1e4) / 10,
        p99Ms: Math.round(quantile(delta, 0.99) * 1e4) / 10,
        buckets: Object.fromEntries(delta.buckets.map(([le, c]) => [String(le), c])),
      },
    };
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  } finally {
    mon.stop();
    kc.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
