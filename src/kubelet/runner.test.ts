// PodRunner and Scheduler against an in-process control plane (HTTPS on loopback), with the runner
// in loopback isolation (no namespaces: these tests need no root): start, env and status; readiness
// going and coming back; crash and restart with back-off; a pod without a command; logs (current,
// --previous, follow); adoption by a second runner; graceful deletion (SIGTERM seen, Pod gone).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { startTestControlPlane, type TestControlPlane } from '../api/testing.js';
import type { KubeClient } from '../client/http.js';
import type { Pod } from '../registry/kinds/pod.js';
import type { Node } from '../registry/kinds/node.js';
import { StatusError } from '../util/errors.js';
import { PodRunner } from './runner.js';
import { Scheduler, pickNode } from './scheduler.js';
import { pollUntil } from '../util/poll.js';

const logger = pino({ level: 'silent' });

const until = <T>(what: string, f: () => Promise<T | undefined | false>, boundMs = 60_000): Promise<T> => pollUntil(what, f, boundMs, 50);

async function streamText(s: NodeJS.ReadableStream): Promise<string> {
  let out = '';
  for await (const chunk of s) out += String(chunk);
  return out;
}

describe('PodRunner (loopback isolation) and Scheduler', () => {
  let env: TestControlPlane | undefined;
  let dir: string;
  let client: KubeClient;
  let runner: PodRunner | undefined;
  let scheduler: Scheduler | undefined;
  const ns = `kl-${process.pid}`;
  const base = `/api/v1/namespaces/${ns}/pods`;
  const getPod = (name: string) => client.request<Pod>('GET', `${base}/${name}`);
  const newRunner = () =>
    new PodRunner({ client, nodeName: 'node-a', nodeIPs: ['127.0.0.1'], stateDir: join(dir, 'state'), isolation: 'loopback', clusterDNS: ['198.18.0.10'], clusterDomain: 'cluster.local', backoff: { initialMs: 300, maxMs: 600, resetAfterMs: 600_000 }, pollMs: 100, logger });

  before(async () => {
    env = await startTestControlPlane('portico-kubelet-');
    ({ dir, client } = env);
    await client.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    await client.request('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a' } });
    await client.request('PATCH', '/api/v1/nodes/node-a/status', { status: { conditions: [{ type: 'Ready', status: 'True' }] } }, 'application/merge-patch+json');
    runner = newRunner();
    await runner.start();
    scheduler = new Scheduler({ client, logger, retryMs: 200 });
    await scheduler.start();
  });
  after(async () => {
    scheduler?.stop();
    await runner?.stop({ killPods: true });
    await env?.close();
  });

  const create = (name: string, spec: Record<string, unknown>) => client.request<Pod>('POST', base, { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec });

  it('binds an unbound pod to the Ready node (spec.nodeName by PATCH), then runs it with env and status', async () => {
    await create('hello', {
      containers: [{ name: 'main', image: 'busybox', command: ['sh', '-c', 'echo "pod=$MY_POD ip=$POD_IP k8s=$KUBERNETES_SERVICE_HOST"; trap "echo got-term; exit 0" TERM; while :; do sleep 0.1; done'], env: [{ name: 'MY_POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }] }],
      terminationGracePeriodSeconds: 20,
    });
    const pod = await until('hello Ready', async () => {
      const p = await getPod('hello');
      return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') && p;
    });
    assert.equal(pod.spec?.nodeName, 'node-a');
    assert.equal(pod.status?.phase, 'Running');
    assert.match(pod.status?.podIP ?? '', /^127\.0\.0\.\d+$/);
    const log = await until('hello log', async () => {
      const t = await streamText(await runner!.readLogs(ns, 'hello', 'main'));
      return t.includes('pod=') && t;
    });
    assert.match(log, new RegExp(`pod=hello ip=${pod.status!.podIP!.replace(/\./g, '\\.')} k8s=198\\.18\\.0\\.1`));
  });

  it('a pod with no command fails with a clear reason', async () => {
    await create('nocmd', { nodeName: 'node-a', containers: [{ name: 'web', image: 'nginx' }] });
    const p = await until('nocmd Failed', async () => {
      const x = await getPod('nocmd');
      return x.status?.phase === 'Failed' && x;
    });
    assert.equal(p.status?.reason, 'NoCommand');
    assert.match(p.status?.message ?? '', /has no command.*image "nginx" is recorded, not pulled/);
  });

  it('readiness: an exec probe failing makes the pod unready, passing again makes it ready', async () => {
    const flag = join(dir, 'ready-flag');
    await writeFile(flag, '');
    await create('probed', { nodeName: 'node-a', containers: [{ name: 'main', command: ['sleep', '3600'], readinessProbe: { exec: { command: ['test', '-f', flag] }, periodSeconds: 1, failureThreshold: 1 } }] });
    const readyIs = (want: string) => until(`probed Ready=${want}`, async () => (await getPod('probed')).status?.conditions?.some((c) => c.type === 'Ready' && c.status === want));
    await readyIs('True');
    await rm(flag);
    await readyIs('False');
    await writeFile(flag, '');
    await readyIs('True');
  });

  it('restartPolicy Never: a container that exits 0 leaves the pod Succeeded, not restarted', async () => {
    await create('once', { nodeName: 'node-a', restartPolicy: 'Never', containers: [{ name: 'main', command: ['sh', '-c', 'echo done'] }] });
    const p = await until('once Succeeded', async () => {
      const x = await getPod('once');
      return x.status?.phase === 'Succeeded' && x;
    });
    const cs = p.status?.containerStatuses?.[0];
    assert.deepEqual([cs?.state?.terminated?.reason, cs?.state?.terminated?.exitCode, cs?.restartCount], ['Completed', 0, 0]);
    assert.equal(p.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'False');
  });

  it('a crashing container restarts with back-off: restartCount grows, CrashLoopBackOff, --previous logs', async () => {
    await create('crash', { nodeName: 'node-a', containers: [{ name: 'main', command: ['sh', '-c', 'echo run; exit 3'] }] });
    const seen = new Set<string>();
    const p = await until('three restarts', async () => {
      const x = await getPod('crash');
      const cs = x.status?.containerStatuses?.[0];
      if (cs?.state?.waiting?.reason) seen.add(cs.state.waiting.reason);
      return (cs?.restartCount ?? 0) >= 3 && x;
    });
    assert.ok(seen.has('CrashLoopBackOff'), `states seen: ${[...seen].join(', ')}`);
    assert.equal(p.status?.containerStatuses?.[0]?.lastState?.terminated?.exitCode, 3);
    assert.match(await streamText(await runner!.readLogs(ns, 'crash', 'main', { previous: true })), /^run$/m);
  });

  it('a second runner adopts running pods instead of restarting them', async () => {
    const before1 = await getPod('hello');
    const id = before1.status?.containerStatuses?.[0]?.containerID;
    await runner!.stop();
    runner = newRunner();
    await runner.start();
    // A change the new runner must react to proves it is watching; the container must be the same.
    await client.request('PATCH', `${base}/hello`, { metadata: { labels: { touched: 'yes' } } }, 'application/merge-patch+json');
    const after1 = await until('hello still Ready', async () => {
      const p = await getPod('hello');
      return p.metadata?.labels?.touched === 'yes' && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') && p;
    });
    assert.equal(after1.status?.containerStatuses?.[0]?.containerID, id);
    assert.equal(after1.status?.containerStatuses?.[0]?.restartCount, 0);
    assert.ok(runner.pods().some((x) => x.name === 'hello'));
  });

  it('graceful deletion: SIGTERM reaches the container (follow log), then the Pod is deleted', async () => {
    // The adopted process is not our child: its end is seen by polling, its log read from the file.
    const follow = streamText(await runner!.readLogs(ns, 'hello', 'main', { follow: true, pollMs: 50 }));
    await client.request('DELETE', `${base}/hello`);
    const terminating = await getPod('hello').catch(() => undefined);
    if (terminating) assert.ok(terminating.metadata?.deletionTimestamp, 'a bound pod is deleted gracefully');
    await until('hello gone', async () => {
      try {
        await getPod('hello');
        return false;
      } catch (e) {
        return e instanceof StatusError && e.code === 404;
      }
    });
    assert.match(await follow, /got-term/);
    assert.ok(!runner!.pods().some((x) => x.name === 'hello'));
  });

  it('pickNode: the fitting node with fewest pods', () => {
    const node = (name: string, ready: boolean, extra: Partial<NonNullable<Node['spec']>> = {}): Node => ({ metadata: { name, labels: { zone: name } }, spec: extra, status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] } }) as Node;
    const nodes = [node('a', true), node('b', true), node('c', false), node('d', true, { unschedulable: true }), node('e', true, { taints: [{ key: 'k', effect: 'NoSchedule' }] })];
    const pod = (sel?: Record<string, string>): Pod => ({ metadata: { name: 'p' }, spec: { containers: [], nodeSelector: sel } }) as Pod;
    assert.equal(pickNode(pod(), nodes, new Map([['a', 2], ['b', 1]])).node, 'b');
    assert.equal(pickNode(pod({ zone: 'a' }), nodes, new Map([['a', 2]])).node, 'a');
    assert.equal(pickNode(pod({ zone: 'c' }), nodes, new Map()).node, undefined);
    const tol = pod({ zone: 'e' });
    tol.spec!.tolerations = [{ key: 'k', operator: 'Exists' }];
    assert.equal(pickNode(tol, nodes, new Map()).node, 'e');
  });
});
