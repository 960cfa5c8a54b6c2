// Starting a node agent with the data plane of a mode: shared by `portico agent` and by `portico up`,
// which runs the same agent in-process against its own API.
import type { Logger } from 'pino';
import type { RelayKind } from '../proxy/userspace/native.js';
import { UsageError } from '../util/errors.js';
import { NodeAgent, type AgentOptions } from './agent.js';
import { NodeRegistration } from './node.js';
import { IpvsBackend, IptablesBackend, NftablesBackend, type NftBackendChoice, UserspaceBackend, VipInterface, type ProxyBackend, type ProxyMode } from './backend.js';
import type { Variant as IptablesVariant } from '../proxy/iptables/apply.js';
import { SCHEDULER_NAMES, isSchedulerName } from '../proxy/userspace/schedulers.js';
import { IPVS_SCHEDULERS, isIpvsScheduler } from '../proxy/ipvs/render.js';

interface BackendOptions {
  nodeName: string;
  nodeIPs: string[];
  /** Pod CIDR: userspace mode tells pods from outside clients by it (externalTrafficPolicy Local). */
  clusterCIDR?: string;
  scheduler: string;
  /** ipvs mode: --ipvs-scheduler (default rr). */
  ipvsScheduler?: string;
  annotationsOf?: (namespace: string, name: string) => Record<string, string> | undefined;
  /** iptables mode: force iptables-legacy or iptables-nft instead of detecting. */
  iptablesVariant?: IptablesVariant;
  /** nftables mode: netlink, `nft -f`, or netlink when available (default). */
  nftBackend?: NftBackendChoice;
  /** userspace mode: --userspace-relay (default auto). */
  userspaceRelay?: RelayKind;
  logger?: Logger;
}

/** The data plane for a mode; userspace puts virtual IPs on a dummy interface only as root. */
export function backendFor(mode: ProxyMode, o: BackendOptions): ProxyBackend {
  switch (mode) {
    case 'nftables':
      return new NftablesBackend(undefined, o.nftBackend, o.logger);
    case 'iptables':
      return new IptablesBackend(o.iptablesVariant);
    case 'ipvs': {
      const s = o.ipvsScheduler ?? 'rr';
      if (!isIpvsScheduler(s)) throw new UsageError(`--ipvs-scheduler: unsupported value "${s}": supported values: ${IPVS_SCHEDULERS.map((n) => `"${n}"`).join(', ')}`);
      return new IpvsBackend({ scheduler: s, annotationsOf: o.annotationsOf, iptablesVariant: o.iptablesVariant, logger: o.logger });
    }
    case 'userspace': {
      if (!isSchedulerName(o.scheduler)) throw new UsageError(`--scheduler: unsupported value "${o.scheduler}": supported values: ${SCHEDULER_NAMES.map((n) => `"${n}"`).join(', ')}`);
      const root = process.getuid?.() === 0;
      return new UserspaceBackend({ nodeName: o.nodeName, nodeIPs: o.nodeIPs, clusterCIDR: o.clusterCIDR, scheduler: o.scheduler, relay: o.userspaceRelay, annotationsOf: o.annotationsOf, vipInterface: root ? new VipInterface() : undefined, logger: o.logger });
    }
    default:
      throw new UsageError(`--mode ${mode}: not available in this build yet (available: nftables, iptables, userspace)`);
  }
}

export async function cleanupMode(mode: ProxyMode, nftBackend?: NftBackendChoice): Promise<void> {
  if (mode === 'userspace') return new VipInterface().cleanup();
  if (mode === 'nftables') {
    const b = new NftablesBackend(undefined, nftBackend);
    try {
      return await b.cleanup();
    } finally {
      await b.close();
    }
  }
  if (mode === 'iptables') return new IptablesBackend().cleanup();
  return new IpvsBackend({ scheduler: 'rr', drainIntervalMs: 0 }).cleanup();
}

export interface StartAgentOptions extends Omit<AgentOptions, 'backend'> {
  mode: ProxyMode;
  scheduler: string;
  ipvsScheduler?: string;
  iptablesVariant?: IptablesVariant;
  nftBackend?: NftBackendChoice;
  userspaceRelay?: RelayKind;
  /** Create and heartbeat this node's Node and Lease. */
  register: boolean;
}

/** Starts a node agent (used by `portico agent` and by `portico up` in-process); resolves after its first sync. */
export async function startNodeAgent(o: StartAgentOptions): Promise<{ agent: NodeAgent; stop(): Promise<void> }> {
  // The backend asks the agent's Service cache for annotations; it only does so once syncs run.
  const backend = backendFor(o.mode, { nodeName: o.nodeName, nodeIPs: o.nodeIPs, clusterCIDR: o.clusterCIDR, scheduler: o.scheduler, ipvsScheduler: o.ipvsScheduler, iptablesVariant: o.iptablesVariant, nftBackend: o.nftBackend, userspaceRelay: o.userspaceRelay, annotationsOf: (ns, n) => agent.serviceAnnotations(ns, n), logger: o.logger });
  const agent: NodeAgent = new NodeAgent({ ...o, backend });
  if (backend instanceof UserspaceBackend) backend.registerMetrics(agent.metrics);
  const registration = o.register ? new NodeRegistration({ client: o.client, nodeName: o.nodeName, nodeIPs: o.nodeIPs, logger: o.logger }) : undefined;
  await registration?.register();
  await agent.start();
  await agent.firstSync;
  return {
    agent,
    async stop() {
      registration?.stop();
      await agent.stop();
    },
  };
}

