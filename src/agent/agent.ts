// The node agent: kube-proxy's job. Informers for Services, EndpointSlices and Nodes feed the change
// tracker; syncs are coalesced (at most one every --min-sync-period, bursts folded into one) and
// hand the model to the data-plane backend: the first sync only after every informer synced, a
// full sync after any failure and periodically, partial syncs otherwise. Metrics carry
// kube-proxy's names; /healthz and /livez mean what they mean for kube-proxy.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { KubeClient, collectionPath, httpInformer } from '../client/http.js';
import type { ListWatchInformer } from '../client/informer.js';
import type { Service } from '../registry/kinds/service.js';
import type { EndpointSlice } from '../registry/kinds/endpointslice.js';
import type { Node } from '../registry/kinds/node.js';
import { ChangeTracker, type TrackedEndpointSlice, type TrackedService } from '../proxy/tracker.js';
import type { ProxyModel, ServicePortInfo } from '../proxy/model.js';
import type { NodeState } from '../proxy/model.js';
import type { ProxyBackend } from './backend.js';
import { HealthCheckServers } from './healthcheck.js';
import { deleteStaleUDP, staleUDPEntries } from './conntrack.js';
import { spawnExec, type Exec } from '../proxy/exec.js';

export interface AgentOptions {
  client: KubeClient;
  backend: ProxyBackend;
  nodeName: string;
  nodeIPs: string[];
  nodePortAddresses: string[];
  clusterCIDR: string;
  /** Service CIDRs, when known: addresses in them that no Service holds are dropped. */
  serviceCIDRs?: string[];
  masqueradeAll: boolean;
  /** Runs `conntrack`; default spawns it. Undefined behaviour = no cleanup when conntrack is missing. */
  exec?: Exec;
  minSyncPeriodMs: number;
  /** A full resync this often even without failures (kube-proxy's periodic resync). */
  fullSyncPeriodMs: number;
  /** `HOST:PORT` for /metrics; '' = off. */
  metricsListen: string;
  /** `HOST:PORT` for /healthz and /livez; '' = off. */
  healthListen: string;
  logger: Logger;
}

const TRIGGER_ANNOTATION = 'endpoints.kubernetes.io/last-change-trigger-time';

export class NodeAgent {
  private readonly tracker = new ChangeTracker();
  private readonly informers: Array<ListWatchInformer<Service> | ListWatchInformer<EndpointSlice> | ListWatchInformer<Node>> = [];
  private model: ProxyModel | undefined;
  private timer: NodeJS.Timeout | undefined;
  private syncing = false;
  private again = false;
  private needFull = true;
  private lastSyncStart = 0;
  private lastFull = 0;
  private lastSuccess = 0;
  private stopped = false;
  private readonly pendingTriggers: number[] = [];
  private zone = '';
  private servers: Server[] = [];
  private readonly healthChecks: HealthCheckServers;
  readonly metrics = new Registry();
  private readonly m;
  /** Resolves after the first successful sync. */
  readonly firstSync: Promise<void>;
  private resolveFirst!: () => void;

  constructor(private readonly opts: AgentOptions) {
    this.firstSync = new Promise((r) => (this.resolveFirst = r));
    const reg = this.metrics;
    const buckets = [0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192, 16.384];
    this.m = {
      sync: new Histogram({ name: 'kubeproxy_sync_proxy_rules_duration_seconds', help: 'SyncProxyRules latency in seconds', buckets, registers: [reg] }),
      syncFull: new Histogram({ name: 'kubeproxy_sync_full_proxy_rules_duration_seconds', help: 'SyncProxyRules latency in seconds for full resyncs', buckets, registers: [reg] }),
      syncPartial: new Histogram({ name: 'kubeproxy_sync_partial_proxy_rules_duration_seconds', help: 'SyncProxyRules latency in seconds for partial resyncs', buckets, registers: [reg] }),
      programming: new Histogram({ name: 'kubeproxy_network_programming_duration_seconds', help: 'In Cluster Network Programming Latency in seconds', buckets: [0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60], registers: [reg] }),
      lastTimestamp: new Gauge({ name: 'kubeproxy_sync_proxy_rules_last_timestamp_seconds', help: 'The last time proxy rules were successfully synced', registers: [reg] }),
      endpointPending: new Gauge({ name: 'kubeproxy_sync_proxy_rules_endpoint_changes_pending', help: 'Pending proxy rules Endpoint changes', registers: [reg] }),
      endpointTotal: new Gauge({ name: 'kubeproxy_sync_proxy_rules_endpoint_changes_total', help: 'Cumulative proxy rules Endpoint changes', registers: [reg] }),
      servicePending: new Gauge({ name: 'kubeproxy_sync_proxy_rules_service_changes_pending', help: 'Pending proxy rules Service changes', registers: [reg] }),
      serviceTotal: new Gauge({ name: 'kubeproxy_sync_proxy_rules_service_changes_total', help: 'Cumulative proxy rules Service changes', registers: [reg] }),
      noLocal: new Gauge({ name: 'kubeproxy_sync_proxy_rules_no_local_endpoints_total', help: 'Number of services with a Local traffic policy and no endpoints', labelNames: ['traffic_policy'], registers: [reg] }),
      failures: new Counter({ name: 'portico_proxy_sync_failures_total', help: 'Syncs the data plane refused', registers: [reg] }),
    };
    this.healthChecks = new HealthCheckServers(opts.nodeName, opts.nodeIPs, () => this.healthy(), opts.logger);
  }

  /** kube-proxy's /healthz: healthy unless changes have waited unsynced for too long. */
  healthy(): boolean {
    if (!this.lastSuccess) return false;
    const pending = this.tracker.pending();
    const stale = Date.now() - this.lastSuccess > Math.max(60_000, 2 * this.opts.minSyncPeriodMs);
    return !(stale && (pending.services > 0 || pending.endpointSlices > 0));
  }

  async start(): Promise<void> {
    const { client, logger } = this.opts;
    const onErr = (what: string) => (err: Error) => logger.warn({ err: err.message }, `${what} informer`);
    const services = httpInformer<Service>(client, collectionPath('', 'v1', 'services'), onErr('service'));
    const slices = httpInformer<EndpointSlice>(client, collectionPath('discovery.k8s.io', 'v1', 'endpointslices'), onErr('endpointslice'));
    const nodes = httpInformer<Node>(client, collectionPath('', 'v1', 'nodes'), onErr('node'), `fieldSelector=${encodeURIComponent(`metadata.name=${this.opts.nodeName}`)}`);
    this.informers.push(services, slices, nodes);
    services.addHandler({
      onAdd: (s) => this.onService(undefined, s),
      onUpdate: (o, s) => this.onService(o, s),
      onDelete: (s) => this.onService(s, undefined),
    });
    slices.addHandler({
      onAdd: (s) => this.onSlice(undefined, s),
      onUpdate: (o, s) => this.onSlice(o, s),
      onDelete: (s) => this.onSlice(s, undefined),
    });
    nodes.addHandler({
      onAdd: (n) => this.onNode(n),
      onUpdate: (_o, n) => this.onNode(n),
    });
    await this.listen();
    await Promise.all(this.informers.map((i) => i.waitForSync()));
    logger.info({ mode: this.opts.backend.mode, node: this.opts.nodeName }, 'informers synced; first sync');
    this.requestSync();
    const periodic = setInterval(() => {
      if (Date.now() - this.lastFull >= this.opts.fullSyncPeriodMs) {
        this.needFull = true;
        this.requestSync();
      }
    }, Math.min(this.opts.fullSyncPeriodMs, 30_000));
    periodic.unref();
    this.servers.push({ close: () => clearInterval(periodic) } as unknown as Server);
  }

  /** A Service's annotations from the informer cache (per-Service scheduler choices). */
  serviceAnnotations(namespace: string, name: string): Record<string, string> | undefined {
    const svc = (this.informers[0] as ListWatchInformer<Service> | undefined)?.get(namespace, name);
    return svc?.metadata?.annotations;
  }

  private onService(prev: Service | undefined, cur: Service | undefined): void {
    if (this.tracker.serviceUpdate(prev as TrackedService | undefined, cur as TrackedService | undefined)) this.requestSync();
  }

  private onSlice(prev: EndpointSlice | undefined, cur: EndpointSlice | undefined): void {
    const trigger = cur?.metadata?.annotations?.[TRIGGER_ANNOTATION];
    if (this.tracker.endpointSliceUpdate(prev as TrackedEndpointSlice | undefined, cur as TrackedEndpointSlice | undefined)) {
      if (trigger) {
        const t = Date.parse(trigger);
        if (!Number.isNaN(t)) this.pendingTriggers.push(t);
      }
      this.requestSync();
    }
  }

  private onNode(n: Node): void {
    const zone = n.metadata?.labels?.['topology.kubernetes.io/zone'] ?? '';
    if (zone !== this.zone) {
      this.zone = zone;
      this.needFull = true;
      this.requestSync();
    }
  }

  nodeState(): NodeState {
    return {
      nodeName: this.opts.nodeName,
      zone: this.zone,
      nodeIPs: this.opts.nodeIPs,
      nodePortAddresses: this.opts.nodePortAddresses,
      clusterCIDR: this.opts.clusterCIDR,
      masqueradeAll: this.opts.masqueradeAll,
      serviceCIDRs: this.opts.serviceCIDRs,
    };
  }

  /** Coalesces: one sync at a time, at most one every minSyncPeriod; requests during a sync fold into the next. */
  requestSync(): void {
    if (this.stopped) return;
    if (this.syncing) {
      this.again = true;
      return;
    }
    if (this.timer) return;
    const wait = Math.max(0, this.lastSyncStart + this.opts.minSyncPeriodMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.sync();
    }, wait);
  }

  private async sync(): Promise<void> {
    if (this.stopped || !this.informers.every((i) => i.hasSynced())) return;
    this.syncing = true;
    this.lastSyncStart = Date.now();
    const started = performance.now();
    const full = this.needFull;
    const pend = this.tracker.pending();
    this.m.servicePending.set(pend.services);
    this.m.endpointPending.set(pend.endpointSlices);
    const triggers = this.pendingTriggers.splice(0);
    try {
      const prev = this.model;
      this.model = this.tracker.snapshot();
      const r = await this.opts.backend.sync(this.model, this.nodeState(), full);
      const stale = staleUDPEntries(prev, this.model);
      if (stale.length && this.opts.backend.mode !== 'userspace') {
        const { failed } = await deleteStaleUDP(this.opts.exec ?? spawnExec, stale).catch(() => ({ failed: stale.length }));
        if (failed) this.opts.logger.warn({ failed }, 'some stale UDP conntrack entries could not be deleted');
      }
      const secs = (performance.now() - started) / 1000;
      this.m.sync.observe(secs);
      (r.kind === 'full' ? this.m.syncFull : this.m.syncPartial).observe(secs);
      const now = Date.now();
      for (const t of triggers) this.m.programming.observe(Math.max(0, (now - t) / 1000));
      this.m.lastTimestamp.set(now / 1000);
      const totals = this.tracker.changeTotals();
      this.m.serviceTotal.set(totals.services);
      this.m.endpointTotal.set(totals.endpoints);
      this.m.servicePending.set(0);
      this.m.endpointPending.set(0);
      this.countNoLocal(this.model);
      this.needFull = false;
      if (r.kind === 'full') this.lastFull = now;
      this.lastSuccess = now;
      await this.healthChecks.sync(this.model);
      this.resolveFirst();
      this.opts.logger.debug({ kind: r.kind, renderMs: r.renderMs, applyMs: r.applyMs }, 'synced');
    } catch (err) {
      this.m.failures.inc();
      this.needFull = true;
      this.pendingTriggers.unshift(...triggers);
      this.opts.logger.error({ err: (err as Error).message }, 'sync failed; next sync is a full one');
      this.again = true;
    } finally {
      this.syncing = false;
      if (this.again) {
        this.again = false;
        this.requestSync();
      }
    }
  }

  private countNoLocal(model: ProxyModel): void {
    let internal = 0;
    let external = 0;
    const local = (sp: ServicePortInfo) => sp.endpoints.some((e) => e.nodeName === this.opts.nodeName && (e.ready || e.serving));
    for (const sp of model.services.values()) {
      if (sp.internalPolicyLocal && !local(sp)) internal++;
      if (sp.externalPolicyLocal && !local(sp)) external++;
    }
    this.m.noLocal.set({ traffic_policy: 'internal' }, internal);
    this.m.noLocal.set({ traffic_policy: 'external' }, external);
  }

  private async listen(): Promise<void> {
    const serve = async (addr: string, handler: Parameters<typeof createServer>[1]) => {
      if (!addr) return;
      const i = addr.lastIndexOf(':');
      const srv = createServer(handler);
      await new Promise<void>((res, rej) => {
        srv.once('error', rej);
        srv.listen(Number(addr.slice(i + 1)), addr.slice(0, i).replace(/^\[|\]$/g, ''), () => res());
      });
      this.servers.push(srv);
      this.opts.logger.info({ listen: `${addr.slice(0, i)}:${(srv.address() as AddressInfo).port}` }, 'agent http listening');
    };
    await serve(this.opts.metricsListen, (req, res) => {
      if (req.url?.startsWith('/metrics')) {
        void this.metrics.metrics().then((text) => {
          res.writeHead(200, { 'Content-Type': this.metrics.contentType });
          res.end(text);
        });
        return;
      }
      res.writeHead(404).end();
    });
    await serve(this.opts.healthListen, (req, res) => {
      const body = JSON.stringify({ lastUpdated: new Date(this.lastSuccess || 0).toISOString(), currentTime: new Date().toISOString(), nodeEligible: true });
      if (req.url?.startsWith('/healthz') || req.url?.startsWith('/livez')) {
        const ok = this.healthy();
        res.writeHead(ok ? 200 : 503, { 'Content-Type': 'application/json' });
        res.end(body);
        return;
      }
      res.writeHead(404).end();
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    for (const i of this.informers) i.stop();
    await this.healthChecks.close();
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => (s.listening ? s.close(() => r()) : (s.close(), r())))));
    await this.opts.backend.close?.();
  }
}
