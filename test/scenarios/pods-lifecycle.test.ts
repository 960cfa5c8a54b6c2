// Process pods end to end, as root, in one network namespace made for the run (`pt-<id>-host`, the
// "host": host0 198.19.255.11/24, one end of a veth pair whose other end stays there too). Inside it run `portico up --proxy-mode none`
// (API on 127.0.0.1:6443, cluster DNS on 198.19.255.11:53) and `portico agent --run-pods
// --schedule-pods` (nftables data plane, the scheduler, the pod runner), both entered with
// `nsenter --net` so the pods' named network namespaces are visible to every process. The runner
// makes the bridge portico0 with the first address of the node's podCIDR (from node IPAM), and per pod
// a namespace `pt-<id>-p<hash>`, a veth, an address and /etc/netns/<ns>/resolv.conf.
//
// Shown: an unbound `portico echo` pod is bound, gets an address, becomes Ready and answers on its
// address from the host with its own hostname; its resolv.conf carries the cluster DNS and search
// path, and short names resolve from inside it; a readiness probe failing takes a pod out of the
// Service's endpoints and passing brings it back; a crashing container restarts with back-off; a
// restarted agent adopts running pods; graceful deletion sends SIGTERM, shows the endpoint
// terminating, then deletes the Pod; nothing of a pod is left once it goes.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KUBECTL, PORTICO, Proc, manifest, run, runOk, type ExecResult } from './plan.js';
import { podNetnsName } from '../../src/kubelet/network.js';
import { cleanupPods } from '../../src/kubelet/runner.js';
import { pollUntil } from '../../src/util/poll.js';

const HOST_IP = '198.19.255.11';
const SERVICE_CIDR = '198.18.0.0/16';
const POD_CIDR = '198.19.0.0/16';
const DNS_IP = '198.18.0.10';

interface PodJSON {
  metadata: { uid: string; name: string; deletionTimestamp?: string };
  spec: { nodeName?: string };
  status: {
    phase?: string;
    podIP?: string;
    conditions?: Array<{ type: string; status: string }>;
    containerStatuses?: Array<{ restartCount: number; containerID?: string; state?: { waiting?: { reason?: string } }; lastState?: { terminated?: { exitCode: number } } }>;
  };
}
interface SliceJSON {
  items: Array<{ endpoints?: Array<{ addresses: string[]; conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean } }> }>;
}

const until = <T>(what: string, f: () => Promise<T | undefined | false>, boundMs = 90_000): Promise<T> => pollUntil(what, f, boundMs, 200);

describe('process pods in network namespaces (portico agent --run-pods)', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, () => {
  const id = randomBytes(3).toString('hex');
  const hostNs = `pt-${id}-host`;
  const netnsPrefix = `pt-${id}-p`;
  const k8sNs = `pods-${id}`;
  let root = '';
  let dataDir = '';
  let stateDir = '';
  let up: Proc | undefined;
  let agent: Proc | undefined;
  let nsMade = false;

  const inHost = (argv: string[]) => ['nsenter', `--net=/run/netns/${hostNs}`, ...argv];
  const kubectl = (args: string[], input?: string): Promise<ExecResult> =>
    run(['ip', 'netns', 'exec', hostNs, KUBECTL, '--kubeconfig', join(dataDir, 'kubeconfig.yaml'), '--cache-dir', join(root, 'kube-cache'), '--request-timeout', '30s', ...args], { input, boundMs: 60_000 });
  const kubectlOk = async (args: string[], input?: string) => {
    const r = await kubectl(args, input);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
    return r.stdout;
  };
  const getPod = async (name: string) => JSON.parse(await kubectlOk(['-n', k8sNs, 'get', 'pod', name, '-o', 'json'])) as PodJSON;
  const isReady = (p: PodJSON) => (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
  const slices = async () => JSON.parse(await kubectlOk(['-n', k8sNs, 'get', 'endpointslices', '-l', 'kubernetes.io/service-name=echo', '-o', 'json'])) as SliceJSON;
  const endpointOf = async (ip: string) => (await slices()).items.flatMap((s) => s.endpoints ?? []).find((e) => e.addresses.includes(ip));
  const startAgent = async () => {
    agent = new Proc('agent', inHost([
      process.execPath, PORTICO, 'agent',
      '--kubeconfig', join(dataDir, 'kubeconfig.yaml'),
      '--node-name', 'n1',
      '--node-ip', HOST_IP,
      '--mode', 'nftables',
      '--cluster-cidr', POD_CIDR,
      '--service-cidr', SERVICE_CIDR,
      '--metrics-bind-address', '',
      '--run-pods', '--schedule-pods',
      '--pod-state-dir', stateDir,
      '--pod-netns-prefix', netnsPrefix,
      '--pod-backoff-initial', '1s',
      '--pod-backoff-max', '4s',
    ]));
    await agent.waitFor(/^Portico agent is up: .*running pods/m);
  };

  before(async () => {
    root = await mkdtemp(join(tmpdir(), `pt-${id}-`));
    dataDir = join(root, 'data');
    stateDir = join(root, 'node');
    await runOk(['ip', 'netns', 'add', hostNs]);
    nsMade = true;
    const ipIn = (args: string) => runOk(['ip', '-n', hostNs, ...args.split(' ')]);
    await ipIn('link set lo up');
    await ipIn('link add host0 type veth peer name host0p');
    await ipIn('link set host0p up');
    await ipIn(`addr add ${HOST_IP}/24 dev host0`);
    await ipIn('link set host0 up');
    await ipIn(`route add ${SERVICE_CIDR} dev host0`);
    up = new Proc('portico up', inHost([
      process.execPath, PORTICO, 'up',
      '--data-dir', dataDir,
      '--api-listen', '127.0.0.1:6443',
      '--dns-listen', `${HOST_IP}:53`,
      '--service-cidr', SERVICE_CIDR,
      '--pod-cidr', POD_CIDR,
      '--proxy-mode', 'none',
    ]));
    await up.waitFor(/^Portico is up: API https:\/\/\S+/m);
    await startAgent();
    const echoService = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'echo', namespace: k8sNs }, spec: { selector: { app: 'echo' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } };
    await kubectlOk(['apply', '-f', '-'], manifest([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: k8sNs } }, echoService]));
  });

  after(async () => {
    await agent?.stop();
    await up?.stop();
    // The pods outlive the agent (a new one would adopt them): end them by their recorded pids.
    if (stateDir) await cleanupPods(stateDir);
    const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
    for (const line of list.split('\n')) {
      const n = line.split(' ')[0] ?? '';
      if (n.startsWith(netnsPrefix)) spawnSync('ip', ['netns', 'del', n]);
    }
    for (const d of await readdir('/etc/netns').catch(() => [] as string[])) if (d.startsWith(netnsPrefix)) await rm(join('/etc/netns', d), { recursive: true, force: true });
    if (nsMade) spawnSync('ip', ['netns', 'del', hostNs]);
    if (root) await rm(root, { recursive: true, force: true });
  });

  const echoPod = (name: string, extra: Record<string, unknown> = {}) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: k8sNs, labels: { app: 'echo' } },
    spec: {
      containers: [{ name: 'echo', image: 'portico/echo', command: [process.execPath, PORTICO, 'echo', '--http', '0.0.0.0:8080'], ports: [{ name: 'http', containerPort: 8080 }], ...extra }],
    },
  });
  const readyPod = (name: string) => until(`${name} Ready`, async () => {
    const p = await getPod(name);
    return isReady(p) && p;
  });
  const ctx: { echo?: PodJSON } = {};

  it('an unbound echo pod is scheduled, gets an address from the podCIDR, becomes Ready and answers on it', async () => {
    await kubectlOk(['apply', '-f', '-'], manifest([echoPod('echo-1', { readinessProbe: { httpGet: { path: '/', port: 'http' }, periodSeconds: 1 } })]));
    const p = await readyPod('echo-1');
    ctx.echo = p;
    assert.equal(p.spec.nodeName, 'n1');
    assert.equal(p.status.phase, 'Running');
    assert.match(p.status.podIP ?? '', /^198\.19\.\d+\.\d+$/);
    const body = await runOk(['ip', 'netns', 'exec', hostNs, 'curl', '-sS', '--max-time', '5', `http://${p.status.podIP}:8080/hello`]);
    const reply = JSON.parse(body) as { pod: string; address: string };
    // `portico echo` answers with the host name: the pod's own, from its UTS namespace.
    assert.deepEqual([reply.pod, reply.address], ['echo-1', p.status.podIP]);
    const ep = await until('echo-1 in the endpoints', () => endpointOf(p.status.podIP!));
    assert.equal(ep.conditions?.ready, true);
  });

  it("the pod's resolv.conf points at the cluster DNS with the search path, and short names resolve inside it", async () => {
    const p = ctx.echo ?? (await getPod('echo-1'));
    const podNs = podNetnsName(netnsPrefix, p.metadata.uid);
    const resolv = await runOk(['ip', 'netns', 'exec', podNs, 'cat', '/etc/resolv.conf']);
    assert.equal(resolv, `nameserver ${DNS_IP}\nsearch ${k8sNs}.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n`);
    const svcIP = (await kubectlOk(['-n', k8sNs, 'get', 'service', 'echo', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
    // Through the kube-dns cluster IP (the agent's nftables rules) to the cluster DNS server.
    const short = await until('dig of a short name', async () => (await runOk(['ip', 'netns', 'exec', podNs, 'dig', '+search', '+short', '+time=2', '+tries=1', 'echo'])).trim());
    assert.equal(short, svcIP);
    const kube = await runOk(['ip', 'netns', 'exec', podNs, 'dig', '+search', '+short', '+time=2', '+tries=1', 'kubernetes.default']);
    assert.equal(kube.trim(), '198.18.0.1');
  });

  it('an unready pod (readiness probe failing) leaves the endpoints and comes back', async () => {
    const flag = join(root, 'flaky-ready');
    await writeFile(flag, '');
    await kubectlOk(['apply', '-f', '-'], manifest([echoPod('flaky', { readinessProbe: { exec: { command: ['test', '-f', flag] }, periodSeconds: 1, failureThreshold: 1 } })]));
    const p = await readyPod('flaky');
    const ip = p.status.podIP!;
    await until('flaky ready in the endpoints', async () => (await endpointOf(ip))?.conditions?.ready === true);
    await rm(flag);
    await until('flaky not ready in the endpoints', async () => (await endpointOf(ip))?.conditions?.ready === false);
    assert.equal(isReady(await getPod('flaky')), false);
    await writeFile(flag, '');
    await until('flaky ready again in the endpoints', async () => (await endpointOf(ip))?.conditions?.ready === true);
  });

  it('a crashing container restarts with back-off: restartCount grows, CrashLoopBackOff between runs', async () => {
    await kubectlOk(['apply', '-f', '-'], manifest([{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'crasher', namespace: k8sNs }, spec: { containers: [{ name: 'c', image: 'busybox', command: ['sh', '-c', 'echo boom; exit 1'] }] } }]));
    const reasons = new Set<string>();
    const p = await until('crasher restarted three times', async () => {
      const x = await getPod('crasher');
      const cs = x.status.containerStatuses?.[0];
      if (cs?.state?.waiting?.reason) reasons.add(cs.state.waiting.reason);
      return (cs?.restartCount ?? 0) >= 3 && x;
    });
    assert.ok(reasons.has('CrashLoopBackOff'), `waiting reasons seen: ${[...reasons].join(', ')}`);
    assert.equal(p.status.containerStatuses?.[0]?.lastState?.terminated?.exitCode, 1);
  });

  it('a failing liveness probe restarts the container; passing again, it stays up', async () => {
    const flag = join(root, 'alive');
    await writeFile(flag, '');
    const pod = echoPod('lively', { livenessProbe: { exec: { command: ['test', '-f', flag] }, periodSeconds: 1, failureThreshold: 2 } });
    await kubectlOk(['apply', '-f', '-'], manifest([{ ...pod, spec: { ...pod.spec, terminationGracePeriodSeconds: 2 } }]));
    const first = await readyPod('lively');
    assert.equal(first.status.containerStatuses?.[0]?.restartCount, 0);
    await rm(flag);
    const restarted = await until('lively restarted by its liveness probe', async () => {
      const p = await getPod('lively');
      return (p.status.containerStatuses?.[0]?.restartCount ?? 0) >= 1 && p;
    }, 60_000);
    await writeFile(flag, '');
    assert.ok(restarted.status.containerStatuses?.[0]?.lastState?.terminated, 'the killed run is the last state');
    const again = await readyPod('lively');
    assert.notEqual(again.status.containerStatuses?.[0]?.containerID, first.status.containerStatuses?.[0]?.containerID);
    const count = again.status.containerStatuses?.[0]?.restartCount;
    // Three more probe periods with the probe passing: no further restart.
    await new Promise((r) => setTimeout(r, 3_000));
    assert.equal((await getPod('lively')).status.containerStatuses?.[0]?.restartCount, count);
  });

  it('a startup probe holds readiness back until it passes', async () => {
    const flag = join(root, 'started');
    await kubectlOk(['apply', '-f', '-'], manifest([echoPod('slowstart', { startupProbe: { exec: { command: ['test', '-f', flag] }, periodSeconds: 1, failureThreshold: 60 } })]));
    const p = await until('slowstart running', async () => {
      const x = await getPod('slowstart');
      return x.status.phase === 'Running' && x;
    });
    // Running for a few probe periods, the startup probe failing: not started, not Ready.
    await new Promise((r) => setTimeout(r, 3_000));
    const held = await getPod('slowstart');
    assert.equal(isReady(held), false);
    assert.equal((held.status.containerStatuses?.[0] as { started?: boolean } | undefined)?.started, false);
    assert.equal(await endpointOf(p.status.podIP!).then((e) => e?.conditions?.ready ?? false), false);
    await writeFile(flag, '');
    const ready = await readyPod('slowstart');
    assert.equal((ready.status.containerStatuses?.[0] as { started?: boolean } | undefined)?.started, true);
    assert.equal(ready.status.containerStatuses?.[0]?.restartCount, 0);
  });

  it('a restarted agent adopts the running pods: same process, no restart, still serving', async () => {
    const before1 = await getPod('echo-1');
    await agent?.stop();
    await startAgent();
    await kubectlOk(['-n', k8sNs, 'label', 'pod', 'echo-1', 'adopted=yes']);
    const p = await readyPod('echo-1');
    assert.equal(p.status.containerStatuses?.[0]?.containerID, before1.status.containerStatuses?.[0]?.containerID);
    assert.equal(p.status.containerStatuses?.[0]?.restartCount, 0);
    const body = await runOk(['ip', 'netns', 'exec', hostNs, 'curl', '-sS', '--max-time', '5', `http://${p.status.podIP}:8080/`]);
    assert.equal((JSON.parse(body) as { pod: string }).pod, 'echo-1');
  });

  it('graceful deletion: SIGTERM, the endpoint shows terminating, then the Pod and its namespace are gone', async () => {
    const mark = join(root, 'slowstop-sigterm');
    const script = `trap 'echo SIGTERM > ${mark}; sleep 8; exit 0' TERM; ${process.execPath} ${PORTICO} echo --http 0.0.0.0:8080 & wait`;
    await kubectlOk(['apply', '-f', '-'], manifest([{ ...echoPod('slowstop'), spec: { terminationGracePeriodSeconds: 30, containers: [{ name: 'echo', command: ['sh', '-c', script] }] } }]));
    const p = await readyPod('slowstop');
    const ip = p.status.podIP!;
    const podNs = podNetnsName(netnsPrefix, p.metadata.uid);
    await until('slowstop in the endpoints', async () => (await endpointOf(ip))?.conditions?.ready === true);
    await kubectlOk(['-n', k8sNs, 'delete', 'pod', 'slowstop', '--wait=false']);
    const ep = await until('slowstop terminating in the endpoints', async () => {
      const e = await endpointOf(ip);
      return e?.conditions?.terminating === true && e;
    });
    // Still running its SIGTERM handler and Ready: serving while terminating, as kube shows it.
    assert.deepEqual([ep.conditions?.ready, ep.conditions?.serving], [false, true]);
    await until('slowstop gone', async () => {
      const r = await kubectl(['-n', k8sNs, 'get', 'pod', 'slowstop', '-o', 'name']);
      return r.code !== 0 && /NotFound|not found/.test(r.stderr);
    });
    assert.ok(existsSync(mark), 'the container saw SIGTERM');
    const list = await runOk(['ip', 'netns', 'list']);
    assert.ok(!list.split('\n').some((l) => l.startsWith(podNs)), `${podNs} was removed`);
    assert.ok(!existsSync(join('/etc/netns', podNs)), `/etc/netns/${podNs} was removed`);
    assert.equal(await endpointOf(ip), undefined);
  });
});
