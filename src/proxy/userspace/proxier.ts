// The userspace data plane (`--mode userspace`): the agent itself listens on every Service address
// (cluster IPs, external IPs, load-balancer IPs, node ports on the node's addresses) and relays each
// connection or UDP flow to an endpoint chosen by a scheduler. Listeners are opened and closed per
// changed Service port; endpoint sets are swapped in place so connections already relayed to a
// removed endpoint run to their end while new ones go elsewhere.
import dgram from 'node:dgram';
import net from 'node:net';
import {
  categorizeEndpoints, externalEndpoints, internalEndpoints,
  type EndpointInfo, type ProxyModel, type ServicePortInfo,
} from '../model.js';
import os from 'node:os';
import {
  PendingConnect, Sweeper, SWEEP_TICKS, TcpRelay, UdpFlowTable, idleSweeper, listenTcp, peerAddress, type TcpHandle,
} from './relay.js';
import { createScheduler, type Scheduler, type SchedulerName } from './schedulers.js';
import { nativeEngine, type NativeConnectionEvents, type NativeEngine, type RelayKind } from './native.js';

/** The pino subset the proxier logs through. */
export interface ProxierLogger {
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface UserspaceProxierOptions {
  nodeName: string;
  /** topology.kubernetes.io/zone of this node, for topology hints ('' when unknown). */
  zone?: string;
  /** Addresses node ports listen on. */
  nodeIPs: string[];
  /**
   * Pod CIDR(s) of the cluster, comma-separated ('' = unknown). With externalTrafficPolicy Local,
   * connections to an external address from a pod (source in this range) or from the node itself
   * go to all endpoints (Cluster policy), as kube-proxy "short-circuits" them: the Local policy is
   * about traffic arriving from outside the cluster.
   */
  clusterCIDR?: string;
  /** Called before the first listener on a virtual IP (e.g. to put it on a dummy interface as root). */
  bindAddress?: (ip: string) => void | Promise<void>;
  /** Called after the last listener on a virtual IP closed. */
  releaseAddress?: (ip: string) => void | Promise<void>;
  /** Agent-wide default; 'rr' as kube-proxy's userspace mode did. */
  scheduler?: SchedulerName;
  /** Per-Service override (from the `portico.dev/scheduler` annotation); undefined = default. */
  schedulerFor?: (serviceKey: string) => SchedulerName | undefined;
  /** Per-endpoint weights (`ip` or `ip:port` → weight) for a Service; missing = 1. */
  weightsFor?: (serviceKey: string) => ReadonlyMap<string, number> | undefined;
  /** Idle timeout of a TCP connection (no byte either way), ms; 0 = none. Default 1 hour. */
  tcpIdleTimeoutMs?: number;
  /** Idle timeout of a UDP flow, ms. Default 250 s, like kube-proxy's userspace mode. */
  udpIdleTimeoutMs?: number;
  /** Time allowed for one connect attempt to an endpoint, ms. Default 2 s. */
  connectTimeoutMs?: number;
  /** Further endpoints tried after a failed connect. Default 3. */
  connectRetries?: number;
  /** UDP flows per listener beyond which new flows are dropped. Default 65536. */
  maxUdpFlows?: number;
  /**
   * Listen non-exclusively, so node:cluster workers running one proxier each share every listening
   * socket (the benchmark's several-process variant). Default false.
   */
  shareListeners?: boolean;
  /**
   * Who moves the bytes of TCP connections: 'native' (native/relay.c: accept, connect and relay in
   * C, decisions here), 'js' (relay.ts on libuv handles), 'auto' (native when built). Default auto.
   */
  relay?: RelayKind;
  logger?: ProxierLogger;
  /** Clock for affinity expiry (tests inject one). */
  now?: () => number;
}

/** One endpoint of one Service port with its live counters (shared by internal and external pools). */
export interface EndpointState {
  readonly ip: string;
  readonly port: number;
  readonly key: string;
  readonly ipv6: boolean;
  weight: number;
  active: number;
  inactive: number;
  connectionsTotal: number;
  connectFailuresTotal: number;
  /** Bytes of closed connections/flows; live ones are added when metrics are read. */
  closedBytesIn: number;
  closedBytesOut: number;
  readonly tcp: Set<OpenConnection>;
}

/** A relayed TCP connection as the proxier's bookkeeping sees it (JS relay or native pump). */
export interface OpenConnection {
  readonly bytesIn: number;
  readonly bytesOut: number;
  destroy(reset?: boolean): void;
}

export interface EndpointMetrics {
  service: string;
  namespace: string;
  name: string;
  portName: string;
  protocol: string;
  endpoint: string;
  connectionsTotal: number;
  connectionsActive: number;
  connectFailuresTotal: number;
  /** Client → endpoint. */
  bytesIn: number;
  /** Endpoint → client. */
  bytesOut: number;
}

export interface ProxierMetrics {
  endpoints: EndpointMetrics[];
  listenersOpen: number;
  listenFailuresTotal: number;
  /** Connections or datagrams refused because the Service had no usable endpoint. */
  noEndpointTotal: number;
  /** Connections closed after every endpoint tried failed to connect. */
  connectGiveUpTotal: number;
  udpFlowsActive: number;
  udpDropsTotal: number;
}

/**
 * Which endpoints a listener's connections go to: cluster IPs use the internal ones, external
 * addresses (node ports, external IPs, LB IPs) the external ones; `short` is external traffic from
 * inside the cluster under externalTrafficPolicy Local, which goes to the Cluster-policy endpoints.
 */
type Traffic = 'internal' | 'external';
type PoolName = Traffic | 'short';

interface Pool {
  targets: EndpointState[];
  scheduler: Scheduler<EndpointState>;
  /** ClientIP affinity: client address → endpoint and expiry. */
  affinity: Map<string, { ep: EndpointState; expires: number }>;
  /** Affinity size at which expired entries are swept next. */
  sweepAt: number;
  /** Picks made, to carry the round-robin position over endpoint changes. */
  picks: number;
}

interface Listener {
  readonly id: string;
  readonly ip: string;
  readonly traffic: Traffic;
  readonly tcp?: net.Server;
  /** TCP through the native pump: its listener id. */
  readonly nativeId?: number;
  /** TCP: the connections accepted here, for this listener's own pool choice. */
  readonly accept?: (client: TcpHandle) => void;
  readonly udp?: dgram.Socket;
  readonly flows?: UdpFlowTable<EndpointState>;
}

interface ServiceState {
  info: ServicePortInfo;
  schedulerName: SchedulerName;
  endpoints: Map<string, EndpointState>;
  pools: Record<PoolName, Pool>;
  listeners: Map<string, Listener>;
  /** External traffic from pods and the node goes to the `short` pool (ETP Local with a known cluster CIDR). */
  shortCircuit: boolean;
  /** Whether picking needs the client address (affinity, source hashing, the short circuit). */
  needsClientIP: boolean;
}

const DEFAULTS = {
  tcpIdleTimeoutMs: 3_600_000,
  udpIdleTimeoutMs: 250_000,
  connectTimeoutMs: 2_000,
  connectRetries: 3,
  maxUdpFlows: 65_536,
};

const AFFINITY_SWEEP_MIN = 1024;

function epKey(ip: string, port: number): string {
  return net.isIPv6(ip) ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** The addresses a Service port listens on, by listener id. */
function wantedListeners(sp: ServicePortInfo, nodeIPs: readonly string[]): Map<string, { ip: string; port: number; traffic: Traffic }> {
  const out = new Map<string, { ip: string; port: number; traffic: Traffic }>();
  const add = (ip: string, port: number, traffic: Traffic) => {
    const id = `${sp.protocol} ${epKey(ip, port)}`;
    if (!out.has(id)) out.set(id, { ip, port, traffic });
  };
  for (const ip of sp.clusterIPs) add(ip, sp.port, 'internal');
  for (const ip of sp.externalIPs) add(ip, sp.port, 'external');
  for (const ip of sp.loadBalancerIPs) add(ip, sp.port, 'external');
  if (sp.nodePort > 0) for (const ip of nodeIPs) add(ip, sp.nodePort, 'external');
  return out;
}

export class UserspaceProxier {
  private readonly services = new Map<string, ServiceState>();
  private readonly o: Required<Omit<UserspaceProxierOptions, 'zone' | 'clusterCIDR' | 'bindAddress' | 'releaseAddress' | 'schedulerFor' | 'weightsFor' | 'logger' | 'shareListeners' | 'relay'>> & UserspaceProxierOptions;
  /** The native pump, when TCP goes through it. */
  readonly native: NativeEngine | undefined;
  private readonly now: () => number;
  /** Listeners per virtual IP, for the bind/release hooks. */
  private readonly addrRefs = new Map<string, number>();
  private listenFailuresTotal = 0;
  private noEndpointTotal = 0;
  private connectGiveUpTotal = 0;
  private udpDropsTotal = 0;
  private closed = false;
  private syncing: Promise<void> = Promise.resolve();
  private readonly clusterCIDRs: net.BlockList | undefined;
  /** The node's own addresses (its interfaces, refreshed on every sync, plus the node IPs). */
  private localAddrs = new Set<string>();
  /** Connect attempts under way, checked for the connect timeout. */
  private readonly connecting: Sweeper<PendingConnect>;
  /** Open relays, checked for the idle timeout (none when it is 0). */
  private readonly idle: Sweeper<TcpRelay> | undefined;

  constructor(opts: UserspaceProxierOptions) {
    this.o = {
      scheduler: 'rr', ...DEFAULTS, now: Date.now, ...opts,
    };
    this.now = this.o.now;
    const cidrs = (opts.clusterCIDR ?? '').split(',').map((c) => c.trim()).filter(Boolean);
    if (cidrs.length > 0) {
      this.clusterCIDRs = new net.BlockList();
      for (const c of cidrs) {
        const [addr = '', bits = ''] = c.split('/');
        this.clusterCIDRs.addSubnet(addr, Number(bits), net.isIPv6(addr) ? 'ipv6' : 'ipv4');
      }
    }
    this.connecting = new Sweeper<PendingConnect>(Math.max(1, Math.floor(this.o.connectTimeoutMs / SWEEP_TICKS)), (p, tick) => {
      if (tick - p.startTick >= SWEEP_TICKS) p.timeOut();
    });
    this.idle = this.o.tcpIdleTimeoutMs > 0 ? idleSweeper(this.o.tcpIdleTimeoutMs) : undefined;
    const relay = opts.relay ?? 'auto';
    if (relay === 'native') this.native = nativeEngine();
    else if (relay === 'auto') {
      try {
        this.native = nativeEngine();
      } catch (err) {
        this.o.logger?.warn({ err: (err as Error).message }, 'userspace proxy: native relay unavailable; relaying in JS');
      }
    }
    this.refreshLocalAddrs();
  }

  /** Which relay carries TCP: 'native' or 'js'. */
  get relayKind(): 'native' | 'js' {
    return this.native ? 'native' : 'js';
  }

  private refreshLocalAddrs(): void {
    const out = new Set(this.o.nodeIPs);
    for (const list of Object.values(os.networkInterfaces())) for (const a of list ?? []) out.add(a.address);
    this.localAddrs = out;
  }

  /** Whether a client is inside the cluster: a pod (cluster CIDR) or this node (a local address). */
  private fromInside(ip: string): boolean {
    if (ip.startsWith('127.') || ip === '::1' || this.localAddrs.has(ip) || this.addrRefs.has(ip)) return true;
    const v6 = net.isIPv6(ip);
    // IPv4-mapped clients of a dual-stack listener.
    const v4 = v6 && ip.startsWith('::ffff:') ? ip.slice(7) : undefined;
    return this.clusterCIDRs !== undefined && (v4 !== undefined ? this.clusterCIDRs.check(v4, 'ipv4') : this.clusterCIDRs.check(ip, v6 ? 'ipv6' : 'ipv4'));
  }

  /**
   * Brings listeners and endpoint sets in line with the model for the changed keys (or all of
   * them). Syncs are serialised; a listener that cannot be bound is logged and counted, and is
   * tried again on the next sync of its Service or the next full sync.
   */
  sync(model: ProxyModel, changed: ReadonlySet<string> | 'full'): Promise<void> {
    const run = this.syncing.then(() => this.doSync(model, changed));
    this.syncing = run.catch(() => undefined);
    return run;
  }

  private async doSync(model: ProxyModel, changed: ReadonlySet<string> | 'full'): Promise<void> {
    if (this.closed) return;
    if (changed === 'full') this.refreshLocalAddrs();
    const keys = changed === 'full' ? new Set([...this.services.keys(), ...model.services.keys()]) : changed;
    // Removals first, so an address given up by one Service can be taken by another in one sync.
    for (const key of keys) if (!model.services.has(key)) await this.removeService(key);
    for (const key of keys) {
      const sp = model.services.get(key);
      if (sp !== undefined) await this.upsertService(sp);
    }
  }

  async close(): Promise<void> {
    await this.syncing;
    this.closed = true;
    for (const key of [...this.services.keys()]) await this.removeService(key);
    this.connecting.close();
    this.idle?.close();
  }

  /** The scheduler in use for a Service port (undefined when unknown). */
  schedulerOf(key: string): SchedulerName | undefined {
    return this.services.get(key)?.schedulerName;
  }

  /** Listener ids (`TCP 127.10.0.1:80`) currently open for a Service port. */
  listenersOf(key: string): string[] {
    return [...(this.services.get(key)?.listeners.keys() ?? [])].sort();
  }

  metrics(): ProxierMetrics {
    const endpoints: EndpointMetrics[] = [];
    let listenersOpen = 0;
    let udpFlowsActive = 0;
    for (const [key, st] of this.services) {
      listenersOpen += st.listeners.size;
      const live = new Map<EndpointState, { i: number; o: number }>();
      for (const l of st.listeners.values()) {
        if (!l.flows) continue;
        udpFlowsActive += l.flows.size;
        for (const f of l.flows.values()) {
          const c = live.get(f.target) ?? { i: 0, o: 0 };
          c.i += f.bytesIn;
          c.o += f.bytesOut;
          live.set(f.target, c);
        }
      }
      for (const ep of st.endpoints.values()) {
        let bytesIn = ep.closedBytesIn + (live.get(ep)?.i ?? 0);
        let bytesOut = ep.closedBytesOut + (live.get(ep)?.o ?? 0);
        for (const r of ep.tcp) {
          bytesIn += r.bytesIn;
          bytesOut += r.bytesOut;
        }
        endpoints.push({
          service: key, namespace: st.info.namespace, name: st.info.name, portName: st.info.portName, protocol: st.info.protocol,
          endpoint: ep.key, connectionsTotal: ep.connectionsTotal, connectionsActive: ep.active + ep.inactive,
          connectFailuresTotal: ep.connectFailuresTotal, bytesIn, bytesOut,
        });
      }
    }
    return {
      endpoints, listenersOpen, listenFailuresTotal: this.listenFailuresTotal, noEndpointTotal: this.noEndpointTotal,
      connectGiveUpTotal: this.connectGiveUpTotal, udpFlowsActive, udpDropsTotal: this.udpDropsTotal,
    };
  }

  // ---- service state ----

  private async upsertService(sp: ServicePortInfo): Promise<void> {
    if (sp.protocol === 'SCTP') {
      this.o.logger?.warn({ service: sp.key }, 'userspace proxy: SCTP is not supported; service skipped');
      return this.removeService(sp.key);
    }
    let st = this.services.get(sp.key);
    const schedulerName = this.o.schedulerFor?.(sp.key) ?? this.o.scheduler;
    if (st === undefined) {
      const empty = (): Pool => ({ targets: [], scheduler: createScheduler(schedulerName, []), affinity: new Map(), sweepAt: AFFINITY_SWEEP_MIN, picks: 0 });
      st = {
        info: sp, schedulerName, endpoints: new Map(), pools: { internal: empty(), external: empty(), short: empty() }, listeners: new Map(),
        shortCircuit: false, needsClientIP: false,
      };
      this.services.set(sp.key, st);
    }
    st.info = sp;
    st.shortCircuit = sp.externallyAccessible && sp.externalPolicyLocal && this.clusterCIDRs !== undefined;
    st.needsClientIP = sp.affinityTimeoutSeconds > 0 || schedulerName === 'sh' || st.shortCircuit;
    this.updateEndpoints(st, schedulerName);
    await this.updateListeners(st);
  }

  private updateEndpoints(st: ServiceState, schedulerName: SchedulerName): void {
    const sp = st.info;
    const cat = categorizeEndpoints(sp, { nodeName: this.o.nodeName, zone: this.o.zone ?? '' });
    const weights = this.o.weightsFor?.(sp.key);
    const next = new Map<string, EndpointState>();
    const stateOf = (e: EndpointInfo): EndpointState => {
      const key = epKey(e.ip, e.port);
      let s = next.get(key) ?? st.endpoints.get(key);
      if (s === undefined) {
        s = {
          ip: e.ip, port: e.port, key, ipv6: net.isIPv6(e.ip), weight: 1, active: 0, inactive: 0, connectionsTotal: 0, connectFailuresTotal: 0,
          closedBytesIn: 0, closedBytesOut: 0, tcp: new Set(),
        };
      }
      s.weight = weights?.get(key) ?? weights?.get(e.ip) ?? 1;
      next.set(key, s);
      return s;
    };
    const internal = internalEndpoints(sp, cat).map(stateOf);
    const external = sp.externallyAccessible ? externalEndpoints(sp, cat).map(stateOf) : [];
    const short = st.shortCircuit ? cat.cluster.map(stateOf) : [];
    const schedChanged = schedulerName !== st.schedulerName;
    st.schedulerName = schedulerName;
    for (const [traffic, targets] of [['internal', internal], ['external', external], ['short', short]] as const) {
      const pool = st.pools[traffic];
      const same = !schedChanged && targets.length === pool.targets.length && targets.every((t, i) => t === pool.targets[i]);
      if (same) continue;
      // Keep the round-robin position across endpoint changes so frequent syncs do not always
      // hand the next connection to the first endpoint.
      pool.targets = targets;
      pool.scheduler = createScheduler(schedulerName, targets, { start: pool.picks });
      const live = new Set(targets);
      for (const [client, a] of pool.affinity) if (!live.has(a.ep)) pool.affinity.delete(client);
    }
    // UDP flows to an endpoint that is gone are dropped (as kube-proxy clears their conntrack
    // entries); TCP connections to it run to their end.
    for (const l of st.listeners.values()) l.flows?.closeWhere((t) => !next.has(t.key));
    st.endpoints = next;
  }

  private async updateListeners(st: ServiceState): Promise<void> {
    const want = wantedListeners(st.info, this.o.nodeIPs);
    for (const [id, l] of st.listeners) {
      const w = want.get(id);
      if (w === undefined || w.traffic !== l.traffic) await this.closeListener(st, l);
    }
    for (const [id, w] of want) {
      if (st.listeners.has(id)) continue;
      const l = await this.openListener(st, id, w.ip, w.port, w.traffic);
      if (l !== undefined) st.listeners.set(id, l);
    }
  }

  private async removeService(key: string): Promise<void> {
    const st = this.services.get(key);
    if (st === undefined) return;
    this.services.delete(key);
    for (const l of [...st.listeners.values()]) await this.closeListener(st, l);
    // Reset, so clients learn at once that the Service is gone.
    for (const ep of st.endpoints.values()) for (const r of [...ep.tcp]) r.destroy(true);
  }

  // ---- listeners ----

  private async openListener(st: ServiceState, id: string, ip: string, port: number, traffic: Traffic): Promise<Listener | undefined> {
    const key = st.info.key;
    try {
      await this.acquireAddress(ip);
    } catch (err) {
      this.listenFailed(key, id, err);
      return undefined;
    }
    try {
      if (st.info.protocol === 'UDP') {
        const sock = dgram.createSocket({ type: net.isIPv6(ip) ? 'udp6' : 'udp4' });
        await new Promise<void>((resolve, reject) => {
          sock.once('error', reject);
          sock.bind({ address: ip, port, exclusive: true }, () => {
            sock.off('error', reject);
            resolve();
          });
        });
        sock.on('error', (err) => this.o.logger?.warn({ service: key, listener: id, err: err.message }, 'udp listener error'));
        const flows = new UdpFlowTable<EndpointState>(sock, { idleTimeoutMs: this.o.udpIdleTimeoutMs, maxFlows: this.o.maxUdpFlows }, {
          choose: (clientIP) => {
            const ep = this.choose(st, traffic, clientIP, ip, undefined);
            if (ep !== undefined) ep.connectionsTotal++;
            return ep;
          },
          onFlowOpen: (ep) => ep.active++,
          onFlowClose: (ep, bi, bo) => {
            ep.active--;
            ep.closedBytesIn += bi;
            ep.closedBytesOut += bo;
          },
          onDrop: (reason) => {
            this.udpDropsTotal++;
            if (reason === 'no-endpoint') this.noEndpointTotal++;
          },
        });
        return { id, ip, traffic, udp: sock, flows };
      }
      if (this.native) {
        const native = this.native;
        const nativeId = native.listen(ip, port, { backlog: 4096, reusePort: !!this.o.shareListeners }, (fd) => this.acceptNative(native, st, traffic, ip, fd));
        return { id, ip, traffic, nativeId };
      }
      const accept = (client: TcpHandle) => this.accept(st, traffic, ip, client);
      const server = await listenTcp(ip, port, { backlog: 4096, exclusive: !this.o.shareListeners }, accept);
      server.on('error', (err) => this.o.logger?.warn({ service: key, listener: id, err: err.message }, 'tcp listener error'));
      return { id, ip, traffic, tcp: server, accept };
    } catch (err) {
      this.listenFailed(key, id, err);
      await this.releaseAddress(ip);
      return undefined;
    }
  }

  private listenFailed(service: string, listener: string, err: unknown): void {
    this.listenFailuresTotal++;
    this.o.logger?.warn({ service, listener, err: err instanceof Error ? err.message : String(err) }, 'cannot listen on service address');
  }

  private async closeListener(st: ServiceState, l: Listener): Promise<void> {
    st.listeners.delete(l.id);
    // Stops accepting at once; accepted connections are ended by the caller when the whole
    // Service goes, and left to finish when only this address went.
    l.tcp?.close();
    if (l.nativeId !== undefined) this.native?.unlisten(l.nativeId);
    if (l.udp) {
      l.flows?.closeAll();
      l.udp.close();
    }
    await this.releaseAddress(l.ip);
  }

  private async acquireAddress(ip: string): Promise<void> {
    const n = this.addrRefs.get(ip) ?? 0;
    if (n === 0 && this.o.bindAddress) await this.o.bindAddress(ip);
    this.addrRefs.set(ip, n + 1);
  }

  private async releaseAddress(ip: string): Promise<void> {
    const n = (this.addrRefs.get(ip) ?? 0) - 1;
    if (n > 0) {
      this.addrRefs.set(ip, n);
      return;
    }
    this.addrRefs.delete(ip);
    if (this.o.releaseAddress) {
      try {
        await this.o.releaseAddress(ip);
      } catch (err) {
        this.o.logger?.warn({ ip, err: err instanceof Error ? err.message : String(err) }, 'cannot release service address');
      }
    }
  }

  // ---- scheduling ----

  /** The endpoint for a new connection or flow: affinity first, then the scheduler. */
  private choose(st: ServiceState, traffic: Traffic, clientIP: string, destIP: string, skip: ReadonlySet<EndpointState> | undefined): EndpointState | undefined {
    if (this.services.get(st.info.key) !== st) return undefined;
    const pool = st.pools[traffic === 'external' && st.shortCircuit && this.fromInside(clientIP) ? 'short' : traffic];
    pool.picks++;
    const timeout = st.info.affinityTimeoutSeconds * 1000;
    if (timeout > 0) {
      const now = this.now();
      const a = pool.affinity.get(clientIP);
      if (a !== undefined && a.expires > now && !skip?.has(a.ep)) {
        a.expires = now + timeout;
        return a.ep;
      }
      const ep = pool.scheduler.pick({ clientIP, destIP }, skip);
      if (ep === undefined) pool.affinity.delete(clientIP);
      else {
        if (pool.affinity.size >= pool.sweepAt) this.sweepAffinity(pool, now);
        pool.affinity.set(clientIP, { ep, expires: now + timeout });
      }
      return ep;
    }
    return pool.scheduler.pick({ clientIP, destIP }, skip);
  }

  // Expired entries are dropped whenever the map doubles, so it stays bounded by about twice the
  // clients seen within one timeout at a constant cost per connection.
  private sweepAffinity(pool: Pool, now: number): void {
    for (const [client, a] of pool.affinity) if (a.expires <= now) pool.affinity.delete(client);
    pool.sweepAt = Math.max(AFFINITY_SWEEP_MIN, pool.affinity.size * 2);
  }

  // ---- TCP ----

  // Connect to an endpoint first and only then start reading the client: until the relay starts,
  // what the client sends waits in the kernel, so nothing is buffered here.
  private accept(st: ServiceState, traffic: Traffic, destIP: string, client: TcpHandle): void {
    // getpeername only when the choice depends on the client.
    const clientIP = st.needsClientIP ? peerAddress(client) : '';
    new Connection(this, st, traffic, clientIP, destIP, client).attempt(this.o.connectRetries);
  }

  /** @internal A connect attempt of `c` to `ep` (counted as active while it runs). */
  startConnect(c: Connection, ep: EndpointState): PendingConnect {
    ep.active++;
    ep.connectionsTotal++;
    const p = new PendingConnect(ep.ip, ep.port, (status) => {
      this.connecting.delete(p);
      c.connected(status, ep, p.handle);
    }, ep.ipv6);
    p.startTick = this.connecting.tick;
    this.connecting.add(p);
    return p;
  }

  /** @internal Timeouts handed to the native pump per connection. */
  get nativeTimeouts(): { connectMs: number; idleMs: number } {
    return { connectMs: this.o.connectTimeoutMs, idleMs: this.o.tcpIdleTimeoutMs };
  }

  /** @internal As accept(), for a socket the native pump accepted. */
  private acceptNative(native: NativeEngine, st: ServiceState, traffic: Traffic, destIP: string, fd: number): void {
    const clientIP = st.needsClientIP ? native.peerAddress(fd) : '';
    new NativeConnection(this, native, st, traffic, clientIP, destIP, fd).attempt(this.o.connectRetries);
  }

  /** @internal The next endpoint for a connection, or undefined (counted: no endpoint or give-up). */
  next(c: Pick<Connection, 'st' | 'traffic' | 'clientIP' | 'destIP'>, skip: ReadonlySet<EndpointState> | undefined): EndpointState | undefined {
    const ep = this.choose(c.st, c.traffic, c.clientIP, c.destIP, skip);
    if (ep === undefined) {
      if (skip === undefined) this.noEndpointTotal++;
      else this.connectGiveUpTotal++;
    }
    return ep;
  }

  /** @internal The endpoint accepted: relay, or drop when the Service went away meanwhile. */
  relay(c: Connection, ep: EndpointState, upstream: TcpHandle): void {
    if (this.services.get(c.st.info.key) !== c.st) {
      ep.active--;
      upstream.close();
      c.client.reset();
      return;
    }
    const relay = new TcpRelay(c.client, upstream, {
      onHalfClose: () => {
        ep.active--;
        ep.inactive++;
      },
      onClose: (r) => {
        if (r.isHalfClosed) ep.inactive--;
        else ep.active--;
        ep.closedBytesIn += r.bytesIn;
        ep.closedBytesOut += r.bytesOut;
        ep.tcp.delete(r);
        this.idle?.delete(r);
      },
    });
    ep.tcp.add(relay);
    if (this.idle) {
      relay.activeTick = this.idle.tick;
      this.idle.add(relay);
    }
  }

  /** @internal Every endpoint tried failed to connect. */
  gaveUp(): void {
    this.connectGiveUpTotal++;
  }

  /** @internal A connect failed: counted against the endpoint. */
  connectFailed(ep: EndpointState): void {
    ep.active--;
    ep.connectionsTotal--;
    ep.connectFailuresTotal++;
  }
}

/** One accepted client connection on its way to an endpoint: tries endpoints until one accepts. */
class Connection {
  private skip: Set<EndpointState> | undefined;
  private triesLeft = 0;

  constructor(
    private readonly proxier: UserspaceProxier,
    readonly st: ServiceState,
    readonly traffic: Traffic,
    readonly clientIP: string,
    readonly destIP: string,
    readonly client: TcpHandle,
  ) {}

  attempt(triesLeft: number): void {
    this.triesLeft = triesLeft;
    const ep = this.proxier.next(this, this.skip);
    // No endpoint (or every one failed): reset, so the client learns at once.
    if (ep === undefined) return void this.client.reset();
    this.proxier.startConnect(this, ep);
  }

  connected(status: number, ep: EndpointState, upstream: TcpHandle): void {
    if (status === 0) return this.proxier.relay(this, ep, upstream);
    this.proxier.connectFailed(ep);
    (this.skip ??= new Set()).add(ep);
    if (this.triesLeft > 0) return this.attempt(this.triesLeft - 1);
    this.proxier.gaveUp();
    this.client.reset();
  }
}

/**
 * One accepted client connection in the native pump: endpoints are chosen here (as Connection
 * does), connects and bytes happen in C. Counted against its endpoint from the first connect
 * attempt (in `ep.tcp`, so a Service removal resets it even while it connects).
 */
class NativeConnection implements OpenConnection, NativeConnectionEvents {
  private slot = -1;
  private ep: EndpointState | undefined;
  private skip: Set<EndpointState> | undefined;
  private triesLeft = 0;
  private halfClosed = false;
  private done = false;
  private finalIn = 0;
  private finalOut = 0;

  constructor(
    private readonly proxier: UserspaceProxier,
    private readonly native: NativeEngine,
    readonly st: ServiceState,
    readonly traffic: Traffic,
    readonly clientIP: string,
    readonly destIP: string,
    private readonly fd: number,
  ) {}

  attempt(triesLeft: number): void {
    this.triesLeft = triesLeft;
    const ep = this.proxier.next(this, this.skip);
    if (ep === undefined) {
      // No endpoint (or every one failed): reset, so the client learns at once.
      this.done = true;
      if (this.slot < 0) this.native.resetFd(this.fd);
      else this.native.destroy(this.slot, true);
      return;
    }
    this.ep = ep;
    ep.active++;
    ep.connectionsTotal++;
    ep.tcp.add(this);
    const t = this.proxier.nativeTimeouts;
    try {
      if (this.slot < 0) this.slot = this.native.connect(this, this.fd, ep.ip, ep.port, t);
      else this.native.retry(this.slot, ep.ip, ep.port, t);
    } catch {
      // No room for another connection in the pump (it reset the client): a give-up.
      ep.tcp.delete(this);
      ep.active--;
      ep.connectionsTotal--;
      this.proxier.gaveUp();
      this.done = true;
      if (this.slot >= 0) this.native.destroy(this.slot, true);
    }
  }

  onConnectFailed(): void {
    const ep = this.ep!;
    ep.tcp.delete(this);
    this.proxier.connectFailed(ep);
    (this.skip ??= new Set()).add(ep);
    if (this.triesLeft > 0) return this.attempt(this.triesLeft - 1);
    this.proxier.gaveUp();
    this.done = true;
    this.native.destroy(this.slot, true);
  }

  onHalfClose(): void {
    const ep = this.ep!;
    this.halfClosed = true;
    ep.active--;
    ep.inactive++;
  }

  onClosed(bytesIn: number, bytesOut: number): void {
    this.done = true;
    this.finalIn = bytesIn;
    this.finalOut = bytesOut;
    const ep = this.ep!;
    if (this.halfClosed) ep.inactive--;
    else ep.active--;
    ep.closedBytesIn += bytesIn;
    ep.closedBytesOut += bytesOut;
    ep.tcp.delete(this);
  }

  get bytesIn(): number {
    return this.done ? this.finalIn : this.native.bytes(this.slot).bytesIn;
  }

  get bytesOut(): number {
    return this.done ? this.finalOut : this.native.bytes(this.slot).bytesOut;
  }

  destroy(reset = false): void {
    if (this.done) return;
    const b = this.native.destroy(this.slot, reset);
    this.onClosed(b.bytesIn, b.bytesOut);
  }
}
