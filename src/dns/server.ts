// The cluster DNS server: UDP and TCP on one address, answers from the zone index, forwarding
// of other names, and an HTTP side port for /health, /ready and /metrics. With `workers` > 1 the
// UDP socket is served by that many worker processes (see workers.ts); TCP and HTTP stay here.
import { createServer as createTcpServer, isIPv6, type Server as TcpServer, type Socket } from 'node:net';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import type { Registry } from 'prom-client';
import { RCODE, TYPE } from './wire.js';
import { ZoneIndex, type ZoneInformers, type ZoneOptions } from './zone.js';
import { AnswerCache, Forwarder, parseHostPort, resolvConfUpstreams, type Upstream } from './upstream.js';
import { DnsHandler, DnsMetrics } from './handler.js';
import { serveUdpOn, type UdpIo, type UdpServing } from './udp.js';
import { BindError, RELAY_KINDS, UdpWorkers } from './workers.js';

export { buildResponse } from './handler.js';

export interface DnsServerOptions extends ZoneOptions, ZoneInformers {
  /** `HOST:PORT` (port 0 picks a free port, the same for UDP and TCP). */
  listen: string;
  /** `HOST:PORT` of the HTTP side port (/health, /ready, /metrics); omitted: not started. */
  httpListen?: string;
  /** Upstream resolvers (`host[:port]`); default: the nameservers of `resolvConf`. */
  upstreams?: string[];
  resolvConf?: string;
  upstreamTimeoutMs?: number;
  cacheEntries?: number;
  /** Longest time an upstream answer is cached, seconds (default 30). */
  cacheMaxTtl?: number;
  tcpIdleTimeoutMs?: number;
  /**
   * Processes answering UDP (default 1: this process). More than 1 forks that many workers that
   * share the UDP socket, each with a zone index fed from this process's informers.
   */
  workers?: number;
  /**
   * How one process serves UDP: `recvmmsg` (the native batched shim, native/udpmmsg.c) or `dgram`.
   * Default: `recvmmsg` when the addon is built, else `dgram`. Workers always use dgram.
   */
  udpIo?: UdpIo;
  logger?: Logger;
}

export interface DnsServer {
  host: string;
  /** The port both UDP and TCP listen on. */
  port: number;
  httpPort: number | undefined;
  zone: ZoneIndex;
  /** This process's metrics (with workers: TCP only; /metrics serves the sum over all processes). */
  registry: Registry;
  /** Processes answering UDP: 1, or the number of live workers. */
  udpProcesses(): number;
  /** How UDP is served: `recvmmsg`, `dgram`, or `workers` (dgram in each worker). */
  udpIo: UdpIo | 'workers';
  /** The Prometheus text of /metrics (summed over the workers). */
  metricsText(): Promise<string>;
  /**
   * Also answers on `host`, same port, UDP and TCP (one UDP process only): for an address pods can
   * reach when the main one is loopback. Closed with the server.
   */
  listenAlso(host: string): Promise<void>;
  close(): Promise<void>;
}

function splitListen(s: string, defaultPort: number): Upstream {
  return parseHostPort(s, defaultPort);
}

function listenTcp(srv: TcpServer | HttpServer, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onErr = (e: Error): void => reject(e);
    srv.once('error', onErr);
    srv.listen({ host, port }, () => {
      srv.off('error', onErr);
      resolve((srv.address() as AddressInfo).port);
    });
  });
}

function serveTcpConnection(sock: Socket, handler: DnsHandler, idleMs: number): void {
  let acc: Buffer = Buffer.alloc(0);
  sock.setNoDelay(true);
  sock.setTimeout(idleMs, () => sock.destroy());
  sock.on('error', () => sock.destroy());
  const send = (out: Buffer | null): void => {
    if (!out || sock.destroyed) return;
    const frame = Buffer.allocUnsafe(out.length + 2);
    frame.writeUInt16BE(out.length, 0);
    out.copy(frame, 2);
    sock.write(frame);
  };
  sock.on('data', (d: Buffer) => {
    acc = acc.length ? Buffer.concat([acc, d]) : d;
    while (acc.length >= 2) {
      const len = acc.readUInt16BE(0);
      if (acc.length < 2 + len) break;
      const msg = acc.subarray(2, 2 + len);
      acc = acc.subarray(2 + len);
      const r = handler.handle(msg, true);
      if (r instanceof Promise) void r.then(send);
      else send(r);
    }
  });
}

/** Starts the DNS server (and its HTTP side port) and subscribes the zone to the informers. */
export async function startDnsServer(opts: DnsServerOptions): Promise<DnsServer> {
  const log = opts.logger ?? pino({ level: process.env.PORTICO_LOG_LEVEL ?? 'info' }, pino.destination(2));
  const { host, port } = splitListen(opts.listen, 53);
  const nWorkers = Math.max(1, Math.floor(opts.workers ?? 1));
  const zone = new ZoneIndex(opts);
  const unsubscribe = zone.attach(opts);
  const self = `${host}:${port}`;
  const upstreams = (opts.upstreams ? opts.upstreams.map((u) => parseHostPort(u, 53)) : resolvConfUpstreams(opts.resolvConf))
    .filter((u) => `${u.host}:${u.port}` !== self);
  const forwarder = new Forwarder(upstreams, opts.upstreamTimeoutMs ?? 2000);
  const cache = new AnswerCache(opts.cacheEntries ?? 10000, opts.cacheMaxTtl ?? 30);
  const metrics = new DnsMetrics(cache);
  const handler = new DnsHandler(zone, forwarder, cache, metrics, log);

  const family = isIPv6(host) ? 'udp6' : 'udp4';
  let udp: UdpServing | undefined;
  let workers: UdpWorkers | undefined;
  let tcp: TcpServer | undefined;
  let boundPort = port;
  const conns = new Set<Socket>();
  const newTcp = (): TcpServer => createTcpServer((s) => {
    conns.add(s);
    s.on('close', () => conns.delete(s));
    serveTcpConnection(s, handler, opts.tcpIdleTimeoutMs ?? 10000);
  });
  // Port 0: UDP and TCP must end up on the same port; retry when another process holds the one
  // the first protocol got.
  for (let attempt = 0; ; attempt++) {
    if (nWorkers === 1) {
      udp = await serveUdpOn(handler, host, port, log, opts.udpIo);
      boundPort = udp.port;
      tcp = newTcp();
      try {
        await listenTcp(tcp, host, boundPort);
        break;
      } catch (err) {
        await udp.close();
        if (port !== 0 || attempt >= 10) {
          unsubscribe();
          throw err;
        }
      }
    } else {
      tcp = newTcp();
      boundPort = await listenTcp(tcp, host, port);
      workers = new UdpWorkers(nWorkers, {
        host, port: boundPort, type: family,
        zone: { zone: zone.zone, ttl: zone.ttl, podMode: zone.podMode, ...(opts.nsAddresses ? { nsAddresses: opts.nsAddresses } : {}) },
        kinds: RELAY_KINDS.filter((k) => opts[k] !== undefined),
        upstreams: upstreams.map((u) => `${u.host.includes(':') ? `[${u.host}]` : u.host}:${u.port}`),
        upstreamTimeoutMs: opts.upstreamTimeoutMs ?? 2000,
        cacheEntries: opts.cacheEntries ?? 10000,
        cacheMaxTtl: opts.cacheMaxTtl ?? 30,
        logLevel: log.level,
      }, opts, log);
      try {
        await workers.start();
        break;
      } catch (err) {
        await workers.close();
        await new Promise<void>((r) => tcp?.close(() => r()));
        if (port !== 0 || attempt >= 10 || !(err instanceof BindError && err.code === 'EADDRINUSE')) {
          unsubscribe();
          throw err;
        }
      }
    }
  }
  const metricsText = async (): Promise<string> => (workers ? (await workers.aggregate(metrics.registry)).metrics() : metrics.registry.metrics());

  let http: HttpServer | undefined;
  let httpPort: number | undefined;
  if (opts.httpListen !== undefined) {
    const h = splitListen(opts.httpListen, 8080);
    http = createHttpServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/health') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('OK');
      } else if (path === '/ready') {
        const ok = zone.synced();
        res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'OK' : 'informers not synced');
      } else if (path === '/metrics') {
        metricsText().then(
          (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
          (err: unknown) => res.writeHead(500).end(String(err)),
        );
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      }
    });
    httpPort = await listenTcp(http, h.host, h.port);
  }

  const syncAbort = new AbortController();
  void Promise.all([
    opts.services.waitForSync(syncAbort.signal),
    opts.endpointSlices.waitForSync(syncAbort.signal),
    opts.pods?.waitForSync(syncAbort.signal),
    opts.namespaces?.waitForSync(syncAbort.signal),
  ]).then(
    () => log.info({ names: zone.size() }, 'dns: informers synced, answering'),
    () => undefined,
  );
  log.info({ listen: `${host}:${boundPort}`, zone: zone.zone, udpWorkers: nWorkers, udpIo: udp?.io ?? 'workers', upstreams: upstreams.map((u) => `${u.host}:${u.port}`) }, 'dns: serving');

  const tcpServer = tcp;
  const udpSock = udp;
  const pool = workers;
  const extra: Array<{ udp: UdpServing; tcp: TcpServer }> = [];
  return {
    host,
    port: boundPort,
    httpPort,
    zone,
    registry: metrics.registry,
    udpProcesses: () => (pool ? pool.size() : 1),
    udpIo: udpSock ? udpSock.io : 'workers',
    metricsText,
    async listenAlso(h: string) {
      if (pool) throw new Error('dns: a second address needs a single UDP process (workers 1)');
      const u = await serveUdpOn(handler, h, boundPort, log, opts.udpIo);
      const t = newTcp();
      try {
        await listenTcp(t, h, boundPort);
      } catch (err) {
        await u.close();
        throw err;
      }
      extra.push({ udp: u, tcp: t });
      log.info({ listen: `${h}:${boundPort}` }, 'dns: serving');
    },
    async close() {
      syncAbort.abort();
      unsubscribe();
      forwarder.close();
      await Promise.all([
        udpSock ? udpSock.close() : Promise.resolve(),
        pool ? pool.close() : Promise.resolve(),
        new Promise<void>((r) => {
          tcpServer.close(() => r());
          for (const c of conns) c.destroy();
        }),
        http ? new Promise<void>((r) => { http.close(() => r()); http.closeAllConnections(); }) : Promise.resolve(),
        ...extra.flatMap((x) => [x.udp.close(), new Promise<void>((r) => x.tcp.close(() => r()))]),
      ]);
    },
  };
}

export { TYPE, RCODE };
