// `portico up` with the userspace data plane, as root and as an unprivileged user: Service cluster
// IPs inside loopback carry traffic to endpoints, the kube-dns cluster IP answers (as root, where
// port 53 can be bound), a per-Service scheduler annotation takes effect, and per-endpoint counters
// show up in /metrics.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request as httpRequest } from 'node:http';
import { PORTICO_BIN, KUBECTL, waitFor } from './harness.js';

const children: ChildProcess[] = [];
const dirs: string[] = [];
after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function start(args: string[], uid?: number): Promise<{ child: ChildProcess; out: () => string }> {
  const child = spawn(process.execPath, [PORTICO_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...(uid !== undefined ? { uid, gid: uid } : {}) });
  children.push(child);
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no start within 90 s: ${err.slice(-500)}`)), 90_000);
    child.stdout!.on('data', () => {
      if (/node agent: userspace/.test(out) || /Portico agent is up/.test(out) || /Portico echo/.test(out) || /listening/.test(out)) {
        clearTimeout(t);
        resolve({ child, out: () => out });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`exited ${code}: ${err.slice(-500)}`));
    });
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // A new connection per request (Node 20's global agent keeps connections alive).
    const req = httpRequest(url, { timeout: 5000, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (s: string) => (body += s));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timeout`)));
    req.on('error', reject);
    req.end();
  });
}

function kubectlApply(kubeconfig: string, manifest: string, uid?: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn(KUBECTL, ['--kubeconfig', kubeconfig, 'apply', '-f', '-'], { stdio: ['pipe', 'pipe', 'pipe'], ...(uid !== undefined ? { uid, gid: uid, env: { ...process.env, HOME: tmpdir() } } : {}) });
    let err = '';
    c.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    c.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`kubectl apply: ${err}`))));
    c.stdin.end(manifest);
  });
}

const manifest = (clusterIP: string, endpointIPs: string[], annotations = '', port = 80) => `
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
  ${annotations}
spec:
  clusterIP: ${clusterIP}
  ports: [{name: http, port: ${port}, targetPort: 8080}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: web, namespace: default}
subsets:
- addresses: [${endpointIPs.map((ip) => `{ip: ${ip}}`).join(', ')}]
  ports: [{name: http, port: 8080}]
`;

async function podsSeen(url: string, n: number): Promise<string[]> {
  const seen: string[] = [];
  for (let i = 0; i < n; i++) seen.push((JSON.parse(await waitFor(() => get(url), `answer from ${url}`, 20_000)) as { pod: string }).pod);
  return seen;
}

describe('portico up with the userspace data plane', () => {
  it('as root: cluster IPs in loopback reach endpoints round robin, kube-dns answers on its cluster IP, metrics count per endpoint', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portico-us-'));
    dirs.push(dir);
    const up = await start(['up', '--data-dir', join(dir, 'd'), '--api-listen', '127.0.0.1:0', '--dns-listen', '127.0.0.1:0', '--dns-upstream', '127.0.0.1:9', '--proxy-mode', 'userspace', '--service-cidr', '127.96.0.0/16']);
    await start(['echo', '--http', '127.0.0.21:8080', '--name', 'a']);
    await start(['echo', '--http', '127.0.0.22:8080', '--name', 'b']);
    await kubectlApply(join(dir, 'd', 'kubeconfig.yaml'), manifest('127.96.7.7', ['127.0.0.21', '127.0.0.22']));
    const seen = await podsSeen('http://127.96.7.7/', 6);
    assert.deepEqual(seen.filter((p) => p === 'a').length, 3, `round robin alternates: ${seen.join(',')}`);
    assert.deepEqual(seen.filter((p) => p === 'b').length, 3, `round robin alternates: ${seen.join(',')}`);
    const metrics = await get('http://127.0.0.1:10249/metrics');
    assert.match(metrics, /portico_userspace_endpoint_connections_total\{namespace="default",service="web",port="http",protocol="TCP",endpoint="127\.0\.0\.21:8080"\} 3/);
    // Byte counters per endpoint: each of the 3 requests sent the same bytes, and got an answer back.
    for (const dir of ['in', 'out']) {
      const m = new RegExp(`portico_userspace_endpoint_bytes_${dir}_total\\{namespace="default",service="web",port="http",protocol="TCP",endpoint="127\\.0\\.0\\.21:8080"\\} (\\d+)`).exec(metrics);
      assert.ok(m && Number(m[1]) > 0, `bytes ${dir} counted for the endpoint: ${m?.[0]}`);
    }
    assert.match(metrics, /kubeproxy_sync_proxy_rules_duration_seconds_count/);
    assert.match(up.out(), /node agent: userspace data plane, Service CIDR 127\.96\.0\.0\/16/);
    // kube-dns's cluster IP (tenth address) relays to the DNS server over UDP.
    const dig = await new Promise<string>((resolve) => {
      const c = spawn('dig', ['+short', '+time=2', '+tries=2', '@127.96.0.10', 'web.default.svc.cluster.local']);
      let o = '';
      c.stdout.setEncoding('utf8').on('data', (s: string) => (o += s));
      c.once('exit', () => resolve(o.trim()));
    });
    assert.equal(dig, '127.96.7.7');
    await stop(up.child);
  });

  it('as an unprivileged user: up picks userspace and a loopback service CIDR by itself, and sh keeps a client on one endpoint', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portico-us-nobody-'));
    dirs.push(dir);
    await chmod(dir, 0o777);
    const nobody = 65534;
    const up = await start(['up', '--data-dir', join(dir, 'd'), '--api-listen', '127.0.0.1:0', '--dns-listen', '127.0.0.1:0', '--dns-upstream', '127.0.0.1:9'], nobody);
    assert.match(up.out(), /node agent: userspace data plane, Service CIDR 127\.96\.0\.0\/12/);
    await start(['echo', '--http', '127.0.0.31:8080', '--name', 'c'], nobody);
    await start(['echo', '--http', '127.0.0.32:8080', '--name', 'd'], nobody);
    const kubeconfig = join(dir, 'd', 'kubeconfig.yaml');
    assert.ok((await readFile(kubeconfig, 'utf8')).includes('server: https://127.0.0.1:'));
    // Without root only ports from 1024 up can be bound (unless net.ipv4.ip_unprivileged_port_start is lowered).
    await kubectlApply(kubeconfig, manifest('127.96.8.8', ['127.0.0.31', '127.0.0.32'], 'annotations: {portico.dev/scheduler: sh}', 8000), nobody);
    const seen = await podsSeen('http://127.96.8.8:8000/', 6);
    assert.equal(new Set(seen).size, 1, `source hashing keeps one client on one endpoint: ${seen.join(',')}`);
    await stop(up.child);
  });
});
