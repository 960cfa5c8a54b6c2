// Node registration as a kubelet does it, reduced to what Service networking needs: the Node object
// with its addresses and a Ready condition, and a Lease in kube-node-lease renewed every few
// seconds so the control plane can tell a live node from a dead one.
import { hostname, networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import { KubeClient } from '../client/http.js';
import { StatusError } from '../util/errors.js';
import { nowTimestamp } from '../api/storage.js';

/** The first non-loopback IPv4 address of this host (or network namespace). */
export function detectNodeIP(): string | undefined {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

/** Every local address (for node ports on all of them when no --node-port-addresses is given). */
export function localAddresses(): string[] {
  const out: string[] = [];
  for (const addrs of Object.values(networkInterfaces())) for (const a of addrs ?? []) out.push(a.address);
  return out;
}

export interface NodeRegistrationOptions {
  client: KubeClient;
  nodeName: string;
  nodeIPs: string[];
  logger: Logger;
  leaseSeconds?: number;
  renewMs?: number;
}

const LEASE_PATH = (name: string) => `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${encodeURIComponent(name)}`;
const NODE_PATH = (name: string) => `/api/v1/nodes/${encodeURIComponent(name)}`;

export class NodeRegistration {
  private timer: NodeJS.Timeout | undefined;
  private readonly leaseSeconds: number;
  private readonly renewMs: number;

  constructor(private readonly opts: NodeRegistrationOptions) {
    this.leaseSeconds = opts.leaseSeconds ?? 40;
    this.renewMs = opts.renewMs ?? 10_000;
  }

  private readyCondition(): Record<string, string> {
    const now = nowTimestamp();
    return { type: 'Ready', status: 'True', reason: 'PorticoAgentReady', message: 'portico agent is posting ready status', lastHeartbeatTime: now, lastTransitionTime: now };
  }

  async register(): Promise<void> {
    const { client, nodeName, nodeIPs } = this.opts;
    const addresses = [...nodeIPs.map((address) => ({ type: 'InternalIP', address })), { type: 'Hostname', address: nodeName }];
    try {
      await client.request('POST', '/api/v1/nodes', {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: nodeName, labels: { 'kubernetes.io/hostname': nodeName, 'kubernetes.io/os': 'linux' } },
        spec: {},
      });
      this.opts.logger.info({ node: nodeName }, 'registered node');
    } catch (err) {
      if (!(err instanceof StatusError && err.code === 409)) throw err;
    }
    await client.request('PATCH', `${NODE_PATH(nodeName)}/status`, {
      status: {
        addresses,
        conditions: [this.readyCondition()],
        nodeInfo: { kubeProxyVersion: 'portico', kernelVersion: '', osImage: '', containerRuntimeVersion: 'portico://process', kubeletVersion: 'v1.32.0-portico', architecture: process.arch === 'x64' ? 'amd64' : process.arch, operatingSystem: 'linux', machineID: '', systemUUID: '', bootID: '' },
      },
    }, 'application/merge-patch+json');
    await this.renew();
    this.timer = setInterval(() => void this.renew().catch((err: unknown) => this.opts.logger.warn({ err: (err as Error).message }, 'lease renewal failed')), this.renewMs);
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    const { client, nodeName } = this.opts;
    const spec = { holderIdentity: nodeName, leaseDurationSeconds: this.leaseSeconds, renewTime: microTime() };
    try {
      await client.request('PATCH', LEASE_PATH(nodeName), { spec }, 'application/merge-patch+json');
    } catch (err) {
      if (!(err instanceof StatusError && err.code === 404)) throw err;
      await client.request('POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: nodeName, namespace: 'kube-node-lease' }, spec });
    }
    await client.request('PATCH', `${NODE_PATH(nodeName)}/status`, { status: { conditions: [this.readyCondition()] } }, 'application/strategic-merge-patch+json');
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

/** MicroTime as Kubernetes writes it: RFC 3339 with microseconds. */
function microTime(d = new Date()): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export function defaultNodeName(): string {
  return hostname().toLowerCase();
}
