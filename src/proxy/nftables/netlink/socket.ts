// The NETLINK_NETFILTER socket, through the small native addon (native/nfnl.c, built by node-gyp in
// `npm ci`): open, one sendmsg per batch, read back errors. Loading fails cleanly where the addon
// was not built; the applier then stays on `nft -f`.
import { createRequire } from 'node:module';
import { parseReplies, type NetlinkError } from './batch.js';
import type { CompiledBatch } from './compile.js';

interface Addon {
  open(netnsPath?: string): number;
  send(fd: number, batch: Uint8Array): void;
  recv(fd: number, wait: boolean): Uint8Array | null;
  close(fd: number): void;
}

let addon: Addon | undefined;
let loadError: Error | undefined;

/** The addon, or the reason it cannot be loaded. */
export function loadAddon(): Addon {
  if (addon) return addon;
  if (loadError) throw loadError;
  const require = createRequire(import.meta.url);
  // dist/src/proxy/nftables/netlink/ → repository root.
  const candidates = ['../../../../../build/Release/portico_nfnl.node', '../../../../build/Release/portico_nfnl.node'];
  for (const c of candidates) {
    try {
      addon = require(new URL(c, import.meta.url).pathname) as Addon;
      return addon;
    } catch (err) {
      loadError = err as Error;
    }
  }
  throw loadError!;
}

export function addonAvailable(): boolean {
  try {
    loadAddon();
    return true;
  } catch {
    return false;
  }
}

export class NetlinkTransactionError extends Error {
  override name = 'NetlinkTransactionError';
  constructor(
    message: string,
    readonly errno: number,
    /** The transaction line whose message the kernel rejected ('' when unknown). */
    readonly line: string,
  ) {
    super(message);
  }
}

const ERRNO_NAMES: Record<number, string> = {
  1: 'Operation not permitted', 2: 'No such file or directory', 12: 'Cannot allocate memory', 16: 'Device or resource busy',
  17: 'File exists', 22: 'Invalid argument', 28: 'No space left on device', 34: 'Numerical result out of range',
  40: 'Too many levels of symbolic links', 95: 'Operation not supported', 105: 'No buffer space available',
};

export class NetlinkSocket {
  private fd: number;

  /** Opens a socket in this process's network namespace, or in the one at `netnsPath` (/run/netns/NAME). */
  constructor(netnsPath?: string) {
    this.fd = loadAddon().open(netnsPath);
  }

  /** Sends one batch; the kernel commits it or none of it. Throws the first error it reported. */
  transact(batch: CompiledBatch): void {
    const a = loadAddon();
    // Anything left from an earlier batch is stale.
    while (a.recv(this.fd, false)) { /* drain */ }
    a.send(this.fd, batch.bytes);
    // nfnetlink processes the batch inside sendmsg: every error is queued by now.
    const errors: NetlinkError[] = [];
    for (let d = a.recv(this.fd, false); d; d = a.recv(this.fd, false)) {
      for (const e of parseReplies(d)) if (e.errno !== 0) errors.push(e);
    }
    const first = errors[0];
    if (first) {
      const line = batch.tags.get(first.seq) ?? '';
      const what = ERRNO_NAMES[first.errno] ?? `errno ${first.errno}`;
      throw new NetlinkTransactionError(`${what}${first.message ? ` (${first.message})` : ''}${line ? `: ${line.slice(0, 200)}` : ''}`, first.errno, line);
    }
  }

  close(): void {
    if (this.fd >= 0) loadAddon().close(this.fd);
    this.fd = -1;
  }
}
