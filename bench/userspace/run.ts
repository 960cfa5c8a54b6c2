// The userspace proxy against haproxy (TCP mode, one thread) in front of the same nginx, in one run,
// over several rounds whose target order rotates; the summary gives medians and Portico/haproxy
// ratios. Per round and target:
//   - wrk kept-alive and new-connection (Connection: close) requests/s with p99 latency, the
//     proxy's own CPU time per request (utime+stime of its processes, all their threads, from
//     /proc), and the whole machine's CPU time per request (/proc/stat: wrk, nginx, the proxy and
//     whatever else runs);
//   - a large transfer (curl, a --size-mb file from nginx), MB/s;
//   - memory of --idle idle relayed connections (opened, one request each, then left open): the RSS
//     delta of the proxy processes, scaled to 10,000 connections.
// Proxies run in their own processes (bench/userspace/proxy.ts for Portico and the naive pipe):
// haproxy nbthread 1, Portico one process with the native pump (portico) and with the JS relay
// (portico-js), Portico with --workers N processes (native pump, SO_REUSEPORT listeners), the
// naive pipe one process; nginx has one worker. Each line of output is JSON; the
// summary at the end is a Markdown table.
// Needs wrk, curl, haproxy and nginx on PATH (apt-get install wrk curl haproxy nginx-light).
//   node dist/bench/userspace/run.js [--duration 8] [--connections 50] [--rounds 3] [--idle 9000] [--size-mb 100] [--workers 2]
//     [--pairs 8] [--pair-seconds 4]
// First, Portico (one process, native pump) against haproxy alone in paired short windows
// (pairedPhase: the figure to read the >= 1.0x target from), then the rounds over every target.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Addr { ip: string; port: number }
const NGINX: Addr = { ip: '127.0.0.1', port: 18090 };
const PROXIES = {
  haproxy: { ip: '127.0.0.1', port: 18091 },
  portico: { ip: '127.10.0.1', port: 18092 },
  'portico-multi': { ip: '127.10.0.2', port: 18094 },
  'portico-js': { ip: '127.10.0.3', port: 18095 },
  'naive-pipe': { ip: '127.0.0.1', port: 18093 },
} satisfies Record<string, Addr>;
type ProxyName = keyof typeof PROXIES;

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : def;
  return Number.isFinite(v) && v >= 0 ? v : def;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitPort(a: Addr): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: a.ip, port: a.port }, () => (s.destroy(), resolve(true)));
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`${a.ip}:${a.port} never came up`);
}

/** CPU time of processes, all their threads, in microseconds (schedstat: nanoseconds on a CPU). */
function cpuMicros(pids: number[]): number {
  let t = 0;
  for (const pid of pids) {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      try {
        t += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]) / 1000;
      } catch {
        // A thread that ended between the listing and the read.
      }
    }
  }
  return t;
}

function rssBytes(pids: number[]): number {
  let t = 0;
  for (const pid of pids) t += Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) * 1024;
  return t;
}

/** Busy time of the whole machine (user, nice, system, irq, softirq, steal), in clock ticks. */
function machineTicks(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!;
}

const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

interface WrkResult { rps: number; p99ms: number; requests: number; errors: string }

function parseLatencyMs(s: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(s);
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
}

function wrk(a: Addr, seconds: number, connections: number, close: boolean): Promise<WrkResult> {
  const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', ...(close ? ['-H', 'Connection: close'] : []), `http://${a.ip}:${a.port}/`];
  return new Promise((resolve, reject) => {
    const p = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    p.on('error', reject);
    p.on('close', () => {
      resolve({
        rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
        p99ms: parseLatencyMs(/^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? ''),
        requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN),
        errors: /Socket errors:.*|Non-2xx.*/.exec(out)?.[0] ?? '',
      });
    });
  });
}

/** One download through `a`: MB/s (10^6 bytes). */
function transfer(a: Addr, path: string, size: number): number {
  const out = execFileSync('curl', ['-sS', '-o', '/dev/null', '-w', '%{size_download} %{time_total}', `http://${a.ip}:${a.port}${path}`], { encoding: 'utf8' });
  const [got, secs] = out.trim().split(' ').map(Number) as [number, number];
  if (got !== size) throw new Error(`download through ${a.ip}:${a.port}: ${got} of ${size} bytes`);
  return got / secs / 1e6;
}

/** Opens n connections through `a`, one request each, and keeps them open; returns a closer. */
async function holdIdle(a: Addr, n: number): Promise<() => Promise<void>> {
  const socks: net.Socket[] = [];
  const open = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const s = net.connect({ host: a.ip, port: a.port }, () => s.write('GET / HTTP/1.1\r\nHost: bench\r\n\r\n'));
      socks.push(s);
      s.once('data', () => resolve());
      s.once('error', reject);
    });
  // In batches, so the listen backlogs are not overrun.
  for (let i = 0; i < n; i += 200) await Promise.all(Array.from({ length: Math.min(200, n - i) }, open));
  return async () => {
    await Promise.all(socks.map((s) => new Promise<void>((r) => (s.destroyed ? r() : (s.once('close', () => r()), s.destroy())))));
  };
}

function median(xs: number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

interface Row { round: number; target: string; test: string; value: number; p99ms?: number; cpuUsPerReq?: number; machineUsPerReq?: number; errors?: string; load: string }

interface Target { name: string; addr: Addr; pids: number[] }

const CONNECTIONS = arg('connections', 50);

/** One wrk window against `t`: requests/s, p99, the target's and the machine's CPU per request. */
async function measure(t: Target, seconds: number, close: boolean) {
  const l = load();
  const c0 = cpuMicros(t.pids);
  const m0 = machineTicks();
  const r = await wrk(t.addr, seconds, CONNECTIONS, close);
  const perReq = (us: number) => Math.round((us / r.requests) * 10) / 10;
  return {
    value: r.rps, p99ms: r.p99ms,
    cpuUsPerReq: t.pids.length ? perReq(cpuMicros(t.pids) - c0) : NaN,
    machineUsPerReq: perReq((machineTicks() - m0) * 10_000),
    errors: r.errors, load: l,
  };
}

/**
 * Portico against haproxy in short windows taken in pairs, the order swapped every pair (ABBA):
 * on this shared VM the speed of the whole machine drifts by 10-40 % within a minute, which decides
 * the ratio of two 8 s runs a minute apart more than the proxies do; two windows seconds apart see
 * the same machine. Reported: the pooled ratio (all Portico requests over all haproxy requests in
 * the same total time), the median and range of the per-pair ratios, and how many pairs each won.
 */
async function pairedPhase(haproxy: Target, portico: Target, pairs: number, seconds: number, emit: (r: Row) => void): Promise<string[]> {
  const lines: string[] = [];
  for (const close of [false, true]) {
    const test = close ? 'new' : 'kept';
    const got: Array<{ h: number; p: number; hc: number; pc: number }> = [];
    for (let k = 1; k <= pairs; k++) {
      const order = k % 2 ? [haproxy, portico] : [portico, haproxy];
      const res = new Map<string, Awaited<ReturnType<typeof measure>>>();
      for (const t of order) {
        const m = await measure(t, seconds, close);
        res.set(t.name, m);
        emit({ round: k, target: t.name, test: `paired-${test}`, ...m });
      }
      const h = res.get(haproxy.name)!;
      const p = res.get(portico.name)!;
      got.push({ h: h.value, p: p.value, hc: h.cpuUsPerReq, pc: p.cpuUsPerReq });
    }
    const ratios = got.map((g) => g.p / g.h).sort((a, b) => a - b);
    const pooled = got.reduce((a, g) => a + g.p, 0) / got.reduce((a, g) => a + g.h, 0);
    const cpu = median(got.map((g) => g.pc / g.hc));
    lines.push(`paired ${test === 'kept' ? 'kept alive' : 'new connections'}: portico / haproxy pooled ${pooled.toFixed(3)}x, ` +
      `median of ${pairs} pairs ${median(ratios).toFixed(3)}x (range ${ratios[0]!.toFixed(2)}-${ratios[ratios.length - 1]!.toFixed(2)}), ` +
      `portico ahead in ${ratios.filter((r) => r >= 1).length} of ${pairs}; proxy CPU per request ${cpu.toFixed(2)}x (median of pairs); ` +
      `req/s median ${median(got.map((g) => g.p)).toFixed(0)} vs ${median(got.map((g) => g.h)).toFixed(0)}`);
  }
  return lines;
}

async function main(): Promise<void> {
  const seconds = arg('duration', 8);
  const rounds = arg('rounds', 3);
  const idleN = arg('idle', 9000);
  const sizeMB = arg('size-mb', 100);
  const workers = arg('workers', 2);
  const pairs = arg('pairs', 8);
  const pairSeconds = arg('pair-seconds', 4);
  const dir = mkdtempSync(join(tmpdir(), 'portico-bench-us-'));
  const children: ChildProcess[] = [];
  const pidsOf = new Map<string, number[]>();
  const here = dirname(fileURLToPath(import.meta.url));
  try {
    const size = sizeMB * 1_000_000;
    writeFileSync(join(dir, 'big.bin'), Buffer.alloc(size, 7));
    writeFileSync(join(dir, 'nginx.conf'), `
daemon off; worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/nginx.err;
worker_rlimit_nofile 20000;
events { worker_connections 19000; }
http {
  access_log off; keepalive_requests 1000000; keepalive_timeout 300s; sendfile on;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  server {
    listen ${NGINX.ip}:${NGINX.port} backlog=4096;
    location / { return 200 "hello\\n"; }
    location = /big.bin { root ${dir}; }
  }
}
`);
    // maxconn: two fds a connection must stay under this machine's hard limit of open files.
    const haproxyCfg = (a: Addr) => {
      const f = join(dir, `haproxy-${a.port}.cfg`);
      writeFileSync(f, `
global
  nbthread 1
  maxconn ${Math.max(idleN + 200, 1000)}
defaults
  mode tcp
  timeout connect 5s
  timeout client 300s
  timeout server 300s
frontend fe
  bind ${a.ip}:${a.port}
  default_backend be
backend be
  server nginx ${NGINX.ip}:${NGINX.port}
`);
      return f;
    };
    const nginx = spawn('nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: 'inherit' });
    children.push(nginx);
    const backend = `${NGINX.ip}:${NGINX.port}`;
    /** Starts one proxy listening on `a`; resolves with its process ids once it listens. */
    const startProxy = async (name: ProxyName, a: Addr): Promise<{ pids: number[]; stop: () => Promise<void> }> => {
      let c: ChildProcess;
      let pids: number[];
      if (name === 'haproxy') {
        c = spawn('haproxy', ['-f', haproxyCfg(a)], { stdio: 'inherit' });
        pids = [c.pid!];
      } else {
        // portico and portico-multi: the native pump; portico-js: the JS relay (the fallback).
        const extra = [...(name === 'portico-multi' ? ['--workers', String(workers)] : []), ...(name === 'naive-pipe' ? [] : ['--relay', name === 'portico-js' ? 'js' : 'native'])];
        c = spawn(process.execPath, [join(here, 'proxy.js'), name === 'naive-pipe' ? 'naive' : 'portico', `${a.ip}:${a.port}`, backend, ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
        const line = await new Promise<string>((resolve, reject) => {
          let out = '';
          c.stdout!.setEncoding('utf8').on('data', (d: string) => {
            out += d;
            if (out.includes('\n')) resolve(out.split('\n')[0] as string);
          });
          c.once('exit', (code) => reject(new Error(`${name} exited ${code}`)));
        });
        pids = (JSON.parse(line) as { pids: number[] }).pids;
      }
      children.push(c);
      await waitPort(a);
      const stop = async () => {
        if (c.exitCode !== null) return;
        const gone = new Promise((r) => c.once('exit', r));
        c.kill('SIGTERM');
        await gone;
      };
      return { pids, stop };
    };
    const names: ProxyName[] = ['haproxy', 'portico', 'portico-js', ...(workers > 1 ? ['portico-multi' as const] : []), 'naive-pipe'];
    for (const n of names) pidsOf.set(n, (await startProxy(n, PROXIES[n])).pids);
    await waitPort(NGINX);

    const proxies = [...pidsOf.keys()] as ProxyName[];
    const targets: Target[] = [
      { name: 'nginx direct', addr: NGINX, pids: [] },
      ...proxies.map((p) => ({ name: p, addr: PROXIES[p], pids: pidsOf.get(p) ?? [] })),
    ];
    const rows: Row[] = [];
    const emit = (r: Row) => {
      rows.push(r);
      console.log(JSON.stringify(r));
    };
    console.log(JSON.stringify({
      date: new Date().toISOString(), cores: cpus().length, seconds, conns: CONNECTIONS, rounds, idleN, sizeMB, pairs, pairSeconds,
      processes: { haproxy: 'nbthread 1', portico: '1 (native pump)', 'portico-js': '1 (JS relay)', 'portico-multi': workers > 1 ? workers : 'not run', 'naive-pipe': 1, nginx: '1 worker', wrk: '1 thread' },
    }));
    const byName = (n: string) => targets.find((t) => t.name === n)!;
    const paired = pairs > 0 ? await pairedPhase(byName('haproxy'), byName('portico'), pairs, pairSeconds, emit) : [];
    for (let round = 1; round <= rounds; round++) {
      // Rotate the order so no target always runs first (or right after the same neighbour).
      const k = (round - 1) % targets.length;
      const order = [...targets.slice(k), ...targets.slice(0, k)];
      for (const close of [false, true]) {
        for (const t of order) {
          emit({ round, target: t.name, test: close ? 'new' : 'kept', ...(await measure(t, seconds, close)) });
        }
      }
      for (const t of order) emit({ round, target: t.name, test: 'transfer', value: Math.round(transfer(t.addr, '/big.bin', size)), load: load() });
      if (idleN > 0) {
        // On freshly started proxies (the load tests leave heaps and buffers behind), at ports of their own.
        for (const t of order) {
          if (!t.pids.length) continue;
          const name = t.name as ProxyName;
          const a = { ip: PROXIES[name].ip, port: PROXIES[name].port + 100 };
          const fresh = await startProxy(name, a);
          await sleep(500);
          const l = load();
          const before = rssBytes(fresh.pids);
          const close = await holdIdle(a, idleN);
          await sleep(2000);
          const after = rssBytes(fresh.pids);
          await close();
          await fresh.stop();
          emit({ round, target: t.name, test: 'idle', value: ((after - before) / idleN) * 10_000 / 1e6, load: l });
        }
      }
    }

    // Summary: medians over rounds.
    const med = (target: string, test: string, f: (r: Row) => number | undefined = (r) => r.value) =>
      median(rows.filter((r) => r.target === target && r.test === test).map((r) => f(r) ?? NaN));
    const fmt = (v: number, digits = 0) => (Number.isFinite(v) ? v.toFixed(digits) : '-');
    const lines = [
      `| target | kept-alive req/s (p99 ms, proxy CPU µs/req, machine CPU µs/req) | new connections/s (same) | ${sizeMB} MB transfer MB/s | RSS per 10,000 idle connections |`,
      '| --- | --- | --- | --- | --- |',
    ];
    const cell = (name: string, test: string) =>
      `${fmt(med(name, test))} (${fmt(med(name, test, (r) => r.p99ms), 1)}, ${fmt(med(name, test, (r) => r.cpuUsPerReq), 1)}, ${fmt(med(name, test, (r) => r.machineUsPerReq), 1)})`;
    for (const t of targets) {
      lines.push(`| ${t.name} | ${cell(t.name, 'kept')} | ${cell(t.name, 'new')} | ${fmt(med(t.name, 'transfer'))} | ${t.pids.length ? `${fmt(med(t.name, 'idle'), 1)} MB` : '-'} |`);
    }
    // Per round: the target's rate over haproxy's in the same round (runs minutes apart at most,
    // so less at the mercy of the machine's load than the ratio of medians).
    const roundRatios = (target: string, test: string) => {
      const xs: number[] = [];
      for (let round = 1; round <= rounds; round++) {
        const a = rows.find((r) => r.round === round && r.target === target && r.test === test)?.value;
        const b = rows.find((r) => r.round === round && r.target === 'haproxy' && r.test === test)?.value;
        if (a !== undefined && b !== undefined) xs.push(a / b);
      }
      return `${fmt(median(xs), 2)}x (rounds: ${xs.map((x) => fmt(x, 2)).join(', ')})`;
    };
    const ratio = (target: string, test: string, inverse = false) => {
      const v = med(target, test) / med('haproxy', test);
      return fmt(inverse ? 1 / v : v, 2);
    };
    for (const p of proxies.filter((x) => x !== 'haproxy')) {
      lines.push(`\n${p} / haproxy: kept alive ${ratio(p, 'kept')}x, new connections ${ratio(p, 'new')}x, transfer ${ratio(p, 'transfer')}x, ` +
        `idle memory ${ratio(p, 'idle')}x (higher is more memory); CPU per request ${fmt(med(p, 'kept', (r) => r.cpuUsPerReq) / med('haproxy', 'kept', (r) => r.cpuUsPerReq), 2)}x kept alive, ` +
        `${fmt(med(p, 'new', (r) => r.cpuUsPerReq) / med('haproxy', 'new', (r) => r.cpuUsPerReq), 2)}x new connections; ` +
        `median of per-round ratios: kept alive ${roundRatios(p, 'kept')}, new connections ${roundRatios(p, 'new')}`);
    }
    if (paired.length) lines.push('', ...paired);
    lines.push(`\nloads seen: ${[...new Set(rows.map((r) => r.load.split(' ')[0]))].join(', ')}`);
    console.log(lines.join('\n'));
  } finally {
    for (const c of children) if (c.exitCode === null && c.pid !== undefined) c.kill('SIGTERM');
    await sleep(700);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
