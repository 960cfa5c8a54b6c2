// The scenario cluster's address plan and the process helpers the topology and the scenarios share:
// commands run to completion with a bound, long-running children ended by pid, and the probe
// process (dist/src/echo/probe.js) driven by JSON lines inside a namespace.
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify as stringifyYAML } from 'yaml';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const PORTICO = join(REPO_ROOT, 'bin', 'portico.js');
export const PROBE = join(REPO_ROOT, 'dist', 'src', 'echo', 'probe.js');
export const KUBECTL = process.env.KUBECTL ?? 'kubectl';
/**
 * Bounds on process start-up and commands stretch inside the IPVS tests' VM (software emulation:
 * starting node takes seconds there, building the cluster about two minutes).
 */
export const SLOWDOWN = process.env.PORTICO_VM === '1' ? 3 : 1;

export const SERVICE_CIDR = '198.18.0.0/16';
export const POD_CIDR = '198.19.0.0/16';
/**
 * The agents' --cluster-cidr: the part of POD_CIDR pods get addresses from (198.19.1.0/24 and
 * 198.19.2.0/24), without the link network (198.19.255.0/24: nodes and the outside client) or the
 * external IPs (198.19.254.0/24). With the whole /16 the outside client would count as a pod, and
 * externalTrafficPolicy Local would send it to Cluster policy (as kube-proxy sends pods).
 */
export const CLUSTER_CIDR = '198.19.0.0/17';
export const LB_POOL = '198.19.255.200-198.19.255.210';
export const LB_ROUTE = '198.19.255.192/27';
export const EXTERNAL_NET = '198.19.254.0/24';
export const EXTERNAL_IP = '198.19.254.10';
export const CONTROL_IP = '198.19.255.1';
export const CLIENT_IP = '198.19.255.100';
export const NODE_IPS = { n1: '198.19.255.11', n2: '198.19.255.12' } as const;
export type NodeName = keyof typeof NODE_IPS;
export const ECHO_PORTS = { http: 8080, tcp: 7000, udp: 9000 } as const;

export interface PodDef {
  name: string;
  node: NodeName;
  ip: string;
  /** The pod's port named `web` (differs per pod: a named targetPort resolves per pod). */
  webPort: number;
  labels: Record<string, string>;
}

export const PODS: readonly PodDef[] = [
  { name: 'n1a', node: 'n1', ip: '198.19.1.10', webPort: 8081, labels: { app: 'echo', pod: 'n1a', half: 'yes' } },
  { name: 'n1b', node: 'n1', ip: '198.19.1.11', webPort: 8082, labels: { app: 'echo', pod: 'n1b', rm: 'yes' } },
  { name: 'n2a', node: 'n2', ip: '198.19.2.10', webPort: 8083, labels: { app: 'echo', pod: 'n2a', half: 'yes' } },
  { name: 'n2b', node: 'n2', ip: '198.19.2.11', webPort: 8084, labels: { app: 'echo', pod: 'n2b', rm: 'yes' } },
];

export const K8S_NAMESPACE = 'scn';

/**
 * Objects as one multi-document YAML stream for `kubectl apply -f -` (a `kind: List` would make
 * kubectl validate against /openapi/v2).
 */
export function manifest(objects: object[]): string {
  return objects.map((o) => stringifyYAML(o, { version: '1.1' })).join('---\n');
}

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (killed by pid after the bound). Never throws on exit codes. */
export function run(argv: string[], opts: { input?: string; boundMs?: number } = {}): Promise<ExecResult> {
  return new Promise((res, rej) => {
    const [cmd, ...args] = argv;
    const child = spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const t = setTimeout(() => {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
    }, (opts.boundMs ?? 60_000) * SLOWDOWN);
    child.once('error', (e) => {
      clearTimeout(t);
      rej(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(t);
      res({ code: code ?? (signal ? 128 : null), stdout, stderr });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

export async function runOk(argv: string[], opts: { input?: string; boundMs?: number } = {}): Promise<string> {
  const r = await run(argv, opts);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} exited ${r.code}: ${r.stderr.trim()} ${r.stdout.trim()}`.slice(0, 4000));
  return r.stdout;
}

/** A long-running child whose output is kept (tail) and which is ended by pid. */
export class Proc {
  readonly child: ChildProcess;
  private out = '';
  private err = '';
  constructor(readonly label: string, argv: string[], env: NodeJS.ProcessEnv = process.env) {
    const [cmd, ...args] = argv;
    this.child = spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'pipe'], env, cwd: REPO_ROOT });
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.out = (this.out + d).slice(-256 * 1024)));
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.err = (this.err + d).slice(-256 * 1024)));
    this.child.stdin!.on('error', () => undefined);
  }
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
  stdout(): string {
    return this.out;
  }
  stderr(): string {
    return this.err;
  }
  /** Resolves when stdout matches; rejects on exit or after the bound. */
  waitFor(re: RegExp, boundMs = 90_000 * SLOWDOWN): Promise<RegExpExecArray> {
    return new Promise((res, rej) => {
      const check = () => {
        const m = re.exec(this.out);
        if (m) {
          done();
          res(m);
        }
      };
      const onExit = () => {
        done();
        rej(new Error(`${this.label} exited (${this.child.exitCode ?? this.child.signalCode}) before printing ${re}; stderr: ${this.err.slice(-3000)}`));
      };
      const t = setTimeout(() => {
        done();
        rej(new Error(`${this.label}: no ${re} within ${boundMs} ms; stdout: ${this.out.slice(-1000)} stderr: ${this.err.slice(-3000)}`));
      }, boundMs);
      const done = () => {
        clearTimeout(t);
        this.child.stdout!.off('data', check);
        this.child.off('exit', onExit);
      };
      this.child.stdout!.on('data', check);
      this.child.once('exit', onExit);
      check();
      if (!this.running) onExit();
    });
  }
  /** Sends a signal to this pid and waits for the exit (SIGKILL after the bound). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', boundMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.running && this.child.pid !== undefined) {
      const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
      try {
        process.kill(this.child.pid, signal);
      } catch {
        // already gone
      }
      const t = setTimeout(() => {
        if (this.running && this.child.pid !== undefined) process.kill(this.child.pid, 'SIGKILL');
      }, boundMs);
      await exited;
      clearTimeout(t);
    }
    return { code: this.child.exitCode, signal: this.child.signalCode };
  }
}

export type ProbeReply = { pod: string; protocol: string; address: string; port: number; client: string; data?: string };
export type ProbeResult = ({ ok: true; reply: ProbeReply } | { ok: false; error: string; message: string }) & { ms: number; localPort?: number };

/** A `probe.js` process inside a namespace, driven by JSON lines. */
export class Probe {
  private readonly proc: Proc;
  private nextId = 1;
  private readonly waiting = new Map<number, (v: Record<string, unknown>) => void>();
  private buf = '';
  /** `wrap` runs the probe through a command, e.g. `setpriv --reuid ...` to probe as another user. */
  constructor(readonly ns: string, wrap: readonly string[] = []) {
    this.proc = new Proc(`probe in ${ns}`, ['ip', 'netns', 'exec', ns, ...wrap, process.execPath, PROBE]);
    this.proc.child.stdout!.on('data', (d: string) => {
      this.buf += d;
      for (let nl = this.buf.indexOf('\n'); nl >= 0; nl = this.buf.indexOf('\n')) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        let v: Record<string, unknown>;
        try {
          v = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        const w = this.waiting.get(v.id as number);
        if (w) {
          this.waiting.delete(v.id as number);
          w(v);
        }
      }
    });
    this.proc.child.once('exit', () => {
      for (const [id, w] of this.waiting) w({ id, ok: false, error: 'EPROBEEXIT', message: `probe in ${ns} exited: ${this.proc.stderr().slice(-500)}` });
      this.waiting.clear();
    });
  }
  send(cmd: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (!this.proc.running) return Promise.reject(new Error(`probe in ${this.ns} is not running: ${this.proc.stderr().slice(-500)}`));
    const id = this.nextId++;
    return new Promise((res) => {
      this.waiting.set(id, res);
      this.proc.child.stdin!.write(JSON.stringify({ ...cmd, id }) + '\n');
    });
  }
  async one(op: 'http' | 'tcp' | 'udp', host: string, port: number, extra: Record<string, unknown> = {}): Promise<ProbeResult> {
    return (await this.send({ op, host, port, timeoutMs: 3_000, ...extra })) as unknown as ProbeResult;
  }
  async many(n: number, op: 'http' | 'tcp' | 'udp', host: string, port: number, extra: Record<string, unknown> = {}): Promise<ProbeResult[]> {
    const r = await this.send({ op: 'repeat', count: n, cmd: { op, host, port, timeoutMs: 3_000, ...extra } });
    if (!Array.isArray(r.results)) throw new Error(`probe repeat failed: ${JSON.stringify(r)}`);
    return r.results as ProbeResult[];
  }
  async close(): Promise<void> {
    this.proc.child.stdin!.end();
    await this.proc.stop('SIGTERM', 5_000);
  }
}

