// The IPVS renderer: PURE. From the proxy model to what kube-proxy's ipvs mode keeps in the kernel
// (see README.md): IPVS virtual servers with their real servers, the addresses on the dummy
// interface, ipset entries, and a small fixed iptables part that matches those sets. A sync sends
// only the difference: per changed Service port, the new contribution is compared with the old
// one (virtual servers by `proto addr:port`, addresses and set entries by reference count), and the
// virtual servers are compared with the kernel image (what was last programmed, read back with
// `ipvsadm -Sn` on a full sync) into `ipvsadm -R` lines. Removed real servers of TCP and SCTP
// services are drained (weight 0) rather than deleted; drain.ts decides when they go.
import {
  categorizeEndpoints,
  externalEndpoints,
  internalEndpoints,
  type EndpointInfo,
  type NodeState,
  type ProxyModel,
  type ServicePortInfo,
} from '../model.js';
import { CH, FIXED_CHAINS } from '../iptables/names.js';
import { MASQ_MARK, type Jump } from '../iptables/render.js';
import { cidrContains, parseCIDR } from '../../util/ip.js';

/** The IPVS schedulers kube-proxy's --ipvs-scheduler accepts (one kernel module each: ip_vs_NAME). */
export const IPVS_SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'mh'] as const;
export type IpvsScheduler = (typeof IPVS_SCHEDULERS)[number];

export type { NodeState };

export function isIpvsScheduler(s: string): s is IpvsScheduler {
  return (IPVS_SCHEDULERS as readonly string[]).includes(s);
}

/** The dummy interface holding every Service address (kube-proxy: kube-ipvs0). */
export const DUMMY_INTERFACE = 'portico-ipvs0';

/** The ipsets (at most 31 characters; a `-T` twin is used to swap in a full refill). */
export const SET = {
  /** cluster IP, proto:port. */
  CLUSTER_IP: 'PORTICO-CLUSTER-IP',
  /** external IP / LB IP / node IP:node port with externalTrafficPolicy Cluster: masqueraded. */
  EXTERNAL: 'PORTICO-EXTERNAL',
  /** the same with Local policy: only the node's own traffic is masqueraded. */
  EXTERNAL_LOCAL: 'PORTICO-EXTERNAL-LOCAL',
  /** endpoint IP, proto:port, endpoint IP: a pod reaching itself through its Service (hairpin). */
  LOOP_BACK: 'PORTICO-LOOP-BACK',
  /** Service address, proto:port of a Service without any endpoint: rejected. */
  NO_ENDPOINTS: 'PORTICO-NO-ENDPOINTS',
  /** cluster IP, proto:port with internalTrafficPolicy Local and no local endpoint: dropped. */
  DROP_INTERNAL: 'PORTICO-DROP-INTERNAL',
  /** external address, proto:port with externalTrafficPolicy Local and no local endpoint: dropped from outside the cluster. */
  DROP_EXTERNAL: 'PORTICO-DROP-EXTERNAL',
  /** LB IP, proto:port with loadBalancerSourceRanges. */
  LB_FW: 'PORTICO-LB-FW',
  /** LB IP, proto:port, allowed source CIDR. */
  LB_SRC: 'PORTICO-LB-SRC',
} as const;
export type SetName = (typeof SET)[keyof typeof SET];

export const SET_TYPES: Readonly<Record<SetName, string>> = {
  [SET.CLUSTER_IP]: 'hash:ip,port',
  [SET.EXTERNAL]: 'hash:ip,port',
  [SET.EXTERNAL_LOCAL]: 'hash:ip,port',
  [SET.LOOP_BACK]: 'hash:ip,port,ip',
  [SET.NO_ENDPOINTS]: 'hash:ip,port',
  [SET.DROP_INTERNAL]: 'hash:ip,port',
  [SET.DROP_EXTERNAL]: 'hash:ip,port',
  [SET.LB_FW]: 'hash:ip,port',
  [SET.LB_SRC]: 'hash:ip,port,net',
};
export const SET_NAMES = Object.keys(SET_TYPES) as SetName[];

/**
 * The IPv6 twin of a set: `PORTICO-6-…` (kube-proxy's `KUBE-6-…`), `family inet6`. A set holds one
 * family, so an IPv6 Service's addresses go to these and are matched by ip6tables.
 */
export function setFor(base: SetName, v6: boolean): string {
  return v6 ? `PORTICO-6-${base.slice('PORTICO-'.length)}` : base;
}

/** The sets of a family, in SET_NAMES order. */
export function familySets(v6: boolean): string[] {
  return SET_NAMES.map((s) => setFor(s, v6));
}

const BASE_OF = new Map<string, SetName>(SET_NAMES.flatMap((s) => [[s, s], [setFor(s, true), s]] as Array<[string, SetName]>));

/** `hash:ip,port family inet6` etc.: the type and family of an owned set. */
function setTypeOf(name: string): { type: string; v6: boolean } | undefined {
  const own = name.endsWith('-T') ? name.slice(0, -2) : name;
  const base = BASE_OF.get(own);
  return base ? { type: SET_TYPES[base], v6: own !== base } : undefined;
}

/** Every ipset name Portico creates (for cleanup). */
export function isOwnedSet(name: string): boolean {
  return BASE_OF.has(name.endsWith('-T') ? name.slice(0, -2) : name);
}

export type IpvsProto = 'tcp' | 'udp' | 'sctp';

/** A virtual server as it should be. Real servers: `ip:port` → weight. */
export interface VirtualServer {
  readonly proto: IpvsProto;
  readonly addr: string;
  readonly port: number;
  readonly scheduler: string;
  /** Persistence timeout in seconds (session affinity ClientIP); 0 = none. */
  readonly persistence: number;
  readonly reals: ReadonlyMap<string, number>;
}

/** What the kernel holds for one virtual server (what was programmed or read back). */
export interface KernelVS {
  scheduler: string;
  persistence: number;
  reals: Map<string, number>;
}

export type KernelImage = Map<string, KernelVS>;

/** `tcp 198.18.0.1:80` (IPv6: `tcp [fd00::1]:80`): the identity of a virtual server. */
export function vsKey(proto: IpvsProto, addr: string, port: number): string {
  return `${proto} ${hostPort(addr, port)}`;
}

export function hostPort(addr: string, port: number): string {
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/** What one Service port puts in the kernel. */
export interface Contribution {
  readonly vs: ReadonlyMap<string, VirtualServer>;
  /** Addresses on the dummy interface. */
  readonly addrs: readonly string[];
  /** `SET entry` lines, e.g. `PORTICO-CLUSTER-IP 198.18.0.1,tcp:80`. */
  readonly entries: readonly string[];
}

export interface IpvsOptions {
  /** --ipvs-scheduler. */
  scheduler: IpvsScheduler;
  /** A Service's own scheduler (the portico.dev/scheduler annotation), if valid. */
  schedulerFor?: (sp: ServicePortInfo) => IpvsScheduler | undefined;
  /** A Service's endpoint weights (portico.dev/weights: `ip` or `ip:port` → weight). */
  weightsFor?: (sp: ServicePortInfo) => ReadonlyMap<string, number> | undefined;
}

/** The renderer's memory of what the Service ports contributed: explicit, passed in and returned. */
export interface IpvsState {
  readonly nodeKey: string;
  readonly services: Map<string, Contribution>;
  /** Virtual servers wanted, by vsKey (last writer wins if two Services claim one). */
  readonly vs: Map<string, VirtualServer>;
  readonly addrRefs: Map<string, number>;
  readonly entryRefs: Map<string, number>;
}

export function emptyState(): IpvsState {
  return { nodeKey: '', services: new Map(), vs: new Map(), addrRefs: new Map(), entryRefs: new Map() };
}

const isV4 = (ip: string) => !ip.includes(':');

/** Whether a Service port has an IPv6 cluster IP (then the IPv6 sets and ip6tables rules are needed). */
export function hasIPv6(sp: ServicePortInfo): boolean {
  return sp.clusterIPs.some((ip) => !isV4(ip));
}

function nodeKeyOf(node: NodeState): string {
  return JSON.stringify([node.nodeName, node.zone ?? '', node.nodeIPs, node.nodePortAddresses, node.clusterCIDR, node.masqueradeAll]);
}

/** The node addresses that take node ports: the node IPs, narrowed to nodePortAddresses when set. */
export function nodePortAddresses(node: NodeState): string[] {
  const cidrs = node.nodePortAddresses.map((c) => parseCIDR(c.trim())).filter((c) => c !== null);
  const ips = node.nodeIPs;
  return cidrs.length ? ips.filter((ip) => cidrs.some((c) => cidrContains(c, ip))) : [...ips];
}

/**
 * `80` for TCP (ipset's default protocol), `udp:53` otherwise. Naming the protocol makes the
 * ipset tool call getprotobyname() per entry, which reads /etc/protocols each time: 110,000
 * file reads for 10,000 Services x 10 endpoints.
 */
export function protoPort(proto: IpvsProto, port: number): string {
  return proto === 'tcp' ? String(port) : `${proto}:${port}`;
}

function reals(eps: readonly EndpointInfo[], weights: ReadonlyMap<string, number> | undefined): Map<string, number> {
  const out = new Map<string, number>();
  for (const ep of eps) {
    const w = weights?.get(`${ep.ip}:${ep.port}`) ?? weights?.get(ep.ip) ?? 1;
    out.set(hostPort(ep.ip, ep.port), w);
  }
  return out;
}

/**
 * One Service port's virtual servers, dummy addresses and set entries, both families: a virtual
 * server on an IPv6 address gets the IPv6 endpoints, its entries go to the `PORTICO-6-` sets. Pure.
 */
export function contributionOf(sp: ServicePortInfo, node: NodeState, o: IpvsOptions): Contribution {
  const out = { vs: new Map<string, VirtualServer>(), addrs: new Set<string>(), entries: new Set<string>() };
  // Each family on its own, as kube-proxy runs one proxier per family: a family's proxier handles
  // a Service with a cluster IP of that family and sees only that family's endpoints.
  for (const v4 of [true, false]) {
    if (!sp.clusterIPs.some((ip) => isV4(ip) === v4)) continue;
    const same = (ip: string) => isV4(ip) === v4;
    const eps = sp.endpoints.filter((e) => same(e.ip));
    familyContribution(eps.length === sp.endpoints.length ? sp : { ...sp, endpoints: eps }, same, node, o, out);
  }
  return { vs: out.vs, addrs: [...out.addrs], entries: [...out.entries] };
}

function familyContribution(
  sp: ServicePortInfo, same: (ip: string) => boolean, node: NodeState, o: IpvsOptions,
  out: { vs: Map<string, VirtualServer>; addrs: Set<string>; entries: Set<string> },
): void {
  const { vs, addrs, entries } = out;
  const proto = sp.protocol.toLowerCase() as IpvsProto;
  const cat = categorizeEndpoints(sp, { nodeName: node.nodeName, zone: node.zone ?? '' });
  const scheduler = o.schedulerFor?.(sp) ?? o.scheduler;
  const weights = o.weightsFor?.(sp);
  // `SET ip,port` in the set of the address's family.
  const entry = (set: SetName, ip: string, port: number, tail = '') => `${setFor(set, !isV4(ip))} ${ip},${protoPort(proto, port)}${tail}`;
  const server = (addr: string, port: number, eps: readonly EndpointInfo[]) => {
    const r = reals(eps, weights);
    if (r.size === 0) return;
    vs.set(vsKey(proto, addr, port), { proto, addr, port, scheduler, persistence: sp.affinityTimeoutSeconds, reals: r });
    // One hairpin entry per endpoint (endpoint, port, endpoint), shared by every address of the Service.
    for (const ep of eps) entries.add(entry(SET.LOOP_BACK, ep.ip, ep.port, `,${ep.ip}`));
  };

  const internal = internalEndpoints(sp, cat);
  for (const ip of sp.clusterIPs.filter(same)) {
    addrs.add(ip);
    entries.add(entry(SET.CLUSTER_IP, ip, sp.port));
    if (internal.length) server(ip, sp.port, internal);
    else entries.add(entry(cat.hasAny ? SET.DROP_INTERNAL : SET.NO_ENDPOINTS, ip, sp.port));
  }

  if (sp.externallyAccessible) {
    const extIPs = [...new Set(sp.externalIPs.filter(same))];
    const lbIPs = [...new Set(sp.loadBalancerIPs.filter(same))];
    const targets: Array<[string, number]> = [...extIPs, ...lbIPs].map((ip) => [ip, sp.port]);
    if (sp.nodePort > 0) for (const ip of nodePortAddresses(node).filter(same)) targets.push([ip, sp.nodePort]);
    for (const ip of [...extIPs, ...lbIPs]) addrs.add(ip);
    if (!cat.hasAny) {
      for (const [ip, port] of targets) entries.add(entry(SET.NO_ENDPOINTS, ip, port));
    } else {
      // Local policy: outside clients reach only this node's endpoints (or are dropped here when
      // there are none); pods and the node itself, exempt from that drop, then reach every endpoint.
      const ext = externalEndpoints(sp, cat);
      const eps = sp.externalPolicyLocal && ext.length === 0 ? cat.cluster : ext;
      for (const [ip, port] of targets) {
        server(ip, port, eps);
        entries.add(entry(sp.externalPolicyLocal ? SET.EXTERNAL_LOCAL : SET.EXTERNAL, ip, port));
        if (sp.externalPolicyLocal && ext.length === 0) entries.add(entry(SET.DROP_EXTERNAL, ip, port));
      }
      // Only the ranges of this family; ranges of the other family only leave nobody allowed (as the iptables mode).
      const ranges = sp.loadBalancerSourceRanges.map((r) => r.trim()).filter((r) => r !== '');
      if (ranges.length) {
        for (const ip of lbIPs) {
          entries.add(entry(SET.LB_FW, ip, sp.port));
          for (const r of ranges.filter(same)) entries.add(entry(SET.LB_SRC, ip, sp.port, `,${r}`));
        }
      }
    }
  }
}

/** The difference a render asks for, beside the virtual servers it touched. */
export interface RenderResult {
  kind: 'full' | 'partial';
  state: IpvsState;
  /** Virtual servers to compare with the kernel image ('all' on a full render). */
  touched: Set<string> | 'all';
  addrAdd: string[];
  addrDel: string[];
  /** Set entries gained and lost (partial only; a full render refills every set). */
  entryAdd: string[];
  entryDel: string[];
  servicesRendered: number;
}

const consumed = new WeakSet<IpvsState>();

function addRef(m: Map<string, number>, k: string, gained: string[]): void {
  const n = m.get(k) ?? 0;
  m.set(k, n + 1);
  if (n === 0) gained.push(k);
}

function dropRef(m: Map<string, number>, k: string, lost: string[]): void {
  const n = m.get(k) ?? 0;
  if (n <= 1) {
    m.delete(k);
    if (n === 1) lost.push(k);
  } else m.set(k, n - 1);
}

/**
 * The desired state. `changed === 'full'`, no state or a state built for another node state give a
 * full render; otherwise only the changed Service ports are recomputed. A partial render updates
 * the state passed in and returns it (it is consumed: rendering against it again throws).
 */
export function render(model: ProxyModel, changed: Iterable<string> | 'full', node: NodeState, o: IpvsOptions, prev?: IpvsState): RenderResult {
  const nodeKey = nodeKeyOf(node);
  if (changed === 'full' || !prev || prev.nodeKey !== nodeKey) {
    const state: IpvsState = { ...emptyState(), nodeKey };
    const ignore: string[] = [];
    for (const [key, sp] of model.services) {
      const c = contributionOf(sp, node, o);
      state.services.set(key, c);
      for (const [k, v] of c.vs) state.vs.set(k, v);
      for (const a of c.addrs) addRef(state.addrRefs, a, ignore);
      for (const e of c.entries) addRef(state.entryRefs, e, ignore);
    }
    const addrAdd = [...state.addrRefs.keys()];
    const addrDel = prev ? [...prev.addrRefs.keys()].filter((a) => !state.addrRefs.has(a)) : [];
    return { kind: 'full', state, touched: 'all', addrAdd, addrDel, entryAdd: [], entryDel: [], servicesRendered: state.services.size };
  }
  if (consumed.has(prev)) throw new Error('IPVS state already consumed by a previous render');
  consumed.add(prev);
  const state = prev;
  const touched = new Set<string>();
  const addrAdd: string[] = [];
  const addrDel: string[] = [];
  const entryAdd: string[] = [];
  const entryDel: string[] = [];
  let rendered = 0;
  for (const key of new Set(changed)) {
    const old = state.services.get(key);
    const sp = model.services.get(key);
    const next = sp ? contributionOf(sp, node, o) : undefined;
    if (!old && !next) continue;
    rendered++;
    // Gains before losses, so an address or entry a Service keeps is never removed in between.
    for (const a of next?.addrs ?? []) addRef(state.addrRefs, a, addrAdd);
    for (const e of next?.entries ?? []) addRef(state.entryRefs, e, entryAdd);
    for (const a of old?.addrs ?? []) dropRef(state.addrRefs, a, addrDel);
    for (const e of old?.entries ?? []) dropRef(state.entryRefs, e, entryDel);
    for (const k of old?.vs.keys() ?? []) {
      if (!next?.vs.has(k)) state.vs.delete(k);
      touched.add(k);
    }
    for (const [k, v] of next?.vs ?? []) {
      state.vs.set(k, v);
      touched.add(k);
    }
    if (next) state.services.set(key, next);
    else state.services.delete(key);
  }
  // An address or entry both lost and regained in one batch nets to nothing.
  const net = (add: string[], del: string[]) => {
    const d = new Set(del);
    const a = add.filter((x) => !d.delete(x));
    return [a, [...d]] as [string[], string[]];
  };
  const [aa, ad] = net(addrAdd, addrDel);
  const [ea, ed] = net(entryAdd, entryDel);
  // A new state object over the same maps: the one passed in stays consumed.
  return { kind: 'partial', state: { ...state }, touched, addrAdd: aa, addrDel: ad, entryAdd: ea, entryDel: ed, servicesRendered: rendered };
}

// ---- ipvsadm ----

const PROTO_FLAG: Record<IpvsProto, string> = { tcp: '-t', udp: '-u', sctp: '--sctp-service' };

function vsSpec(key: string): string {
  const sp = key.indexOf(' ');
  return `${PROTO_FLAG[key.slice(0, sp) as IpvsProto]} ${key.slice(sp + 1)}`;
}

function protoOf(key: string): IpvsProto {
  return key.slice(0, key.indexOf(' ')) as IpvsProto;
}

/** Whether removed real servers of this protocol are drained (connection-oriented) or deleted at once. */
export function drains(proto: IpvsProto): boolean {
  return proto !== 'udp';
}

export interface IpvsDiff {
  /** `ipvsadm -R` lines. */
  lines: string[];
  /** Real servers newly set to weight 0 for draining: `vsKey|ip:port`. */
  draining: string[];
  /** Real servers no longer draining (deleted, or wanted again). */
  undrained: string[];
}

/**
 * The ipvsadm lines that take the kernel from `kernel` to `desired` for the given virtual servers
 * ('all': every one in either, but only kernel ones that `owned` accepts). Applies them to
 * `kernel` as it goes, so the image stays what the kernel will hold once the lines succeed.
 */
export function diffIpvs(desired: ReadonlyMap<string, VirtualServer>, kernel: KernelImage, touched: Iterable<string> | 'all', owned: (key: string) => boolean = () => true): IpvsDiff {
  const out: IpvsDiff = { lines: [], draining: [], undrained: [] };
  const keys = touched === 'all' ? new Set([...desired.keys(), ...[...kernel.keys()].filter(owned)]) : new Set(touched);
  for (const key of keys) {
    const d = desired.get(key);
    const k = kernel.get(key);
    const spec = vsSpec(key);
    const persist = (p: number) => (p > 0 ? ` -p ${p}` : '');
    if (!d) {
      if (!k) continue;
      out.lines.push(`-D ${spec}`);
      for (const r of k.reals.keys()) out.undrained.push(`${key}|${r}`);
      kernel.delete(key);
      continue;
    }
    if (!k) {
      out.lines.push(`-A ${spec} -s ${d.scheduler}${persist(d.persistence)}`);
      for (const [r, w] of d.reals) out.lines.push(`-a ${spec} -r ${r} -m -w ${w}`);
      kernel.set(key, { scheduler: d.scheduler, persistence: d.persistence, reals: new Map(d.reals) });
      continue;
    }
    if (k.scheduler !== d.scheduler || k.persistence !== d.persistence) {
      out.lines.push(`-E ${spec} -s ${d.scheduler}${persist(d.persistence)}`);
      k.scheduler = d.scheduler;
      k.persistence = d.persistence;
    }
    for (const [r, w] of d.reals) {
      const had = k.reals.get(r);
      if (had === undefined) out.lines.push(`-a ${spec} -r ${r} -m -w ${w}`);
      else if (had !== w) {
        out.lines.push(`-e ${spec} -r ${r} -m -w ${w}`);
        if (had === 0) out.undrained.push(`${key}|${r}`);
      }
      k.reals.set(r, w);
    }
    for (const [r, w] of k.reals) {
      if (d.reals.has(r)) continue;
      if (!drains(protoOf(key))) {
        out.lines.push(`-d ${spec} -r ${r}`);
        k.reals.delete(r);
      } else if (w !== 0) {
        out.lines.push(`-e ${spec} -r ${r} -m -w 0`);
        k.reals.set(r, 0);
        out.draining.push(`${key}|${r}`);
      }
    }
  }
  return out;
}

/** `-d` lines for drained real servers (`vsKey|ip:port`), removing them from the image. */
export function deleteReals(kernel: KernelImage, items: Iterable<string>): string[] {
  const lines: string[] = [];
  for (const item of items) {
    const bar = item.lastIndexOf('|');
    const key = item.slice(0, bar);
    const r = item.slice(bar + 1);
    const k = kernel.get(key);
    if (!k || k.reals.get(r) !== 0) continue;
    lines.push(`-d ${vsSpec(key)} -r ${r}`);
    k.reals.delete(r);
  }
  return lines;
}

/** Reads `ipvsadm -Sn` output into a kernel image. */
export function parseIpvsSave(text: string): KernelImage {
  const image: KernelImage = new Map();
  for (const raw of text.split('\n')) {
    const t = raw.trim().split(/\s+/);
    if (t.length < 3) continue;
    const op = t[0];
    const flag = t[1];
    const proto: IpvsProto | undefined = flag === '-t' ? 'tcp' : flag === '-u' ? 'udp' : flag === '--sctp-service' ? 'sctp' : undefined;
    if (!proto) continue; // fwmark services (-f) are not Portico's
    const key = `${proto} ${t[2]}`;
    const opt = (name: string) => {
      const i = t.indexOf(name);
      return i >= 0 ? t[i + 1] : undefined;
    };
    if (op === '-A') image.set(key, { scheduler: opt('-s') ?? 'wlc', persistence: Number(opt('-p') ?? 0), reals: new Map() });
    else if (op === '-a') {
      const r = opt('-r');
      if (r) image.get(key)?.reals.set(r, Number(opt('-w') ?? 1));
    }
  }
  return image;
}

/** Per real server connection counts from `ipvsadm -Ln` (`vsKey|ip:port` → active + inactive). */
export function parseIpvsList(text: string): Map<string, number> {
  const out = new Map<string, number>();
  let vs = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const m = /^(TCP|UDP|SCTP)\s+(\S+)/.exec(line);
    if (m) {
      vs = `${m[1]!.toLowerCase()} ${m[2]}`;
      continue;
    }
    const r = /^->\s+(\S+)\s+\S+\s+(\d+)\s+(\d+)\s+(\d+)/.exec(line);
    if (r && vs) out.set(`${vs}|${r[1]}`, Number(r[3]) + Number(r[4]));
  }
  return out;
}

// ---- ipset ----

/** Room for 10k Services x 10 endpoints and more (ipset's default maxelem, 65,536, is not). */
export const SET_MAXELEM = 1048576;

/** A hash size for n entries (a power of two, at least ipset's default 1,024): no resizing while a set fills. */
export function hashSizeFor(n: number): number {
  let h = 1024;
  while (h < n && h < SET_MAXELEM) h *= 2;
  return h;
}

/** What `ipset list -t` says about the sets that exist: name → number of entries. */
export function parseIpsetHeaders(text: string): Map<string, number> {
  const out = new Map<string, number>();
  let name = '';
  for (const line of text.split('\n')) {
    if (line.startsWith('Name: ')) {
      name = line.slice(6).trim();
      out.set(name, 0);
    } else if (line.startsWith('Number of entries: ') && name) out.set(name, Number(line.slice(19).trim()));
  }
  return out;
}

function bySet(entries: Iterable<string>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const e of entries) {
    const sp = e.indexOf(' ');
    const name = e.slice(0, sp);
    let l = out.get(name);
    if (!l) out.set(name, (l = []));
    l.push(e.slice(sp + 1));
  }
  return out;
}

export interface FullSetsInput {
  /** Every entry wanted (`SET entry`). */
  entryRefs: ReadonlyMap<string, number>;
  /** The owned sets that exist, with their number of entries (`ipset list -t`). */
  existing: ReadonlyMap<string, number>;
  /** What this agent last wrote, when it knows the kernel holds exactly that (no failure since). */
  known?: ReadonlyMap<string, number>;
  /** Whether the IPv6 sets are wanted (an IPv6 Service exists); existing ones are kept in step anyway. */
  v6: boolean;
}

/**
 * `ipset restore` text for a full sync. A set that does not exist is created with a hash size for
 * its entries and filled. A set whose content the agent knows (what it last wrote, and the kernel's
 * entry count agrees) gets only the difference, so an unchanged set costs nothing. Any other set
 * is refilled through a `-T` twin and `swap`, so it changes in one step.
 */
export function renderFullSets(r: FullSetsInput): string {
  const lines: string[] = [];
  const want = bySet(r.entryRefs.keys());
  const known = r.known ? bySet(r.known.keys()) : undefined;
  const create = (name: string, n: number) => {
    const t = setTypeOf(name)!;
    return `create ${name} ${t.type} family ${t.v6 ? 'inet6' : 'inet'} hashsize ${hashSizeFor(n)} maxelem ${SET_MAXELEM}`;
  };
  const names = [...familySets(false), ...familySets(true).filter((n) => r.v6 || r.existing.has(n) || want.has(n))];
  for (const s of names) {
    const w = want.get(s) ?? [];
    const had = r.existing.get(s);
    if (had === undefined) {
      lines.push(create(s, w.length));
      for (const e of w) lines.push(`add ${s} ${e}`);
      continue;
    }
    const k = known?.get(s) ?? (known ? [] : undefined);
    if (k && k.length === had) {
      const ws = new Set(w);
      const ks = new Set(k);
      for (const e of k) if (!ws.has(e)) lines.push(`del ${s} ${e} -exist`);
      for (const e of w) if (!ks.has(e)) lines.push(`add ${s} ${e} -exist`);
      continue;
    }
    // A leftover twin may have other parameters, and `create -exist` fails on any difference.
    if (r.existing.has(`${s}-T`)) lines.push(`destroy ${s}-T`);
    lines.push(create(`${s}-T`, w.length));
    for (const e of w) lines.push(`add ${s}-T ${e}`);
    lines.push(`swap ${s} ${s}-T`, `destroy ${s}-T`);
  }
  return lines.length ? lines.join('\n') + '\n' : '';
}

/** `ipset restore` text for a partial sync: deletes, then adds. */
export function renderPartialSets(add: readonly string[], del: readonly string[]): string {
  const lines = [...del.map((e) => `del ${e} -exist`), ...add.map((e) => `add ${e} -exist`)];
  return lines.length ? lines.join('\n') + '\n' : '';
}

// ---- dummy interface ----

/** `ip -batch -` lines for the dummy interface's addresses (IPv6 without duplicate address detection, so it is usable at once). */
export function renderAddrs(add: readonly string[], del: readonly string[]): string {
  const pfx = (a: string) => (isV4(a) ? `${a}/32` : `${a}/128`);
  const lines = [
    ...del.map((a) => `address del ${pfx(a)} dev ${DUMMY_INTERFACE}`),
    ...add.map((a) => `address add ${pfx(a)} dev ${DUMMY_INTERFACE}${isV4(a) ? '' : ' nodad'}`),
  ];
  return lines.length ? lines.join('\n') + '\n' : '';
}

// ---- iptables: the fixed part ----

/**
 * The fixed iptables rules of the IPVS mode (for `iptables-restore --noflush`): every Portico fixed
 * chain is declared (flushed), the ones this mode uses are filled, and `installJumps` (missing
 * jumps from built-in chains, as the iptables mode computes them) are inserted. The rules only
 * match the sets, so they change only with the node state.
 */
export function renderIptables(node: NodeState, installJumps: readonly Jump[] = [], family: 'ip' | 'ip6' = 'ip'): string {
  const v6 = family === 'ip6';
  const pods = node.clusterCIDR && isV4(node.clusterCIDR) !== v6 ? node.clusterCIDR : '';
  const S = Object.fromEntries(Object.entries(SET).map(([k, v]) => [k, setFor(v, v6)])) as Record<keyof typeof SET, string>;
  const m = (set: string, dirs = 'dst,dst') => `-m set --match-set ${set} ${dirs}`;
  const nat: string[] = [];
  if (node.masqueradeAll) nat.push(`-A ${CH.SERVICES} ${m(S.CLUSTER_IP)} -j ${CH.MARK_MASQ}`);
  else if (pods) nat.push(`-A ${CH.SERVICES} ! -s ${pods} ${m(S.CLUSTER_IP)} -j ${CH.MARK_MASQ}`);
  nat.push(
    `-A ${CH.SERVICES} ${m(S.EXTERNAL)} -j ${CH.MARK_MASQ}`,
    `-A ${CH.SERVICES} ${m(S.EXTERNAL_LOCAL)} -m addrtype --src-type LOCAL -j ${CH.MARK_MASQ}`,
    `-A ${CH.MARK_MASQ} -j MARK --or-mark ${MASQ_MARK}`,
    `-A ${CH.POSTROUTING} ${m(S.LOOP_BACK, 'dst,dst,src')} -j MASQUERADE`,
    `-A ${CH.POSTROUTING} -m mark ! --mark ${MASQ_MARK}/${MASQ_MARK} -j RETURN`,
    `-A ${CH.POSTROUTING} -j MARK --xor-mark ${MASQ_MARK}`,
    `-A ${CH.POSTROUTING} -j MASQUERADE --random-fully`,
  );
  const fw = CH.FIREWALL;
  const filter = [
    // No endpoints: TCP gets a reset (ICMP errors are rate-limited per host, see the iptables README).
    `-A ${fw} -p tcp ${m(S.NO_ENDPOINTS)} -j REJECT --reject-with tcp-reset`,
    `-A ${fw} ${m(S.NO_ENDPOINTS)} -j REJECT`,
    `-A ${fw} ${m(S.DROP_INTERNAL)} -j DROP`,
    `-A ${fw} ${pods ? `! -s ${pods} ` : ''}${m(S.DROP_EXTERNAL)} -m addrtype ! --src-type LOCAL -j DROP`,
    `-A ${fw} ${m(S.LB_FW)} -m set ! --match-set ${S.LB_SRC} dst,dst,src -j DROP`,
  ];
  let out = '';
  for (const [t, rules] of [['nat', nat], ['filter', filter]] as const) {
    const lines = FIXED_CHAINS[t].map((ch) => `:${ch} - [0:0]`);
    lines.push(...rules);
    for (const jp of [...installJumps].reverse()) if (jp.table === t) lines.push(`-I ${jp.chain} 1 ${jp.spec}`);
    out += `*${t}\n${lines.join('\n')}\nCOMMIT\n`;
  }
  return out;
}
