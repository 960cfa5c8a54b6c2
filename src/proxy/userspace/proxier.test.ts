// The userspace proxier on loopback: Service addresses are 127.88.x.y (all of 127.0.0.0/8 is local
// on Linux), endpoints are small echo servers on 127.0.0.x ports.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { ep, modelOf, sport } from '../testing.js';
import type { ServicePortInfo } from '../model.js';
import { UserspaceProxier, type UserspaceProxierOptions } from './proxier.js';
import type { SchedulerName } from './schedulers.js';

const PORT = 18080;

interface Backend { name: string; ip: string; port: number; open: Set<net.Socket>; close(): void }

/** Says its name on connect, then echoes what it read once the client closes its write side. */
async function tcpBackend(name: string, ip = '127.0.0.1'): Promise<Backend> {
  const open = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    open.add(s);
    s.on('close', () => open.delete(s)).on('error', () => undefined);
    let data = '';
    s.write(`${name}\n`);
    s.setEncoding('utf8').on('data', (d: string) => (data += d)).once('end', () => s.end(`echo:${data}`));
  });
  server.listen(0, ip);
  await once(server, 'listening');
  return { name, ip, port: (server.address() as AddressInfo).port, open, close: () => server.close() };
}

interface Held { name: string; socket: net.Socket; rest: Promise<string> }

/** Connects and waits for the endpoint's name; `rest` is what follows once both sides closed. */
function hold(ip: string, port: number, localAddress?: string): Promise<Held> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: ip, port, allowHalfOpen: true, ...(localAddress ? { localAddress } : {}) });
    let buf = '';
    let named = false;
    let resolveRest: (s: string) => void = () => undefined;
    const rest = new Promise<string>((r) => (resolveRest = r));
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (!named && nl >= 0) {
        named = true;
        resolve({ name: buf.slice(0, nl), socket, rest });
        buf = buf.slice(nl + 1);
      }
    });
    // Half-open capable, so a proxy that gives up must be noticed at its FIN.
    socket.once('end', () => (named ? undefined : socket.destroy()));
    socket.once('close', () => {
      if (!named) reject(new Error('closed before the endpoint answered'));
      resolveRest(buf);
    });
    socket.once('error', (e) => (named ? undefined : reject(e)));
  });
}

/** One request: connect, send, close the write side, read the reply to the end. */
async function talk(ip: string, port: number, payload = 'hi', localAddress?: string): Promise<{ name: string; echo: string }> {
  const h = await hold(ip, port, localAddress);
  h.socket.end(payload);
  return { name: h.name, echo: await h.rest };
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
}

function svc(name: string, clusterIP: string, backends: Backend[], o: Partial<ServicePortInfo> = {}): ServicePortInfo {
  return sport({ name, clusterIP, port: PORT, endpoints: backends.map((b) => ep(b.ip, b.port, { nodeName: `node-${b.name}` })), ...o });
}

function newProxier(relay: 'js' | 'native', o: Partial<UserspaceProxierOptions> = {}): UserspaceProxier {
  const p = new UserspaceProxier({ nodeName: 'node-a', nodeIPs: ['127.88.255.1'], relay, ...o });
  assert.equal(p.relayKind, relay);
  return p;
}

async function backends(...names: string[]): Promise<Backend[]> {
  return Promise.all(names.map((n) => tcpBackend(n)));
}

function closeAll(bs: Backend[]): void {
  for (const b of bs) b.close();
}

// Every test runs against both TCP relays: the JS one (relay.ts) and the native pump
// (native/relay.c). The native one must be built (npm ci builds it): a missing addon fails here.
for (const RELAY of ['js', 'native'] as const) {
describe(`relay: ${RELAY}`, () => {
const proxier = (o: Partial<UserspaceProxierOptions> = {}) => newProxier(RELAY, o);

test('round robin spreads connections over the endpoints in turn', async () => {
  const bs = await backends('a', 'b', 'c');
  const p = proxier();
  await p.sync(modelOf([svc('web', '127.88.1.1', bs)]), 'full');
  const got: string[] = [];
  for (let i = 0; i < 9; i++) {
    const r = await talk('127.88.1.1', PORT, `m${i}`);
    assert.equal(r.echo, `echo:m${i}`);
    got.push(r.name);
  }
  assert.deepEqual(got, ['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c']);
  await until(() => p.metrics().endpoints.every((e) => e.connectionsActive === 0));
  // Per endpoint: 3 connections, 3 x 2 bytes in, 3 x ("a\n" + "echo:mN") out.
  assert.deepEqual(p.metrics().endpoints.map((e) => [e.name, e.connectionsTotal, e.connectionsActive, e.bytesIn, e.bytesOut]),
    bs.map(() => ['web', 3, 0, 6, 27]));
  await p.close();
  closeAll(bs);
});

test('listeners on cluster, external and load-balancer IPs and node ports; changes are incremental', async () => {
  const bs = await backends('a', 'b');
  const p = proxier({ nodeIPs: ['127.88.255.1', '127.88.255.2'] });
  const first = svc('web', '127.88.2.1', bs, { externalIPs: ['127.88.2.2'], loadBalancerIPs: ['127.88.2.3'], nodePort: 18081 });
  const other = svc('other', '127.88.2.9', bs);
  await p.sync(modelOf([first, other]), 'full');
  assert.deepEqual(p.listenersOf(first.key), [
    'TCP 127.88.2.1:18080', 'TCP 127.88.2.2:18080', 'TCP 127.88.2.3:18080', 'TCP 127.88.255.1:18081', 'TCP 127.88.255.2:18081',
  ]);
  for (const [ip, port] of [['127.88.2.1', PORT], ['127.88.2.2', PORT], ['127.88.2.3', PORT], ['127.88.255.2', 18081]] as const) {
    assert.equal((await talk(ip, port, 'x')).echo, 'echo:x', `${ip}:${port}`);
  }
  // Only the changed key is looked at: the other Service keeps its listener even though the
  // model handed over no longer lists it.
  const second = { ...first, externalIPs: [], nodePort: 0 };
  await p.sync(modelOf([second], [second.key]), new Set([second.key]));
  assert.deepEqual(p.listenersOf(first.key), ['TCP 127.88.2.1:18080', 'TCP 127.88.2.3:18080']);
  assert.deepEqual(p.listenersOf(other.key), ['TCP 127.88.2.9:18080']);
  await assert.rejects(talk('127.88.2.2', PORT), /ECONNREFUSED/);
  assert.equal(p.metrics().listenersOpen, 3);
  await p.close();
  closeAll(bs);
});

test('an address that cannot be bound is counted and logged, and the rest still works', async () => {
  const bs = await backends('a');
  const squatter = net.createServer();
  squatter.listen(PORT, '127.88.3.2');
  await once(squatter, 'listening');
  const warnings: string[] = [];
  const p = proxier({ logger: { warn: (_o, msg) => warnings.push(msg), debug: () => undefined } });
  await p.sync(modelOf([svc('web', '127.88.3.1', bs, { externalIPs: ['127.88.3.2'] })]), 'full');
  assert.equal(p.metrics().listenFailuresTotal, 1);
  assert.deepEqual(warnings, ['cannot listen on service address']);
  assert.equal((await talk('127.88.3.1', PORT)).name, 'a');
  // Freed, it is taken on the next full sync.
  squatter.close();
  await once(squatter, 'close');
  await p.sync(modelOf([svc('web', '127.88.3.1', bs, { externalIPs: ['127.88.3.2'] })]), 'full');
  assert.equal((await talk('127.88.3.2', PORT)).name, 'a');
  await p.close();
  closeAll(bs);
});

test('bind and release hooks see each virtual IP once', async () => {
  const bs = await backends('a');
  const calls: string[] = [];
  const p = proxier({ bindAddress: (ip) => void calls.push(`+${ip}`), releaseAddress: (ip) => void calls.push(`-${ip}`) });
  const tcp = svc('dns', '127.88.4.1', bs);
  const udp = { ...svc('dns', '127.88.4.1', bs, { protocol: 'UDP' }) };
  await p.sync(modelOf([tcp, udp]), 'full');
  await p.sync(modelOf([udp]), new Set([tcp.key]));
  await p.sync(modelOf([]), 'full');
  assert.deepEqual(calls, ['+127.88.4.1', '-127.88.4.1']);
  await p.close();
  closeAll(bs);
});

test('scheduler defining behaviour through the proxy', async () => {
  const bs = await backends('a', 'b', 'c');
  const run = async (name: SchedulerName, o: Partial<ServicePortInfo>, weights?: Map<string, number>) => {
    const p = proxier({ schedulerFor: () => name, ...(weights ? { weightsFor: () => weights } : {}) });
    await p.sync(modelOf([svc(name, '127.88.5.1', bs, o)]), 'full');
    assert.equal(p.schedulerOf(`default/${name}//TCP`), name);
    return p;
  };

  // lc: with a and c busy, new connections go to the least busy.
  let p = await run('lc', {});
  const held = [await hold('127.88.5.1', PORT), await hold('127.88.5.1', PORT), await hold('127.88.5.1', PORT)];
  assert.deepEqual(held.map((h) => h.name), ['a', 'b', 'c']);
  held[1]?.socket.end();
  await held[1]?.rest;
  await until(() => (p.metrics().endpoints.find((e) => e.endpoint.endsWith(`:${bs[1]?.port}`))?.connectionsActive ?? 1) === 0);
  assert.equal((await hold('127.88.5.1', PORT)).name, 'b', 'lc: the only idle endpoint');
  await p.close();

  // wrr: weights 3:1:0 give 6 of 8 to a, 2 to b, none to the quiesced c.
  p = await run('wrr', {}, new Map([[`${bs[0]?.ip}:${bs[0]?.port}`, 3], [`${bs[2]?.ip}:${bs[2]?.port}`, 0]]));
  const names: string[] = [];
  for (let i = 0; i < 8; i++) names.push((await talk('127.88.5.1', PORT)).name);
  assert.deepEqual(names.sort(), ['a', 'a', 'a', 'a', 'a', 'a', 'b', 'b']);
  await p.close();

  // sh: one client address always reaches the same endpoint, another may not.
  p = await run('sh', {});
  for (const client of ['127.0.0.21', '127.0.0.22', '127.0.0.23']) {
    const seen = new Set<string>();
    for (let i = 0; i < 5; i++) seen.add((await talk('127.88.5.1', PORT, 'x', client)).name);
    assert.equal(seen.size, 1, `sh: ${client}`);
  }
  await p.close();

  // dh: each destination address (cluster IP, external IPs) keeps to one endpoint.
  p = await run('dh', { externalIPs: ['127.88.5.2', '127.88.5.3', '127.88.5.4'] });
  for (const dest of ['127.88.5.1', '127.88.5.2', '127.88.5.3', '127.88.5.4']) {
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) seen.add((await talk(dest, PORT, 'x', `127.0.0.${30 + i}`)).name);
    assert.equal(seen.size, 1, `dh: ${dest}`);
  }
  await p.close();
  for (const h of held) h.socket.destroy();
  closeAll(bs);
});

test('ClientIP affinity keeps a client on its endpoint until the timeout', async () => {
  const bs = await backends('a', 'b', 'c');
  let clock = 1_000_000;
  const p = proxier({ now: () => clock });
  await p.sync(modelOf([svc('web', '127.88.6.1', bs, { affinityTimeoutSeconds: 10 })]), 'full');
  const from = (c: string) => talk('127.88.6.1', PORT, 'x', c).then((r) => r.name);
  assert.equal(await from('127.0.0.41'), 'a');
  assert.equal(await from('127.0.0.42'), 'b');
  clock += 9_000;
  assert.deepEqual([await from('127.0.0.41'), await from('127.0.0.41'), await from('127.0.0.42')], ['a', 'a', 'b']);
  // Each use refreshes the entry; 10 s without one expires it and round robin takes over.
  clock += 10_000;
  assert.equal(await from('127.0.0.41'), 'c');
  assert.equal(await from('127.0.0.41'), 'c');
  await p.close();
  closeAll(bs);
});

test('a failed connect moves on to the next endpoint; when all fail the client is closed', async () => {
  const bs = await backends('b');
  const dead = net.createServer().listen(0, '127.0.0.1');
  await once(dead, 'listening');
  const deadPort = (dead.address() as AddressInfo).port;
  dead.close();
  await once(dead, 'close');
  const deadEp = { name: 'dead', ip: '127.0.0.1', port: deadPort, open: new Set<net.Socket>(), close: () => undefined };
  const p = proxier();
  await p.sync(modelOf([svc('web', '127.88.7.1', [deadEp, ...bs]), svc('gone', '127.88.7.2', [deadEp])]), 'full');
  for (let i = 0; i < 4; i++) assert.equal((await talk('127.88.7.1', PORT)).name, 'b');
  const m = p.metrics();
  const deadM = m.endpoints.find((e) => e.name === 'web' && e.endpoint === `127.0.0.1:${deadPort}`);
  // Round robin comes back to the dead endpoint every other connection: each time it fails over.
  assert.deepEqual([deadM?.connectFailuresTotal, deadM?.connectionsTotal], [4, 0]);
  await assert.rejects(talk('127.88.7.2', PORT), /closed before the endpoint answered|ECONNRESET/);
  assert.equal(p.metrics().connectGiveUpTotal, 1);
  await p.close();
  closeAll(bs);
});

test('endpoint removal lets an open connection finish and sends new ones elsewhere', async () => {
  const bs = await backends('a', 'b');
  const p = proxier();
  await p.sync(modelOf([svc('web', '127.88.8.1', bs)]), 'full');
  const onA = await hold('127.88.8.1', PORT);
  assert.equal(onA.name, 'a');
  await p.sync(modelOf([svc('web', '127.88.8.1', bs.slice(1))]), new Set(['default/web//TCP']));
  for (let i = 0; i < 3; i++) assert.equal((await talk('127.88.8.1', PORT)).name, 'b');
  onA.socket.end('still here');
  assert.equal(await onA.rest, 'echo:still here');
  await p.close();
  closeAll(bs);
});

test('service removal closes its listeners and its connections', async () => {
  const bs = await backends('a');
  const p = proxier();
  const s = svc('web', '127.88.9.1', bs, { nodePort: 18082 });
  await p.sync(modelOf([s]), 'full');
  const open = await hold('127.88.9.1', PORT);
  await p.sync(modelOf([]), new Set([s.key]));
  await new Promise((r) => open.socket.once('close', r));
  await assert.rejects(talk('127.88.9.1', PORT), /ECONNREFUSED/);
  await assert.rejects(talk('127.88.255.1', 18082), /ECONNREFUSED/);
  await until(() => bs[0]?.open.size === 0);
  assert.deepEqual(p.metrics(), { endpoints: [], listenersOpen: 0, listenFailuresTotal: 0, noEndpointTotal: 0, connectGiveUpTotal: 0, udpFlowsActive: 0, udpDropsTotal: 0 });
  await p.close();
  closeAll(bs);
});

test('Local policies: node ports reach only this node\'s endpoints, cluster IPs all; none = refused', async () => {
  const bs = await backends('a', 'b');
  const p = proxier({ nodeName: 'node-b' });
  await p.sync(modelOf([
    svc('web', '127.88.10.1', bs, { nodePort: 18083, externalPolicyLocal: true }),
    svc('none', '127.88.10.2', bs.slice(0, 1), { internalPolicyLocal: true }),
  ]), 'full');
  const viaNode = new Set<string>();
  const viaCluster = new Set<string>();
  for (let i = 0; i < 4; i++) {
    viaNode.add((await talk('127.88.255.1', 18083)).name);
    viaCluster.add((await talk('127.88.10.1', PORT)).name);
  }
  assert.deepEqual([[...viaNode], [...viaCluster].sort()], [['b'], ['a', 'b']]);
  await assert.rejects(talk('127.88.10.2', PORT), /closed before the endpoint answered|ECONNRESET/);
  assert.equal(p.metrics().noEndpointTotal, 1);
  await p.close();
  closeAll(bs);
});

test('externalTrafficPolicy Local: with the cluster CIDR known, the node\'s own connections to a node port go to all endpoints', async () => {
  // Loopback clients are the node itself, which kube-proxy sends to Cluster policy ("short circuit");
  // pods (sources in the cluster CIDR) take the same path (scenario etp-local-pod).
  const bs = await backends('a', 'b');
  const p = proxier({ nodeName: 'node-b', clusterCIDR: '198.19.0.0/16' });
  await p.sync(modelOf([svc('web', '127.88.13.1', bs, { nodePort: 18084, externalPolicyLocal: true })]), 'full');
  const seen = new Set<string>();
  for (let i = 0; i < 4; i++) seen.add((await talk('127.88.255.1', 18084)).name);
  assert.deepEqual([...seen].sort(), ['a', 'b']);
  await p.close();
  closeAll(bs);
});

interface UdpBackend { name: string; port: number; close(): void }

async function udpBackend(name: string): Promise<UdpBackend> {
  const s = dgram.createSocket('udp4');
  s.on('message', (m, r) => s.send(`${name}:${m.toString()}`, r.port, r.address));
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  return { name, port: s.address().port, close: () => s.close() };
}

test('UDP: round trip from the service address, a flow sticks to its endpoint, idle flows expire', async () => {
  const ubs = [await udpBackend('a'), await udpBackend('b')];
  const model = modelOf([sport({ name: 'dns', protocol: 'UDP', clusterIP: '127.88.11.1', port: PORT, endpoints: ubs.map((b) => ep('127.0.0.1', b.port)) })]);
  const client = dgram.createSocket('udp4');
  client.bind(0, '127.0.0.1');
  await once(client, 'listening');
  const ask = async (q: string) => {
    client.send(q, PORT, '127.88.11.1');
    const [m, r] = (await once(client, 'message')) as [Buffer, dgram.RemoteInfo];
    assert.deepEqual([r.address, r.port], ['127.88.11.1', PORT], 'reply comes from the service address');
    return m.toString();
  };

  const long = proxier();
  await long.sync(model, 'full');
  assert.deepEqual([await ask('1'), await ask('2'), await ask('3')], ['a:1', 'a:2', 'a:3']);
  assert.equal(long.metrics().udpFlowsActive, 1);
  assert.deepEqual(long.metrics().endpoints.map((e) => [e.connectionsTotal, e.connectionsActive, e.bytesIn, e.bytesOut]), [[1, 1, 3, 9], [0, 0, 0, 0]]);
  await long.close();

  const short = proxier({ udpIdleTimeoutMs: 20 });
  await short.sync(model, 'full');
  assert.equal(await ask('x'), 'a:x');
  await until(() => short.metrics().udpFlowsActive === 0);
  assert.equal(await ask('y'), 'b:y', 'a new flow after expiry is scheduled afresh');
  assert.deepEqual(short.metrics().endpoints.map((e) => [e.connectionsTotal, e.bytesIn, e.bytesOut]), [[1, 1, 3], [1, 1, 3]]);
  await short.close();
  client.close();
  for (const b of ubs) b.close();
});

function fdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

test('soak: 5,000 connections of churn leave no file descriptor behind', async () => {
  const bs = await backends('a', 'b', 'c');
  const p = proxier();
  await p.sync(modelOf([svc('web', '127.88.12.1', bs)]), 'full');
  const churn = async (n: number, parallel: number) => {
    let next = 0;
    const worker = async () => {
      while (next < n) {
        next++;
        const r = await talk('127.88.12.1', PORT, 'payload');
        assert.equal(r.echo, 'echo:payload');
      }
    };
    await Promise.all(Array.from({ length: parallel }, worker));
  };
  const settled = () => until(() => bs.every((b) => b.open.size === 0) && p.metrics().endpoints.every((e) => e.connectionsActive === 0));
  await churn(200, 20);
  await settled();
  const before = fdCount();
  await churn(5000, 50);
  await settled();
  const after = fdCount();
  assert.ok(after <= before, `fds before ${before}, after ${after}`);
  assert.equal(p.metrics().endpoints.reduce((s, e) => s + e.connectionsTotal, 0), 5200);
  await p.close();
  closeAll(bs);
});
});
}
