// Starts the control plane in this process: store, registry, credentials, the HTTPS API, the
// namespace controller and the compactor. `portico up` and `portico server` call this; tests and
// benchmarks may too.
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { openStore } from '../store/index.js';
import type { Store } from '../store/types.js';
import type { ClusterConfig } from '../registry/types.js';
import { ApiRegistry } from './registry.js';
import { createApiServer } from './server.js';
import { ensureCredentials, clientURL, writeKubeconfig, type Credentials } from './pki.js';
import { NamespaceController } from '../controllers/namespace.js';
import { LoadBalancerController } from '../controllers/lbpool.js';
import { BuiltinServicesController } from '../controllers/builtin.js';
import { eventRecorder } from '../controllers/events.js';
import { ServiceAllocator } from '../allocators/service.js';
import type { Service } from '../registry/kinds/service.js';
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
  /** Where the cluster DNS server of this process listens (for kube-system/kube-dns endpoints). */
  dns?: { ip: string; port: number };
  logger?: Logger;
}

export interface ControlPlane {
  url: string;
  port: number;
  kubeconfigPath: string;
  credentials: Credentials;
  registry: ApiRegistry;
  store: Store;
  logger: Logger;
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
  const logger = opts.logger ?? pino({ level: process.env.PORTICO_LOG_LEVEL ?? 'info' }, pino.destination(2));
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

  const credentials = await ensureCredentials({
    dataDir,
    listenHost: opts.apiHost,
    listenPort: opts.apiPort,
    serviceIP: kubernetesServiceIP(opts.cluster),
    clusterDomain: opts.cluster.clusterDomain,
  });

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
  const lbController = new LoadBalancerController(registry, opts.cluster.lbPool, logger);
  await lbController.start();
  const builtin = new BuiltinServicesController(registry, { api: { ip: opts.apiHost === '0.0.0.0' ? '127.0.0.1' : opts.apiHost, port }, dns: opts.dns }, logger);
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
    port,
    kubeconfigPath,
    credentials,
    registry,
    store,
    logger,
    async close() {
      clearInterval(compactor);
      nsController.stop();
      lbController.stop();
      builtin.stop();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await store.close();
    },
  };
}
