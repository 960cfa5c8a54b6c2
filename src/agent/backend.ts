// The data-plane contract the agent drives: one `sync` per coalesced batch of changes, a full one
// whenever asked (first sync, after a failure, periodically), and `cleanup` for `--cleanup`.
import type { ProxyModel } from '../proxy/model.js';
import type { NodeState } from '../proxy/nftables/render.js';
import { NftApplier, spawnExec, type Exec } from '../proxy/nftables/apply.js';

export type ProxyMode = 'nftables' | 'iptables' | 'ipvs' | 'userspace';
export const PROXY_MODES: readonly ProxyMode[] = ['nftables', 'iptables', 'ipvs', 'userspace'];

export interface BackendSyncResult {
  kind: 'full' | 'partial';
  /** Time spent producing the change (render) and handing it to the kernel (apply), ms. */
  renderMs: number;
  applyMs: number;
}

export interface ProxyBackend {
  readonly mode: ProxyMode;
  sync(model: ProxyModel, node: NodeState, full: boolean): Promise<BackendSyncResult>;
  /** Removes everything this backend put in the kernel. */
  cleanup(): Promise<void>;
  close?(): Promise<void>;
}

export class NftablesBackend implements ProxyBackend {
  readonly mode = 'nftables' as const;
  private readonly applier: NftApplier;

  constructor(exec: Exec = spawnExec) {
    this.applier = new NftApplier({ exec });
  }

  async sync(model: ProxyModel, node: NodeState, full: boolean): Promise<BackendSyncResult> {
    const r = await this.applier.sync(model, node, full);
    return { kind: r.kind, renderMs: r.renderMs, applyMs: r.applyMs };
  }

  cleanup(): Promise<void> {
    return this.applier.cleanup();
  }
}
