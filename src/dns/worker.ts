// A UDP worker process of the DNS server (started by UdpWorkers through node:cluster): a ZoneIndex
// fed by the primary's relayed informer events, and a dgram socket that binds the primary's shared
// UDP handle. It exits when the primary goes away.
import { pino } from 'pino';
import type { Socket as UdpSocket } from 'node:dgram';
import { InformerCache } from '../client/cache.js';
import { objectKey } from '../client/types.js';
import type { KubeObject } from '../registry/kinds/meta.js';
import type { Service } from '../registry/kinds/service.js';
import type { EndpointSlice } from '../registry/kinds/endpointslice.js';
import type { Pod } from '../registry/kinds/pod.js';
import type { Namespace } from '../registry/kinds/namespace.js';
import { ZoneIndex } from './zone.js';
import { AnswerCache, Forwarder, parseHostPort } from './upstream.js';
import { DnsHandler, DnsMetrics, createUdpSocket, serveUdp } from './handler.js';
import type { FromWorker, RelayKind, ToWorker, WorkerConfig } from './workers.js';

/** An informer whose content is whatever the primary relays. */
export class RelayInformer<T extends KubeObject> extends InformerCache<T> {
  set(obj: T): void {
    const key = objectKey(obj);
    const old = this.cache.get(key);
    this.cache.set(key, obj);
    if (old) this.emit('update', obj, old);
    else this.emit('add', obj);
  }

  remove(obj: T): void {
    const key = objectKey(obj);
    const old = this.cache.get(key);
    if (!old) return;
    this.cache.delete(key);
    this.emit('delete', old);
  }

  replace(objs: T[]): void {
    for (const o of objs) this.set(o);
  }
}

function reply(m: FromWorker): void {
  process.send?.(m);
}

function start(cfg: WorkerConfig): { informers: Map<RelayKind, RelayInformer<KubeObject>>; metrics: DnsMetrics; sock: UdpSocket } {
  const log = pino({ level: cfg.logLevel, base: { worker: process.pid } }, pino.destination(2));
  const onErr = (err: Error): void => log.error({ err }, 'dns worker: zone handler failed');
  const informers = new Map<RelayKind, RelayInformer<KubeObject>>();
  for (const k of cfg.kinds) informers.set(k, new RelayInformer<KubeObject>(onErr));
  const zone = new ZoneIndex(cfg.zone);
  zone.attach({
    services: informers.get('services') as unknown as RelayInformer<Service>,
    endpointSlices: informers.get('endpointSlices') as unknown as RelayInformer<EndpointSlice>,
    pods: informers.get('pods') as unknown as RelayInformer<Pod> | undefined,
    namespaces: informers.get('namespaces') as unknown as RelayInformer<Namespace> | undefined,
  });
  const cache = new AnswerCache(cfg.cacheEntries, cfg.cacheMaxTtl);
  const metrics = new DnsMetrics(cache);
  const forwarder = new Forwarder(cfg.upstreams.map((u) => parseHostPort(u, 53)), cfg.upstreamTimeoutMs);
  const handler = new DnsHandler(zone, forwarder, cache, metrics, log);
  const sock = createUdpSocket(cfg.type);
  serveUdp(sock, handler);
  const onBindError = (err: NodeJS.ErrnoException): void => {
    reply({ t: 'bindError', code: err.code ?? 'EUNKNOWN', message: err.message });
  };
  sock.once('error', onBindError);
  // exclusive: false makes node:cluster hand every worker the primary's one socket.
  sock.bind({ address: cfg.host, port: cfg.port, exclusive: false }, () => {
    sock.off('error', onBindError);
    sock.on('error', (err) => log.warn({ err }, 'dns worker: UDP socket error'));
    reply({ t: 'bound', port: sock.address().port });
  });
  return { informers, metrics, sock };
}

let state: ReturnType<typeof start> | undefined;

process.on('message', (m: ToWorker) => {
  if (m.t === 'init') {
    state ??= start(m.cfg);
    return;
  }
  if (!state) return;
  switch (m.t) {
    case 'snap': {
      const inf = state.informers.get(m.k);
      inf?.replace(m.objs);
      if (m.synced) inf?.markSynced();
      break;
    }
    case 'ev': {
      const inf = state.informers.get(m.k);
      if (m.op === 'set') inf?.set(m.o);
      else inf?.remove(m.o);
      break;
    }
    case 'sync':
      state.informers.get(m.k)?.markSynced();
      break;
    case 'metrics': {
      const id = m.id;
      void state.metrics.registry.getMetricsAsJSON().then((json) => reply({ t: 'metrics', id, m: json }));
      break;
    }
  }
});

process.on('disconnect', () => process.exit(0));
// Ctrl-C reaches the whole process group: let the primary decide (it stops the workers on close).
process.on('SIGINT', () => undefined);
reply({ t: 'hello' });
