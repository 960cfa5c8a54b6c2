// Test helpers shared by the relay tests of both TCP relays (relay.test.ts: the JS relay on libuv
// handles; native.test.ts: the native pump), so the two check the same backends the same way.
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { pollUntil } from '../../util/poll.js';

export async function listen(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** Waits for `cond` (bounded, so a broken relay fails the test instead of hanging it). */
export async function until(cond: () => boolean): Promise<void> {
  await pollUntil('the relay to get there', async () => cond(), 20_000, 5);
}

export function readAll(s: net.Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    s.setEncoding('utf8').on('data', (d: string) => (data += d)).once('end', () => resolve(data)).once('error', reject);
  });
}

export const HALF_CLOSE_ROWS = [
  { why: 'client closes its write side first, then reads the reply', clientFirst: true },
  { why: 'backend closes first, client still sends and the backend still reads', clientFirst: false },
];

/**
 * Drives one half-close row through a proxy in front of a half-open backend: either the client
 * ends first and reads the reply (want `reply to ping`), or the backend ends first (want `early`)
 * and still reads what the client sends afterwards.
 */
export async function halfCloseExchange<P extends { port: number }>(clientFirst: boolean, proxyTo: (backendPort: number) => Promise<P>): Promise<{ backend: net.Server; proxy: P; reply: string }> {
  let backendGot = '';
  const backend = net.createServer({ allowHalfOpen: true }, (s) => {
    s.setEncoding('utf8');
    if (clientFirst) {
      s.on('data', (d: string) => (backendGot += d)).once('end', () => s.end(`reply to ${backendGot}`));
    } else {
      s.end('early');
      s.on('data', (d: string) => (backendGot += d));
    }
  });
  const p = await proxyTo(await listen(backend));
  const c = net.connect({ host: '127.0.0.1', port: p.port, allowHalfOpen: true });
  const replyP = readAll(c);
  let reply: string;
  if (clientFirst) {
    c.end('ping');
    reply = await replyP;
  } else {
    reply = await replyP;
    c.end('late');
    await until(() => backendGot === 'late');
  }
  return { backend, proxy: p, reply };
}

/** A backend that writes `total` bytes as fast as the connection takes them; `sent()` so far. */
export function floodBackend(total: number): { backend: net.Server; sent(): number } {
  let sent = 0;
  const backend = net.createServer((s) => {
    const chunk = Buffer.alloc(64 * 1024, 120);
    const pump = () => {
      while (sent < total) {
        sent += chunk.length;
        if (!s.write(chunk)) return void s.once('drain', pump);
      }
      s.end();
    };
    pump();
  });
  return { backend, sent: () => sent };
}
