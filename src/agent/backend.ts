// The data-plane contract the agent drives: one `sync` per coalesced batch of changes, a full one
// whenever asked (first sync, after a failure, periodically), and `cleanup` for `--cleanup`.
import type { ProxyModel } from '../proxy/model.js';
import type { RelayKind } from '../proxy/userspace/native.js';
import type { NodeState } from '../proxy/model.js';
import { spawnExec, type Exec } from '../proxy/exec.js';
import { NftApplier, type NftTransport } from '../proxy/nftables/apply.js';
import type { Logger } from 'pino';
import { IptApplier, type Variant as IptablesVariant } from '../proxy/iptables/apply.js';
import { Gauge, type Registry } from 'prom-client';
import { UserspaceProxier, type EndpointMetrics } from '../proxy/userspace/proxier.js';
import { IpvsApplier } from '../proxy/ipvs/apply.js';
import { isIpvsScheduler, type IpvsScheduler } from '../proxy/ipvs/render.js';
import { SCHEDULER_ANNOTATION, WEIGHTS_ANNOTATION, isSchedulerName, parseWeights, type SchedulerName } from '../proxy/userspace/schedulers.js';

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

/** How the nftables data plane reaches the kernel: `auto` is netlink when the addon loads and the socket opens, else `nft -f`. */
export type NftBackendChoice = 'auto' | NftTransport;
export const NFT_BACKENDS: readonly NftBackendChoice[] = ['auto', 'netlink', 'cli'];

export class NftablesBackend implements ProxyBackend {
  readonly mode = 'nftables' as const;
  private readonly applier: NftApplier;

  constructor(exec: Exec = spawnExec, choice: NftBackendChoice = 'auto', logger?: Logger) {
    let applier: NftApplier | undefined;
    if (choice !== 'cli') {
      try {
        applier = new NftApplier({ exec, transport: 'netlink' });
      } catch (err) {
        if (choice === 'netlink') throw err;
        logger?.warn({ err: (err as Error).message }, 'nftables: netlink unavailable, programming the kernel with nft -f');
      }
    }
    this.applier = applier ?? new NftApplier({ exec });
  }

  /** 'netlink' or 'cli'. */
  get transport(): NftTransport {
    return this.applier.transport;
  }

  async sync(model: ProxyModel, node: NodeState, full: boolean): Promise<BackendSyncResult> {
    const r = await this.applier.sync(model, node, full);
    return { kind: r.kind, renderMs: r.renderMs, applyMs: r.applyMs };
  }

  cleanup(): Promise<void> {
    return this.applier.cleanup();
  }

  async close(): Promise<void> {
    this.applier.close();
  }
}

/** iptables-legacy or iptables-nft (detected, or forced), in kube-proxy's chain layout. */
export class IptablesBackend implements ProxyBackend {
  readonly mode = 'iptables' as const;
  private readonly applier: IptApplier;

  constructor(
    private readonly variant?: IptablesVariant,
    private readonly exec: Exec = spawnExec,
  ) {
    this.applier = new IptApplier({ exec, variant });
  }

  async sync(model: ProxyModel, node: NodeState, full: boolean): Promise<BackendSyncResult> {
    const r = await this.applier.sync(model, node, full);
    return { kind: r.kind, renderMs: r.renderMs, applyMs: r.applyMs };
  }

  /**
   * With a forced variant, cleans that one. Otherwise both: an agent run with
   * `--iptables-variant legacy` on a host whose `iptables` is the nft one (or the reverse) left its
   * rules where detection would not look. A variant whose tools are not installed is skipped.
   */
  async cleanup(): Promise<void> {
    if (this.variant) return this.applier.cleanup();
    const errors: Error[] = [];
    let cleaned = 0;
    for (const variant of ['nft', 'legacy'] as const) {
      try {
        await new IptApplier({ exec: this.exec, variant }).cleanup();
        cleaned++;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        errors.push(err as Error);
      }
    }
    if (errors.length) throw errors[0];
    if (!cleaned) await this.applier.cleanup(); // neither tool found: report what detection says
  }
}

/**
 * kube-proxy's ipvs mode: IPVS virtual servers per Service address and port, the addresses on a
 * dummy interface, ipsets and a few fixed iptables rules. Removed real servers are drained: a timer
 * deletes them once their connections are gone.
 */
export class IpvsBackend implements ProxyBackend {
  readonly mode = 'ipvs' as const;
  readonly applier: IpvsApplier;
  private readonly exec: Exec;
  private timer: NodeJS.Timeout | undefined;

  constructor(opts: {
    scheduler: IpvsScheduler;
    annotationsOf?: (namespace: string, name: string) => Record<string, string> | undefined;
    iptablesVariant?: IptablesVariant;
    logger?: Logger;
    exec?: Exec;
    /** How often draining real servers are checked (default 2 s; 0: never, tests call drain()). */
    drainIntervalMs?: number;
  }) {
    const exec = (this.exec = opts.exec ?? spawnExec);
    this.applier = new IpvsApplier({
      exec,
      scheduler: opts.scheduler,
      iptablesVariant: opts.iptablesVariant,
      schedulerFor: (sp) => {
        const s = opts.annotationsOf?.(sp.namespace, sp.name)?.[SCHEDULER_ANNOTATION];
        return s && isIpvsScheduler(s) ? s : undefined;
      },
      weightsFor: (sp) => {
        const w = opts.annotationsOf?.(sp.namespace, sp.name)?.[WEIGHTS_ANNOTATION];
        return w ? parseWeights(w) : undefined;
      },
    });
    const every = opts.drainIntervalMs ?? 2_000;
    if (every > 0) {
      this.timer = setInterval(() => {
        this.applier.drain().catch((err: Error) => opts.logger?.warn({ err: err.message }, 'draining IPVS real servers failed'));
      }, every);
      this.timer.unref();
    }
  }

  async sync(model: ProxyModel, node: NodeState, full: boolean): Promise<BackendSyncResult> {
    const r = await this.applier.sync(model, node, full);
    return { kind: r.kind, renderMs: r.renderMs, applyMs: r.applyMs };
  }

  /** The iptables chains first (they reference the sets), then IPVS, the dummy interface and the sets. */
  async cleanup(): Promise<void> {
    await new IptablesBackend(undefined, this.exec).cleanup();
    await this.applier.cleanupIpvs();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/**
 * The userspace data plane: the agent itself accepts connections on each Service address and
 * relays them (rootless when the Service addresses are local, e.g. in 127.0.0.0/8). As root, the
 * virtual IPs go on a dummy interface the agent owns.
 */
export class UserspaceBackend implements ProxyBackend {
  readonly mode = 'userspace' as const;
  readonly proxier: UserspaceProxier;

  constructor(opts: {
    nodeName: string;
    nodeIPs: string[];
    /** Pod CIDR ('' = unknown): pods and the node reach externalTrafficPolicy Local Services' external addresses with Cluster policy. */
    clusterCIDR?: string;
    scheduler?: SchedulerName;
    /** Who moves TCP bytes: the native pump or the JS relay (default auto). */
    relay?: RelayKind;
    /** Annotations of a Service (`namespace/name`), for per-Service schedulers and weights. */
    annotationsOf?: (namespace: string, name: string) => Record<string, string> | undefined;
    /** Put virtual IPs on a dummy interface (root). */
    vipInterface?: VipInterface;
    logger?: Logger;
  }) {
    const annotation = (key: string, which: string) => {
      const [ns, name] = key.split('/');
      return opts.annotationsOf?.(ns ?? '', name ?? '')?.[which];
    };
    this.proxier = new UserspaceProxier({
      nodeName: opts.nodeName,
      nodeIPs: opts.nodeIPs,
      clusterCIDR: opts.clusterCIDR,
      scheduler: opts.scheduler,
      relay: opts.relay,
      schedulerFor: (key) => {
        const s = annotation(key, SCHEDULER_ANNOTATION);
        return s && isSchedulerName(s) ? s : undefined;
      },
      weightsFor: (key) => {
        const w = annotation(key, WEIGHTS_ANNOTATION);
        return w ? parseWeights(w) : undefined;
      },
      bindAddress: opts.vipInterface ? (ip) => opts.vipInterface!.add(ip) : undefined,
      releaseAddress: opts.vipInterface ? (ip) => opts.vipInterface!.remove(ip) : undefined,
      logger: opts.logger,
    });
    opts.logger?.info({ relay: this.proxier.relayKind, io: this.proxier.native?.io }, 'userspace proxy: relaying TCP');
  }

  async sync(model: ProxyModel, _node: NodeState, full: boolean): Promise<BackendSyncResult> {
    const t = performance.now();
    await this.proxier.sync(model, full ? 'full' : model.changed);
    return { kind: full ? 'full' : 'partial', renderMs: 0, applyMs: performance.now() - t };
  }

  /** Per-endpoint counters as Prometheus gauges, read when scraped. */
  registerMetrics(registry: Registry): void {
    const proxier = this.proxier;
    const labelNames = ['namespace', 'service', 'port', 'protocol', 'endpoint'] as const;
    const series = (name: string, help: string, pick: (m: EndpointMetrics) => number) =>
      new Gauge({
        name,
        help,
        labelNames,
        registers: [registry],
        collect() {
          this.reset();
          for (const m of proxier.metrics().endpoints) {
            this.set({ namespace: m.namespace, service: m.name, port: m.portName, protocol: m.protocol, endpoint: m.endpoint }, pick(m));
          }
        },
      });
    series('portico_userspace_endpoint_connections_total', 'Connections (TCP) or flows (UDP) relayed to an endpoint', (m) => m.connectionsTotal);
    series('portico_userspace_endpoint_connections_active', 'Open connections or flows to an endpoint', (m) => m.connectionsActive);
    series('portico_userspace_endpoint_connect_failures_total', 'Failed connects to an endpoint', (m) => m.connectFailuresTotal);
    series('portico_userspace_endpoint_bytes_in_total', 'Bytes relayed from clients to an endpoint', (m) => m.bytesIn);
    series('portico_userspace_endpoint_bytes_out_total', 'Bytes relayed from an endpoint to clients', (m) => m.bytesOut);
    // A Service address that cannot be bound (without root: ports below 1024, addresses outside
    // loopback) is counted here as well as logged, so it is not a silent gap.
    new Gauge({
      name: 'portico_userspace_listen_failures_total',
      help: 'Service addresses and ports the proxy could not listen on (each attempt)',
      registers: [registry],
      collect() {
        this.set(proxier.metrics().listenFailuresTotal);
      },
    });
  }

  async cleanup(): Promise<void> {
    // Nothing lives in the kernel but the dummy interface, which VipInterface.cleanup removes.
  }

  async close(): Promise<void> {
    await this.proxier.close();
  }
}

/** A dummy interface holding virtual IPs, so the userspace proxy can bind them (root only). */
export class VipInterface {
  private device: string | undefined;
  constructor(
    readonly name = 'portico-vips',
    private readonly exec: Exec = spawnExec,
  ) {}

  private async ip(args: string[], tolerate = /File exists|Cannot assign|Cannot find device/): Promise<{ ok: boolean; stderr: string }> {
    const r = await this.exec(['ip', ...args], '');
    if (r.code !== 0 && !tolerate.test(r.stderr)) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
    return { ok: r.code === 0, stderr: r.stderr };
  }

  /** The dummy interface, or `lo` where the kernel has no dummy driver (addresses on lo are local too). */
  private async dev(): Promise<string> {
    if (this.device) return this.device;
    const r = await this.ip(['link', 'add', this.name, 'type', 'dummy'], /File exists|Unknown device type|not supported/i);
    if (!r.ok && !/File exists/.test(r.stderr)) return (this.device = 'lo');
    await this.ip(['link', 'set', this.name, 'up']);
    return (this.device = this.name);
  }

  async add(address: string): Promise<void> {
    // Loopback addresses are local without configuration.
    if (address.startsWith('127.') || address === '::1') return;
    const dev = await this.dev();
    // On lo, IPv4 addresses carry a label, so `--cleanup` finds what a killed agent left there.
    const label = dev === 'lo' && !address.includes(':') ? ['label', LO_LABEL] : [];
    await this.ip(['addr', 'add', address.includes(':') ? `${address}/128` : `${address}/32`, 'dev', dev, ...label]);
  }

  async remove(address: string): Promise<void> {
    if (address.startsWith('127.') || address === '::1') return;
    await this.ip(['addr', 'del', address.includes(':') ? `${address}/128` : `${address}/32`, 'dev', await this.dev()]);
  }

  /** Removes the dummy interface (with every address on it) and the labelled IPv4 addresses on `lo`. */
  async cleanup(): Promise<void> {
    await this.ip(['link', 'del', this.name]);
    await this.ip(['-4', 'addr', 'flush', 'dev', 'lo', 'label', LO_LABEL]);
    this.device = undefined;
  }
}

/** The label of the Service addresses VipInterface puts on `lo` (IPv4 only: IPv6 has no labels). */
export const LO_LABEL = 'lo:portico';
