// The nftables applier: renders (pure) and hands the transaction to the kernel, either as one
// nf_tables netlink batch sent straight from this process (transport 'netlink': no `nft` process,
// no cache read back from the kernel) or through one injected exec of `nft -f -` (transport 'cli',
// and the fallback for anything the netlink compiler does not cover). The mirror advances only when
// the kernel accepted the transaction; after any failure the next sync is a full one.
import { cleanupTx, emptyMirror, familiesOf, render, type Family, type NftMirror, type NodeState } from './render.js';
import { printTransaction, type Transaction } from './tx.js';
import type { ProxyModel } from '../model.js';
import { ApplyError, firstStderrLine, spawnExec, type Exec, type ExecResult } from '../exec.js';
import { NetlinkCompiler, UnsupportedError } from './netlink/compile.js';
import { NetlinkSocket, NetlinkTransactionError } from './netlink/socket.js';

export { spawnExec, type Exec, type ExecResult };

export class NftApplyError extends ApplyError {
  override name = 'NftApplyError';
  readonly code = 'NFT_APPLY_FAILED';
}

export type NftTransport = 'cli' | 'netlink';

export interface SyncReport {
  kind: 'full' | 'partial';
  /** Bytes sent: the netlink batch, or the `nft -f` text (0 = nothing to send). */
  bytes: number;
  servicesRendered: number;
  renderMs: number;
  applyMs: number;
  /** Part of applyMs: compiling the text to netlink messages. */
  encodeMs: number;
  /** How the transaction reached the kernel ('none' when there was nothing to send). */
  via: NftTransport | 'none';
}

export interface NftApplierOptions {
  exec: Exec;
  /** argv that reads a transaction on stdin; default ['nft', '-f', '-']. */
  nftArgv?: string[];
  /** Monotonic clock in ms, injectable for tests; default performance.now. */
  now?: () => number;
  /**
   * 'netlink': send batches over a NETLINK_NETFILTER socket (needs the native addon), falling back
   * to `nft -f` per transaction for syntax the compiler does not cover. Default 'cli'.
   */
  transport?: NftTransport;
  /** For 'netlink': the network namespace to program (/run/netns/NAME); default this process's. */
  netnsPath?: string;
  /** For 'netlink': the socket to send batches on (tests inject one); default a NetlinkSocket. */
  socket?: Pick<NetlinkSocket, 'transact' | 'close'>;
}

export class NftApplier {
  private readonly exec: Exec;
  private readonly argv: string[];
  private readonly now: () => number;
  private mirrors = new Map<Family, NftMirror>();
  private needFull = true;
  readonly transport: NftTransport;
  private readonly compiler = new NetlinkCompiler();
  private socket: Pick<NetlinkSocket, 'transact' | 'close'> | undefined;
  private readonly netnsPath: string | undefined;
  private encodeMs = 0;

  constructor(opts: NftApplierOptions) {
    this.exec = opts.exec;
    this.argv = opts.nftArgv ?? ['nft', '-f', '-'];
    this.now = opts.now ?? (() => performance.now());
    this.transport = opts.transport ?? 'cli';
    this.netnsPath = opts.netnsPath;
    // Open now, so a missing addon or capability shows at start-up, not at the first sync.
    if (this.transport === 'netlink') this.socket = opts.socket ?? new NetlinkSocket(this.netnsPath);
  }

  /** Forces the next sync to be full (e.g. after a restart or an external flush). */
  invalidate(): void {
    this.needFull = true;
  }

  /**
   * Sends the transactions (one per family) as one; returns how and how many bytes. Throws
   * NftApplyError when the kernel (or nft) refused it. The text is printed only for `nft -f`.
   */
  private async send(txs: readonly Transaction[], what: string): Promise<{ via: NftTransport; bytes: number }> {
    if (this.socket) {
      let batch;
      const t0 = this.now();
      try {
        batch = this.compiler.compileTx(txs);
      } catch (err) {
        if (!(err instanceof UnsupportedError)) throw err;
        batch = undefined;
      }
      this.encodeMs = this.now() - t0;
      if (batch) {
        try {
          this.socket.transact(batch);
        } catch (err) {
          this.compiler.reset();
          if (err instanceof NetlinkTransactionError) throw new NftApplyError(`the kernel rejected the ${what} transaction: ${err.message}`, err.message);
          throw new NftApplyError(`netlink failed: ${err instanceof Error ? err.message : String(err)}`, '');
        }
        this.compiler.commit();
        return { via: 'netlink', bytes: batch.bytes.length };
      }
    }
    const text = txs.map(printTransaction).join('');
    let res: ExecResult;
    try {
      res = await this.exec(this.argv, text);
    } catch (err) {
      this.compiler.reset();
      throw new NftApplyError(`nft failed to run: ${err instanceof Error ? err.message : String(err)}`, '');
    }
    if (res.code !== 0) {
      this.compiler.reset();
      throw new NftApplyError(`nft rejected the ${what} transaction: ${firstStderrLine(res)}`, res.stderr);
    }
    this.compiler.commit();
    return { via: 'cli', bytes: text.length };
  }

  /**
   * Syncs the kernel to the model: a full sync the first time, after a failure or when asked;
   * otherwise a partial one for `model.changed`. One transaction for all families.
   */
  async sync(model: ProxyModel, node: NodeState, full = false): Promise<SyncReport> {
    const t0 = this.now();
    const doFull = full || this.needFull;
    const txs: Transaction[] = [];
    const next = new Map<Family, NftMirror>();
    let rendered = 0;
    let kind: 'full' | 'partial' = 'partial';
    const families = new Set<Family>([...familiesOf(model), ...this.mirrors.keys()]);
    for (const fam of families) {
      const r = render(model, doFull ? 'full' : model.changed, node, this.mirrors.get(fam) ?? (doFull ? undefined : emptyMirror(fam)), fam);
      if (r.kind === 'full') kind = 'full';
      rendered += r.servicesRendered;
      if (r.tx.cmds.length) txs.push(r.tx);
      next.set(fam, r.mirror);
    }
    const t1 = this.now();
    let via: SyncReport['via'] = 'none';
    let bytes = 0;
    this.encodeMs = 0;
    if (txs.length) {
      try {
        ({ via, bytes } = await this.send(txs, kind));
      } catch (err) {
        this.needFull = true;
        throw err;
      }
    }
    this.mirrors = next;
    this.needFull = false;
    return { kind, bytes, servicesRendered: rendered, renderMs: t1 - t0, applyMs: this.now() - t1, encodeMs: this.encodeMs, via };
  }

  /** Removes Portico's tables (both families) in one transaction. */
  async cleanup(): Promise<void> {
    this.mirrors.clear();
    this.needFull = true;
    try {
      await this.send([cleanupTx('ip'), cleanupTx('ip6')], 'cleanup');
    } catch (err) {
      throw err instanceof NftApplyError ? new NftApplyError(`nft cleanup failed: ${err.stderr.trim() || err.message}`, err.stderr) : err;
    } finally {
      this.compiler.reset();
    }
  }

  /** Closes the netlink socket (if any). */
  close(): void {
    this.socket?.close();
    this.socket = undefined;
  }
}
