// The byte movers of the userspace proxy: a TCP relay between an accepted client socket and a
// connected upstream socket, and a UDP flow table behind one listening datagram socket.
//
// TCP: both sockets are half-open capable, so a FIN from one side is passed on as a FIN (shutdown of
// the write side) to the other while the reverse direction keeps flowing. Backpressure is explicit:
// when a write reports a full buffer the reading side is paused until 'drain', so at most one socket
// buffer's worth of data is held per direction. Bytes are read from the sockets' own counters when
// asked, so the data path carries no accounting.
//
// UDP: one unconnected socket per client address towards the chosen endpoint; replies are sent
// back through the listening socket, so they come from the service address and port.
import dgram from 'node:dgram';
import type { Socket } from 'node:net';
import { isIPv6 } from 'node:net';

export interface TcpRelayHooks {
  /** Called once, when the first direction finishes (FIN seen): the connection is no longer active. */
  onHalfClose(relay: TcpRelay): void;
  /** Called once, when both sockets are closed (or destroyed). */
  onClose(relay: TcpRelay): void;
}

export class TcpRelay {
  private halfClosed = false;
  private closedCount = 0;
  private done = false;

  constructor(
    readonly client: Socket,
    readonly upstream: Socket,
    idleTimeoutMs: number,
    private readonly hooks: TcpRelayHooks,
  ) {
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    this.forward(client, upstream);
    this.forward(upstream, client);
    // A reset or error on one side is passed on as a reset, so the peer does not take an abort
    // for a clean end of data.
    const onError = () => this.destroy(true);
    client.on('error', onError);
    upstream.on('error', onError);
    const onClosed = () => {
      // A socket closing fully (both directions) ends the relay once its peer has closed too; a
      // socket destroyed early (reset, error) takes the peer down with it.
      if (++this.closedCount === 1) {
        const other = this.client.destroyed ? this.upstream : this.client;
        if (!other.writableEnded || !other.readableEnded) other.resetAndDestroy();
      }
      if (this.closedCount === 2) this.finish();
    };
    client.once('close', onClosed);
    upstream.once('close', onClosed);
    if (idleTimeoutMs > 0) {
      // Every byte in either direction is read from or written to the client socket, so its idle
      // timer alone covers the connection.
      client.setTimeout(idleTimeoutMs, () => this.destroy());
    }
    client.resume();
  }

  private forward(from: Socket, to: Socket): void {
    from.on('data', (chunk: Buffer) => {
      if (!to.write(chunk)) from.pause();
    });
    to.on('drain', () => from.resume());
    from.once('end', () => {
      to.end();
      if (!this.halfClosed) {
        this.halfClosed = true;
        this.hooks.onHalfClose(this);
      }
    });
  }

  /** Bytes received from the client (towards the endpoint). */
  get bytesIn(): number {
    return this.client.bytesRead;
  }

  /** Bytes received from the endpoint (towards the client). */
  get bytesOut(): number {
    return this.upstream.bytesRead;
  }

  get isHalfClosed(): boolean {
    return this.halfClosed;
  }

  /** Ends both sides at once; `reset` sends RST instead of FIN. */
  destroy(reset = false): void {
    if (reset) {
      if (!this.client.destroyed) this.client.resetAndDestroy();
      if (!this.upstream.destroyed) this.upstream.resetAndDestroy();
      return;
    }
    this.client.destroy();
    this.upstream.destroy();
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.hooks.onClose(this);
  }
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
