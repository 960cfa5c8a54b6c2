// The batched UDP shim (native/udpmmsg.c through udp.ts) with a stand-in handler: batching, replies
// to the right sender, replies that come later, drops, close.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { pino } from 'pino';
import type { DnsHandler } from './handler.js';
import { serveUdpOn, udpBatchingUnavailable } from './udp.js';

const quiet = pino({ level: 'silent' });

/** Replies "<tag>:<query>" now, later (a Promise) for queries starting with "later", nothing for "drop". */
function echoHandler(): DnsHandler {
  return {
    handle(raw: Buffer): Buffer | null | Promise<Buffer | null> {
      const text = raw.toString();
      if (text.startsWith('drop')) return null;
      if (text.startsWith('later')) {
        const copy = Buffer.from(`late:${text}`);
        return new Promise((r) => setTimeout(() => r(copy), 20));
      }
      return Buffer.from(`now:${text}`);
    },
  } as unknown as DnsHandler;
}

function client(): Promise<{ sock: Socket; got: string[] }> {
  const sock = createSocket('udp4');
  const got: string[] = [];
  sock.on('message', (m) => got.push(m.toString()));
  return new Promise((r) => sock.bind(0, '127.0.0.1', () => r({ sock, got })));
}

async function until(probe: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!probe() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
}

describe('batched UDP (recvmmsg/sendmmsg)', () => {
  it('is built', () => {
    assert.equal(udpBatchingUnavailable(), undefined);
  });

  it('reads a burst in batches, replies to each sender, and sends later replies to the right peer', async () => {
    const srv = await serveUdpOn(echoHandler(), '127.0.0.1', 0, quiet, 'recvmmsg');
    const a = await client();
    const b = await client();
    try {
      assert.equal(srv.io, 'recvmmsg');
      // 100 each: the server socket's default receive buffer holds ~256 small datagrams.
      for (let i = 0; i < 100; i++) {
        a.sock.send(`a${i}`, srv.port, '127.0.0.1');
        b.sock.send(`b${i}`, srv.port, '127.0.0.1');
      }
      a.sock.send('later-a', srv.port, '127.0.0.1');
      b.sock.send('drop-b', srv.port, '127.0.0.1');
      await until(() => a.got.length === 101 && b.got.length === 100);
      assert.deepEqual(new Set(a.got), new Set([...Array.from({ length: 100 }, (_, i) => `now:a${i}`), 'late:later-a']));
      assert.deepEqual(new Set(b.got), new Set(Array.from({ length: 100 }, (_, i) => `now:b${i}`)));
      const [wakeups, batches, datagrams, sent, refused] = srv.stats()!;
      assert.equal(datagrams, 202);
      assert.equal(sent, 201);
      assert.equal(refused, 0);
      assert.ok(batches! < datagrams!, `several datagrams per recvmmsg: ${batches} batches, ${wakeups} wake-ups`);
    } finally {
      a.sock.close();
      b.sock.close();
      await srv.close();
    }
  });

  it('frees the port on close and rejects a port in use with EADDRINUSE', async () => {
    const srv = await serveUdpOn(echoHandler(), '127.0.0.1', 0, quiet, 'recvmmsg');
    await assert.rejects(serveUdpOn(echoHandler(), '127.0.0.1', srv.port, quiet, 'recvmmsg'), { code: 'EADDRINUSE' });
    await srv.close();
    assert.equal(srv.stats(), undefined);
    const again = await serveUdpOn(echoHandler(), '127.0.0.1', srv.port, quiet, 'recvmmsg');
    assert.equal(again.port, srv.port);
    await again.close();
  });

  it('serves IPv6', async () => {
    const srv = await serveUdpOn(echoHandler(), '::1', 0, quiet, 'recvmmsg');
    const sock = createSocket('udp6');
    try {
      const got = new Promise<string>((r) => sock.once('message', (m) => r(m.toString())));
      sock.send('six', srv.port, '::1');
      assert.equal(await got, 'now:six');
    } finally {
      sock.close();
      await srv.close();
    }
  });
});
