// `portico up` on one host (a network namespace standing in for it), as the README's first page
// promises: a Pod applied with kubectl runs as a process with its own address, becomes Ready, a
// Service's cluster IP reaches it through the nftables data plane, its DNS name resolves, the pod's
// resolv.conf points at the cluster DNS, and `kubectl logs` reads its output through the API. A
// pod's environment from a ConfigMap and a Secret made with `kubectl create configmap|secret`.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { KUBECTL, PORTICO, REPO_ROOT, run, runOk } from './plan.js';

const ns = `pt-up-${randomBytes(3).toString('hex')}`;
const inNs = (argv: string[]) => ['nsenter', `--net=/run/netns/${ns}`, ...argv];
let dir = '';
let up: ChildProcess | undefined;

async function kubectl(args: string[], input?: string): Promise<string> {
  return runOk(inNs([KUBECTL, '--kubeconfig', join(dir, 'data', 'kubeconfig.yaml'), ...args]), { input, boundMs: 60_000 });
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, boundMs = 60_000): Promise<T> {
  const end = Date.now() + boundMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portico-up-pods-'));
  await runOk(['ip', 'netns', 'add', ns]);
  for (const cmd of [
    ['link', 'set', 'lo', 'up'],
    ['link', 'add', 'host0', 'type', 'veth', 'peer', 'name', 'host1'],
    ['addr', 'add', '198.19.255.50/24', 'dev', 'host0'],
    ['link', 'set', 'host0', 'up'],
    ['link', 'set', 'host1', 'up'],
    // Cluster IPs need a route out of the host, as on any real machine (the DNAT happens on the way).
    ['route', 'add', 'default', 'via', '198.19.255.1', 'dev', 'host0', 'onlink'],
  ]) {
    await runOk(['ip', '-n', ns, ...cmd]);
  }
  const argv = inNs([process.execPath, PORTICO, 'up', '--data-dir', join(dir, 'data'), '--api-listen', '127.0.0.1:6443', '--dns-listen', '198.19.255.50:1053', '--dns-upstream', '127.0.0.1:9', '--service-cidr', '198.18.0.0/16', '--pod-cidr', '198.19.0.0/16']);
  up = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  up.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  let err = '';
  up.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  await waitFor('portico up', async () => (/node agent: nftables/.test(out) ? true : up?.exitCode !== null ? Promise.reject(new Error(err.slice(-400))) : undefined), 90_000);
});

after(async () => {
  if (up && up.exitCode === null) {
    const exited = new Promise((r) => up!.once('exit', r));
    up.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (up.exitCode === null) up.kill('SIGKILL');
  }
  // Pods outlive their agent (the next one adopts them); a test removes them explicitly.
  await run(inNs([process.execPath, '-e', `import('${join(REPO_ROOT, 'dist/src/kubelet/runner.js')}').then((m) => m.cleanupPods('${join(dir, 'data', 'pods')}'))`]));
  await run(['ip', 'netns', 'del', ns]);
  await rm(dir, { recursive: true, force: true });
});

describe('portico up runs pods and Services on one host', () => {
  it('a pod runs, becomes Ready, is reached through its Service, resolves by name, and kubectl logs reads it', async () => {
    await kubectl(['apply', '-f', '-'], `
apiVersion: v1
kind: Pod
metadata: {name: echo, labels: {app: echo}}
spec:
  containers:
  - name: echo
    image: portico/echo
    command: [${process.execPath}, ${PORTICO}, echo, --http, "0.0.0.0:8080", --name, echo-pod]
    readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  selector: {app: echo}
  ports: [{name: http, port: 80, targetPort: 8080}]
`);
    const podIP = await waitFor('the pod Ready with an IP', async () => {
      const s = JSON.parse(await kubectl(['get', 'pod', 'echo', '-o', 'json'])) as { status?: { podIP?: string; conditions?: Array<{ type: string; status: string }> } };
      return s.status?.podIP && s.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? s.status.podIP : undefined;
    });
    assert.match(podIP, /^198\.19\.\d+\.\d+$/);
    assert.match(await kubectl(['get', 'endpoints', 'echo']), new RegExp(`${podIP.replace(/\./g, '\\.')}:8080`));

    const clusterIP = (await kubectl(['get', 'svc', 'echo', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
    const body = await waitFor('an answer through the cluster IP', async () => {
      const r = await run(inNs(['curl', '-s', '-m', '3', `http://${clusterIP}/`]));
      return r.code === 0 && r.stdout ? r.stdout : undefined;
    });
    const reply = JSON.parse(body) as { pod: string; address: string };
    assert.equal(reply.pod, 'echo-pod');
    assert.equal(reply.address, podIP);

    const dig = await runOk(inNs(['dig', '+short', '@198.19.255.50', '-p', '1053', 'echo.default.svc.cluster.local']));
    assert.equal(dig.trim(), clusterIP);

    const podNetns = (await runOk(['ip', 'netns', 'list'])).split('\n').map((l) => l.split(' ')[0]!).find((n) => n.startsWith('portico-'));
    assert.ok(podNetns, 'the pod has its own network namespace');
    const resolv = await runOk(['ip', 'netns', 'exec', podNetns!, 'cat', '/etc/resolv.conf']);
    assert.match(resolv, /^nameserver 198\.18\.0\.10$/m);
    assert.match(resolv, /^search default\.svc\.cluster\.local svc\.cluster\.local cluster\.local$/m);
    assert.match(resolv, /^options ndots:5$/m);
    // From inside the pod, the short name resolves through the kube-dns cluster IP and the search path.
    const inPod = await runOk(['ip', 'netns', 'exec', podNetns!, 'dig', '+short', '+search', 'echo']);
    assert.equal(inPod.trim(), clusterIP);

    const logs = await kubectl(['logs', 'echo']);
    assert.match(logs, /Portico echo is up: echo-pod on http 0\.0\.0\.0:8080/);
  });

  it("a pod's environment from a ConfigMap and a Secret; one not there yet holds the container in CreateContainerConfigError until it is", async () => {
    assert.match(await kubectl(['create', 'configmap', 'app-config', '--from-literal=MODE=fast', '--from-literal=GREETING=hello']), /configmap\/app-config created/);
    assert.match(await kubectl(['create', 'secret', 'generic', 'app-secret', '--from-literal=password=s3cret']), /secret\/app-secret created/);
    await kubectl(['apply', '-f', '-'], `
apiVersion: v1
kind: Pod
metadata: {name: configured}
spec:
  containers:
  - name: app
    image: busybox
    command: [sh, -c, 'echo "$MODE $GREETING $DB_password $PASS $LATE"; exec sleep 3600']
    envFrom:
    - configMapRef: {name: app-config}
    - {prefix: DB_, secretRef: {name: app-secret}}
    env:
    - {name: PASS, valueFrom: {secretKeyRef: {name: app-secret, key: password}}}
    - {name: LATE, valueFrom: {configMapKeyRef: {name: late-config, key: v}}}
`);
    const waiting = await waitFor('CreateContainerConfigError for the missing ConfigMap', async () => {
      const p = JSON.parse(await kubectl(['get', 'pod', 'configured', '-o', 'json'])) as { status?: { containerStatuses?: Array<{ state?: { waiting?: { reason?: string; message?: string } } }> } };
      const w = p.status?.containerStatuses?.[0]?.state?.waiting;
      return w?.reason === 'CreateContainerConfigError' ? w : undefined;
    });
    assert.equal(waiting.message, 'configmap "late-config" not found');
    await kubectl(['create', 'configmap', 'late-config', '--from-literal=v=now']);
    const line = await waitFor('the container started with its environment', async () => {
      const r = await run(inNs([KUBECTL, '--kubeconfig', join(dir, 'data', 'kubeconfig.yaml'), 'logs', 'configured']));
      return r.code === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
    });
    assert.equal(line, 'fast hello s3cret s3cret now');
    await kubectl(['delete', 'pod', 'configured', '--grace-period=1']);
  });
});
