// The nftables applier: renders (pure) and hands the transaction to one injected exec of
// `nft -f -`. Its only side effect is that exec. The mirror advances only when nft accepted the
// transaction; after any failure the next sync is a full one.
import { emptyMirror, familiesOf, render, renderCleanup, type Family, type NftMirror, type NodeState } from './render.js';
import type { ProxyModel } from '../model.js';
import { ApplyError, firstStderrLine, spawnExec, type Exec, type ExecResult } from '../exec.js';

export { spawnExec, type Exec, type ExecResult };

export class NftApplyError extends ApplyError {
  override name = 'NftApplyError';
  readonly code = 'NFT_APPLY_FAILED';
}

export interface SyncReport {
  kind: 'full' | 'partial';
  /** Per family: bytes of transaction text sent (0 = nothing to send). */
  bytes: number;
  servicesRendered: number;
  renderMs: number;
  applyMs: number;
}

export interface NftApplierOptions {
  exec: Exec;
  /** argv that reads a transaction on stdin; default ['nft', '-f', '-']. */
  nftArgv?: string[];
  /** Monotonic clock in ms, injectable for tests; default performance.now. */
  now?: () => number;
}

export class NftApplier {
  private readonly exec: Exec;
  private readonly argv: string[];
  private readonly now: () => number;
  private mirrors = new Map<Family, NftMirror>();
  private needFull = true;

  constructor(opts: NftApplierOptions) {
    this.exec = opts.exec;
    this.argv = opts.nftArgv ?? ['nft', '-f', '-'];
    this.now = opts.now ?? (() => performance.now());
  }

  /** Forces the next sync to be full (e.g. after a restart or an external flush). */
  invalidate(): void {
    this.needFull = true;
  }

  /**
   * Syncs the kernel to the model: a full sync the first time, after a failure or when asked;
   * otherwise a partial one for `model.changed`. One nft transaction for all families.
   */
  async sync(model: ProxyModel, node: NodeState, full = false): Promise<SyncReport> {
    const t0 = this.now();
    const doFull = full || this.needFull;
    const texts: string[] = [];
    const next = new Map<Family, NftMirror>();
    let rendered = 0;
    let kind: 'full' | 'partial' = 'partial';
    const families = new Set<Family>([...familiesOf(model), ...this.mirrors.keys()]);
    for (const fam of families) {
      const r = render(model, doFull ? 'full' : model.changed, node, this.mirrors.get(fam) ?? (doFull ? undefined : emptyMirror(fam)), fam);
      if (r.kind === 'full') kind = 'full';
      rendered += r.servicesRendered;
      texts.push(r.text);
      next.set(fam, r.mirror);
    }
    const text = texts.join('');
    const t1 = this.now();
    if (text !== '') {
      let res: ExecResult;
      try {
        res = await this.exec(this.argv, text);
      } catch (err) {
        this.needFull = true;
        throw new NftApplyError(`nft failed to run: ${err instanceof Error ? err.message : String(err)}`, '');
      }
      if (res.code !== 0) {
        this.needFull = true;
        throw new NftApplyError(`nft rejected the ${kind} transaction: ${firstStderrLine(res)}`, res.stderr);
      }
    }
    this.mirrors = next;
    this.needFull = false;
    return { kind, bytes: text.length, servicesRendered: rendered, renderMs: t1 - t0, applyMs: this.now() - t1 };
  }

  /** Removes Portico's tables (both families) in one transaction. */
  async cleanup(): Promise<void> {
    const res = await this.exec(this.argv, renderCleanup('ip') + renderCleanup('ip6'));
    this.mirrors.clear();
    this.needFull = true;
    if (res.code !== 0) throw new NftApplyError(`nft cleanup failed: ${res.stderr.trim()}`, res.stderr);
  }
}
