// Starts the control plane in this process: store, registry, credentials, the HTTPS API, the
// namespace controller and the compactor. `portico up` and `portico server` call this; tests and
// benchmarks may too.
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createServer as createNetServer, type AddressInfo, type Server } from 'node:net';
import type { Logger } from 'pino';
import { newLogger } from '../util/log.js';
import { openStore } from '../store/index.js';
import type { Store } from '../store/types.js';
import type { ClusterConfig } from '../registry/types.js';
import { ApiRegistry } from './registry.js';
import { createApiServer } from './server.js';
import { ensureCredentials, clientURL, writeKubeconfig, type Credentials } from './pki.js';
import { NamespaceController } from '../controllers/namespace.js';
import { LoadBalancerController } from '../controllers/lbpool.js';
import { startNetworkControllers } from '../controllers/networking.js';
import { BuiltinServicesController } from '../controllers/builtin.js';
import { eventRecorder } from '../controllers/events.js';
import { ServiceAllocator } from '../allocators/service.js';
import type { Service } from '../registry/kinds/service.js';
import type { EndpointSlice } from '../registry/kinds/endpointslice.js';
import type { Pod } from '../registry/kinds/pod.js';
import type { Namespace } from '../registry/kinds/namespace.js';
import { startDnsServer, type DnsServer } from '../dns/server.js';
import { cidrAddress, formatIP, parseCIDR } from '../util/ip.js';

export interface ControlPlaneOptions {
  dataDir: string;
  apiHost: string;
  apiPort: number;
  store: 'sqlite' | 'memory';
  cluster: ClusterConfig;
  /** How often history older than one interval is compacted (ms). */
  compactionIntervalMs: number;
  bookmarkIntervalMs?: number;
  /** The cluster DNS server of this process: `HOST:PORT` to serve on; undefined = none. */
  dns?: { listen: string; httpListen?: string; upstreams?: string[]; /** UDP worker processes (default 1). */ workers?: number };
  logger?: Logger;
}

export interface ControlPlane {
  url: string;
  /** Where the cluster DNS server listens, when this process runs one. */
  dnsAddress?: string;
  port: number;
  kubeconfigPath: string;
  credentials: Credentials;
  registry: ApiRegistry;
  store: Store;
  logger: Logger;
  /**
   * Makes the cluster DNS answer on `ip` too (same port; nothing to bind when it listens on the
   * wildcard) and points the kube-dns Endpoints there: for pods, which cannot reach loopback.
   */
  serveDnsAt(ip: string): Promise<void>;
  /**
   * Makes the API answer on `ip` too (same port), with `ip` in the serving certificate, and
   * advertises it in the `kubernetes` Endpoints: for pods, which cannot reach loopback.
   */
  serveApiAt(ip: string): Promise<void>;
  close(): Promise<void>;
}

export const DEFAULT_CLUSTER: ClusterConfig = {
  serviceCIDRs: ['10.96.0.0/12'],
  podCIDR: '10.244.0.0/16',
  nodePortRange: { base: 30000, size: 2768 },
  clusterDomain: 'cluster.local',
  lbPool: [],
};

/** The `kubernetes` Service's address: the first address of the primary service CIDR. */
export function kubernetesServiceIP(cluster: ClusterConfig): string | undefined {
  const c = parseCIDR(cluster.serviceCIDRs[0] ?? '');
  const ip = c && cidrAddress(c, 1);
  return ip ? formatIP(ip) : undefined;
}

export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const logger = opts.logger ?? newLogger();
  const dataDir = resolve(opts.dataDir);
  await mkdir(dataDir, { recursive: true });
  const store = await openStore(opts.store, dataDir);
  const registry = new ApiRegistry(store, opts.cluster);
  const services = registry.kind<Service>('Service');
  const allocator = new ServiceAllocator(store, opts.cluster);
  services.hooks = allocator.hooks();
  await registry.ensureSystemNamespaces();

  // Repair before serving: a crash between allocating and writing leaves claims no Service holds.
  const record = eventRecorder(registry, 'portico-repair');
  const repaired = await allocator.repair((await services.list(undefined)).items, (msg, svc) => {
    logger.error({ service: `${svc.metadata?.namespace}/${svc.metadata?.name}` }, msg);
    void record(svc, 'Warning', 'ClusterIPAlreadyAllocated', msg).catch(() => {});
  });
  if (repaired.leaked || repaired.reclaimed || repaired.duplicates) logger.info(repaired, 'allocation repair');

  const bootstrap = {
    dataDir,
    listenHost: opts.apiHost,
    listenPort: opts.apiPort,
    serviceIP: kubernetesServiceIP(opts.cluster),
    clusterDomain: opts.cluster.clusterDomain,
  };
  const credentials = await ensureCredentials(bootstrap);

  let serverAddress = `${opts.apiHost}:${opts.apiPort}`;
  const server = createApiServer({
    registry,
    token: credentials.token,
    tls: { cert: credentials.certPem, key: credentials.keyPem },
    logger,
    get serverAddress() {
      return serverAddress;
    },
    bookmarkIntervalMs: opts.bookmarkIntervalMs,
  });
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(opts.apiPort, opts.apiHost, () => {
      server.off('error', rej);
      res();
    });
  });
  const port = (server.address() as AddressInfo).port;
  serverAddress = `${opts.apiHost}:${port}`;
  const url = clientURL(opts.apiHost, port);
  const kubeconfigPath = await writeKubeconfig(dataDir, url, credentials);

  const nsController = new NamespaceController(registry, logger);
  await nsController.start();
  const netControllers = await startNetworkControllers(registry, logger);
  const lbController = new LoadBalancerController(registry, opts.cluster.lbPool, logger, netControllers.informers.get<Service>('Service'));
  await lbController.start();
  // The cluster DNS server reads the controllers' shared informers: one watch, one cache and one
  // event pass per kind in this process, however many readers.
  let dns: DnsServer | undefined;
  if (opts.dns) {
    const inf = <T extends import('../registry/kinds/meta.js').KubeObject>(kind: string) => netControllers.informers.get<T>(kind);
    dns = await startDnsServer({
      listen: opts.dns.listen,
      httpListen: opts.dns.httpListen,
      upstreams: opts.dns.upstreams,
      workers: opts.dns.workers,
      zone: opts.cluster.clusterDomain,
      services: inf<Service>('Service'),
      endpointSlices: inf<EndpointSlice>('EndpointSlice'),
      pods: inf<Pod>('Pod'),
      namespaces: inf<Namespace>('Namespace'),
      logger,
    });
  }
  const wildcard = (h: string) => h === '0.0.0.0' || h === '::';
  const loopbackIfAny = (h: string) => (h === '0.0.0.0' ? '127.0.0.1' : h === '::' ? '::1' : h);
  const apiAlso: Server[] = [];
  const builtin = new BuiltinServicesController(
    registry,
    { api: { ip: loopbackIfAny(opts.apiHost), port }, dns: dns ? { ip: loopbackIfAny(dns.host), port: dns.port } : undefined },
    logger,
  );
  await builtin.start();

  // Compaction keeps one interval of history: enough for watchers to resume after a short break.
  let lastRev = await store.currentRevision();
  const compactor = setInterval(() => {
    void (async () => {
      const target = lastRev;
      lastRev = await store.currentRevision();
      if (target > (await store.compactedRevision())) await store.compact(target);
    })().catch((err: unknown) => logger.warn({ err }, 'compaction failed'));
  }, opts.compactionIntervalMs);
  compactor.unref();

  logger.info({ url, dataDir, store: opts.store }, 'control plane started');
  return {
    url,
    dnsAddress: dns ? `${dns.host}:${dns.port}` : undefined,
    port,
    kubeconfigPath,
    credentials,
    registry,
    store,
    logger,
    async serveDnsAt(ip: string) {
      if (!dns) throw new Error('this process runs no cluster DNS');
      if (dns.host !== ip && dns.host !== '0.0.0.0' && dns.host !== '::') await dns.listenAlso(ip);
      await builtin.setDnsAddress({ ip, port: dns.port });
    },
    async serveApiAt(ip: string) {
      const creds = await ensureCredentials({ ...bootstrap, extraIPs: [ip] });
      if (creds.certPem !== credentials.certPem) {
        server.setSecureContext({ cert: creds.certPem, key: creds.keyPem });
        Object.assign(credentials, creds);
      }
      if (!wildcard(opts.apiHost) && opts.apiHost !== ip) {
        // A plain listener handing its connections to the HTTPS server: one TLS and HTTP stack.
        const also = createNetServer((socket) => server.emit('connection', socket));
        await new Promise<void>((res, rej) => {
          also.once('error', rej);
          also.listen(port, ip, () => {
            also.off('error', rej);
            res();
          });
        });
        apiAlso.push(also);
      }
      await builtin.setApiAddress({ ip, port });
    },
    async close() {
      const step = async (what: string, fn: () => unknown) => {
        const t = Date.now();
        await fn();
        logger.debug({ step: what, ms: Date.now() - t }, 'shutdown step');
      };
      clearInterval(compactor);
      await step('controllers', () => {
        nsController.stop();
        lbController.stop();
        netControllers.stop();
        builtin.stop();
      });
      await step('dns', () => dns?.close());
      await step('api', () => {
        for (const also of apiAlso) also.close();
        server.closeAllConnections();
        return new Promise<void>((r) => server.close(() => r()));
      });
      await step('store', () => store.close());
    },
  };
}
