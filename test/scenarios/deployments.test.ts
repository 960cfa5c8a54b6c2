// A Deployment of real process pods behind a Service, as root, on one node in a network namespace
// made for the run (onehost.ts: `portico up` and `portico agent --run-pods`, nftables). The
// Deployment runs `portico echo` pods with a readiness probe and a preStop sleep; a client in the host namespace sends one request per new connection to the
// Service's cluster IP, steadily, through a rolling update (a changed env, kubectl apply) and a
// `kubectl rollout undo`: no request may fail. Meanwhile the ReplicaSets and pods are sampled:
// never more than replicas + maxSurge pods, never fewer than replicas - maxUnavailable ready ones.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PORTICO, Proc, manifest, run } from './plan.js';
import { OneHost, until } from './onehost.js';

const HOST_IP = '198.19.255.21';
const REPLICAS = 3;
const MAX_SURGE = 1;
const MAX_UNAVAILABLE = 1;

interface PodJSON {
  metadata: { name: string; deletionTimestamp?: string; labels?: Record<string, string> };
  spec: { nodeName?: string; containers: Array<{ env?: Array<{ name: string; value?: string }> }> };
  status: { phase?: string; podIP?: string; conditions?: Array<{ type: string; status: string }> };
}
interface RSJSON {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: { replicas: number };
}

/** The client: one GET per fresh connection until the stop file appears, then a JSON summary. */
const CLIENT = `
const http = require('node:http'); const fs = require('node:fs');
const [ip, stop] = process.argv.slice(1);
const s = { ok: 0, fail: 0, errors: {}, pods: {}, failures: [] };
const one = () => new Promise((res) => {
  const started = Date.now(); let port = 0;
  const failed = (what) => { s.fail++; s.errors[what] = (s.errors[what] || 0) + 1; s.failures.push({ at: started, what, port }); res(); };
  const req = http.get({ host: ip, port: 80, path: '/', agent: false, timeout: 5000 }, (r) => {
    let b = ''; r.setEncoding('utf8'); r.on('data', (d) => (b += d));
    r.on('end', () => { if (r.statusCode === 200) { s.ok++; try { const p = JSON.parse(b).pod; s.pods[p] = (s.pods[p] || 0) + 1; } catch {} res(); } else failed('HTTP ' + r.statusCode); });
    r.on('error', (e) => failed(e.code || e.message));
  });
  // The local port names the connection in conntrack when a request fails.
  req.on('socket', (so) => so.once('connect', () => { port = so.localPort; }));
  req.on('timeout', () => { port = port || req.socket?.localPort || 0; req.destroy(new Error('timeout')); });
  req.on('error', (e) => failed(e.code || e.message));
});
(async () => { while (!fs.existsSync(stop)) { await one(); await new Promise((r) => setTimeout(r, 5)); } console.log(JSON.stringify(s)); })();
`;

describe('a Deployment of process pods behind a Service (rolling update under traffic)', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, () => {
  const host = new OneHost(HOST_IP, 'dh', 'q');
  const k8sNs = `deploy-${host.id}`;
  let client: Proc | undefined;
  const kubectl = (args: string[], input?: string, boundMs?: number) => host.kubectl(['-n', k8sNs, ...args], input, boundMs);
  const kubectlOk = (args: string[], input?: string, boundMs?: number) => host.kubectlOk(['-n', k8sNs, ...args], input, boundMs);
  const pods = async () => (JSON.parse(await kubectlOk(['get', 'pods', '-l', 'app=echo', '-o', 'json'])) as { items: PodJSON[] }).items;
  const replicaSets = async () => (JSON.parse(await kubectlOk(['get', 'rs', '-o', 'json'])) as { items: RSJSON[] }).items;
  const isReady = (p: PodJSON) => (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

  const deployment = (version: string) => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'echo', namespace: k8sNs },
    spec: {
      replicas: REPLICAS,
      selector: { matchLabels: { app: 'echo' } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: MAX_SURGE, maxUnavailable: MAX_UNAVAILABLE } },
      template: {
        metadata: { labels: { app: 'echo' } },
        spec: {
          terminationGracePeriodSeconds: 10,
          containers: [
            {
              name: 'echo',
              image: 'portico/echo',
              command: [process.execPath, PORTICO, 'echo', '--http', '0.0.0.0:8080'],
              env: [{ name: 'VERSION', value: version }],
              ports: [{ name: 'http', containerPort: 8080 }],
              readinessProbe: { httpGet: { path: '/', port: 'http' }, periodSeconds: 1 },
              // Serve on while the Service forgets the terminating pod (the kube way to drain).
              lifecycle: { preStop: { sleep: { seconds: 2 } } },
            },
          ],
        },
      },
    },
  });

  /** Samples pods and ReplicaSets until stopped: the largest totals and the fewest ready pods seen. */
  function sampler() {
    const seen = { maxSpec: 0, maxPods: 0, minReady: Infinity, samples: 0, timeline: [] as string[] };
    const last = new Map<string, string>();
    let stop = false;
    const loop = (async () => {
      while (!stop) {
        const [ps, rss] = await Promise.all([pods(), replicaSets()]);
        const live = ps.filter((p) => !p.metadata.deletionTimestamp);
        seen.maxSpec = Math.max(seen.maxSpec, rss.reduce((n, r) => n + r.spec.replicas, 0));
        seen.maxPods = Math.max(seen.maxPods, live.length);
        seen.minReady = Math.min(seen.minReady, live.filter(isReady).length);
        seen.samples++;
        // Each pod's changes of address, readiness and deletion, to read a failed request against.
        const now = Date.now();
        for (const p of ps) {
          const state = `${p.status.podIP ?? '-'} ${isReady(p) ? 'ready' : 'not-ready'}${p.metadata.deletionTimestamp ? ' deleting' : ''}`;
          if (last.get(p.metadata.name) !== state) seen.timeline.push(`${now} ${p.metadata.name} ${state}`);
          last.set(p.metadata.name, state);
        }
        for (const name of [...last.keys()].filter((n) => !ps.some((p) => p.metadata.name === n))) {
          seen.timeline.push(`${now} ${name} gone`);
          last.delete(name);
        }
      }
    })();
    return {
      async done() {
        stop = true;
        await loop;
        return seen;
      },
    };
  }

  before(async () => {
    await host.start();
    await host.kubectlOk(['create', 'namespace', k8sNs]);
  });

  after(async () => {
    await client?.stop('SIGKILL');
    await host.close();
  });

  it('the pods are bound, run and become Ready; rollout status returns', async () => {
    const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'echo', namespace: k8sNs }, spec: { selector: { app: 'echo' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } };
    await kubectlOk(['apply', '-f', '-'], manifest([svc, deployment('v1')]));
    const r = await kubectl(['rollout', 'status', 'deploy/echo', '--timeout=120s'], undefined, 150_000);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /deployment "echo" successfully rolled out/);
    const ps = await pods();
    assert.equal(ps.length, REPLICAS);
    for (const p of ps) {
      assert.equal(p.spec.nodeName, 'n1');
      assert.equal(p.status.phase, 'Running');
      assert.match(p.status.podIP ?? '', /^198\.19\.\d+\.\d+$/);
      assert.ok(isReady(p));
    }
    const wide = await kubectlOk(['get', 'deploy', 'echo', '-o', 'wide', '--no-headers']);
    assert.match(wide, /^echo\s+3\/3\s+3\s+3\s+\S+\s+echo\s+portico\/echo\s+app=echo$/m);
  });

  it('a rolling update and an undo under steady traffic: no failed request, within maxSurge and maxUnavailable', async (t) => {
    const ip = (await kubectlOk(['get', 'svc', 'echo', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
    const stopFile = join(host.root, 'client-stop');
    client = new Proc('client', host.inHost([process.execPath, '-e', CLIENT, ip, stopFile]));
    // The client must be getting answers before the rollout starts.
    await until('the first answers', async () => {
      const r = await run(['ip', 'netns', 'exec', host.hostNs, 'curl', '-sS', '--max-time', '3', `http://${ip}/`]);
      return r.code === 0;
    });
    const v1Pods = new Set((await pods()).map((p) => p.metadata.name));
    const watch = sampler();

    await kubectlOk(['apply', '-f', '-'], manifest([deployment('v2')]));
    let r = await kubectl(['rollout', 'status', 'deploy/echo', '--timeout=180s'], undefined, 200_000);
    assert.equal(r.code, 0, r.stderr);
    const v2 = await pods();
    assert.equal(v2.filter((p) => !p.metadata.deletionTimestamp).length, REPLICAS);
    for (const p of v2.filter((x) => !x.metadata.deletionTimestamp)) {
      assert.ok(!v1Pods.has(p.metadata.name), `${p.metadata.name} is a new pod`);
      assert.equal(p.spec.containers[0]!.env?.find((e) => e.name === 'VERSION')?.value, 'v2');
    }
    const revs = Object.fromEntries((await replicaSets()).map((x) => [x.metadata.annotations?.['deployment.kubernetes.io/revision'], x.spec.replicas]));
    assert.deepEqual(revs, { '1': 0, '2': REPLICAS });

    assert.match(await kubectlOk(['rollout', 'undo', 'deploy/echo']), /rolled back/);
    r = await kubectl(['rollout', 'status', 'deploy/echo', '--timeout=180s'], undefined, 200_000);
    assert.equal(r.code, 0, r.stderr);
    const back = (await pods()).filter((p) => !p.metadata.deletionTimestamp);
    assert.ok(back.every((p) => p.spec.containers[0]!.env?.find((e) => e.name === 'VERSION')?.value === 'v1'));
    // Let the last terminating pods finish while traffic goes on.
    await until('old pods gone', async () => (await pods()).every((p) => !p.metadata.deletionTimestamp));
    const seen = await watch.done();
    await writeFile(stopFile, '');
    const out = await client.waitFor(/^\{"ok".*\}$/m, 30_000);
    const summary = JSON.parse(out[0]) as { ok: number; fail: number; errors: Record<string, number>; pods: Record<string, number>; failures: Array<{ at: number; what: string; port: number }> };
    if (summary.fail > 0) {
      // What the node's conntrack still knows of each failed connection (where it was DNATed), and
      // the pods' timeline: the evidence a rare failure leaves.
      const ct = await run(['ip', 'netns', 'exec', host.hostNs, 'conntrack', '-L', '-p', 'tcp', '--dport', '80']);
      const lines = ct.stdout.split('\n').filter((l) => summary.failures.some((f) => f.port > 0 && l.includes(`sport=${f.port} `)));
      t.diagnostic(`failures: ${JSON.stringify(summary.failures)}`);
      t.diagnostic(`conntrack entries of the failed connections:\n${lines.join('\n') || '(none left)'}`);
      t.diagnostic(`pods:\n${seen.timeline.join('\n')}`);
    }
    t.diagnostic(`requests ok ${summary.ok}, failed ${summary.fail}; answered by ${Object.keys(summary.pods).length} pods; ${seen.samples} samples: at most ${seen.maxSpec} wanted, ${seen.maxPods} pods, at least ${seen.minReady} ready`);
    assert.equal(summary.fail, 0, `failed requests: ${JSON.stringify(summary.errors)} (ok ${summary.ok})`);
    assert.ok(summary.ok > 100, `only ${summary.ok} requests were made`);
    assert.ok(Object.keys(summary.pods).length >= 2 * REPLICAS, `answers came from the old and the new pods: ${JSON.stringify(summary.pods)}`);
    assert.ok(seen.samples > 5, `sampled ${seen.samples} times`);
    assert.ok(seen.maxSpec <= REPLICAS + MAX_SURGE, `ReplicaSets wanted ${seen.maxSpec} pods in total`);
    assert.ok(seen.maxPods <= REPLICAS + MAX_SURGE, `${seen.maxPods} pods existed (not terminating) at once`);
    assert.ok(seen.minReady >= REPLICAS - MAX_UNAVAILABLE, `ready pods fell to ${seen.minReady}`);
  });

  it('kubectl scale changes the number of running pods; deleting the Deployment removes them', async () => {
    await kubectlOk(['scale', 'deploy/echo', '--replicas=1']);
    await until('one pod left', async () => (await pods()).length === 1);
    await kubectlOk(['delete', 'deploy', 'echo']);
    await until('pods and ReplicaSets gone', async () => (await pods()).length === 0 && (await replicaSets()).length === 0);
  });
});
