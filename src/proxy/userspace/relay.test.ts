import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { HALF_CLOSE_ROWS, floodBackend, halfCloseExchange, listen, until } from './relaykit.js';
import { PendingConnect, TcpRelay, UdpFlowTable, errnoName, idleSweeper, listenTcp, peerAddress } from './relay.js';

/** A proxy of one TcpRelay per connection in front of `backendPort`; keeps the relays for inspection. */
async function relayProxy(backendPort: number, idleMs = 0) {
  const relays: TcpRelay[] = [];
  const closed: TcpRelay[] = [];
  const halfClosed: TcpRelay[] = [];
  const idle = idleMs > 0 ? idleSweeper(idleMs) : undefined;
  const server = await listenTcp('127.0.0.1', 0, { backlog: 16, exclusive: true }, (client) => {
    const p = new PendingConnect('127.0.0.1', backendPort, (status) => {
      assert.equal(status, 0);
      const r = new TcpRelay(client, p.handle, { onHalfClose: (x) => halfClosed.push(x), onClose: (x) => (closed.push(x), idle?.delete(x)) });
      relays.push(r);
      if (idle) {
        r.activeTick = idle.tick;
        idle.add(r);
      }
    });
  });
  return { port: (server.address() as AddressInfo).port, relays, closed, halfClosed, close: () => (server.close(), idle?.close()) };
}

test('half-close: each side FIN is passed on while the other direction keeps flowing', async () => {
  for (const r of HALF_CLOSE_ROWS) {
    const { backend, proxy, reply } = await halfCloseExchange(r.clientFirst, (port) => relayProxy(port));
    assert.equal(reply, r.clientFirst ? 'reply to ping' : 'early', r.why);
    await until(() => proxy.closed.length === 1);
    assert.equal(proxy.halfClosed.length, 1, r.why);
    assert.equal(proxy.relays[0]?.bytesIn, 4, r.why);
    proxy.close();
    backend.close();
  }
});

test('backpressure: a client that does not read stops the endpoint instead of filling the proxy', async () => {
  const total = 64 * 1024 * 1024;
  const { backend, sent } = floodBackend(total);
  const proxy = await relayProxy(await listen(backend));
  const c = net.connect({ host: '127.0.0.1', port: proxy.port });
  c.pause();
  await until(() => proxy.relays[0] !== undefined && proxy.relays[0].upstreamPaused);
  const relay = proxy.relays[0] as TcpRelay;
  // Paused: one chunk (at most 64 KiB) waits in the proxy, the rest in kernel buffers or the backend.
  const buffered = relay.client.writeQueueSize;
  assert.ok(buffered <= 64 * 1024, `proxy holds ${buffered} bytes while paused`);
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(relay.bytesOut < 16 * 1024 * 1024, `the relay kept reading while paused: ${relay.bytesOut} bytes`);
  assert.ok(sent() < total, 'the backend was held back');
  let got = 0;
  c.on('data', (d: Buffer) => (got += d.length));
  c.resume();
  await once(c, 'end');
  assert.equal(got, total);
  proxy.close();
  backend.close();
});

test('idle timeout closes both sides; a reset upstream takes the client down', async () => {
  const backendSockets: net.Socket[] = [];
  const backend = net.createServer((s) => backendSockets.push(s.on('error', () => undefined)));
  const port = await listen(backend);
  const idle = await relayProxy(port, 30);
  const c1 = net.connect({ host: '127.0.0.1', port: idle.port }).on('error', () => undefined);
  await new Promise((r) => c1.once('close', r));
  await until(() => idle.closed.length === 1);
  await until(() => backendSockets[0]?.destroyed === true);

  const reset = await relayProxy(port);
  const c2 = net.connect({ host: '127.0.0.1', port: reset.port }).on('error', () => undefined);
  await until(() => reset.relays.length === 1 && backendSockets.length === 2);
  backendSockets[1]?.resetAndDestroy();
  await new Promise((r) => c2.once('close', r));
  await until(() => reset.closed.length === 1);
  assert.equal(reset.halfClosed.length, 0);
  idle.close();
  reset.close();
  backend.close();
});

test('connect: a refused connect is reported with its errno; peer address of an accepted handle', async () => {
  const closedServer = net.createServer();
  const port = await listen(closedServer);
  closedServer.close();
  await once(closedServer, 'close');
  const status = await new Promise<number>((resolve) => new PendingConnect('127.0.0.1', port, (s) => resolve(s)));
  assert.equal(errnoName(status), 'ECONNREFUSED');

  const peers: string[] = [];
  const server = await listenTcp('127.0.0.1', 0, { backlog: 16, exclusive: true }, (h) => (peers.push(peerAddress(h)), h.close()));
  const c = net.connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, localAddress: '127.0.0.7' }).on('error', () => undefined);
  await until(() => peers.length === 1);
  assert.deepEqual(peers, ['127.0.0.7']);
  c.destroy();
  server.close();
});

test('UDP flows: replies come from the listening address, one flow per client, idle flows expire', async () => {
  const backend = dgram.createSocket('udp4');
  backend.on('message', (m, r) => backend.send(`echo:${m.toString()}`, r.port, r.address));
  backend.bind(0, '127.0.0.1');
  await once(backend, 'listening');
  const target = { ip: '127.0.0.1', port: backend.address().port };
  const listener = dgram.createSocket('udp4');
  listener.bind(0, '127.0.0.1');
  await once(listener, 'listening');
  const events: string[] = [];
  let clock = 0;
  const table = new UdpFlowTable(listener, { idleTimeoutMs: 20, maxFlows: 1, now: () => clock }, {
    choose: () => target,
    onFlowOpen: () => events.push('open'),
    onFlowClose: (_t, bi, bo) => events.push(`close ${bi}/${bo}`),
    onDrop: (why) => events.push(`drop ${why}`),
  });
  const client = dgram.createSocket('udp4');
  client.bind(0, '127.0.0.1');
  await once(client, 'listening');
  client.send('a', listener.address().port, '127.0.0.1');
  const [msg, rinfo] = (await once(client, 'message')) as [Buffer, dgram.RemoteInfo];
  assert.equal(msg.toString(), 'echo:a');
  assert.deepEqual([rinfo.address, rinfo.port], ['127.0.0.1', listener.address().port]);
  client.send('bb', listener.address().port, '127.0.0.1');
  await once(client, 'message');
  assert.equal(table.size, 1);

  // A second client finds the table full (maxFlows 1).
  const other = dgram.createSocket('udp4');
  other.bind(0, '127.0.0.1');
  await once(other, 'listening');
  other.send('x', listener.address().port, '127.0.0.1');
  await until(() => events.includes('drop flow-limit'));

  clock = 1000;
  await until(() => table.size === 0);
  assert.deepEqual(events, ['open', 'drop flow-limit', 'close 3/13']);
  for (const s of [client, other, listener, backend]) s.close();
});
