// The native pump (native/relay.c) on loopback, through its engine directly: the relaying
// behaviours relay.test.ts checks for the JS relay (half-close, backpressure, idle timeout, resets,
// failed connects, peer addresses), plus no connection left behind in C. The proxier's own tests
// (proxier.test.ts) run against both relays as well. This file runs on the pump's default engine
// (io_uring where available); native-epoll.test.ts runs it again on the epoll engine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errnoName } from './relay.js';
import { nativeEngine, type NativeConnectionEvents } from './native.js';
import { HALF_CLOSE_ROWS, floodBackend, halfCloseExchange, listen, readAll, until } from './relaykit.js';

const engine = nativeEngine();

// The io_uring engine must not fall back to epoll unnoticed where it can run: built with liburing
// (binding.gyp checks for its header) on a kernel that allows io_uring.
test('the pump runs on io_uring where liburing and the kernel allow it, else on epoll', () => {
  const forced = process.env.PORTICO_RELAY_IO === 'epoll';
  const disabled = existsSync('/proc/sys/kernel/io_uring_disabled') && readFileSync('/proc/sys/kernel/io_uring_disabled', 'utf8').trim() !== '0';
  const want = forced || disabled || !existsSync('/usr/include/liburing.h') ? 'epoll' : 'io_uring';
  assert.equal(engine.io, want);
});

interface Relayed extends NativeConnectionEvents {
  slot: number;
  halfClosed: number;
  closed: { bytesIn: number; bytesOut: number } | undefined;
  failed: number[];
}

async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as AddressInfo).port;
  s.close();
  await once(s, 'close');
  return port;
}

/** A native listener on a free port relaying to backendPort; records each connection's events. */
async function proxy(backendPort: number, idleMs = 0, afterConnect?: () => void, backlog = 16) {
  const conns: Relayed[] = [];
  const port = await freePort();
  const id = engine.listen('127.0.0.1', port, { backlog, reusePort: false }, (fd) => {
    const c: Relayed = {
      slot: -1,
      halfClosed: 0,
      closed: undefined,
      failed: [],
      onConnectFailed(status) {
        this.failed.push(status);
        engine.destroy(this.slot, true);
      },
      onHalfClose() {
        this.halfClosed++;
      },
      onClosed(bytesIn, bytesOut) {
        this.closed = { bytesIn, bytesOut };
      },
    };
    c.slot = engine.connect(c, fd, '127.0.0.1', backendPort, { connectMs: 2_000, idleMs });
    conns.push(c);
    afterConnect?.();
  });
  return { port, conns, close: () => engine.unlisten(id) };
}

// Connection churn as a load generator makes it (50 at a time, 3,000 in all), with the pump, the
// endpoint and the clients in three processes and no timeouts (so the pump runs no timer): the
// io_uring engine once left deferred kernel work behind (the kernel runs a bounded amount per call
// and signals the eventfd only when its list was empty), and then waited for an unrelated event;
// with no timer that is forever, and the bound fails the test.
test('connection churn through the pump never stalls (no timer to wake it)', { timeout: 60_000 }, async () => {
  const node = (script: string) => spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const firstLine = async (c: ReturnType<typeof node>) => String(((await once(c.stdout!, 'data')) as [Buffer])[0]).trim();
  const endpoint = node(`
    const net = await import('node:net');
    const s = net.createServer((c) => c.on('data', () => c.end('pong'))).listen(0, '127.0.0.1', () => console.log(s.address().port));`);
  const port = await freePort();
  let pump: ReturnType<typeof node> | undefined;
  try {
    const endpointPort = Number(await firstLine(endpoint));
    pump = node(`
      const engine = (await import(${JSON.stringify(new URL('./native.js', import.meta.url).href)})).nativeEngine();
      engine.listen('127.0.0.1', ${port}, { backlog: 1024, reusePort: false }, (fd) => {
        engine.connect({ onConnectFailed() {}, onHalfClose() {}, onClosed() {} }, fd, '127.0.0.1', ${endpointPort}, { connectMs: 0, idleMs: 0 });
      });
      console.log(engine.io);`);
    assert.equal(await firstLine(pump), engine.io);
    const total = 3000;
    let started = 0;
    let ok = 0;
    const one = (): Promise<void> =>
      new Promise<void>((resolve, reject) => {
        started++;
        const c = net.connect(port, '127.0.0.1', () => c.write('ping'));
        let got = '';
        c.on('data', (d: Buffer) => (got += String(d))).on('error', reject).on('close', () => {
          if (got === 'pong') ok++;
          resolve();
        });
      }).then(() => (started < total ? one() : undefined));
    await Promise.all(Array.from({ length: 50 }, one));
    assert.equal(ok, total);
  } finally {
    endpoint.kill();
    pump?.kill();
  }
});

// Thousands of connections open at once: the pump's connection table grows (it doubles from 1,024)
// while connects of the same round wait to be submitted; the io_uring engine once handed the kernel
// endpoint addresses kept in that table, which moved (EFAULT, the client reset).
test('3,000 connections open at once, each answered, none reset', { timeout: 120_000 }, async () => {
  const held: net.Socket[] = [];
  const backend = net.createServer((c) => {
    held.push(c);
    c.on('data', () => c.write('pong'));
  });
  const p = await proxy(await listen(backend), 0, undefined, 1024);
  const clients: net.Socket[] = [];
  try {
    const one = () =>
      new Promise<void>((resolve, reject) => {
        const c = net.connect({ host: '127.0.0.1', port: p.port }, () => c.write('ping'));
        clients.push(c);
        c.once('data', (d: Buffer) => (String(d) === 'pong' ? resolve() : reject(new Error(`got ${String(d)}`))));
        c.once('error', reject);
      });
    for (let i = 0; i < 3000; i += 200) await Promise.all(Array.from({ length: 200 }, one));
    assert.equal(p.conns.filter((c) => c.failed.length > 0 || c.closed !== undefined).length, 0);
  } finally {
    for (const c of clients) c.destroy();
    p.close();
    for (const c of held) c.destroy();
    backend.close();
  }
  await until(() => engine.stats().connections === 0);
});

test('half-close: each side FIN is passed on while the other direction keeps flowing', async () => {
  for (const r of HALF_CLOSE_ROWS) {
    const { backend, proxy: p, reply } = await halfCloseExchange(r.clientFirst, (port) => proxy(port));
    assert.equal(reply, r.clientFirst ? 'reply to ping' : 'early', r.why);
    await until(() => p.conns[0]?.closed !== undefined);
    assert.equal(p.conns[0]?.halfClosed, 1, r.why);
    assert.deepEqual(p.conns[0]?.closed, r.clientFirst ? { bytesIn: 4, bytesOut: 13 } : { bytesIn: 4, bytesOut: 5 }, r.why);
    p.close();
    backend.close();
  }
});

// Also the case of an endpoint's FIN that arrives while bytes are held: it must reach the client once
// they are written (a lost edge left the client waiting for 'end' forever; the bound makes that a failure).
test('backpressure: a client that does not read stops the endpoint instead of filling the proxy', { timeout: 60_000 }, async () => {
  const total = 64 * 1024 * 1024;
  const { backend, sent } = floodBackend(total);
  const p = await proxy(await listen(backend));
  const c = net.connect({ host: '127.0.0.1', port: p.port });
  c.pause();
  // Held back: the relay stops reading once a write would block.
  await until(() => p.conns[0] !== undefined && engine.stats().heldBytes > 0);
  const slot = p.conns[0]!.slot;
  const b1 = engine.bytes(slot).bytesOut;
  await new Promise((r) => setTimeout(r, 50));
  const b2 = engine.bytes(slot).bytesOut;
  assert.equal(b2, b1, 'the relay kept reading while the client did not');
  assert.ok(engine.stats().heldBytes <= 64 * 1024, `proxy holds ${engine.stats().heldBytes} bytes while paused`);
  assert.ok(b2 < 16 * 1024 * 1024, `relayed ${b2} bytes to a client that reads nothing`);
  assert.ok(sent() < total, 'the backend was held back');
  let got = 0;
  c.on('data', (d: Buffer) => (got += d.length));
  c.resume();
  await once(c, 'end');
  assert.equal(got, total);
  await until(() => p.conns[0]?.closed !== undefined);
  assert.equal(p.conns[0]?.closed?.bytesOut, total);
  p.close();
  backend.close();
});

// An endpoint's last bytes and its FIN, read in one round, leave towards the client as one
// segment (data+FIN, as haproxy sends it): two packets fewer for each connection the endpoint ends.
// The endpoint runs in another process; this thread blocks (no event loop, so no pump) from the
// connect until the endpoint has sent both, so the pump finds them queued together. The client
// sends nothing, so it receives exactly the SYN-ACK and the reply: 2 segments when the FIN rode
// with the data, 3 when it came on its own.
test('an endpoint\'s last bytes and FIN reach the client in one segment', {
  skip: engine.io === 'io_uring' ? 'epoll engine only: a completed io_uring recv does not tell whether the FIN is queued behind its bytes' : false,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'portico-relay-'));
  const sent = join(dir, 'sent');
  const child = spawn(process.execPath, ['-e', `
    const s = require('net').createServer((c) => c.end('hello', () => require('fs').writeFileSync(${JSON.stringify(sent)}, '')));
    s.listen(0, '127.0.0.1', () => console.log(s.address().port));`], { stdio: ['ignore', 'pipe', 'inherit'] });
  let p: Awaited<ReturnType<typeof proxy>> | undefined;
  try {
    const [line] = (await once(child.stdout!, 'data')) as [Buffer];
    const relay = await proxy(Number(String(line).trim()), 0, () => {
      const nap = new Int32Array(new SharedArrayBuffer(4));
      for (let t = 0; t < 1000 && !existsSync(sent); t++) Atomics.wait(nap, 0, 0, 5);
    });
    p = relay;
    const c = net.connect({ host: '127.0.0.1', port: relay.port, allowHalfOpen: true });
    assert.equal(await readAll(c), 'hello');
    assert.ok(existsSync(sent), 'the endpoint never sent');
    const info = execFileSync('ss', ['-tinH', 'state', 'all', 'src', `127.0.0.1:${c.localPort}`], { encoding: 'utf8' });
    assert.match(info, /segs_in:2 /, `the client received more segments than SYN-ACK and data+FIN: ${info.trim()}`);
    c.end();
    await until(() => relay.conns[0]?.closed !== undefined);
    assert.deepEqual(relay.conns[0]?.closed, { bytesIn: 0, bytesOut: 5 });
  } finally {
    p?.close();
    child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('idle timeout closes both sides; a reset upstream takes the client down', async () => {
  const backendSockets: net.Socket[] = [];
  let backendGot = '';
  const backend = net.createServer((s) => backendSockets.push(s.on('error', () => undefined).on('data', (d) => (backendGot += String(d)))));
  const port = await listen(backend);
  const idle = await proxy(port, 30);
  const c1 = net.connect({ host: '127.0.0.1', port: idle.port }).on('error', () => undefined);
  await new Promise((r) => c1.once('close', r));
  await until(() => idle.conns[0]?.closed !== undefined);
  await until(() => backendSockets[0]?.destroyed === true);

  const reset = await proxy(port);
  const c2 = net.connect({ host: '127.0.0.1', port: reset.port });
  const c2err = new Promise<string>((r) => c2.once('error', (e: NodeJS.ErrnoException) => r(e.code ?? '')));
  // A byte through first, so the relay is under way before the endpoint resets it.
  c2.write('x');
  await until(() => backendGot === 'x' && backendSockets.length === 2);
  backendSockets[1]!.resetAndDestroy();
  assert.equal(await c2err, 'ECONNRESET');
  await until(() => reset.conns[0]?.closed !== undefined);
  assert.equal(reset.conns[0]?.halfClosed, 0);
  idle.close();
  reset.close();
  backend.close();
});

test('connect: a refused connect is reported with its errno; peer address of an accepted socket', async () => {
  const deadPort = await freePort();
  const p = await proxy(deadPort);
  const c = net.connect({ host: '127.0.0.1', port: p.port }).on('error', () => undefined);
  const closed = new Promise((r) => c.once('close', r));
  await until(() => p.conns[0]?.failed.length === 1);
  assert.equal(errnoName(p.conns[0]!.failed[0]!), 'ECONNREFUSED');
  await closed;
  p.close();

  const peers: string[] = [];
  const port = await freePort();
  const id = engine.listen('127.0.0.1', port, { backlog: 16, reusePort: false }, (fd) => {
    peers.push(engine.peerAddress(fd));
    engine.resetFd(fd);
  });
  const c2 = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.7' }).on('error', () => undefined);
  await until(() => peers.length === 1);
  assert.deepEqual(peers, ['127.0.0.7']);
  c2.destroy();
  engine.unlisten(id);
});

test('listen errors use Node\'s wording; nothing is left open in the pump', async () => {
  const squatter = net.createServer();
  const port = await listen(squatter);
  assert.throws(() => engine.listen('127.0.0.1', port, { backlog: 16, reusePort: false }, () => undefined), {
    message: `listen EADDRINUSE: address already in use 127.0.0.1:${port}`,
    code: 'EADDRINUSE',
  });
  squatter.close();
  assert.throws(() => engine.listen('192.0.2.1', 8080, { backlog: 16, reusePort: false }, () => undefined), { code: 'EADDRNOTAVAIL' });
  await until(() => engine.stats().connections === 0);
  assert.deepEqual(engine.stats(), { connections: 0, listeners: 0, heldBytes: 0 });
});
