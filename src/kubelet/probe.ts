// Container probes as kubelet runs them: one probe (exec, tcpSocket, httpGet) with its timeout, and
// the result tracker that turns single outcomes into a result with successThreshold and
// failureThreshold. The worker that schedules probes (initialDelaySeconds, periodSeconds) lives in
// runner.ts; everything here is testable without timers.
import { connect } from 'node:net';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { spawn } from 'node:child_process';
import type { Container, Probe } from '../registry/kinds/pod.js';

export type ProbeKind = 'liveness' | 'readiness' | 'startup';

export interface ProbeOutcome {
  ok: boolean;
  message: string;
}

export interface ProbeTarget {
  /** Address of the pod (host of tcpSocket and httpGet when the probe names none). */
  podIP: string;
  container: Container;
  /** The argv prefix that runs a command inside the container's context (netns), e.g. ['ip','netns','exec',NS]. */
  execPrefix: string[];
  env: NodeJS.ProcessEnv;
  cwd?: string;
}

/** A port given as a number or as the name of a container port. */
export function resolvePort(port: number | string | undefined, container: Container): number {
  if (typeof port === 'number') return port;
  if (port === undefined) throw new Error('probe has no port');
  if (/^\d+$/.test(port)) return Number(port);
  const p = (container.ports ?? []).find((x) => x.name === port);
  if (!p) throw new Error(`port "${port}" is not a named port of container "${container.name}"`);
  return p.containerPort;
}

const timeoutMs = (p: Probe) => Math.max(1, p.timeoutSeconds ?? 1) * 1000;

function tcpProbe(host: string, port: number, ms: number): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const t = setTimeout(() => {
      s.destroy();
      resolve({ ok: false, message: `dial tcp ${host}:${port}: i/o timeout` });
    }, ms);
    s.once('connect', () => {
      clearTimeout(t);
      s.destroy();
      resolve({ ok: true, message: '' });
    });
    s.once('error', (e) => {
      clearTimeout(t);
      resolve({ ok: false, message: `dial tcp ${host}:${port}: ${e.message}` });
    });
  });
}

function httpProbe(p: NonNullable<Probe['httpGet']>, host: string, port: number, ms: number): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const https = (p.scheme ?? 'HTTP') === 'HTTPS';
    const headers: Record<string, string> = { 'User-Agent': 'kube-probe/1.32', Accept: '*/*' };
    for (const h of p.httpHeaders ?? []) headers[h.name] = h.value;
    const url = `${https ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}${p.path ?? '/'}`;
    const opts = { host, port, path: p.path ?? '/', method: 'GET', headers, timeout: ms, ...(https ? { rejectUnauthorized: false } : {}) };
    const req = https ? httpsRequest(opts) : httpRequest(opts);
    const t = setTimeout(() => req.destroy(new Error('timeout')), ms);
    req.once('response', (res) => {
      res.resume();
      clearTimeout(t);
      const code = res.statusCode ?? 0;
      resolve(code >= 200 && code < 400 ? { ok: true, message: '' } : { ok: false, message: `HTTP probe failed with statuscode: ${code}` });
    });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', (e) => {
      clearTimeout(t);
      resolve({ ok: false, message: `Get "${url}": ${e.message}` });
    });
    req.end();
  });
}

function execProbe(argv: string[], target: ProbeTarget, ms: number): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const full = [...target.execPrefix, ...argv];
    let out = '';
    let child;
    try {
      child = spawn(full[0]!, full.slice(1), { env: target.env, cwd: target.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      resolve({ ok: false, message: (e as Error).message });
      return;
    }
    const keep = (d: Buffer) => (out = (out + d.toString('utf8')).slice(-4096));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const t = setTimeout(() => {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
      resolve({ ok: false, message: `command timed out after ${ms / 1000}s` });
    }, ms);
    child.once('error', (e) => {
      clearTimeout(t);
      resolve({ ok: false, message: e.message });
    });
    child.once('close', (code) => {
      clearTimeout(t);
      resolve(code === 0 ? { ok: true, message: '' } : { ok: false, message: `command ${JSON.stringify(argv)} exited ${code ?? 'by signal'}: ${out.trim()}` });
    });
  });
}

/** Runs one probe once. Never throws: a probe that cannot run fails. */
export async function runProbe(probe: Probe, target: ProbeTarget): Promise<ProbeOutcome> {
  const ms = timeoutMs(probe);
  try {
    if (probe.exec) return await execProbe(probe.exec.command ?? [], target, ms);
    if (probe.tcpSocket) return await tcpProbe(probe.tcpSocket.host || target.podIP, resolvePort(probe.tcpSocket.port, target.container), ms);
    if (probe.httpGet) return await httpProbe(probe.httpGet, probe.httpGet.host || target.podIP, resolvePort(probe.httpGet.port, target.container), ms);
    return { ok: false, message: 'probe has no handler (exec, tcpSocket or httpGet; grpc is not supported)' };
  } catch (e) {
    return { ok: false, message: (e as Error).message };
  }
}

/**
 * Turns outcomes into a result: it flips to success after successThreshold successes in a row and
 * to failure after failureThreshold failures in a row. Before any probe: readiness and startup are
 * failing (not ready, not started), liveness is succeeding (alive until shown otherwise).
 */
export class ProbeTracker {
  result: boolean;
  private successes = 0;
  private failures = 0;
  lastMessage = '';

  constructor(
    readonly kind: ProbeKind,
    private readonly probe: Probe,
  ) {
    this.result = kind === 'liveness';
  }

  /** Records one outcome; returns true when the result changed. */
  record(o: ProbeOutcome): boolean {
    this.lastMessage = o.message;
    if (o.ok) {
      this.failures = 0;
      this.successes++;
      if (!this.result && this.successes >= Math.max(1, this.probe.successThreshold ?? 1)) {
        this.result = true;
        return true;
      }
    } else {
      this.successes = 0;
      this.failures++;
      if (this.result && this.failures >= Math.max(1, this.probe.failureThreshold ?? 3)) {
        this.result = false;
        return true;
      }
    }
    return false;
  }

  /** For liveness and startup: failed for good (the container is to be killed). */
  get failed(): boolean {
    return this.kind !== 'readiness' && this.failures >= Math.max(1, this.probe.failureThreshold ?? 3);
  }
}
