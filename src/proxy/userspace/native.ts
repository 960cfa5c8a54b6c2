// The native TCP pump (native/relay.c, built by `npm ci` with node-gyp) as the proxier sees it:
// listeners that accept in C and hand over batches of new sockets, and connections whose bytes
// move in C after TypeScript chose the endpoint. One engine per process, on Node's own event loop;
// its events (accepts, connect failures, half-closes, closes with byte counts) arrive once per round
// of socket events in a shared Float64Array, four numbers each, and are dispatched here.
import { createRequire } from 'node:module';
import { getSystemErrorMap } from 'node:util';

interface Addon {
  init(onEvents: (count: number) => void, events: Float64Array): void;
  listen(ip: string, port: number, backlog: number, reusePort: boolean): number;
  unlisten(id: number): void;
  connect(fdOrSlot: number, ip: string, port: number, retry: boolean, connectTimeoutMs: number, idleTimeoutMs: number): number;
  destroy(slot: number, reset: boolean): void;
  bytes(slot: number, out: Float64Array): void;
  resetFd(fd: number): void;
  peer(fd: number): string;
  stats(): [number, number, number];
  io(): 'io_uring' | 'epoll';
}

const EV_ACCEPT = 1;
const EV_CONNECT_FAILED = 2;
const EV_HALF_CLOSE = 3;
const EV_CLOSED = 4;

/** What the engine tells a connection it relays. */
export interface NativeConnectionEvents {
  /** The connect attempt failed (libuv-style negative errno); the client socket is still held. */
  onConnectFailed(status: number): void;
  /** The first FIN came (either side). */
  onHalfClose(): void;
  /** Both sides closed (normally, by reset or by the idle timeout), with the final byte counts. */
  onClosed(bytesIn: number, bytesOut: number): void;
}

/** Node's wording for a failed listen: `listen EACCES: permission denied 127.96.0.1:80`. */
function listenError(err: { errno?: number; message: string }, ip: string, port: number): Error {
  const errno = err.errno ?? 0;
  const [code, text] = getSystemErrorMap().get(errno) ?? [`errno ${errno}`, err.message];
  const e = new Error(`listen ${code}: ${text} ${ip}:${port}`) as NodeJS.ErrnoException;
  e.code = code;
  e.errno = errno;
  e.syscall = 'listen';
  return e;
}

export class NativeEngine {
  private readonly events = new Float64Array(4 * 1024);
  private readonly pair = new Float64Array(2);
  private readonly conns = new Map<number, NativeConnectionEvents>();
  private readonly listeners = new Map<number, (fd: number) => void>();

  constructor(private readonly addon: Addon) {
    addon.init((n) => this.dispatch(n), this.events);
  }

  private dispatch(n: number): void {
    const ev = this.events;
    for (let k = 0; k < n * 4; k += 4) {
      const type = ev[k]!;
      const id = ev[k + 1]!;
      if (type === EV_ACCEPT) {
        const onConnection = this.listeners.get(id);
        // A listener closed in this round: its last accepted connections are reset.
        if (onConnection === undefined) this.addon.resetFd(ev[k + 2]!);
        else onConnection(ev[k + 2]!);
        continue;
      }
      const c = this.conns.get(id);
      if (c === undefined) continue;
      if (type === EV_CONNECT_FAILED) c.onConnectFailed(ev[k + 2]!);
      else if (type === EV_HALF_CLOSE) c.onHalfClose();
      else if (type === EV_CLOSED) {
        this.conns.delete(id);
        c.onClosed(ev[k + 2]!, ev[k + 3]!);
      }
    }
  }

  /** Listens on ip:port; each accepted socket is handed to `onConnection` as a descriptor. */
  listen(ip: string, port: number, opts: { backlog: number; reusePort: boolean }, onConnection: (fd: number) => void): number {
    let id: number;
    try {
      id = this.addon.listen(ip, port, opts.backlog, opts.reusePort);
    } catch (err) {
      throw listenError(err as { errno?: number; message: string }, ip, port);
    }
    this.listeners.set(id, onConnection);
    return id;
  }

  unlisten(id: number): void {
    this.listeners.delete(id);
    this.addon.unlisten(id);
  }

  /** Starts relaying `fd` (an accepted client) to ip:port; returns the connection's slot. */
  connect(c: NativeConnectionEvents, fd: number, ip: string, port: number, timeouts: { connectMs: number; idleMs: number }): number {
    const slot = this.addon.connect(fd, ip, port, false, timeouts.connectMs, timeouts.idleMs);
    this.conns.set(slot, c);
    return slot;
  }

  /** Another attempt for a slot whose connect failed. */
  retry(slot: number, ip: string, port: number, timeouts: { connectMs: number; idleMs: number }): void {
    this.addon.connect(slot, ip, port, true, timeouts.connectMs, timeouts.idleMs);
  }

  /** Ends a connection now (no onClosed); its final byte counts are returned. */
  destroy(slot: number, reset: boolean): { bytesIn: number; bytesOut: number } {
    const b = this.bytes(slot);
    this.conns.delete(slot);
    this.addon.destroy(slot, reset);
    return b;
  }

  bytes(slot: number): { bytesIn: number; bytesOut: number } {
    this.addon.bytes(slot, this.pair);
    return { bytesIn: this.pair[0]!, bytesOut: this.pair[1]! };
  }

  resetFd(fd: number): void {
    this.addon.resetFd(fd);
  }

  peerAddress(fd: number): string {
    return this.addon.peer(fd);
  }

  /**
   * How the pump waits for its sockets: 'io_uring' (the kernel reads and writes, completions
   * handled in batches) or 'epoll' (readiness, then recv/send). io_uring when the addon was built
   * with liburing and the kernel allows it, unless PORTICO_RELAY_IO=epoll.
   */
  get io(): 'io_uring' | 'epoll' {
    return this.addon.io();
  }

  /** Open connections (slots) and listeners in C, and bytes held back by backpressure (tests). */
  stats(): { connections: number; listeners: number; heldBytes: number } {
    const [connections, listeners, heldBytes] = this.addon.stats();
    return { connections, listeners, heldBytes };
  }
}

let engine: NativeEngine | undefined;
let loadError: Error | undefined;

/** The process's native engine; throws with the reason when the addon is not built. */
export function nativeEngine(): NativeEngine {
  if (engine) return engine;
  if (loadError) throw loadError;
  const require = createRequire(import.meta.url);
  // dist/src/proxy/userspace/ or src/proxy/userspace/ → repository root.
  for (const c of ['../../../../build/Release/portico_relay.node', '../../../build/Release/portico_relay.node']) {
    try {
      engine = new NativeEngine(require(new URL(c, import.meta.url).pathname) as Addon);
      return engine;
    } catch (err) {
      loadError = err as Error;
    }
  }
  loadError = new Error(`the native relay (build/Release/portico_relay.node) cannot be loaded: ${loadError!.message}; build it with npm ci (node-gyp) or use --userspace-relay js`);
  throw loadError;
}

export function nativeAvailable(): boolean {
  try {
    nativeEngine();
    return true;
  } catch {
    return false;
  }
}

/** Which relay a proxier uses: `auto` = native when built, else the JS relay. */
export type RelayKind = 'auto' | 'native' | 'js';
export const RELAY_KINDS: readonly RelayKind[] = ['auto', 'native', 'js'];
