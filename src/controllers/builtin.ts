// The built-in Services every cluster has, kept true while Portico runs (kube-apiserver's
// "kubernetes" endpoint reconciler, and kubeadm's kube-dns Service): default/kubernetes points at
// the API server, kube-system/kube-dns at the cluster DNS server. Deleted or edited, they come back.
import type { Logger } from 'pino';
import type { ApiRegistry } from '../api/registry.js';
import type { Service } from '../registry/kinds/service.js';
import type { Endpoints } from '../registry/kinds/endpoints.js';
import type { EndpointSlice } from '../registry/kinds/endpointslice.js';
import type { KubeObject } from '../registry/kinds/meta.js';
import { NotFoundError, AlreadyExistsError, ConflictError } from '../util/errors.js';
import { cidrAddress, formatIP, parseCIDR } from '../util/ip.js';

export interface BuiltinAddresses {
  api: { ip: string; port: number };
  /** Where the cluster DNS server listens; undefined when this process runs none. */
  dns?: { ip: string; port: number };
}

/** The n-th address of the primary service CIDR (1 = kubernetes, 10 = kube-dns, as kubeadm). */
export function serviceCIDRAddress(cidrs: string[], n: number): string {
  const c = parseCIDR(cidrs[0] ?? '');
  const ip = c && cidrAddress(c, n);
  if (!ip) throw new Error(`service CIDR ${cidrs[0]} has no address number ${n}`);
  return formatIP(ip);
}

interface Desired {
  service: Service;
  endpoints: Endpoints | undefined;
}

function desired(registry: ApiRegistry, addrs: BuiltinAddresses): Desired[] {
  const cidrs = registry.cfg.serviceCIDRs;
  const out: Desired[] = [
    {
      service: {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'kubernetes', namespace: 'default', labels: { component: 'apiserver', provider: 'kubernetes' } },
        spec: { type: 'ClusterIP', clusterIP: serviceCIDRAddress(cidrs, 1), ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: addrs.api.port }], sessionAffinity: 'None' },
      } as Service,
      endpoints: {
        apiVersion: 'v1',
        kind: 'Endpoints',
        metadata: { name: 'kubernetes', namespace: 'default', labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' } },
        subsets: [{ addresses: [{ ip: addrs.api.ip }], ports: [{ name: 'https', port: addrs.api.port, protocol: 'TCP' }] }],
      } as Endpoints,
    },
  ];
  let dnsIP: string | undefined;
  try {
    dnsIP = serviceCIDRAddress(cidrs, 10);
  } catch {
    dnsIP = undefined; // a tiny service CIDR has no tenth address: kube-dns gets a random one
  }
  const dnsPort = addrs.dns?.port ?? 53;
  out.push({
    service: {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'kube-dns', namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns', 'kubernetes.io/cluster-service': 'true', 'kubernetes.io/name': 'CoreDNS' } },
      spec: {
        type: 'ClusterIP',
        ...(dnsIP ? { clusterIP: dnsIP } : {}),
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP', targetPort: dnsPort },
          { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: dnsPort },
          { name: 'metrics', port: 9153, protocol: 'TCP', targetPort: 9153 },
        ],
      },
    } as Service,
    endpoints: addrs.dns
      ? ({
          apiVersion: 'v1',
          kind: 'Endpoints',
          metadata: { name: 'kube-dns', namespace: 'kube-system', labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' } },
          subsets: [
            {
              addresses: [{ ip: addrs.dns.ip }],
              ports: [
                { name: 'dns', port: dnsPort, protocol: 'UDP' },
                { name: 'dns-tcp', port: dnsPort, protocol: 'TCP' },
              ],
            },
          ],
        } as Endpoints)
      : undefined,
  });
  return out;
}

export class BuiltinServicesController {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly registry: ApiRegistry,
    private addrs: BuiltinAddresses,
    private readonly log: Logger,
    private readonly intervalMs = 10_000,
  ) {}

  async start(): Promise<void> {
    await this.reconcile();
    this.timer = setInterval(() => void this.reconcile().catch((err: unknown) => this.log.warn({ err }, 'built-in services reconcile failed')), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /**
   * Points the `kubernetes` Endpoints and EndpointSlice at another address the API serves on, as
   * kube-apiserver's `--advertise-address` (e.g. one pods can reach, where loopback is not theirs).
   */
  async setApiAddress(api: { ip: string; port: number }): Promise<void> {
    this.addrs = { ...this.addrs, api };
    await this.reconcile();
  }

  /** Points kube-dns's Endpoints at a new address of the DNS server (e.g. one pods can reach). */
  async setDnsAddress(dns: { ip: string; port: number }): Promise<void> {
    this.addrs = { ...this.addrs, dns };
    await this.reconcile();
  }

  async reconcile(): Promise<void> {
    for (const d of desired(this.registry, this.addrs)) {
      await this.ensureService(d.service);
      if (d.endpoints) {
        await this.ensureEndpoints(d.endpoints);
        await this.ensureSlice(sliceOf(d.endpoints));
      }
    }
  }

  private async ensureService(want: Service): Promise<void> {
    const svc = this.registry.kind<Service>('Service');
    const ns = want.metadata!.namespace!;
    const name = want.metadata!.name!;
    try {
      const cur = await svc.get(ns, name);
      const curPorts = JSON.stringify((cur.spec?.ports ?? []).map((p) => [p.name, p.port, p.protocol, p.targetPort]));
      const wantPorts = JSON.stringify((want.spec?.ports ?? []).map((p) => [p.name, p.port, p.protocol, p.targetPort]));
      if (curPorts === wantPorts) return;
      await svc.guaranteedUpdate(ns, name, (c) => {
        c.spec = { ...c.spec, ports: want.spec!.ports };
        return c;
      });
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      try {
        await svc.create(ns, want);
        this.log.info({ service: `${ns}/${name}` }, 'created built-in service');
      } catch (e) {
        if (!(e instanceof AlreadyExistsError)) throw e;
      }
    }
  }

  /** The EndpointSlice beside the Endpoints, as kube-apiserver's endpoint reconciler keeps one for `kubernetes`. */
  private async ensureSlice(want: EndpointSlice): Promise<void> {
    const slices = this.registry.kind<EndpointSlice>('EndpointSlice');
    const ns = want.metadata!.namespace!;
    const name = want.metadata!.name!;
    try {
      const cur = await slices.get(ns, name);
      if (JSON.stringify([cur.endpoints, cur.ports]) === JSON.stringify([want.endpoints, want.ports])) return;
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
    try {
      await slices.systemPut(ns, name, want);
    } catch (err) {
      if (!(err instanceof ConflictError) && !(err instanceof AlreadyExistsError)) throw err;
    }
  }

  /** Written by the system: the addresses are where Portico listens, loopback included. */
  private async ensureEndpoints(want: Endpoints): Promise<void> {
    const eps = this.registry.kind<Endpoints>('Endpoints');
    const ns = want.metadata!.namespace!;
    const name = want.metadata!.name!;
    let cur: KubeObject | undefined;
    try {
      cur = await eps.get(ns, name);
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
    if (cur && JSON.stringify((cur as Endpoints).subsets) === JSON.stringify(want.subsets)) return;
    try {
      await eps.systemPut(ns, name, want);
    } catch (err) {
      if (!(err instanceof ConflictError) && !(err instanceof AlreadyExistsError)) throw err;
    }
  }
}

function sliceOf(ep: Endpoints): EndpointSlice {
  const subset = ep.subsets?.[0];
  const ips = (subset?.addresses ?? []).map((a) => a.ip);
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: ep.metadata!.name, namespace: ep.metadata!.namespace, labels: { 'kubernetes.io/service-name': ep.metadata!.name! } },
    addressType: ips[0]?.includes(':') ? 'IPv6' : 'IPv4',
    endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true, serving: true, terminating: false } })),
    ports: (subset?.ports ?? []).map((p) => ({ name: p.name, port: p.port, protocol: p.protocol })),
  } as EndpointSlice;
}
