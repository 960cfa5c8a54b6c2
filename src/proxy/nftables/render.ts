// The nftables renderer: PURE (model, changed keys | 'full', node state, mirror) → a transaction
// (tx.ts: commands with their chains, rules, sets and elements as data, printable as `nft -f` text),
// plus the next mirror. No I/O; the applier hands the transaction to the kernel and keeps the
// returned mirror only when the kernel accepted it.
//
// Shape (see ../README.md): fixed base chains dispatch through verdict maps keyed
// `addr . proto . port` (cluster, external and load-balancer IPs) and `proto . port` (node ports,
// local destinations only) into one chain per service port. DNAT picks an endpoint with ONE rule
// that never changes while the Service has endpoints: `numgen random mod 65536 offset K` looked up
// in an interval data map `endpoints-<proto>-N` shared by ENDPOINT_MAP_SLOTS service ports (each owns
// a 65536-wide window K of it), so an endpoint change is element changes only: the kernel does not
// re-validate the table. Per-endpoint chains exist only for session affinity. Services without
// usable endpoints sit in `no-endpoint-*` maps consulted from filter hooks (reject or drop).
// Masquerade: mark bit set in nat chains, masqueraded in postrouting; hairpin found by
// `saddr . daddr` after DNAT.
import {
  categorizeEndpoints,
  externalEndpoints,
  internalEndpoints,
  usesClusterEndpoints,
  usesLocalEndpoints,
  type EndpointInfo,
  type ProxyModel,
  type ServicePortInfo,
  type NodeState,
} from '../model.js';
import { objectName, TABLE_NAME } from './names.js';
import type { Expr, FieldName, Rhs, Stmt } from './fake.js';
import { forEachRange, printRule, printTransaction, type ChainHook, type Elem, type NftCmd, type NftRule, type Range, type SetDef, type Transaction, type Window } from './tx.js';

export type { NodeState };


export type Family = 'ip' | 'ip6';
export type { Transaction };

export interface OwnedChain {
  readonly name: string;
  readonly rules: readonly NftRule[];
}

/** Per service port: the objects it owns and the elements it puts in shared sets and maps. */
export interface Contribution {
  /** Its chains and their rules, in order (an array: a Map per service port costs more than it saves). */
  readonly chains: readonly OwnedChain[];
  /** Dynamic set name → its definition (affinity). */
  readonly sets: ReadonlyMap<string, SetDef>;
  /** Its elements in sets and maps other service ports may share (the same objects go to the mirror and the transaction). */
  readonly elements: readonly SharedElem[];
  /**
   * This service port's windows in the endpoint maps (ranges `lo-hi : addr . port`). Nobody else
   * writes there, so they need no owner bookkeeping (half of the elements of a full sync).
   */
  readonly windows: readonly Window[];
}

/** The renderer's memory of what the kernel holds: explicit, passed in and returned. */
export interface NftMirror {
  readonly family: Family;
  /** Node state the ruleset was built for; a different one forces a full sync. */
  readonly nodeKey: string;
  readonly services: ReadonlyMap<string, Contribution>;
  /** Set → key → its owner service ports' elements. The lowest owner's value wins. */
  readonly elements: ReadonlyMap<string, ReadonlyMap<string, Owners>>;
  /** Endpoint-map windows: DNAT chain name → its protocol's slot (map `endpoints-<proto>-<slot / SLOTS>`, window `slot % SLOTS`). */
  readonly slots: ReadonlyMap<string, Slot>;
  /** Per protocol: slot allocation and how many endpoint maps exist. */
  readonly pools: ReadonlyMap<string, SlotPool>;
}

/** An element of a shared set or map, as one service port (`owner`) contributes it. Never changed once made. */
export interface SharedElem extends Elem {
  readonly set: string;
  readonly owner: string;
}

/** The owners of a shared element: one (the usual case: its element itself) or a Map of several. */
export type Owners = SharedElem | Map<string, SharedElem>;

type ElemIndex = Map<string, Map<string, Owners>>;

function addOwner(index: ElemIndex, e: SharedElem): void {
  let m = index.get(e.set);
  if (!m) index.set(e.set, (m = new Map()));
  const ow = m.get(e.key);
  if (!ow) m.set(e.key, e);
  else if (ow instanceof Map) ow.set(e.owner, e);
  else if (ow.owner === e.owner) m.set(e.key, e);
  else m.set(e.key, new Map([[ow.owner, ow], [e.owner, e]]));
}

function removeOwner(index: ElemIndex, set: string, key: string, owner: string): void {
  const m = index.get(set);
  const ow = m?.get(key);
  if (!ow) return;
  if (ow instanceof Map) {
    ow.delete(owner);
    if (ow.size === 0) m!.delete(key);
  } else if (ow.owner === owner) m!.delete(key);
}

/** The element the kernel holds: the lowest owner's. */
function effective(owners: Owners | undefined): SharedElem | undefined {
  if (!owners || !(owners instanceof Map)) return owners;
  let best: string | undefined;
  for (const k of owners.keys()) if (best === undefined || k < best) best = k;
  return best === undefined ? undefined : owners.get(best);
}

export interface Slot {
  readonly proto: string;
  readonly n: number;
}

export interface SlotPool {
  /** Slots below this were handed out at some time (in use or free). */
  next: number;
  /** Slots given back by deleted chains, reused lowest first. */
  free: number[];
  /** How many `endpoints-<proto>-N` maps exist (they go only with the table). */
  maps: number;
}

export interface RenderResult {
  kind: 'full' | 'partial';
  tx: Transaction;
  /** The transaction as `nft -f` text (printed on first use; '' when there is nothing to do). */
  readonly text: string;
  mirror: NftMirror;
  /** Service ports (of this family) re-rendered. */
  servicesRendered: number;
}

/** The masquerade mark bit (kube-proxy's 0x4000). */
export const MASQ_MARK = 0x4000;
/**
 * Session affinity only (per-endpoint chains): up to this many endpoints, random choice is a cascade
 * of `numgen random mod (N-i) 0` rules; above it, one rule with an anonymous `numgen` vmap.
 */
export const CASCADE_MAX = 32;
/**
 * Service ports sharing one `endpoints-<proto>-N` map. The kernel looks named sets up by name in a
 * list (one map per Service made a 10k full sync quadratic: 6.6 s of kernel time), and checks every
 * element added to a map against every rule bound to it (one map for all: 21 s). Kernel CPU of a
 * 10k x 10 full sync over netlink (kernel 6.18): 8 → 0.83–0.92 s, 16 → 0.71–0.74 s, 32 → 0.73 s,
 * 64 → 0.68–0.71 s.
 */
export const ENDPOINT_MAP_SLOTS = 32;
/** Each service port's window in its endpoint map: `numgen random mod WINDOW offset slot*WINDOW`. */
export const WINDOW = 65536;

interface Fam {
  name: Family;
  addrType: string;
  kw: Family;
  loopback: string;
  is(ip: string): boolean;
  /** Field expressions of this family, made once. */
  saddr: Expr;
  daddr: Expr;
}

const field = (name: FieldName, text: string): Expr => ({ k: 'field', name, text });
const L4PROTO = field('l4proto', 'meta l4proto');
const TH_DPORT = field('dport', 'th dport');
const MARK = field('mark', 'meta mark');
const CT_STATE = field('ct state', 'ct state');
const CT_STATUS = field('ct status', 'ct status');
const FIB_SADDR = field('fib saddr', 'fib saddr type');
const FIB_DADDR = field('fib daddr', 'fib daddr type');

const FAMILIES: Record<Family, Fam> = {
  ip: { name: 'ip', addrType: 'ipv4_addr', kw: 'ip', loopback: '127.0.0.0/8', is: (ip) => !ip.includes(':'), saddr: field('saddr', 'ip saddr'), daddr: field('daddr', 'ip daddr') },
  ip6: { name: 'ip6', addrType: 'ipv6_addr', kw: 'ip6', loopback: '::1', is: (ip) => ip.includes(':'), saddr: field('saddr', 'ip6 saddr'), daddr: field('daddr', 'ip6 daddr') },
};

// ---- statement builders ----

const concat = (...parts: Expr[]): Expr => ({ k: 'concat', parts });
const lit = (v: string): Rhs => ({ k: 'lit', v });
const ref = (name: string): Rhs => ({ k: 'setref', name });
const anon = (keys: readonly string[]): Rhs => ({ k: 'anon', items: keys.map((k) => ({ key: [k] })) });
const match = (e: Expr, rhs: Rhs, neg = false): Stmt => ({ k: 'match', e, neg, rhs });
const jump = (chain: string): Stmt => ({ k: 'verdict', v: { k: 'jump', chain } });
const goTo = (chain: string): Stmt => ({ k: 'verdict', v: { k: 'goto', chain } });
const DROP: Stmt = { k: 'verdict', v: { k: 'drop' } };
const rule = (stmts: Stmt[], comment?: string): NftRule => (comment !== undefined ? { stmts, comment } : { stmts });
const numgenExpr = (mod: number, offset?: number): Expr =>
  ({ k: 'numgen', mod, offset: offset ?? 0, text: `numgen random mod ${mod}${offset !== undefined ? ` offset ${offset}` : ''}` });

/** Which families a model needs tables for. */
export function familiesOf(model: ProxyModel): Family[] {
  let v6 = false;
  for (const sp of model.services.values()) if (sp.clusterIPs.some((ip) => ip.includes(':'))) v6 = true;
  return v6 ? ['ip', 'ip6'] : ['ip'];
}

export function emptyMirror(family: Family = 'ip'): NftMirror {
  return { family, nodeKey: '', services: new Map(), elements: new Map(), slots: new Map(), pools: new Map() };
}

export function endpointMapName(proto: string, slot: number): string {
  return `endpoints-${proto}-${Math.floor(slot / ENDPOINT_MAP_SLOTS)}`;
}

/**
 * The data type names the protocol (`tcp dport`, not `th dport`): nft refuses to add a rule that
 * matches `meta l4proto tcp` and looks up a kernel-held map typed `th dport` ("conflicting
 * protocols"), and `nft list` output would not load back.
 */
function endpointMapDef(f: Fam, proto: string): SetDef {
  return { typeof: true, key: `numgen random mod ${WINDOW}`, data: `${f.kw} daddr . ${proto} dport`, flags: ['interval'] };
}

/** `add map` commands for endpoint maps from..to-1 of a protocol. */
function addEndpointMaps(out: NftCmd[], f: Fam, proto: string, from: number, to: number): void {
  for (let i = from; i < to; i++) out.push({ k: 'set', op: 'add', name: endpointMapName(proto, i * ENDPOINT_MAP_SLOTS), def: endpointMapDef(f, proto) });
}

function nodeKeyOf(node: NodeState): string {
  return JSON.stringify([node.nodeName, node.zone ?? '', node.nodeIPs, node.nodePortAddresses, node.clusterCIDR, node.masqueradeAll, node.serviceCIDRs ?? []]);
}

function cidrFamily(f: Fam, cidrs: readonly string[]): string[] {
  return cidrs.filter((c) => f.is(c.split('/')[0] ?? ''));
}

/** A rule comment's text (printed in quotes): no quotes or backslashes, at most 120 characters. */
function commentText(s: string): string {
  if (s.length <= 120 && !/["\\]/.test(s)) return s;
  return s.replace(/["\\]/g, '_').slice(0, 120);
}

function fixedPart(f: Fam, node: NodeState): NftCmd[] {
  const key = `${f.addrType} . inet_proto . inet_service`;
  const out: NftCmd[] = [];
  const set = (name: string, def: SetDef) => out.push({ k: 'set', op: 'add', name, def });
  const chain = (name: string, hook?: ChainHook) => out.push(hook ? { k: 'chain', op: 'add', name, hook } : { k: 'chain', op: 'add', name });
  const add = (c: string, stmts: Stmt[], comment?: string) => out.push({ k: 'rule', chain: c, rule: rule(stmts, comment) });
  const { saddr, daddr } = f;

  set('service-ips', { key, data: 'verdict' });
  set('service-nodeports', { key: 'inet_proto . inet_service', data: 'verdict' });
  set('no-endpoint-services', { key, data: 'verdict' });
  set('no-endpoint-nodeports', { key: 'inet_proto . inet_service', data: 'verdict' });
  set('firewall-ips', { key, data: 'verdict' });
  set('cluster-ips', { key: f.addrType });
  set('hairpin', { key: `${f.addrType} . ${f.addrType}` });

  for (const c of ['services', 'endpoints-check', 'firewall-check', 'cluster-ips-check', 'reject-chain', 'mark-for-masquerade', 'masquerading']) chain(c);
  chain('filter-prerouting', { type: 'filter', hook: 'prerouting', priority: -110 });
  chain('filter-input', { type: 'filter', hook: 'input', priority: -110 });
  chain('filter-forward', { type: 'filter', hook: 'forward', priority: -110 });
  chain('filter-output', { type: 'filter', hook: 'output', priority: -110 });
  chain('filter-output-post-dnat', { type: 'filter', hook: 'output', priority: -90 });
  chain('nat-prerouting', { type: 'nat', hook: 'prerouting', priority: -100 });
  chain('nat-output', { type: 'nat', hook: 'output', priority: -100 });
  chain('nat-postrouting', { type: 'nat', hook: 'postrouting', priority: 100 });

  const npAddrs = cidrFamily(f, node.nodePortAddresses);
  const localDst = (): Stmt[] => [match(FIB_DADDR, lit('local')), npAddrs.length ? match(daddr, anon(npAddrs)) : match(daddr, lit(f.loopback), true)];
  const svcKey = concat(daddr, L4PROTO, TH_DPORT);
  const portKey = concat(L4PROTO, TH_DPORT);
  const vmap = (e: Expr, name: string): Stmt => ({ k: 'vmap', e, ref: name });
  // Masquerade for cluster-IP traffic from outside the cluster CIDR (all of it with masqueradeAll),
  // whatever the internal policy, as kube-proxy marks it in the internal chain: one rule here
  // instead of one per service chain (a tenth of a full sync's rules). Traffic to a cluster IP
  // without endpoints is marked too, and refused in the filter hooks.
  const podCIDR = node.clusterCIDR && f.is(node.clusterCIDR.split('/')[0] ?? '') ? node.clusterCIDR : '';
  if (node.masqueradeAll) add('services', [match(daddr, ref('cluster-ips')), jump('mark-for-masquerade')]);
  else if (podCIDR) add('services', [match(daddr, ref('cluster-ips')), match(saddr, lit(podCIDR), true), jump('mark-for-masquerade')]);
  add('services', [vmap(svcKey, 'service-ips')]);
  add('services', [...localDst(), vmap(portKey, 'service-nodeports')]);
  add('endpoints-check', [vmap(svcKey, 'no-endpoint-services')]);
  add('endpoints-check', [...localDst(), vmap(portKey, 'no-endpoint-nodeports')]);
  add('firewall-check', [vmap(svcKey, 'firewall-ips')]);
  add('cluster-ips-check', [match(daddr, ref('cluster-ips')), { k: 'reject', with: '' }], 'cluster IP, no such port');
  const svcCIDRs = cidrFamily(f, node.serviceCIDRs ?? []);
  if (svcCIDRs.length) add('cluster-ips-check', [match(daddr, anon(svcCIDRs)), DROP], 'unallocated service address');
  add('reject-chain', [match(L4PROTO, lit('tcp')), { k: 'reject', with: 'tcp reset' }]);
  add('reject-chain', [{ k: 'reject', with: '' }]);
  add('mark-for-masquerade', [{ k: 'markset', op: '|', value: MASQ_MARK }]);
  add('masquerading', [match(CT_STATUS, lit('dnat')), match(concat(saddr, daddr), ref('hairpin')), jump('mark-for-masquerade')], 'hairpin');
  add('masquerading', [match({ k: 'mask', e: MARK, mask: MASQ_MARK }, lit('0x00000000')), { k: 'verdict', v: { k: 'return' } }]);
  add('masquerading', [{ k: 'markset', op: '^', value: MASQ_MARK }]);
  add('masquerading', [{ k: 'masquerade', fullyRandom: true }]);

  const ctNew = match(CT_STATE, lit('new'));
  add('filter-prerouting', [ctNew, jump('firewall-check')]);
  add('filter-input', [ctNew, jump('endpoints-check')]);
  add('filter-forward', [ctNew, jump('endpoints-check')]);
  add('filter-forward', [ctNew, jump('cluster-ips-check')]);
  add('filter-output', [ctNew, jump('endpoints-check')]);
  add('filter-output', [ctNew, jump('firewall-check')]);
  add('filter-output-post-dnat', [ctNew, jump('cluster-ips-check')]);
  add('nat-prerouting', [jump('services')]);
  add('nat-output', [jump('services')]);
  add('nat-postrouting', [jump('masquerading')]);
  return out;
}

const NO_SETS: ReadonlyMap<string, SetDef> = new Map();

// Statements every service port's rule repeats, made once (render output is never mutated).
const PROTO_MATCH = new Map<string, Stmt>();
function protoMatchOf(proto: string): Stmt {
  let m = PROTO_MATCH.get(proto);
  if (!m) PROTO_MATCH.set(proto, (m = match(L4PROTO, lit(proto))));
  return m;
}
const WINDOW_EXPRS = Array.from({ length: ENDPOINT_MAP_SLOTS }, (_, i) => numgenExpr(WINDOW, i * WINDOW));
function windowExpr(base: number): Expr {
  return WINDOW_EXPRS[base / WINDOW] ?? numgenExpr(WINDOW, base);
}

/**
 * What one service port contributes to the table of family f. Pure; `slotOf` gives a DNAT chain its
 * window in the endpoint maps (the caller keeps the allocation).
 */
export function contributionOf(sp0: ServicePortInfo, f: Fam | Family, node: NodeState, slotOf: (chain: string, proto: string) => number): Contribution {
  const fam = typeof f === 'string' ? FAMILIES[f] : f;
  const chains: OwnedChain[] = [];
  // Only session affinity makes sets: the others share one empty map (a Map is ~100 bytes, 10k of them).
  const sets = sp0.affinityTimeoutSeconds > 0 ? new Map<string, SetDef>() : (NO_SETS as Map<string, SetDef>);
  const elements: SharedElem[] = [];
  const windows: Window[] = [];
  const clusterIPs = sp0.clusterIPs.filter(fam.is);
  if (clusterIPs.length === 0) return { chains, sets, elements, windows };
  const owner = sp0.key;
  const sp: ServicePortInfo = sp0.endpoints.every((ep) => fam.is(ep.ip)) ? sp0 : { ...sp0, endpoints: sp0.endpoints.filter((ep) => fam.is(ep.ip)) };
  const cat = categorizeEndpoints(sp, { nodeName: node.nodeName, zone: node.zone ?? '' });
  const proto = sp.protocol.toLowerCase();
  const svcName = `${sp.namespace}/${sp.name}${sp.portName ? ':' + sp.portName : ''}`;
  const comment = commentText(svcName);
  const el = (set: string, key: string, value?: string) => elements.push(value === undefined ? { set, key, owner } : { set, key, value, owner });
  const { saddr } = fam;
  const protoMatch = protoMatchOf(proto);

  const endpointChains = new Set<string>();
  const dnatRules = (chain: string, eps: EndpointInfo[]): NftRule[] => {
    const rules: NftRule[] = [];
    if (sp.affinityTimeoutSeconds > 0) {
      const names = eps.map((ep) => {
        const extra = `${ep.ip.replace(/:/g, '.')}/${ep.port}/${sp.affinityTimeoutSeconds}`;
        const chain = objectName('ep', sp, extra);
        const set = objectName('aff', sp, extra);
        if (!endpointChains.has(chain)) {
          endpointChains.add(chain);
          sets.set(set, { key: fam.addrType, flags: ['dynamic', 'timeout'], timeoutS: sp.affinityTimeoutSeconds });
          chains.push({ name: chain, rules: [
            rule([{ k: 'update', set, e: saddr }]),
            rule([protoMatch, { k: 'dnat', ip: ep.ip, port: ep.port }], comment),
          ] });
        }
        return { chain, set };
      });
      for (const n of names) rules.push(rule([match(saddr, ref(n.set)), goTo(n.chain)]));
      if (names.length <= CASCADE_MAX) {
        names.forEach((n, i) => rules.push(rule(i < names.length - 1 ? [match(numgenExpr(names.length - i), lit('0')), goTo(n.chain)] : [goTo(n.chain)])));
      } else rules.push(rule([{ k: 'vmap', e: numgenExpr(names.length), items: names.map((n, i) => ({ key: [String(i)], value: ['goto', n.chain] })) }]));
      return rules;
    }
    // The rule depends on the slot only: endpoint changes are element changes in the map.
    const slot = slotOf(chain, proto);
    const map = endpointMapName(proto, slot);
    const base = (slot % ENDPOINT_MAP_SLOTS) * WINDOW;
    windows.push({ map, base, size: WINDOW, eps });
    rules.push(rule([protoMatch, { k: 'dnatmap', fam: fam.kw, e: windowExpr(base), items: [], ref: map }], comment));
    return rules;
  };

  let svcChain = '';
  let svlChain = '';
  if (usesClusterEndpoints(sp) && cat.cluster.length) {
    svcChain = objectName('svc', sp);
    chains.push({ name: svcChain, rules: dnatRules(svcChain, cat.cluster) });
  }
  if (usesLocalEndpoints(sp) && cat.local.length) {
    svlChain = objectName('svl', sp);
    chains.push({ name: svlChain, rules: dnatRules(svlChain, cat.local) });
  }
  // Hairpin (a pod reaching itself through the Service) can only start here when the pod runs on
  // this node: other nodes' pods are DNATed by their own node. Endpoints of unknown node count as local.
  const reachable: string[] = [];
  const hairpin = (eps: readonly EndpointInfo[]) => {
    for (const ep of eps) if ((ep.nodeName === '' || ep.nodeName === node.nodeName) && !reachable.includes(ep.ip)) reachable.push(ep.ip);
  };
  hairpin(cat.cluster);
  hairpin(cat.local);
  for (const ip of reachable) el('hairpin', `${ip} . ${ip}`);

  // Internal traffic: the cluster IPs.
  const intEps = internalEndpoints(sp, cat);
  const intChain = sp.internalPolicyLocal ? svlChain : svcChain;
  const noEndpoints = cat.hasAny ? 'drop' : 'goto reject-chain';
  for (const ip of clusterIPs) {
    el('cluster-ips', ip);
    const key = `${ip} . ${proto} . ${sp.port}`;
    if (intEps.length && intChain) el('service-ips', key, `goto ${intChain}`);
    else el('no-endpoint-services', key, noEndpoints);
  }

  // External traffic: external IPs, load-balancer IPs, node port.
  if (sp.externallyAccessible) {
    const extIPs = [...new Set([...sp.externalIPs, ...sp.loadBalancerIPs].filter(fam.is))];
    let target = '';
    if (cat.hasAny) {
      const extChain = objectName('ext', sp);
      const rules: NftRule[] = [];
      const extEps = externalEndpoints(sp, cat);
      if (!sp.externalPolicyLocal) {
        rules.push(rule([jump('mark-for-masquerade')]), rule([goTo(svcChain)]));
      } else {
        if (svcChain) {
          if (node.clusterCIDR && fam.is(node.clusterCIDR.split('/')[0] ?? '')) rules.push(rule([match(saddr, lit(node.clusterCIDR)), goTo(svcChain)], 'pod to external address: cluster policy'));
          rules.push(rule([match(FIB_SADDR, lit('local')), jump('mark-for-masquerade')]), rule([match(FIB_SADDR, lit('local')), goTo(svcChain)], 'node to external address: cluster policy'));
        }
        if (extEps.length && svlChain) rules.push(rule([goTo(svlChain)]));
        else rules.push(rule([DROP], commentText(`${svcName} has no local endpoints`)));
      }
      chains.push({ name: extChain, rules });
      target = `goto ${extChain}`;
    }
    for (const ip of extIPs) {
      const key = `${ip} . ${proto} . ${sp.port}`;
      if (target) el('service-ips', key, target);
      else el('no-endpoint-services', key, 'goto reject-chain');
    }
    if (sp.nodePort > 0) {
      const key = `${proto} . ${sp.nodePort}`;
      if (target) el('service-nodeports', key, target);
      else el('no-endpoint-nodeports', key, 'goto reject-chain');
    }
    const lbIPs = sp.loadBalancerIPs.filter(fam.is);
    if (sp.loadBalancerSourceRanges.length && lbIPs.length) {
      const fw = objectName('fw', sp);
      const ranges = cidrFamily(fam, sp.loadBalancerSourceRanges.map((r) => r.trim()));
      chains.push({ name: fw, rules: [rule(ranges.length ? [match(saddr, anon(ranges), true), DROP] : [DROP], comment)] });
      for (const ip of lbIPs) el('firewall-ips', `${ip} . ${proto} . ${sp.port}`, `goto ${fw}`);
    }
  }
  return { chains, sets, elements, windows };
}

// ---- rendering ----

const consumed = new WeakSet<NftMirror>();

function pushTo<T>(m: Map<string, T[]>, k: string, v: T): void {
  const a = m.get(k);
  if (a) a.push(v);
  else m.set(k, [v]);
}

/** Element commands, one per set (sets by name): shared elements, ranges or whole windows. */
function elementCmds(out: NftCmd[], op: 'add' | 'delete', elems: Map<string, Elem[]>, ranges: Map<string, Range[]>, windows?: Map<string, Window[]>): void {
  const names = [...elems.keys(), ...ranges.keys(), ...(windows?.keys() ?? [])].sort();
  for (const set of names) {
    const e = elems.get(set);
    if (e) out.push({ k: 'elements', op, set, elems: e });
    const r = ranges.get(set);
    if (r) out.push({ k: 'elements', op, set, ranges: r });
    const w = windows?.get(set);
    if (w) out.push({ k: 'elements', op, set, windows: w });
  }
}

/** A rendered transaction; its text is printed only when asked for (the netlink path never asks). */
function result(kind: 'full' | 'partial', tx: Transaction, mirror: NftMirror, servicesRendered: number): RenderResult {
  let text: string | undefined;
  return {
    kind, tx, mirror, servicesRendered,
    get text() {
      return (text ??= printTransaction(tx));
    },
  };
}

/** A window's ranges as `lo-hi : addr . port` texts (partial syncs compare them). */
function rangeTexts(ws: readonly Window[], map: string): Map<string, Range> {
  const out = new Map<string, Range>();
  for (const w of ws) if (w.map === map) forEachRange(w, (lo, hi, ip, port) => out.set(`${lo}-${hi} : ${ip} . ${port}`, { lo, hi, ip, port }));
  return out;
}

function sameRules(a: readonly NftRule[], b: readonly NftRule[]): boolean {
  return a.length === b.length && a.every((r, i) => r === b[i] || printRule(r) === printRule(b[i]!));
}

/**
 * Renders a transaction. `changed === 'full'`, a missing mirror, a mirror of another family or
 * built for another node state give a full sync (the table is deleted and rebuilt in the same
 * transaction); otherwise only the changed service ports' chains and elements are touched.
 */
export function render(
  model: ProxyModel,
  changed: ReadonlySet<string> | Iterable<string> | 'full',
  node: NodeState,
  mirror?: NftMirror,
  family: Family = 'ip',
): RenderResult {
  const f = FAMILIES[family];
  const nodeKey = nodeKeyOf(node);
  const out: NftCmd[] = [];
  const tx: Transaction = { family, table: TABLE_NAME, cmds: out };

  if (changed === 'full' || !mirror || mirror.family !== family || mirror.nodeKey !== nodeKey) {
    const services = new Map<string, Contribution>();
    const elements: ElemIndex = new Map();
    const slots = new Map<string, Slot>();
    const pools = new Map<string, SlotPool>();
    const slotOf = (chain: string, proto: string) => {
      let s = slots.get(chain);
      if (s === undefined) {
        let pool = pools.get(proto);
        if (!pool) pools.set(proto, (pool = { next: 0, free: [], maps: 0 }));
        slots.set(chain, (s = { proto, n: pool.next++ }));
      }
      return s.n;
    };
    for (const [key, sp] of model.services) {
      const c = contributionOf(sp, f, node, slotOf);
      if (c.chains.length === 0 && c.elements.length === 0) continue;
      services.set(key, c);
      for (const e of c.elements) addOwner(elements, e);
    }
    out.push({ k: 'table', op: 'add' }, { k: 'table', op: 'delete' }, { k: 'table', op: 'add' });
    for (const c of fixedPart(f, node)) out.push(c);
    for (const [proto, pool] of [...pools].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      pool.maps = Math.ceil(pool.next / ENDPOINT_MAP_SLOTS);
      addEndpointMaps(out, f, proto, 0, pool.maps);
    }
    const ruleCmds: NftCmd[] = [];
    for (const c of services.values()) {
      for (const [name, def] of c.sets) out.push({ k: 'set', op: 'add', name, def });
      for (const { name, rules } of c.chains) {
        out.push({ k: 'chain', op: 'add', name });
        for (const r of rules) ruleCmds.push({ k: 'rule', chain: name, rule: r });
      }
    }
    for (const c of ruleCmds) out.push(c);
    const adds = new Map<string, Elem[]>();
    for (const [set, m] of elements) {
      const items: Elem[] = [];
      for (const owners of m.values()) items.push(effective(owners)!);
      adds.set(set, items);
    }
    const windows = new Map<string, Window[]>();
    for (const c of services.values()) for (const w of c.windows) pushTo(windows, w.map, w);
    elementCmds(out, 'add', adds, new Map(), windows);
    return result('full', tx, { family, nodeKey, services, elements, slots, pools }, services.size);
  }

  // Partial: diff the changed service ports against the mirror. The mirror is updated in place and
  // returned (copying 10k services per sync would cost more than the sync); the one passed in is
  // consumed and must not be rendered against again. If the transaction fails, drop it: the next
  // sync is a full one.
  if (consumed.has(mirror)) throw new Error('nftables mirror already consumed by a previous render');
  consumed.add(mirror);
  const services = mirror.services as Map<string, Contribution>;
  const elements = mirror.elements as ElemIndex;
  const slots = mirror.slots as Map<string, Slot>;
  const pools = mirror.pools as Map<string, SlotPool>;
  const freed: Slot[] = [];
  const slotOf = (chain: string, proto: string) => {
    let s = slots.get(chain);
    if (s === undefined) {
      let pool = pools.get(proto);
      if (!pool) pools.set(proto, (pool = { next: 0, free: [], maps: 0 }));
      slots.set(chain, (s = { proto, n: pool.free.length ? pool.free.shift()! : pool.next++ }));
    }
    return s.n;
  };
  /** `set\0key` → the element the kernel held before this sync (undefined: none). */
  const touchedElems = new Map<string, { set: string; key: string; before: SharedElem | undefined }>();
  const dels = new Map<string, Elem[]>();
  const adds = new Map<string, Elem[]>();
  const delRanges = new Map<string, Range[]>();
  const addRanges = new Map<string, Range[]>();
  const touch = (id: string, set: string, key: string) => {
    if (!touchedElems.has(id)) touchedElems.set(id, { set, key, before: effective(elements.get(set)?.get(key)) });
  };
  const addSets: NftCmd[] = [];
  const addChains: NftCmd[] = [];
  const flushChains: NftCmd[] = [];
  const ruleCmds: NftCmd[] = [];
  const delChains: NftCmd[] = [];
  const delSets: NftCmd[] = [];
  let rendered = 0;
  for (const key of new Set(changed)) {
    const old = mirror.services.get(key);
    const sp = model.services.get(key);
    const c = sp ? contributionOf(sp, f, node, slotOf) : undefined;
    const next = c && (c.chains.length || c.elements.length) ? c : undefined;
    const oldChains = new Map((old?.chains ?? []).map((ch) => [ch.name, ch.rules]));
    const newChains = new Map((next?.chains ?? []).map((ch) => [ch.name, ch.rules]));
    // contributionOf took slots for the chains it made; a chain gone (or never kept) gives its slot back.
    for (const name of [...oldChains.keys(), ...(c?.chains.map((ch) => ch.name) ?? [])]) {
      const s = slots.get(name);
      if (s !== undefined && !newChains.has(name)) {
        slots.delete(name);
        freed.push(s);
      }
    }
    if (!old && !next) continue;
    rendered++;
    for (const [name, rules] of newChains) {
      const prev = oldChains.get(name);
      if (!prev) {
        addChains.push({ k: 'chain', op: 'add', name });
      } else if (!sameRules(prev, rules)) {
        flushChains.push({ k: 'chain', op: 'flush', name });
      } else continue;
      for (const r of rules) ruleCmds.push({ k: 'rule', chain: name, rule: r });
    }
    for (const name of oldChains.keys()) {
      if (!newChains.has(name)) {
        flushChains.push({ k: 'chain', op: 'flush', name });
        delChains.push({ k: 'chain', op: 'delete', name });
      }
    }
    const oldSets = old?.sets ?? new Map<string, SetDef>();
    const newSets = next?.sets ?? new Map<string, SetDef>();
    for (const [name, def] of newSets) if (!oldSets.has(name)) addSets.push({ k: 'set', op: 'add', name, def });
    for (const name of oldSets.keys()) if (!newSets.has(name)) delSets.push({ k: 'set', op: 'delete', name, map: false });

    const oldEl = new Map((old?.elements ?? []).map((e) => [`${e.set}\0${e.key}`, e]));
    const newEl = new Map((next?.elements ?? []).map((e) => [`${e.set}\0${e.key}`, e]));
    for (const [id, e] of newEl) {
      if (oldEl.has(id) && oldEl.get(id)!.value === e.value) continue;
      touch(id, e.set, e.key);
      addOwner(elements, e);
    }
    for (const [id, e] of oldEl) {
      if (newEl.has(id)) continue;
      touch(id, e.set, e.key);
      removeOwner(elements, e.set, e.key, key);
    }
    // Windows: a redrawn range is deleted by its key and added with its value.
    const oldWin = old?.windows ?? [];
    const newWin = next?.windows ?? [];
    for (const map of new Set([...oldWin, ...newWin].map((w) => w.map))) {
      const before = rangeTexts(oldWin, map);
      const after = rangeTexts(newWin, map);
      for (const [t, r] of before) if (!after.has(t)) pushTo(delRanges, map, { lo: r.lo, hi: r.hi });
      for (const [t, r] of after) if (!before.has(t)) pushTo(addRanges, map, r);
    }
    if (next) services.set(key, next);
    else services.delete(key);
  }
  for (const { set, key, before } of touchedElems.values()) {
    const after = effective(elements.get(set)?.get(key));
    if (before === after || (before && after && before.value === after.value)) continue;
    if (before) pushTo(dels, set, { key });
    if (after) pushTo(adds, set, after);
  }
  // Freed slots become reusable from the next sync on (this one may still delete their elements).
  for (const s of freed) pools.get(s.proto)!.free.push(s.n);
  if (freed.length) for (const pool of pools.values()) pool.free.sort((a, b) => a - b);
  for (const [proto, pool] of pools) {
    const needed = Math.ceil(pool.next / ENDPOINT_MAP_SLOTS);
    if (needed > pool.maps) addEndpointMaps(addSets, f, proto, pool.maps, needed);
    pool.maps = Math.max(pool.maps, needed);
  }
  // Loops, not spreads: a 30k-Service sync has hundreds of thousands of commands (spread overflows the stack).
  for (const part of [addSets, addChains, flushChains, ruleCmds]) for (const c of part) out.push(c);
  elementCmds(out, 'delete', dels, delRanges);
  elementCmds(out, 'add', adds, addRanges);
  for (const part of [delChains, delSets]) for (const c of part) out.push(c);
  return result('partial', tx, { family, nodeKey, services, elements, slots, pools }, rendered);
}

/** A transaction that removes Portico's table of a family (succeeds whether or not it exists). */
export function cleanupTx(family: Family = 'ip'): Transaction {
  return { family, table: TABLE_NAME, cmds: [{ k: 'table', op: 'add' }, { k: 'table', op: 'delete' }] };
}

/** cleanupTx as `nft -f` text. */
export function renderCleanup(family: Family = 'ip'): string {
  return printTransaction(cleanupTx(family));
}
