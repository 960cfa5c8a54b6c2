// The echo server's client, for tests and demos: one request of each kind, each ending in an
// EchoInfo or an error code (ECONNREFUSED, ETIMEDOUT when no answer came within the bound, ...).
// Run as a program (`node dist/src/echo/probe.js`, e.g. inside a network namespace) it reads one
// JSON command per line on stdin and writes one JSON result per line on stdout, so a test can drive
// many requests, persistent UDP flows and background traffic loops through one process.
//
// Commands (every command may carry an `id`, echoed in its result):
//   {"op":"http","host":H,"port":P,"timeoutMs":T}              one request on a new connection
//   {"op":"tcp","host":H,"port":P,"timeoutMs":T}               connect, read the hello line, check the echo
//   {"op":"udp","host":H,"port":P,"timeoutMs":T,"flow":"f1"}   one datagram; `flow` reuses one socket (same source port)
//   {"op":"close","flow":"f1"}                                  closes a flow's socket
//   {"op":"repeat","count":N,"cmd":{...}}                       N times in sequence → {"results":[...]}
//   {"op":"loop","loop":"l1","intervalMs":I,"cmd":{...}}        repeats until stopped; answers at once
//   {"op":"stop","loop":"l1"}                                    → {"total":N,"failures":[...]} of that loop
import { request as httpRequest } from 'node:http';
import { connect, isIPv6 } from 'node:net';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { EchoInfo } from './server.js';

export type ProbeResult =
  | { ok: true; reply: EchoInfo; ms: number }
  | { ok: false; error: string; message: string; ms: number };

export interface Target {
  host: string;
  port: number;
  /** No answer within this bound → ETIMEDOUT. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT = 3_000;

function failure(err: unknown, t0: number): ProbeResult {
  const e = err as NodeJS.ErrnoException;
  return { ok: false, error: e.code ?? 'ERROR', message: e.message ?? String(err), ms: Date.now() - t0 };
}

function timeoutError(what: string, ms: number): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error(`${what}: no answer within ${ms} ms`);
  e.code = 'ETIMEDOUT';
  return e;
}

function parseInfo(text: string): EchoInfo {
  const v = JSON.parse(text) as EchoInfo;
  if (typeof v !== 'object' || v === null || typeof v.pod !== 'string') throw Object.assign(new Error(`not an echo answer: ${text.slice(0, 200)}`), { code: 'EBADREPLY' });
  return v;
}

/** One HTTP GET on a new connection. */
export function httpProbe(t: Target): Promise<ProbeResult> {
  const t0 = Date.now();
  const bound = t.timeoutMs ?? DEFAULT_TIMEOUT;
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: ProbeResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(r);
    };
    const req = httpRequest({ host: t.host, port: t.port, path: '/', method: 'GET', agent: false, headers: { Connection: 'close' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (e) => finish(failure(e, t0)));
      res.on('end', () => {
        try {
          if (res.statusCode !== 200) throw Object.assign(new Error(`HTTP ${res.statusCode}`), { code: 'EHTTPSTATUS' });
          finish({ ok: true, reply: parseInfo(Buffer.concat(chunks).toString('utf8')), ms: Date.now() - t0 });
        } catch (e) {
          finish(failure(e, t0));
        }
      });
    });
    const timer = setTimeout(() => {
      finish(failure(timeoutError(`http ${t.host}:${t.port}`, bound), t0));
      req.destroy();
    }, bound);
    req.on('error', (e) => finish(failure(e, t0)));
    req.end();
  });
}

/** Connects, reads the hello line, sends a line and checks it comes back. */
export function tcpProbe(t: Target): Promise<ProbeResult> {
  const t0 = Date.now();
  const bound = t.timeoutMs ?? DEFAULT_TIMEOUT;
  return new Promise((resolve) => {
    let done = false;
    let buf = '';
    let info: EchoInfo | undefined;
    const token = `ping-${Math.random().toString(36).slice(2)}\n`;
    const sock = connect({ host: t.host, port: t.port });
    const finish = (r: ProbeResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish(failure(timeoutError(`tcp ${t.host}:${t.port}`, bound), t0)), bound);
    sock.setEncoding('utf8');
    sock.on('error', (e) => finish(failure(e, t0)));
    sock.on('data', (d: string) => {
      buf += d;
      try {
        if (!info) {
          const nl = buf.indexOf('\n');
          if (nl < 0) return;
          info = parseInfo(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
          sock.write(token);
        }
        if (buf.length >= token.length) {
          if (buf.slice(0, token.length) !== token) throw Object.assign(new Error(`echo mismatch: ${JSON.stringify(buf.slice(0, 100))}`), { code: 'EBADREPLY' });
          finish({ ok: true, reply: info, ms: Date.now() - t0 });
        }
      } catch (e) {
        finish(failure(e, t0));
      }
    });
    sock.on('end', () => finish(failure(Object.assign(new Error('connection closed before the echo'), { code: 'ECONNCLOSED' }), t0)));
  });
}

/** A UDP flow: one connected socket (one source port) for any number of datagrams. */
export class UdpFlow {
  private sock: UdpSocket | undefined;
  private seq = 0;
  private waiting: { token: string; resolve: (r: ProbeResult) => void; t0: number; timer: NodeJS.Timeout } | undefined;

  constructor(readonly host: string, readonly port: number) {}

  private async open(): Promise<UdpSocket> {
    if (this.sock) return this.sock;
    const s = createSocket(isIPv6(this.host) ? 'udp6' : 'udp4');
    await new Promise<void>((res, rej) => {
      s.once('error', rej);
      s.connect(this.port, this.host, () => {
        s.off('error', rej);
        res();
      });
    });
    // A connected UDP socket reports ICMP errors (port unreachable → ECONNREFUSED).
    s.on('error', (e) => this.settle(failure(e, this.waiting?.t0 ?? Date.now())));
    s.on('message', (msg) => {
      const w = this.waiting;
      if (!w) return;
      try {
        const info = parseInfo(msg.toString('utf8'));
        if (info.data !== w.token) return; // a late answer to an earlier datagram
        this.settle({ ok: true, reply: info, ms: Date.now() - w.t0 });
      } catch (e) {
        this.settle(failure(e, w.t0));
      }
    });
    this.sock = s;
    return s;
  }

  private settle(r: ProbeResult): void {
    const w = this.waiting;
    if (!w) return;
    this.waiting = undefined;
    clearTimeout(w.timer);
    w.resolve(r);
  }

  /** The local port of the flow (0 before the first datagram). */
  localPort(): number {
    return this.sock?.address().port ?? 0;
  }

  async send(timeoutMs = DEFAULT_TIMEOUT): Promise<ProbeResult> {
    const t0 = Date.now();
    if (this.waiting) return failure(Object.assign(new Error('a datagram is already waiting for its answer'), { code: 'EBUSY' }), t0);
    let s: UdpSocket;
    try {
      s = await this.open();
    } catch (e) {
      return failure(e, t0);
    }
    const token = `dgram-${process.pid}-${++this.seq}`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.settle(failure(timeoutError(`udp ${this.host}:${this.port}`, timeoutMs), t0)), timeoutMs);
      this.waiting = { token, resolve, t0, timer };
      s.send(token, (err) => {
        if (err) this.settle(failure(err, t0));
      });
    });
  }

  close(): void {
    this.settle(failure(Object.assign(new Error('flow closed'), { code: 'ECLOSED' }), Date.now()));
    this.sock?.close();
    this.sock = undefined;
  }
}

/** One datagram on a fresh socket. */
export async function udpProbe(t: Target): Promise<ProbeResult> {
  const f = new UdpFlow(t.host, t.port);
  try {
    return await f.send(t.timeoutMs);
  } finally {
    f.close();
  }
}

// ---- the line protocol ----

export interface Command {
  id?: unknown;
  op: string;
  host?: string;
  port?: number;
  timeoutMs?: number;
  flow?: string;
  count?: number;
  cmd?: Command;
  loop?: string;
  intervalMs?: number;
}

interface Loop {
  stopped: boolean;
  total: number;
  failures: Array<ProbeResult & { at: number }>;
  finished: Promise<void>;
}

export class ProbeSession {
  private readonly flows = new Map<string, UdpFlow>();
  private readonly loops = new Map<string, Loop>();

  async run(c: Command): Promise<Record<string, unknown>> {
    const target = (): Target => {
      if (typeof c.host !== 'string' || typeof c.port !== 'number') throw new Error(`${c.op}: host and port are required`);
      return { host: c.host, port: c.port, timeoutMs: c.timeoutMs };
    };
    switch (c.op) {
      case 'http':
        return httpProbe(target());
      case 'tcp':
        return tcpProbe(target());
      case 'udp': {
        const t = target();
        if (!c.flow) return udpProbe(t);
        let f = this.flows.get(c.flow);
        if (!f) this.flows.set(c.flow, (f = new UdpFlow(t.host, t.port)));
        const r = await f.send(t.timeoutMs);
        return { ...r, localPort: f.localPort() };
      }
      case 'close': {
        const f = c.flow ? this.flows.get(c.flow) : undefined;
        f?.close();
        if (c.flow) this.flows.delete(c.flow);
        return { ok: true };
      }
      case 'repeat': {
        if (!c.cmd || typeof c.count !== 'number') throw new Error('repeat: cmd and count are required');
        const results: unknown[] = [];
        for (let i = 0; i < c.count; i++) results.push(await this.run(c.cmd));
        return { ok: true, results };
      }
      case 'loop': {
        const inner = c.cmd;
        if (!inner || !c.loop) throw new Error('loop: cmd and loop are required');
        if (this.loops.has(c.loop)) throw new Error(`loop ${c.loop} exists`);
        const l: Loop = { stopped: false, total: 0, failures: [], finished: Promise.resolve() };
        const every = c.intervalMs ?? 50;
        l.finished = (async () => {
          while (!l.stopped) {
            const r = (await this.run(inner)) as ProbeResult;
            l.total++;
            if (!r.ok) l.failures.push({ ...r, at: Date.now() });
            await new Promise((res) => setTimeout(res, every));
          }
        })();
        this.loops.set(c.loop, l);
        return { ok: true };
      }
      case 'stop': {
        const l = c.loop ? this.loops.get(c.loop) : undefined;
        if (!l) throw new Error(`stop: no loop ${c.loop}`);
        l.stopped = true;
        await l.finished;
        this.loops.delete(c.loop!);
        return { ok: true, total: l.total, failures: l.failures };
      }
      default:
        throw new Error(`unknown op ${JSON.stringify(c.op)}`);
    }
  }

  close(): void {
    for (const f of this.flows.values()) f.close();
    for (const l of this.loops.values()) l.stopped = true;
  }
}

/** Reads commands from stdin until it closes; results may come out of order (match by id). */
export function serveStdio(): void {
  const session = new ProbeSession();
  const rl = createInterface({ input: process.stdin });
  const pending = new Set<Promise<void>>();
  rl.on('line', (line) => {
    if (!line.trim()) return;
    let cmd: Command;
    try {
      cmd = JSON.parse(line) as Command;
    } catch (e) {
      process.stdout.write(JSON.stringify({ ok: false, error: 'EBADCMD', message: (e as Error).message }) + '\n');
      return;
    }
    const p = session
      .run(cmd)
      .then(
        (r) => ({ id: cmd.id, ...r }),
        (e: unknown) => ({ id: cmd.id, ok: false, error: 'EBADCMD', message: e instanceof Error ? e.message : String(e) }),
      )
      .then((r) => {
        process.stdout.write(JSON.stringify(r) + '\n');
      })
      .finally(() => pending.delete(p));
    pending.add(p);
  });
  rl.on('close', () => {
    session.close();
    void Promise.allSettled([...pending]).then(() => process.exit(0));
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) serveStdio();
