// The byte movers of the userspace proxy: a TCP relay between an accepted client connection and a
// connected upstream connection, and a UDP flow table behind one listening datagram socket.
//
// TCP runs on Node's libuv stream handles (`process.binding('tcp_wrap')`, the objects under every
// net.Socket) rather than on net.Socket itself. Why: CPU profiles of the relay showed the stream
// machinery (Socket, Duplex, Readable/Writable state, event emitters, per-socket timers) costing
// more than the syscalls; with bare handles a new connection costs about half the CPU time and a
// relayed chunk is one read callback and one write call (bench/userspace). The handles are used as
// net.js uses them: onread with the shared streamBaseState, WriteWrap/ShutdownWrap requests with
// `oncomplete`, TCPConnectWrap for connects.
//
// Half-close: a FIN read from one side becomes a shutdown (FIN) of the other side's write direction,
// while the reverse direction keeps flowing; the relay closes when both directions are shut down.
// Backpressure: when a write cannot complete at once (the peer's socket buffer is full), the reading
// side stops reading until that write completes, so at most one chunk is held per direction. An
// error or reset on one side resets the other. Bytes are read from the handles' own counters when
// asked, so the data path carries no accounting. Timeouts (connect, idle) are checked by a periodic
// sweep rather than a timer per connection.
//
// UDP: one unconnected socket per client address towards the chosen endpoint; replies are sent
// back through the listening socket, so they come from the service address and port.
import dgram from 'node:dgram';
import net from 'node:net';
import { isIPv6 } from 'node:net';
import { getSystemErrorName } from 'node:util';

/** The libuv TCP handle of Node's tcp_wrap binding (the subset the relay uses). */
export interface TcpHandle {
  /** Must stay a function (the binding asserts it). */
  onread: (this: TcpHandle, buf: ArrayBuffer | undefined) => void;
  readonly bytesRead: number;
  readonly writeQueueSize: number;
  readStart(): number;
  readStop(): number;
  writeBuffer(req: WriteReq, buf: Buffer): number;
  shutdown(req: ShutdownReq): number;
  setNoDelay(on: boolean): number;
  getpeername(out: { address?: string; port?: number }): number;
  connect(req: ConnectReq, ip: string, port: number): number;
  connect6(req: ConnectReq, ip: string, port: number): number;
  /** Closes with SO_LINGER 0, so the peer gets a RST; non-zero when the handle cannot (e.g. already shut down). */
  reset(cb?: () => void): number;
  close(cb?: () => void): void;
  [kDirection]?: Direction;
}

interface WriteReq { oncomplete: (this: WriteReq, status: number) => void; buffer?: Buffer; dir?: Direction }
interface ShutdownReq { oncomplete: (this: ShutdownReq, status: number) => void; dir?: Direction }
interface ConnectReq { oncomplete: (this: ConnectReq, status: number) => void; pending?: PendingConnect }

interface Bindings {
  TCP: new (type: number) => TcpHandle;
  TCPConnectWrap: new () => ConnectReq;
  WriteWrap: new () => WriteReq;
  ShutdownWrap: new () => ShutdownReq;
  SOCKET: number;
  state: Int32Array;
  kReadBytesOrError: number;
  kArrayBufferOffset: number;
  kLastWriteWasAsync: number;
  UV_EOF: number;
}

const B: Bindings = (() => {
  const binding = (process as unknown as { binding(name: string): Record<string, unknown> }).binding;
  const tcp = binding('tcp_wrap') as { TCP: Bindings['TCP']; TCPConnectWrap: Bindings['TCPConnectWrap']; constants: { SOCKET: number } };
  const stream = binding('stream_wrap') as {
    WriteWrap: Bindings['WriteWrap']; ShutdownWrap: Bindings['ShutdownWrap']; streamBaseState: Int32Array;
    kReadBytesOrError: number; kArrayBufferOffset: number; kLastWriteWasAsync: number;
  };
  const uv = binding('uv') as { UV_EOF: number };
  return {
    TCP: tcp.TCP, TCPConnectWrap: tcp.TCPConnectWrap, SOCKET: tcp.constants.SOCKET,
    WriteWrap: stream.WriteWrap, ShutdownWrap: stream.ShutdownWrap, state: stream.streamBaseState,
    kReadBytesOrError: stream.kReadBytesOrError, kArrayBufferOffset: stream.kArrayBufferOffset, kLastWriteWasAsync: stream.kLastWriteWasAsync,
    UV_EOF: uv.UV_EOF,
  };
})();

const kDirection = Symbol('relay direction');

/** `errno` of a libuv status as Node names it (ECONNREFUSED, ...). */
export function errnoName(status: number): string {
  try {
    return getSystemErrorName(status);
  } catch {
    return `errno ${status}`;
  }
}

/**
 * Listens on ip:port and hands each accepted connection over as a bare handle (not read from until
 * a relay starts). net.Server does the binding (errors, IPv6, node:cluster sharing when not
 * exclusive); its handle's connection callback is then taken over.
 */
export async function listenTcp(ip: string, port: number, opts: { backlog: number; exclusive: boolean }, onConnection: (client: TcpHandle) => void): Promise<net.Server> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: ip, port, backlog: opts.backlog, exclusive: opts.exclusive }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const handle = (server as unknown as { _handle: { onconnection: (err: number, client: TcpHandle | undefined) => void } | null })._handle;
  if (handle === null) throw new Error(`listen ${ip}:${port}: no handle`);
  // Accept errors (EMFILE and the like) leave the listener as it is; the next connection is tried.
  handle.onconnection = (err, client) => {
    if (err === 0 && client !== undefined) onConnection(client);
  };
  return server;
}

/** The peer address of a handle ('' when it cannot be read, e.g. already reset). */
export function peerAddress(h: TcpHandle): string {
  const out: { address?: string } = {};
  return h.getpeername(out) === 0 ? (out.address ?? '') : '';
}

/**
 * One connect attempt to an endpoint. `done` is called once: with 0 and the connected handle, or
 * with a libuv error (ECONNREFUSED, ETIMEDOUT from `timeOut`, ...), after which the handle is closed.
 */
export class PendingConnect {
  readonly handle: TcpHandle;
  /** The sweep tick at which the attempt started (connect timeouts). */
  startTick = 0;
  private settled = false;

  constructor(ip: string, port: number, private readonly done: (status: number, p: PendingConnect) => void, ipv6 = isIPv6(ip)) {
    this.handle = new B.TCP(B.SOCKET);
    const req = new B.TCPConnectWrap();
    req.oncomplete = afterConnect;
    req.pending = this;
    const err = ipv6 ? this.handle.connect6(req, ip, port) : this.handle.connect(req, ip, port);
    // A synchronous failure is reported on the next tick, as an asynchronous one would be.
    if (err !== 0) process.nextTick(() => this.settle(err));
  }

  get isSettled(): boolean {
    return this.settled;
  }

  settle(status: number): void {
    if (this.settled) return;
    this.settled = true;
    if (status !== 0) this.handle.close();
    this.done(status, this);
  }

  /** Gives up on the attempt (connect timeout). */
  timeOut(): void {
    this.settle(-110 /* ETIMEDOUT */);
  }
}

function afterConnect(this: ConnectReq, status: number): void {
  this.pending?.settle(status);
}

export interface TcpRelayHooks {
  /** Called once, when the first direction finishes (FIN seen): the connection is no longer active. */
  onHalfClose(relay: TcpRelay): void;
  /** Called once, when the relay closes both handles. */
  onClose(relay: TcpRelay): void;
}

/** One direction of a relay: bytes read from `from` are written to `to`. */
class Direction {
  /** A write request to reuse: requests that completed synchronously were never handed to libuv. */
  req: WriteReq | undefined;
  paused = false;
  /** FIN read from `from`. */
  eof = false;
  /** Shutdown of `to` done. */
  shut = false;
  constructor(
    readonly relay: TcpRelay,
    readonly from: TcpHandle,
    readonly to: TcpHandle,
  ) {}
}

function onRead(this: TcpHandle, ab: ArrayBuffer | undefined): void {
  const d = this[kDirection];
  if (d === undefined) return;
  const n = B.state[B.kReadBytesOrError] as number;
  if (n > 0) {
    if (d.relay.closed) return;
    const buf = Buffer.from(ab as ArrayBuffer, B.state[B.kArrayBufferOffset], n);
    let req = d.req;
    if (req === undefined) {
      req = new B.WriteWrap();
      req.oncomplete = afterWrite;
      req.dir = d;
    }
    if (d.to.writeBuffer(req, buf) !== 0) return d.relay.destroy(true);
    if (B.state[B.kLastWriteWasAsync]) {
      // The peer's buffer is full: keep the chunk alive for libuv and stop reading until it is sent.
      req.buffer = buf;
      d.req = undefined;
      if (!d.paused) {
        d.paused = true;
        this.readStop();
      }
    } else d.req = req;
    return;
  }
  if (n === 0) return;
  if (n === B.UV_EOF) return d.relay.eof(d);
  // ECONNRESET and other read errors: pass the abort on as a reset.
  d.relay.destroy(true);
}

function ignoreRead(): void {}

function afterWrite(this: WriteReq, status: number): void {
  const d = this.dir as Direction;
  this.buffer = undefined;
  if (status < 0) return d.relay.destroy(true);
  if (d.paused && !d.eof && !d.relay.closed && d.to.writeQueueSize === 0) {
    d.paused = false;
    d.from.readStart();
  }
}

function afterShutdown(this: ShutdownReq, status: number): void {
  const d = this.dir as Direction;
  if (status < 0) return d.relay.destroy(true);
  d.shut = true;
  d.relay.maybeClose();
}

export class TcpRelay {
  closed = false;
  private halfClosed = false;
  private readonly toUpstream: Direction;
  private readonly toClient: Direction;
  private finalIn = 0;
  private finalOut = 0;
  /** Idle sweep bookkeeping: bytes seen at the last sweep, and the tick they last changed. */
  lastActivity = 0;
  activeTick = 0;

  constructor(
    readonly client: TcpHandle,
    readonly upstream: TcpHandle,
    private readonly hooks: TcpRelayHooks,
  ) {
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    this.toUpstream = new Direction(this, client, upstream);
    this.toClient = new Direction(this, upstream, client);
    client[kDirection] = this.toUpstream;
    upstream[kDirection] = this.toClient;
    client.onread = onRead;
    upstream.onread = onRead;
    upstream.readStart();
    client.readStart();
  }

  /** Bytes received from the client (towards the endpoint). */
  get bytesIn(): number {
    return this.closed ? this.finalIn : this.client.bytesRead;
  }

  /** Bytes received from the endpoint (towards the client). */
  get bytesOut(): number {
    return this.closed ? this.finalOut : this.upstream.bytesRead;
  }

  get isHalfClosed(): boolean {
    return this.halfClosed;
  }

  /** Whether the upstream side is held back because the client does not read (backpressure). */
  get upstreamPaused(): boolean {
    return this.toClient.paused;
  }

  /** @internal FIN read in direction `d`: stop reading there and shut the other side's write direction. */
  eof(d: Direction): void {
    if (d.eof || this.closed) return;
    d.eof = true;
    d.from.readStop();
    if (!this.halfClosed) {
      this.halfClosed = true;
      this.hooks.onHalfClose(this);
    }
    // Both peers have sent FIN and nothing waits to be written: closing now sends the FINs still
    // owed, without a shutdown round trip through the event loop (the common end of a connection).
    const other = d === this.toUpstream ? this.toClient : this.toUpstream;
    if (other.eof && this.client.writeQueueSize === 0 && this.upstream.writeQueueSize === 0) return this.destroy(false);
    const req = new B.ShutdownWrap();
    req.oncomplete = afterShutdown;
    req.dir = d;
    if (d.to.shutdown(req) !== 0) this.destroy(true);
  }

  /** @internal Both directions shut down: the connection is done. */
  maybeClose(): void {
    if (this.toUpstream.shut && this.toClient.shut) this.destroy(false);
  }

  /** Ends both sides at once; `reset` sends RST instead of FIN. */
  destroy(reset = false): void {
    if (this.closed) return;
    this.finalIn = this.client.bytesRead;
    this.finalOut = this.upstream.bytesRead;
    this.closed = true;
    for (const h of [this.client, this.upstream]) {
      h.onread = ignoreRead;
      h[kDirection] = undefined;
      // reset fails on a handle already shut down for writing; it is closed normally then.
      if (!reset || h.reset() !== 0) h.close();
    }
    this.hooks.onClose(this);
  }
}

/**
 * Runs `check` over a set of items every `periodMs`: one interval for all connections instead of a
 * timer each. Items record `tick` when added; a check compares it with the current tick.
 */
export class Sweeper<T> {
  private readonly items = new Set<T>();
  private timer: NodeJS.Timeout | undefined;
  tick = 0;

  constructor(
    private readonly periodMs: number,
    private readonly check: (item: T, tick: number) => void,
  ) {}

  get size(): number {
    return this.items.size;
  }

  add(item: T): void {
    this.items.add(item);
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.run(), this.periodMs);
      this.timer.unref();
    }
  }

  delete(item: T): void {
    this.items.delete(item);
  }

  private run(): void {
    this.tick++;
    for (const item of this.items) this.check(item, this.tick);
    if (this.items.size === 0) this.close();
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** Sweep ticks per timeout: a timeout fires between 1 and 1.25 times its length after the last activity. */
export const SWEEP_TICKS = 4;

/** An idle sweep over relays: a relay with no byte either way for `idleMs` is closed. */
export function idleSweeper(idleMs: number): Sweeper<TcpRelay> {
  return new Sweeper<TcpRelay>(Math.max(1, Math.floor(idleMs / SWEEP_TICKS)), (r, tick) => {
    const a = r.bytesIn + r.bytesOut;
    if (a !== r.lastActivity) {
      r.lastActivity = a;
      r.activeTick = tick;
    } else if (tick - r.activeTick >= SWEEP_TICKS) r.destroy();
  });
}

/** The endpoint a UDP flow is relayed to, with the counters the proxier keeps. */
export interface UdpTarget {
  readonly ip: string;
  readonly port: number;
}

export interface UdpFlowHooks<T extends UdpTarget> {
  /** Chooses the endpoint for a new flow; undefined drops the datagram. */
  choose(clientIP: string): T | undefined;
  onFlowOpen(target: T): void;
  onFlowClose(target: T, bytesIn: number, bytesOut: number): void;
  /** A datagram dropped because no endpoint could take it or the flow table is full. */
  onDrop(reason: 'no-endpoint' | 'flow-limit'): void;
}

export interface UdpFlow<T extends UdpTarget> {
  readonly key: string;
  readonly target: T;
  readonly socket: dgram.Socket;
  bytesIn: number;
  bytesOut: number;
  lastActive: number;
  timer: NodeJS.Timeout | undefined;
}

export interface UdpFlowTableOptions {
  idleTimeoutMs: number;
  /** New flows beyond this many are dropped, bounding fds and memory. */
  maxFlows: number;
  now?: () => number;
}

/** Flows behind one listening UDP socket, keyed by client address and port. */
export class UdpFlowTable<T extends UdpTarget> {
  private readonly flows = new Map<string, UdpFlow<T>>();
  private readonly now: () => number;

  constructor(
    private readonly listener: dgram.Socket,
    private readonly opts: UdpFlowTableOptions,
    private readonly hooks: UdpFlowHooks<T>,
  ) {
    this.now = opts.now ?? Date.now;
    listener.on('message', (msg, rinfo) => this.fromClient(msg, rinfo.address, rinfo.port));
  }

  get size(): number {
    return this.flows.size;
  }

  /** Live flows (for byte counters of flows not yet closed). */
  values(): IterableIterator<UdpFlow<T>> {
    return this.flows.values();
  }

  private fromClient(msg: Buffer, address: string, port: number): void {
    const key = `${address}|${port}`;
    let flow = this.flows.get(key);
    if (flow === undefined) {
      if (this.flows.size >= this.opts.maxFlows) return this.hooks.onDrop('flow-limit');
      const target = this.hooks.choose(address);
      if (target === undefined) return this.hooks.onDrop('no-endpoint');
      flow = this.open(key, target, address, port);
    }
    flow.lastActive = this.now();
    flow.bytesIn += msg.length;
    flow.socket.send(msg, flow.target.port, flow.target.ip);
  }

  private open(key: string, target: T, clientAddr: string, clientPort: number): UdpFlow<T> {
    const socket = dgram.createSocket(isIPv6(target.ip) ? 'udp6' : 'udp4');
    const flow: UdpFlow<T> = { key, target, socket, bytesIn: 0, bytesOut: 0, lastActive: this.now(), timer: undefined };
    socket.on('message', (reply, rinfo) => {
      // The socket is unconnected: accept only what the endpoint itself sends.
      if (rinfo.port !== target.port || rinfo.address !== target.ip) return;
      flow.lastActive = this.now();
      flow.bytesOut += reply.length;
      this.listener.send(reply, clientPort, clientAddr);
    });
    socket.on('error', () => this.close(flow));
    this.flows.set(key, flow);
    this.hooks.onFlowOpen(target);
    this.arm(flow, this.opts.idleTimeoutMs);
    return flow;
  }

  // One timer per flow, re-armed only when it fires, instead of being reset on every datagram.
  private arm(flow: UdpFlow<T>, ms: number): void {
    flow.timer = setTimeout(() => {
      const idle = this.now() - flow.lastActive;
      if (idle >= this.opts.idleTimeoutMs) this.close(flow);
      else this.arm(flow, this.opts.idleTimeoutMs - idle);
    }, ms);
    flow.timer.unref();
  }

  private close(flow: UdpFlow<T>): void {
    if (this.flows.get(flow.key) !== flow) return;
    this.flows.delete(flow.key);
    clearTimeout(flow.timer);
    flow.socket.close();
    this.hooks.onFlowClose(flow.target, flow.bytesIn, flow.bytesOut);
  }

  /** Closes the flows whose endpoint fails `keep` (endpoint removed from the Service). */
  closeWhere(drop: (target: T) => boolean): void {
    for (const flow of [...this.flows.values()]) if (drop(flow.target)) this.close(flow);
  }

  closeAll(): void {
    this.closeWhere(() => true);
  }
}
