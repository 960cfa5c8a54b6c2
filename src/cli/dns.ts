// `portico dns`: the cluster DNS server alone, reading Services, EndpointSlices, Pods and
// Namespaces from any Kubernetes API server through a kubeconfig.
import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { newLogger } from '../util/log.js';
import { UsageError } from '../util/errors.js';
import { collectionPath, httpInformer } from '../client/http.js';
import { kubeClientFromFlag } from './common.js';
import type { KubeObject } from '../registry/kinds/meta.js';
import type { Service } from '../registry/kinds/service.js';
import type { EndpointSlice } from '../registry/kinds/endpointslice.js';
import type { Pod } from '../registry/kinds/pod.js';
import type { Namespace } from '../registry/kinds/namespace.js';
import { startDnsServer } from '../dns/server.js';
import { dnsTransforms } from '../dns/strip.js';
import { udpBatchingUnavailable } from '../dns/udp.js';
import { parseFlags, parseHostPort, type FlagSpec } from './flags.js';

const FLAGS = {
  kubeconfig: { type: 'string' },
  listen: { type: 'string', default: '127.0.0.1:1053' },
  'http-listen': { type: 'string', default: '' },
  'cluster-domain': { type: 'string', default: 'cluster.local' },
  upstream: { type: 'string', default: '' },
  ttl: { type: 'string', default: '30' },
  pods: { type: 'string', default: 'insecure' },
  'dns-workers': { type: 'string', default: '' },
} as const satisfies FlagSpec;

const USAGE = `usage: portico dns --kubeconfig FILE [flags]

Runs the cluster DNS server against any Kubernetes API server.

flags:
  --kubeconfig FILE            how to reach the API server (required)
  --listen HOST:PORT           UDP and TCP address (default 127.0.0.1:1053)
  --http-listen HOST:PORT      /health, /ready and /metrics (default: off)
  --cluster-domain NAME        the zone (default cluster.local)
  --upstream HOST[:PORT],...   resolvers for other names (default: /etc/resolv.conf)
  --ttl SECONDS                record TTL (default 30)
  --pods disabled|insecure|verified   pod records, as CoreDNS's pods option (default insecure)
  --dns-workers N              processes answering UDP (default 1, this process, with batched UDP I/O;
                               the number of CPUs when the native addon is not built)`;

export async function runDns(argv: string[]): Promise<void> {
  // V8's small-footprint heap policy (grows the heap later, gives memory back sooner): with 10,000
  // Services and 100,000 endpoints ~150 MB RSS instead of ~200 MB, and no measurable change in CPU
  // per query (BENCHMARKS.md). Set at run time because `portico` is one binary for every command.
  setFlagsFromString('--optimize-for-size');
  const v = parseFlags(argv, FLAGS, USAGE);
  if (!v.kubeconfig) throw new UsageError('--kubeconfig is required');
  parseHostPort('listen', String(v.listen));
  if (v['http-listen']) parseHostPort('http-listen', String(v['http-listen']));
  const ttl = Number(v.ttl);
  if (!Number.isInteger(ttl) || ttl < 0 || ttl > 3600) throw new UsageError(`--ttl: invalid value "${v.ttl}": want 0-3600 seconds`);
  const podMode = String(v.pods);
  if (podMode !== 'disabled' && podMode !== 'insecure' && podMode !== 'verified') throw new UsageError(`--pods: unsupported value "${podMode}": supported values: "disabled", "insecure", "verified"`);
  // One process with recvmmsg/sendmmsg beats dnsmasq and N dgram workers, with one zone in memory.
  const workers = v['dns-workers'] ? Number(v['dns-workers']) : udpBatchingUnavailable() === undefined ? 1 : availableParallelism();
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new UsageError(`--dns-workers: invalid value "${v['dns-workers']}": want 1-64`);
  const client = kubeClientFromFlag(String(v.kubeconfig));
  const logger = newLogger();
  const informers: Array<{ stop(): void }> = [];
  const inf = <T extends KubeObject>(group: string, version: string, resource: string, transform: (o: T) => T) => {
    const i = httpInformer<T>(client, collectionPath(group, version, resource), (err) => logger.warn({ err: err.message, resource }, 'informer'), '', transform);
    informers.push(i);
    return i;
  };
  const server = await startDnsServer({
    listen: String(v.listen),
    httpListen: v['http-listen'] ? String(v['http-listen']) : undefined,
    upstreams: v.upstream ? String(v.upstream).split(',').map((s) => s.trim()) : undefined,
    zone: String(v['cluster-domain']).replace(/\.$/, ''),
    ttl,
    podMode,
    workers,
    services: inf<Service>('', 'v1', 'services', dnsTransforms.services),
    endpointSlices: inf<EndpointSlice>('discovery.k8s.io', 'v1', 'endpointslices', dnsTransforms.endpointSlices),
    pods: podMode === 'disabled' ? undefined : inf<Pod>('', 'v1', 'pods', dnsTransforms.pods),
    namespaces: inf<Namespace>('', 'v1', 'namespaces', dnsTransforms.namespaces),
    logger,
  });
  const udp = server.udpIo === 'workers' ? `${workers} dgram worker processes` : `1 process, ${server.udpIo}`;
  const stop = () => {
    for (const i of informers) i.stop();
    client.close();
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // Announced only once the signal handlers are in: whoever waits for this line may signal at once.
  process.stdout.write(`Portico DNS is up on ${server.host}:${server.port} (UDP and TCP; UDP: ${udp})\n`);
}
