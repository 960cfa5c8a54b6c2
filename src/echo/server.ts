// The built-in echo server (`portico echo`): the demo backend and the end-to-end tests' backend.
// Every answer says who answered and how it was reached: the pod's name, the local address and
// port the connection or datagram arrived on, and the client's address and port as seen here (so a
// test can tell a masqueraded source from the client's own).
//   HTTP: any method and path, 200 with a JSON body.
//   TCP:  one JSON line on connect, then every byte received is sent back.
//   UDP:  one JSON datagram per datagram received, carrying the received text in `data`.
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type AddressInfo, isIPv6 } from 'node:net';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';

export interface EchoInfo {
  pod: string;
  protocol: 'http' | 'tcp' | 'udp';
  /** The local address the request was reached on. */
  address: string;
  /** The local port the request was reached on. */
  port: number;
  /** The client as seen by this server, `ip:port` (`[ip]:port` for IPv6). */
  client: string;
  method?: string;
  path?: string;
  /** UDP: the datagram received (UTF-8, at most 512 characters). */
  data?: string;
}

export interface Listen {
  host: string;
  port: number;
}

export interface EchoOptions {
  name: string;
  http?: Listen[];
  tcp?: Listen[];
  udp?: Listen[];
}

export interface EchoServer {
  /** Bound addresses, in the order given. */
  readonly http: AddressInfo[];
  readonly tcp: AddressInfo[];
  readonly udp: AddressInfo[];
  close(): Promise<void>;
}

/** `::ffff:1.2.3.4` → `1.2.3.4`. */
export function plainAddress(a: string | undefined): string {
  if (!a) return '';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

export function hostPort(ip: string, port: number | undefined): string {
  return isIPv6(ip) ? `[${ip}]:${port ?? 0}` : `${ip}:${port ?? 0}`;
}

interface Endpoints {
  localAddress?: string;
  localPort?: number;
  remoteAddress?: string;
  remotePort?: number;
}

export function describeConnection(name: string, protocol: EchoInfo['protocol'], s: Endpoints): EchoInfo {
  return {
    pod: name,
    protocol,
    address: plainAddress(s.localAddress),
    port: s.localPort ?? 0,
    client: hostPort(plainAddress(s.remoteAddress), s.remotePort),
  };
}

function startHttp(name: string, l: Listen): Promise<HttpServer> {
  const srv = createHttpServer((req, res) => {
    const info: EchoInfo = { ...describeConnection(name, 'http', req.socket), method: req.method ?? '', path: req.url ?? '' };
    const body = JSON.stringify(info) + '\n';
    // Drain any request body, then answer.
    req.resume();
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
  srv.keepAliveTimeout = 5_000;
  return listenOn(srv, l);
}

function startTcp(name: string, l: Listen): Promise<TcpServer> {
  const srv = createTcpServer((sock) => {
    sock.on('error', () => sock.destroy());
    sock.write(JSON.stringify(describeConnection(name, 'tcp', sock)) + '\n');
    sock.on('data', (d) => sock.write(d));
    sock.on('end', () => sock.end());
  });
  return listenOn(srv, l);
}

function listenOn<T extends HttpServer | TcpServer>(srv: T, l: Listen): Promise<T> {
  return new Promise((res, rej) => {
    srv.once('error', rej);
    srv.listen(l.port, l.host, () => {
      srv.off('error', rej);
      res(srv);
    });
  });
}

function startUdp(name: string, l: Listen): Promise<UdpSocket> {
  const sock = createSocket({ type: isIPv6(l.host) ? 'udp6' : 'udp4', reuseAddr: false });
  // An unknown local address: IP_PKTINFO is not reachable from node, so a socket bound to the
  // wildcard reports the wildcard. Callers that need the exact address bind to it.
  sock.on('message', (msg, rinfo) => {
    const local = sock.address();
    const info: EchoInfo = {
      ...describeConnection(name, 'udp', { localAddress: local.address, localPort: local.port, remoteAddress: rinfo.address, remotePort: rinfo.port }),
      data: msg.toString('utf8').slice(0, 512),
    };
    sock.send(JSON.stringify(info), rinfo.port, rinfo.address);
  });
  return new Promise((res, rej) => {
    sock.once('error', rej);
    sock.bind(l.port, l.host, () => {
      sock.off('error', rej);
      sock.on('error', () => undefined);
      res(sock);
    });
  });
}

/** Starts every listener; on any failure the ones already started are closed again. */
export async function startEcho(opts: EchoOptions): Promise<EchoServer> {
  const https: HttpServer[] = [];
  const tcps: TcpServer[] = [];
  const udps: UdpSocket[] = [];
  const close = async () => {
    await Promise.all([
      ...[...https, ...tcps].map(
        (s) =>
          new Promise<void>((r) => {
            if ('closeAllConnections' in s) s.closeAllConnections();
            s.close(() => r());
          }),
      ),
      ...udps.map((u) => new Promise<void>((r) => u.close(() => r()))),
    ]);
  };
  try {
    for (const l of opts.http ?? []) https.push(await startHttp(opts.name, l));
    for (const l of opts.tcp ?? []) tcps.push(await startTcp(opts.name, l));
    for (const l of opts.udp ?? []) udps.push(await startUdp(opts.name, l));
  } catch (err) {
    await close();
    throw err;
  }
  // TCP servers keep sockets open; track them so close() does not wait for clients.
  const sockets = new Set<import('node:net').Socket>();
  for (const s of tcps) s.on('connection', (c) => (sockets.add(c), c.on('close', () => sockets.delete(c))));
  return {
    http: https.map((s) => s.address() as AddressInfo),
    tcp: tcps.map((s) => s.address() as AddressInfo),
    udp: udps.map((u) => u.address()),
    async close() {
      for (const c of sockets) c.destroy();
      await close();
    },
  };
}
