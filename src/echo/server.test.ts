// The echo server and its probe on loopback: each protocol answers with the name, the address it
// was reached on and the client's address; errors come back as codes, not exceptions.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEcho, plainAddress, hostPort, type EchoServer } from './server.js';
import { httpProbe, tcpProbe, udpProbe, UdpFlow, ProbeSession } from './probe.js';

const LO = '127.0.0.1';

describe('echo server', () => {
  let srv: EchoServer;
  before(async () => {
    srv = await startEcho({ name: 'pod-a', http: [{ host: LO, port: 0 }, { host: LO, port: 0 }], tcp: [{ host: LO, port: 0 }], udp: [{ host: LO, port: 0 }] });
  });
  after(async () => {
    await srv?.close();
  });

  it('HTTP answers with the name, the local address and port, and the client address', async () => {
    for (const a of srv.http) {
      const r = await httpProbe({ host: LO, port: a.port });
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(r.reply.pod, 'pod-a');
      assert.equal(r.reply.protocol, 'http');
      assert.equal(r.reply.address, LO);
      assert.equal(r.reply.port, a.port);
      assert.match(r.reply.client, /^127\.0\.0\.1:\d+$/);
      assert.notEqual(r.reply.client, `${LO}:${a.port}`);
      assert.equal(r.reply.method, 'GET');
      assert.equal(r.reply.path, '/');
    }
  });

  it('TCP sends one JSON line, then echoes', async () => {
    const r = await tcpProbe({ host: LO, port: srv.tcp[0]!.port });
    assert.ok(r.ok, JSON.stringify(r));
    assert.deepEqual({ pod: r.reply.pod, protocol: r.reply.protocol, address: r.reply.address, port: r.reply.port }, { pod: 'pod-a', protocol: 'tcp', address: LO, port: srv.tcp[0]!.port });
    assert.match(r.reply.client, /^127\.0\.0\.1:\d+$/);
  });

  it('UDP answers each datagram, carrying what it received; a flow keeps its source port', async () => {
    const port = srv.udp[0]!.port;
    const one = await udpProbe({ host: LO, port });
    assert.ok(one.ok, JSON.stringify(one));
    assert.equal(one.reply.protocol, 'udp');
    assert.equal(one.reply.port, port);
    assert.match(one.reply.data ?? '', /^dgram-/);
    const flow = new UdpFlow(LO, port);
    try {
      const a = await flow.send();
      const b = await flow.send();
      assert.ok(a.ok && b.ok, JSON.stringify([a, b]));
      assert.equal(a.reply.client, `${LO}:${flow.localPort()}`);
      assert.equal(b.reply.client, a.reply.client);
      assert.notEqual(a.reply.data, b.reply.data);
    } finally {
      flow.close();
    }
  });

  it('a closed port is ECONNREFUSED for TCP, HTTP and (through ICMP) connected UDP', async () => {
    const free = await new Promise<number>((res) => {
      const s = createServer().listen(0, LO, () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => res(p));
      });
    });
    for (const probe of [httpProbe, tcpProbe, udpProbe]) {
      const r = await probe({ host: LO, port: free, timeoutMs: 5_000 });
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.error, 'ECONNREFUSED', `${probe.name}: ${r.message}`);
    }
  });

  it('no answer within the bound is ETIMEDOUT', async () => {
    // A TCP listener that accepts but never writes: the hello line never comes.
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, LO, () => r()));
    try {
      const r = await tcpProbe({ host: LO, port: (silent.address() as { port: number }).port, timeoutMs: 200 });
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.error, 'ETIMEDOUT');
    } finally {
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });

  it('the probe session runs repeats and background loops', async () => {
    const s = new ProbeSession();
    try {
      const rep = (await s.run({ op: 'repeat', count: 3, cmd: { op: 'http', host: LO, port: srv.http[0]!.port } })) as { results: Array<{ ok: boolean }> };
      assert.equal(rep.results.length, 3);
      assert.ok(rep.results.every((x) => x.ok));
      await s.run({ op: 'loop', loop: 'l', intervalMs: 5, cmd: { op: 'udp', host: LO, port: srv.udp[0]!.port, flow: 'f' } });
      await new Promise((r) => setTimeout(r, 100));
      const st = (await s.run({ op: 'stop', loop: 'l' })) as { total: number; failures: unknown[] };
      assert.ok(st.total >= 1);
      assert.deepEqual(st.failures, []);
      await assert.rejects(s.run({ op: 'nope' }), /unknown op/);
    } finally {
      s.close();
    }
  });

  it('maps IPv4-mapped addresses and formats IPv6', () => {
    assert.equal(plainAddress('::ffff:10.0.0.1'), '10.0.0.1');
    assert.equal(plainAddress('::1'), '::1');
    assert.equal(hostPort('::1', 80), '[::1]:80');
    assert.equal(hostPort('10.0.0.1', 80), '10.0.0.1:80');
  });
});

describe('portico echo and the probe as programs', () => {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
  it('`portico echo` prints where it listens and answers there; the probe speaks JSON lines', async () => {
    const echo = spawn(process.execPath, [join(root, 'bin', 'portico.js'), 'echo', '--name', 'cli-pod', '--http', '127.0.0.1:0', '--udp', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const line = await new Promise<string>((res, rej) => {
        let out = '';
        echo.stdout.setEncoding('utf8').on('data', (d: string) => {
          out += d;
          if (out.includes('\n')) res(out);
        });
        echo.once('exit', (c) => rej(new Error(`echo exited ${c}`)));
      });
      const m = /^Portico echo is up: cli-pod on http 127\.0\.0\.1:(\d+), udp 127\.0\.0\.1:(\d+)/.exec(line);
      assert.ok(m, line);
      const probe = spawn(process.execPath, [join(root, 'dist', 'src', 'echo', 'probe.js')], { stdio: ['pipe', 'pipe', 'pipe'] });
      const out = await new Promise<string>((res) => {
        let o = '';
        probe.stdout.setEncoding('utf8').on('data', (d: string) => (o += d));
        probe.once('close', () => res(o));
        probe.stdin.end(JSON.stringify({ id: 1, op: 'http', host: LO, port: Number(m[1]) }) + '\n' + JSON.stringify({ id: 2, op: 'udp', host: LO, port: Number(m[2]) }) + '\n');
      });
      const results = out.trim().split('\n').map((l) => JSON.parse(l) as { id: number; ok: boolean; reply?: { pod: string } });
      assert.deepEqual(results.map((r) => [r.id, r.ok, r.reply?.pod]).sort(), [
        [1, true, 'cli-pod'],
        [2, true, 'cli-pod'],
      ]);
    } finally {
      if (echo.exitCode === null) echo.kill('SIGTERM');
      await new Promise((r) => (echo.exitCode !== null ? r(null) : echo.once('exit', r)));
    }
    assert.equal(echo.exitCode, 0);
  });

  it('`portico echo` with a bad address is a usage error (exit 2)', async () => {
    const p = spawn(process.execPath, [join(root, 'bin', 'portico.js'), 'echo', '--tcp', 'nowhere'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    p.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const code = await new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
    assert.equal(code, 2);
    assert.match(err, /--tcp: invalid value "nowhere"/);
  });
});
