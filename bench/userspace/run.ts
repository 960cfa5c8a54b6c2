// wrk through the userspace proxy and through haproxy (TCP mode, one thread) to the same nginx
// backend on loopback, in one run: kept-alive req/s, new connections/s (Connection: close), p99.
// Needs wrk, haproxy and nginx on PATH (apt-get install wrk haproxy nginx-light).
//   node dist/bench/userspace/run.js [--duration 10] [--connections 50]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ep, modelOf, sport } from '../../src/proxy/testing.js';
import { UserspaceProxier } from '../../src/proxy/userspace/proxier.js';

const NGINX = { ip: '127.0.0.1', port: 18090 };
const HAPROXY = { ip: '127.0.0.1', port: 18091 };
const PORTICO = { ip: '127.10.0.1', port: 18092 };
const PIPE = { ip: '127.0.0.1', port: 18093 };

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : def;
  return Number.isFinite(v) && v > 0 ? v : def;
}

async function waitPort(ip: string, port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: ip, port }, () => (s.destroy(), resolve(true)));
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${ip}:${port} never came up`);
}

interface WrkResult { rps: number; p99ms: number; errors: string }

function parseLatencyMs(s: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(s);
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
}

function wrk(url: string, seconds: number, conns: number, close: boolean): Promise<WrkResult> {
  const args = ['-t1', `-c${conns}`, `-d${seconds}s`, '--latency', ...(close ? ['-H', 'Connection: close'] : []), url];
  return new Promise((resolve, reject) => {
    const p = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    p.on('error', reject);
    p.on('close', () => {
      const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
      const p99 = parseLatencyMs(/^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? '');
      const errors = /Socket errors:.*|Non-2xx.*/.exec(out)?.[0] ?? '';
      resolve({ rps, p99ms: p99, errors });
    });
  });
}

async function main(): Promise<void> {
  const seconds = arg('duration', 10);
  const conns = arg('connections', 50);
  const dir = mkdtempSync(join(tmpdir(), 'portico-bench-'));
  const children: ChildProcess[] = [];
  const closers: (() => void)[] = [];
  const proxier = new UserspaceProxier({ nodeName: 'bench', nodeIPs: [] });
  try {
    writeFileSync(join(dir, 'nginx.conf'), `
daemon off; worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/nginx.err;
events { worker_connections 4096; }
http {
  access_log off; keepalive_requests 1000000; keepalive_timeout 60s;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  server { listen ${NGINX.ip}:${NGINX.port} reuseport backlog=4096; location / { return 200 "hello\\n"; } }
}
`);
    writeFileSync(join(dir, 'haproxy.cfg'), `
global
  nbthread 1
  maxconn 8000
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend fe
  bind ${HAPROXY.ip}:${HAPROXY.port}
  default_backend be
backend be
  server nginx ${NGINX.ip}:${NGINX.port}
`);
    children.push(spawn('nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: 'inherit' }));
    children.push(spawn('haproxy', ['-f', join(dir, 'haproxy.cfg')], { stdio: 'inherit' }));
    await proxier.sync(modelOf([sport({ name: 'nginx', clusterIP: PORTICO.ip, port: PORTICO.port, endpoints: [ep(NGINX.ip, NGINX.port)] })]), 'full');
    // The reference point of DESIGN.md: a naive socket.pipe proxy in the same process.
    const naive = net.createServer((c) => {
      const u = net.connect({ host: NGINX.ip, port: NGINX.port });
      c.pipe(u).pipe(c);
      c.on('error', () => u.destroy());
      u.on('error', () => c.destroy());
    }).listen(PIPE.port, PIPE.ip);
    closers.push(() => naive.close());
    await waitPort(NGINX.ip, NGINX.port);
    await waitPort(HAPROXY.ip, HAPROXY.port);

    const targets = { direct: NGINX, haproxy: HAPROXY, portico: PORTICO, 'naive-pipe': PIPE };
    const rows: Record<string, unknown>[] = [];
    for (const close of [false, true]) {
      for (const [name, t] of Object.entries(targets)) {
        // Each row runs the same wrk against one target; the others sit idle meanwhile.
        const r = await wrk(`http://${t.ip}:${t.port}/`, seconds, conns, close);
        rows.push({ target: name, mode: close ? 'new connection per request' : 'kept alive', rps: Math.round(r.rps), p99ms: r.p99ms, errors: r.errors });
        console.log(JSON.stringify(rows[rows.length - 1]));
      }
    }
    const mem = process.memoryUsage();
    console.log(JSON.stringify({ porticoRssMB: Math.round(mem.rss / 1e6), seconds, conns }));
  } finally {
    await proxier.close();
    for (const c of closers) c();
    for (const c of children) if (c.pid !== undefined) c.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
