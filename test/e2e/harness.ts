// End-to-end harness: starts the built `portico up` as a child process on a temporary data dir,
// drives it with the real kubectl and with raw HTTPS requests that trust the server's own CA, and
// cleans up every process and directory it made. Test files call `cleanup()` from `after`.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYAML, stringify as stringifyYAML } from 'yaml';

/** The repository root (this file runs from dist/test/e2e/). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const PORTICO_BIN = join(REPO_ROOT, 'bin', 'portico.js');
export const KUBECTL = process.env.KUBECTL ?? (existsSync('/usr/bin/kubectl') ? '/usr/bin/kubectl' : 'kubectl');

/** Generous upper bounds so a hung server fails a test instead of hanging the run. */
export const START_BOUND_MS = 90_000;
export const STOP_BOUND_MS = 30_000;
export const KUBECTL_BOUND_MS = 90_000;

const tempDirs = new Set<string>();
const children = new Set<ChildProcess>();

export async function makeTempDir(prefix = 'portico-e2e-'): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), prefix));
  tempDirs.add(d);
  return d;
}

/** Waits for a child to exit, sending SIGKILL (to its pid only) when the bound passes. */
function waitExit(child: ChildProcess, boundMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((res) => {
    const t = setTimeout(() => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
    }, boundMs);
    child.once('exit', (code, signal) => {
      clearTimeout(t);
      res({ code, signal });
    });
  });
}

function killChild(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(child.pid, signal);
  } catch {
    // already gone
  }
}

/** Ends every process this harness started (by pid) and removes every temp dir. Idempotent. */
export async function cleanup(): Promise<void> {
  const kids = [...children];
  children.clear();
  for (const c of kids) killChild(c, 'SIGTERM');
  await Promise.all(kids.map((c) => waitExit(c, 10_000)));
  const dirs = [...tempDirs];
  tempDirs.clear();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
}

// Last resort if a test file forgets its `after`: no orphan servers.
process.on('exit', () => {
  for (const c of children) killChild(c, 'SIGKILL');
});

export interface Portico {
  /** Temp root of this instance; data dir, kubectl cache and manifests live under it. */
  root: string;
  dataDir: string;
  kubeconfig: string;
  url: string;
  port: number;
  token: string;
  caPem: string;
  /** The pid of the running server (changes on restart). */
  readonly pid: number;
  /** Everything the current server process wrote on stdout / stderr so far. */
  stdout(): string;
  stderr(): string;
  /** Sends a signal (default SIGTERM) to the server's pid and waits for it to exit. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill9(): Promise<void>;
  /** Starts again on the same data dir and port (extra args replace the original ones if given). */
  restart(extraArgs?: string[]): Promise<void>;
}

interface Running {
  child: ChildProcess;
  out: string[];
  err: string[];
  errLen: number;
}

function launch(args: string[]): Running {
  const child = spawn(process.execPath, [PORTICO_BIN, ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PORTICO_LOG_LEVEL: process.env.PORTICO_LOG_LEVEL ?? 'info' },
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const r: Running = { child, out: [], err: [], errLen: 0 };
  child.stdout!.setEncoding('utf8').on('data', (s: string) => r.out.push(s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => {
    r.err.push(s);
    r.errLen += s.length;
    // Keep the tail only: logs of a long test can be large.
    while (r.errLen > 512 * 1024 && r.err.length > 1) r.errLen -= r.err.shift()!.length;
  });
  return r;
}

function tail(s: string, n = 2000): string {
  return s.length > n ? '...' + s.slice(-n) : s;
}

async function waitUp(r: Running): Promise<string> {
  return new Promise((res, rej) => {
    const check = () => {
      const m = /^Portico is up: API (https:\/\/\S+)/m.exec(r.out.join(''));
      if (m) {
        done();
        res(m[1]!);
        return;
      }
      // The CLI's one-line failure: it should exit, but don't wait for the bound if it does not.
      const f = /^portico: .*$/m.exec(r.err.join(''));
      if (f) {
        done();
        rej(new Error(`portico failed to start (pid ${r.child.pid} still running: ${r.child.exitCode === null && r.child.signalCode === null}): ${f[0]}`));
      }
    };
    const onExit = (code: number | null, signal: string | null) => {
      done();
      rej(new Error(`portico exited (code ${code}, signal ${signal}) before it was up; stderr: ${tail(r.err.join(''))}`));
    };
    const t = setTimeout(() => {
      done();
      rej(new Error(`portico not up after ${START_BOUND_MS} ms; stdout: ${tail(r.out.join(''))} stderr: ${tail(r.err.join(''))}`));
    }, START_BOUND_MS);
    const done = () => {
      clearTimeout(t);
      r.child.stdout!.off('data', check);
      r.child.stderr!.off('data', check);
      r.child.off('exit', onExit);
    };
    r.child.stdout!.on('data', check);
    r.child.stderr!.on('data', check);
    r.child.once('exit', onExit);
    check();
  });
}

/**
 * Starts `portico up` on a fresh temp data dir with the API on a free loopback port. Extra args go
 * after the defaults (so they can override e.g. --dns-listen).
 */
export async function startPortico(extraArgs: string[] = []): Promise<Portico> {
  const root = await makeTempDir();
  const dataDir = join(root, 'data');
  const withDns = extraArgs.includes('--dns-listen') ? [] : ['--dns-listen', '127.0.0.1:0'];
  // Names outside the cluster must never reach this machine's real resolvers from a test.
  if (!extraArgs.includes('--dns-upstream')) withDns.push('--dns-upstream', '127.0.0.1:9');
  // The API tests leave this host's kernel alone: no node agent unless a test asks for one.
  if (!extraArgs.includes('--proxy-mode')) withDns.push('--proxy-mode', 'none');
  let args = extraArgs;
  let r = launch(['up', '--data-dir', dataDir, '--api-listen', '127.0.0.1:0', ...withDns, ...args]);
  let url: string;
  try {
    url = await waitUp(r);
  } catch (e) {
    killChild(r.child, 'SIGKILL');
    await waitExit(r.child, STOP_BOUND_MS);
    throw e;
  }
  const port = Number(new URL(url).port);
  const kubeconfig = join(dataDir, 'kubeconfig.yaml');
  const kc = parseYAML(await readFile(kubeconfig, 'utf8')) as {
    clusters?: Array<{ cluster?: { server?: string; 'certificate-authority-data'?: string } }>;
    users?: Array<{ user?: { token?: string } }>;
  };
  const cluster = kc.clusters?.[0]?.cluster;
  const token = kc.users?.[0]?.user?.token;
  if (!cluster?.['certificate-authority-data'] || !token) throw new Error(`kubeconfig ${kubeconfig} lacks CA data or token`);
  if (cluster.server !== url) throw new Error(`kubeconfig server ${cluster.server} differs from the printed URL ${url}`);
  const caPem = Buffer.from(cluster['certificate-authority-data'], 'base64').toString('utf8');

  const p: Portico = {
    root,
    dataDir,
    kubeconfig,
    url,
    port,
    token,
    caPem,
    get pid() {
      return r.child.pid ?? -1;
    },
    stdout: () => r.out.join(''),
    stderr: () => r.err.join(''),
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      killChild(r.child, signal);
      return waitExit(r.child, STOP_BOUND_MS);
    },
    async kill9() {
      killChild(r.child, 'SIGKILL');
      await waitExit(r.child, STOP_BOUND_MS);
    },
    async restart(extra?: string[]) {
      if (r.child.exitCode === null && r.child.signalCode === null) throw new Error('restart: the server is still running; stop it first');
      if (extra) args = extra;
      r = launch(['up', '--data-dir', dataDir, '--api-listen', `127.0.0.1:${port}`, ...withDns, ...args]);
      let u: string;
      try {
        u = await waitUp(r);
      } catch (e) {
        killChild(r.child, 'SIGKILL');
        await waitExit(r.child, STOP_BOUND_MS);
        throw e;
      }
      if (u !== url) throw new Error(`restarted server is at ${u}, expected ${url}`);
    },
  };
  return p;
}

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function kubectlArgs(p: Portico, args: string[]): string[] {
  return ['--kubeconfig', p.kubeconfig, '--cache-dir', join(p.root, 'kube-cache'), ...args];
}

/** Runs the real kubectl against `p`. Never throws on a non-zero exit; check `code`. */
export function kubectl(p: Portico, args: string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<ExecResult> {
  return new Promise((res, rej) => {
    const child = spawn(KUBECTL, kubectlArgs(p, args), {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...opts.env },
    });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const t = setTimeout(() => killChild(child, 'SIGKILL'), KUBECTL_BOUND_MS);
    child.once('error', (e) => {
      clearTimeout(t);
      children.delete(child);
      rej(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(t);
      children.delete(child);
      res({ code: code ?? (signal ? 128 : null), stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** kubectl that must succeed; throws with its stderr otherwise. */
export async function kubectlOk(p: Portico, args: string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<string> {
  const r = await kubectl(p, args, opts);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()} ${r.stdout.trim()}`);
  return r.stdout;
}

/** A long-running kubectl (e.g. `get -w`) whose output is collected as it comes. */
export interface KubectlStream {
  readonly pid: number;
  output(): string;
  stderr(): string;
  /** Resolves once the collected stdout satisfies `pred`; rejects on exit or after the bound. */
  waitFor(pred: (out: string) => boolean, what: string, boundMs?: number): Promise<string>;
  stop(): Promise<void>;
}

export function spawnKubectl(p: Portico, args: string[]): KubectlStream {
  const child = spawn(KUBECTL, kubectlArgs(p, args), { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    out += s;
    for (const l of [...listeners]) l();
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  return {
    get pid() {
      return child.pid ?? -1;
    },
    output: () => out,
    stderr: () => err,
    waitFor(pred, what, boundMs = 60_000) {
      return new Promise((res, rej) => {
        const check = () => {
          if (pred(out)) {
            finish();
            res(out);
          }
        };
        const onExit = () => {
          if (pred(out)) return;
          finish();
          rej(new Error(`kubectl ${args.join(' ')} exited (${child.exitCode}) before ${what}; stdout:\n${out}\nstderr:\n${err}`));
        };
        const t = setTimeout(() => {
          finish();
          rej(new Error(`timed out waiting for ${what}; stdout:\n${out}\nstderr:\n${err}`));
        }, boundMs);
        const finish = () => {
          clearTimeout(t);
          listeners.delete(check);
          child.off('exit', onExit);
        };
        listeners.add(check);
        child.once('exit', onExit);
        check();
      });
    },
    async stop() {
      killChild(child, 'SIGTERM');
      await waitExit(child, 10_000);
    },
  };
}

/** Writes a manifest (YAML text, or objects joined as a multi-document YAML) under p.root. */
export async function writeManifest(p: Portico, name: string, content: string | object | object[]): Promise<string> {
  const dir = join(p.root, 'manifests');
  await mkdir(dir, { recursive: true });
  const path = join(dir, name);
  const text = typeof content === 'string' ? content : (Array.isArray(content) ? content : [content]).map((o) => stringifyYAML(o)).join('---\n');
  await writeFile(path, text);
  return path;
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json<T = Record<string, unknown>>(): T;
}

export interface RequestOptions {
  body?: string | Buffer | object;
  headers?: Record<string, string | number>;
  /** Bearer token: the admin token by default, `null` for none. */
  token?: string | null;
}

/** A raw HTTPS request to the server, trusting only its CA. */
export function request(p: Portico, method: string, path: string, opts: RequestOptions = {}): Promise<HttpResult> {
  const headers: Record<string, string | number> = { Accept: 'application/json', ...opts.headers };
  const token = opts.token === undefined ? p.token : opts.token;
  if (token !== null) headers.Authorization = `Bearer ${token}`;
  let body: Buffer | undefined;
  if (opts.body !== undefined) {
    body = typeof opts.body === 'string' ? Buffer.from(opts.body) : Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(JSON.stringify(opts.body));
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['Content-Type'] = 'application/json';
    // A caller that asks for chunked transfer gets it (no Content-Length).
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'transfer-encoding')) headers['Content-Length'] = body.length;
  }
  const u = new URL(path, p.url);
  return new Promise((res, rej) => {
    const req = httpsRequest(
      { method, hostname: u.hostname, port: u.port, path: u.pathname + u.search, headers, ca: p.caPem, agent: false, timeout: 60_000 },
      (resp) => {
        const chunks: Buffer[] = [];
        resp.on('data', (c: Buffer) => chunks.push(c));
        resp.on('error', rej);
        resp.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          res({
            status: resp.statusCode ?? 0,
            headers: resp.headers,
            body: text,
            json<T>() {
              try {
                return JSON.parse(text) as T;
              } catch {
                throw new Error(`response ${resp.statusCode} to ${method} ${path} is not JSON: ${text.slice(0, 500)}`);
              }
            },
          });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no response within 60 s`)));
    req.on('error', rej);
    req.end(body);
  });
}

/** Polls `cond` until it returns a truthy value; fails with `what` after the bound. */
export async function waitFor<T>(cond: () => T | Promise<T>, what: string, boundMs = 60_000, everyMs = 100): Promise<NonNullable<T>> {
  const deadline = Date.now() + boundMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `; last error: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Creates a namespace through the API and waits for nothing else. */
export async function createNamespace(p: Portico, name: string, labels: Record<string, string> = {}): Promise<void> {
  const r = await request(p, 'POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } } });
  if (r.status !== 201) throw new Error(`create namespace ${name}: ${r.status} ${r.body}`);
}

/** Asserts-friendly view of a Status body. */
export interface StatusBody {
  kind?: unknown;
  apiVersion?: unknown;
  status?: unknown;
  message?: unknown;
  reason?: unknown;
  code?: unknown;
  details?: { name?: unknown; kind?: unknown; group?: unknown; causes?: Array<{ field?: unknown; message?: unknown; reason?: unknown }> };
}

export function lines(s: string): string[] {
  return s.split('\n').filter((l) => l.length > 0);
}

/** Go text/tabwriter as kubectl configures it (minwidth 6, padding 3, the last cell unpadded). */
export function renderTable(rows: string[][]): string {
  const n = rows[0]?.length ?? 0;
  const widths: number[] = [];
  for (let j = 0; j < n - 1; j++) widths.push(Math.max(6, ...rows.map((r) => (r[j] ?? '').length + 3)));
  return rows.map((r) => r.map((c, j) => (j < n - 1 ? c.padEnd(widths[j]!) : c)).join('').trimEnd()).join('\n');
}
