// The nftables renderer: PURE (model, changed keys | 'full', node state, mirror) → transaction text
// for `nft -f -`, plus the next mirror. No I/O; the applier runs the text and keeps the returned
// mirror only when the kernel accepted it.
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

export type { NodeState };


export type Family = 'ip' | 'ip6';

/** Per service port: the objects it owns and the elements it puts in shared sets and maps. */
export interface Contribution {
  /** Chain name → rules, in order. */
  readonly chains: ReadonlyMap<string, readonly string[]>;
  /** Dynamic set name → its definition body (affinity). */
  readonly sets: ReadonlyMap<string, string>;
  /** `set\0key` → value ('' for sets), in sets and maps other service ports may share. */
  readonly elements: ReadonlyMap<string, string>;
  /**
   * Endpoint map → its elements `lo-hi : addr . port` in this service port's windows. Nobody else
   * writes there, so they need no owner bookkeeping (a third of the elements of a full sync).
   */
  readonly windows: ReadonlyMap<string, readonly string[]>;
}

/** The renderer's memory of what the kernel holds: explicit, passed in and returned. */
export interface NftMirror {
  readonly family: Family;
  /** Node state the ruleset was built for; a different one forces a full sync. */
  readonly nodeKey: string;
  readonly services: ReadonlyMap<string, Contribution>;
  /** `set\0key` → its owner service ports and their values. The lowest owner's value wins. */
  readonly elements: ReadonlyMap<string, Owners>;
  /** Endpoint-map windows: DNAT chain name → its protocol's slot (map `endpoints-<proto>-<slot / SLOTS>`, window `slot % SLOTS`). */
  readonly slots: ReadonlyMap<string, Slot>;
  /** Per protocol: slot allocation and how many endpoint maps exist. */
  readonly pools: ReadonlyMap<string, SlotPool>;
}

/** The owners of a shared element: one (the usual case, kept small) or a Map of several. */
export type Owners = { o: string; v: string } | Map<string, string>;

function addOwner(elements: Map<string, Owners>, id: string, owner: string, v: string): void {
  const ow = elements.get(id);
  if (!ow) elements.set(id, { o: owner, v });
  else if (ow instanceof Map) ow.set(owner, v);
  else if (ow.o === owner) ow.v = v;
  else elements.set(id, new Map([[ow.o, ow.v], [owner, v]]));
}

function removeOwner(elements: Map<string, Owners>, id: string, owner: string): void {
  const ow = elements.get(id);
  if (!ow) return;
  if (ow instanceof Map) {
    ow.delete(owner);
    if (ow.size === 0) elements.delete(id);
  } else if (ow.o === owner) elements.delete(id);
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
  text: string;
  mirror: NftMirror;
  /** Service ports (of this family) re-rendered. */
  servicesRendered: number;
}

export const MASQ_MARK = '0x00004000';
const ELEMENT_CHUNK = 1000;
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
  kw: string;
  loopback: string;
  is(ip: string): boolean;
}

const FAMILIES: Record<Family, Fam> = {
  ip: { name: 'ip', addrType: 'ipv4_addr', kw: 'ip', loopback: '127.0.0.0/8', is: (ip) => !ip.includes(':') },
  ip6: { name: 'ip6', addrType: 'ipv6_addr', kw: 'ip6', loopback: '::1', is: (ip) => ip.includes(':') },
};

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
function endpointMapDef(f: Fam, proto: string): string {
  return `typeof numgen random mod ${WINDOW} : ${f.kw} daddr . ${proto} dport ; flags interval ;`;
}

/** `add map` lines for endpoint maps from..to-1 of a protocol. */
function addEndpointMaps(out: string[], t: string, f: Fam, proto: string, from: number, to: number): void {
  for (let i = from; i < to; i++) out.push(`add map ${t} ${endpointMapName(proto, i * ENDPOINT_MAP_SLOTS)} { ${endpointMapDef(f, proto)} }`);
}

/** Endpoint i of n gets the i-th of n near-equal parts of its window: `lo-hi : addr . port`. */
function endpointRanges(proto: string, slot: number, eps: readonly EndpointInfo[], windows: Map<string, string[]>): void {
  const map = endpointMapName(proto, slot);
  let items = windows.get(map);
  if (!items) windows.set(map, (items = []));
  const base = (slot % ENDPOINT_MAP_SLOTS) * WINDOW;
  const n = eps.length;
  for (let i = 0; i < n; i++) {
    const ep = eps[i]!;
    const lo = base + Math.floor((i * WINDOW) / n);
    const hi = base + Math.floor(((i + 1) * WINDOW) / n) - 1;
    items.push(`${lo}-${hi} : ${ep.ip} . ${ep.port}`);
  }
}

function nodeKeyOf(node: NodeState): string {
  return JSON.stringify([node.nodeName, node.zone ?? '', node.nodeIPs, node.nodePortAddresses, node.clusterCIDR, node.masqueradeAll, node.serviceCIDRs ?? []]);
}

function cidrFamily(f: Fam, cidrs: readonly string[]): string[] {
  return cidrs.filter((c) => f.is(c.split('/')[0] ?? ''));
}

function anonSet(items: readonly string[]): string {
  return `{ ${items.join(', ')} }`;
}

function quote(s: string): string {
  return `"${s.replace(/["\\]/g, '_').slice(0, 120)}"`;
}

function fixedPart(f: Fam, node: NodeState): string[] {
  const t = `${f.name} ${TABLE_NAME}`;
  const key = `${f.addrType} . inet_proto . inet_service`;
  const out: string[] = [];
  const chain = (name: string, base?: string) => out.push(base ? `add chain ${t} ${name} { ${base} ; policy accept ; }` : `add chain ${t} ${name}`);
  const rule = (c: string, r: string) => out.push(`add rule ${t} ${c} ${r}`);

  out.push(`add map ${t} service-ips { type ${key} : verdict ; }`);
  out.push(`add map ${t} service-nodeports { type inet_proto . inet_service : verdict ; }`);
  out.push(`add map ${t} no-endpoint-services { type ${key} : verdict ; }`);
  out.push(`add map ${t} no-endpoint-nodeports { type inet_proto . inet_service : verdict ; }`);
  out.push(`add map ${t} firewall-ips { type ${key} : verdict ; }`);
  out.push(`add set ${t} cluster-ips { type ${f.addrType} ; }`);
  out.push(`add set ${t} hairpin { type ${f.addrType} . ${f.addrType} ; }`);

  for (const c of ['services', 'endpoints-check', 'firewall-check', 'cluster-ips-check', 'reject-chain', 'mark-for-masquerade', 'masquerading']) chain(c);
  chain('filter-prerouting', 'type filter hook prerouting priority -110');
  chain('filter-input', 'type filter hook input priority -110');
  chain('filter-forward', 'type filter hook forward priority -110');
  chain('filter-output', 'type filter hook output priority -110');
  chain('filter-output-post-dnat', 'type filter hook output priority -90');
  chain('nat-prerouting', 'type nat hook prerouting priority -100');
  chain('nat-output', 'type nat hook output priority -100');
  chain('nat-postrouting', 'type nat hook postrouting priority 100');

  const npAddrs = cidrFamily(f, node.nodePortAddresses);
  const localDst = npAddrs.length
    ? `fib daddr type local ${f.kw} daddr ${anonSet(npAddrs)}`
    : `fib daddr type local ${f.kw} daddr != ${f.loopback}`;
  // Masquerade for cluster-IP traffic from outside the cluster CIDR (all of it with masqueradeAll),
  // whatever the internal policy, as kube-proxy marks it in the internal chain: one rule here
  // instead of one per service chain (a tenth of a full sync's rules). Traffic to a cluster IP
  // without endpoints is marked too, and refused in the filter hooks.
  const podCIDR = node.clusterCIDR && f.is(node.clusterCIDR.split('/')[0] ?? '') ? node.clusterCIDR : '';
  if (node.masqueradeAll) rule('services', `${f.kw} daddr @cluster-ips jump mark-for-masquerade`);
  else if (podCIDR) rule('services', `${f.kw} daddr @cluster-ips ${f.kw} saddr != ${podCIDR} jump mark-for-masquerade`);
  rule('services', `${f.kw} daddr . meta l4proto . th dport vmap @service-ips`);
  rule('services', `${localDst} meta l4proto . th dport vmap @service-nodeports`);
  rule('endpoints-check', `${f.kw} daddr . meta l4proto . th dport vmap @no-endpoint-services`);
  rule('endpoints-check', `${localDst} meta l4proto . th dport vmap @no-endpoint-nodeports`);
  rule('firewall-check', `${f.kw} daddr . meta l4proto . th dport vmap @firewall-ips`);
  rule('cluster-ips-check', `${f.kw} daddr @cluster-ips reject comment "cluster IP, no such port"`);
  const svcCIDRs = cidrFamily(f, node.serviceCIDRs ?? []);
  if (svcCIDRs.length) rule('cluster-ips-check', `${f.kw} daddr ${anonSet(svcCIDRs)} drop comment "unallocated service address"`);
  rule('reject-chain', 'meta l4proto tcp reject with tcp reset');
  rule('reject-chain', 'reject');
  rule('mark-for-masquerade', `meta mark set meta mark | ${MASQ_MARK}`);
  rule('masquerading', `ct status dnat ${f.kw} saddr . ${f.kw} daddr @hairpin jump mark-for-masquerade comment "hairpin"`);
  rule('masquerading', `meta mark & ${MASQ_MARK} == 0x00000000 return`);
  rule('masquerading', `meta mark set meta mark ^ ${MASQ_MARK}`);
  rule('masquerading', 'masquerade fully-random');

  rule('filter-prerouting', 'ct state new jump firewall-check');
  rule('filter-input', 'ct state new jump endpoints-check');
  rule('filter-forward', 'ct state new jump endpoints-check');
  rule('filter-forward', 'ct state new jump cluster-ips-check');
  rule('filter-output', 'ct state new jump endpoints-check');
  rule('filter-output', 'ct state new jump firewall-check');
  rule('filter-output-post-dnat', 'ct state new jump cluster-ips-check');
  rule('nat-prerouting', 'jump services');
  rule('nat-output', 'jump services');
  rule('nat-postrouting', 'jump masquerading');
  return out;
}

function addrPort(f: Fam, ep: EndpointInfo): string {
  return f.name === 'ip6' ? `[${ep.ip}]:${ep.port}` : `${ep.ip}:${ep.port}`;
}

/**
 * What one service port contributes to the table of family f. Pure; `slotOf` gives a DNAT chain its
 * window in the endpoint maps (the caller keeps the allocation).
 */
export function contributionOf(sp0: ServicePortInfo, f: Fam | Family, node: NodeState, slotOf: (chain: string, proto: string) => number): Contribution {
  const fam = typeof f === 'string' ? FAMILIES[f] : f;
  const chains = new Map<string, string[]>();
  const sets = new Map<string, string>();
  const elements = new Map<string, string>();
  const windows = new Map<string, string[]>();
  const clusterIPs = sp0.clusterIPs.filter(fam.is);
  if (clusterIPs.length === 0) return { chains, sets, elements, windows };
  const sp: ServicePortInfo = { ...sp0, endpoints: sp0.endpoints.filter((ep) => fam.is(ep.ip)) };
  const cat = categorizeEndpoints(sp, { nodeName: node.nodeName, zone: node.zone ?? '' });
  const proto = sp.protocol.toLowerCase();
  const comment = quote(`${sp.namespace}/${sp.name}${sp.portName ? ':' + sp.portName : ''}`);
  const el = (set: string, key: string, value = '') => elements.set(`${set}\0${key}`, value);
  const kw = fam.kw;

  const endpointChains = new Map<string, string>();
  const dnatRules = (chain: string, eps: EndpointInfo[]): string[] => {
    const rules: string[] = [];
    if (sp.affinityTimeoutSeconds > 0) {
      const names = eps.map((ep) => {
        const extra = `${ep.ip.replace(/:/g, '.')}/${ep.port}/${sp.affinityTimeoutSeconds}`;
        const chain = objectName('ep', sp, extra);
        const set = objectName('aff', sp, extra);
        if (!endpointChains.has(chain)) {
          endpointChains.set(chain, set);
          sets.set(set, `type ${fam.addrType} ; flags dynamic,timeout ; timeout ${sp.affinityTimeoutSeconds}s ;`);
          chains.set(chain, [
            `update @${set} { ${kw} saddr }`,
            `meta l4proto ${proto} dnat to ${addrPort(fam, ep)} comment ${comment}`,
          ]);
        }
        return { chain, set };
      });
      for (const n of names) rules.push(`${kw} saddr @${n.set} goto ${n.chain}`);
      if (names.length <= CASCADE_MAX) {
        names.forEach((n, i) => rules.push(i < names.length - 1 ? `numgen random mod ${names.length - i} 0 goto ${n.chain}` : `goto ${n.chain}`));
      } else rules.push(`numgen random mod ${names.length} vmap ${anonSet(names.map((n, i) => `${i} : goto ${n.chain}`))}`);
      return rules;
    }
    // The rule depends on the slot only: endpoint changes are element changes in the map.
    const slot = slotOf(chain, proto);
    endpointRanges(proto, slot, eps, windows);
    rules.push(`meta l4proto ${proto} dnat ${kw} to numgen random mod ${WINDOW} offset ${(slot % ENDPOINT_MAP_SLOTS) * WINDOW} map @${endpointMapName(proto, slot)} comment ${comment}`);
    return rules;
  };

  let svcChain = '';
  let svlChain = '';
  if (usesClusterEndpoints(sp) && cat.cluster.length) {
    svcChain = objectName('svc', sp);
    chains.set(svcChain, dnatRules(svcChain, cat.cluster));
  }
  if (usesLocalEndpoints(sp) && cat.local.length) {
    svlChain = objectName('svl', sp);
    chains.set(svlChain, dnatRules(svlChain, cat.local));
  }
  // Hairpin (a pod reaching itself through the Service) can only start here when the pod runs on
  // this node: other nodes' pods are DNATed by their own node. Endpoints of unknown node count as local.
  const reachable = new Set<string>();
  for (const eps of [cat.cluster, cat.local]) for (const ep of eps) if (ep.nodeName === '' || ep.nodeName === node.nodeName) reachable.add(ep.ip);
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
      const rules: string[] = [];
      const extEps = externalEndpoints(sp, cat);
      if (!sp.externalPolicyLocal) {
        rules.push('jump mark-for-masquerade', `goto ${svcChain}`);
      } else {
        if (svcChain) {
          if (node.clusterCIDR && fam.is(node.clusterCIDR.split('/')[0] ?? '')) rules.push(`${kw} saddr ${node.clusterCIDR} goto ${svcChain} comment "pod to external address: cluster policy"`);
          rules.push('fib saddr type local jump mark-for-masquerade', `fib saddr type local goto ${svcChain} comment "node to external address: cluster policy"`);
        }
        if (extEps.length && svlChain) rules.push(`goto ${svlChain}`);
        else rules.push(`drop comment ${quote(`${sp.namespace}/${sp.name}${sp.portName ? ':' + sp.portName : ''} has no local endpoints`)}`);
      }
      chains.set(extChain, rules);
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
      chains.set(fw, [ranges.length ? `${kw} saddr != ${anonSet(ranges)} drop comment ${comment}` : `drop comment ${comment}`]);
      for (const ip of lbIPs) el('firewall-ips', `${ip} . ${proto} . ${sp.port}`, `goto ${fw}`);
    }
  }
  return { chains, sets, elements, windows };
}

// ---- element bookkeeping (shared sets and maps with several owners) ----

const consumed = new WeakSet<NftMirror>();

function effective(owners: Owners | undefined): string | undefined {
  if (!owners) return undefined;
  if (!(owners instanceof Map)) return owners.v;
  if (owners.size === 0) return undefined;
  let best: string | undefined;
  for (const k of owners.keys()) if (best === undefined || k < best) best = k;
  return owners.get(best!);
}

function splitElem(id: string): [string, string] {
  const i = id.indexOf('\0');
  return [id.slice(0, i), id.slice(i + 1)];
}

function elemText(key: string, value: string): string {
  return value === '' ? key : `${key} : ${value}`;
}

function emitElements(out: string[], verb: 'add' | 'delete', t: string, bySet: Map<string, string[]>): void {
  for (const set of [...bySet.keys()].sort()) {
    const items = bySet.get(set)!;
    for (let i = 0; i < items.length; i += ELEMENT_CHUNK) {
      out.push(`${verb} element ${t} ${set} { ${items.slice(i, i + ELEMENT_CHUNK).join(', ')} }`);
    }
  }
}

function pushTo(m: Map<string, string[]>, k: string, v: string): void {
  const a = m.get(k);
  if (a) a.push(v);
  else m.set(k, [v]);
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
  const t = `${f.name} ${TABLE_NAME}`;
  const nodeKey = nodeKeyOf(node);
  const out: string[] = [];

  if (changed === 'full' || !mirror || mirror.family !== family || mirror.nodeKey !== nodeKey) {
    const services = new Map<string, Contribution>();
    const elements = new Map<string, Owners>();
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
      if (c.chains.size === 0 && c.elements.size === 0) continue;
      services.set(key, c);
      for (const [id, v] of c.elements) addOwner(elements, id, key, v);
    }
    out.push(`add table ${t}`, `delete table ${t}`, `add table ${t}`);
    out.push(...fixedPart(f, node));
    for (const [proto, pool] of [...pools].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      pool.maps = Math.ceil(pool.next / ENDPOINT_MAP_SLOTS);
      addEndpointMaps(out, t, f, proto, 0, pool.maps);
    }
    const ruleLines: string[] = [];
    for (const c of services.values()) {
      for (const [name, def] of c.sets) out.push(`add set ${t} ${name} { ${def} }`);
      for (const [name, rules] of c.chains) {
        out.push(`add chain ${t} ${name}`);
        for (const r of rules) ruleLines.push(`add rule ${t} ${name} ${r}`);
      }
    }
    for (const l of ruleLines) out.push(l);
    const adds = new Map<string, string[]>();
    for (const [id, owners] of elements) {
      const [set, key] = splitElem(id);
      pushTo(adds, set, elemText(key, effective(owners)!));
    }
    for (const c of services.values()) for (const [map, items] of c.windows) for (const it of items) pushTo(adds, map, it);
    emitElements(out, 'add', t, adds);
    return { kind: 'full', text: out.join('\n') + '\n', mirror: { family, nodeKey, services, elements, slots, pools }, servicesRendered: services.size };
  }

  // Partial: diff the changed service ports against the mirror. The mirror is updated in place and
  // returned (copying 10k services per sync would cost more than the sync); the one passed in is
  // consumed and must not be rendered against again. If the transaction fails, drop it: the next
  // sync is a full one.
  if (consumed.has(mirror)) throw new Error('nftables mirror already consumed by a previous render');
  consumed.add(mirror);
  const services = mirror.services as Map<string, Contribution>;
  const elements = mirror.elements as Map<string, Owners>;
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
  /** Element id → effective value before this sync. */
  const touchedElems = new Map<string, string | undefined>();
  const dels = new Map<string, string[]>();
  const adds = new Map<string, string[]>();
  const touch = (id: string) => {
    if (!touchedElems.has(id)) touchedElems.set(id, effective(elements.get(id)));
  };
  const addSets: string[] = [];
  const addChains: string[] = [];
  const flushChains: string[] = [];
  const ruleLines: string[] = [];
  const delChains: string[] = [];
  const delSets: string[] = [];
  let rendered = 0;
  for (const key of new Set(changed)) {
    const old = mirror.services.get(key);
    const sp = model.services.get(key);
    const c = sp ? contributionOf(sp, f, node, slotOf) : undefined;
    const next = c && (c.chains.size || c.elements.size) ? c : undefined;
    // contributionOf took slots for the chains it made; a chain gone (or never kept) gives its slot back.
    for (const name of [...(old?.chains.keys() ?? []), ...(c?.chains.keys() ?? [])]) {
      const s = slots.get(name);
      if (s !== undefined && !next?.chains.has(name)) {
        slots.delete(name);
        freed.push(s);
      }
    }
    if (!old && !next) continue;
    rendered++;
    const oldChains = old?.chains ?? new Map<string, readonly string[]>();
    const newChains = next?.chains ?? new Map<string, readonly string[]>();
    for (const [name, rules] of newChains) {
      const prev = oldChains.get(name);
      if (!prev) {
        addChains.push(`add chain ${t} ${name}`);
      } else if (prev.length !== rules.length || prev.some((r, i) => r !== rules[i])) {
        flushChains.push(`flush chain ${t} ${name}`);
      } else continue;
      for (const r of rules) ruleLines.push(`add rule ${t} ${name} ${r}`);
    }
    for (const name of oldChains.keys()) {
      if (!newChains.has(name)) {
        flushChains.push(`flush chain ${t} ${name}`);
        delChains.push(`delete chain ${t} ${name}`);
      }
    }
    const oldSets = old?.sets ?? new Map<string, string>();
    const newSets = next?.sets ?? new Map<string, string>();
    for (const [name, def] of newSets) if (!oldSets.has(name)) addSets.push(`add set ${t} ${name} { ${def} }`);
    for (const name of oldSets.keys()) if (!newSets.has(name)) delSets.push(`delete set ${t} ${name}`);

    const oldEl = old?.elements ?? new Map<string, string>();
    const newEl = next?.elements ?? new Map<string, string>();
    for (const [id, v] of newEl) {
      if (oldEl.get(id) === v) continue;
      touch(id);
      addOwner(elements, id, key, v);
    }
    for (const id of oldEl.keys()) {
      if (newEl.has(id)) continue;
      touch(id);
      removeOwner(elements, id, key);
    }
    // Windows: a redrawn range is deleted by its key and added with its value.
    const oldWin = old?.windows ?? new Map<string, readonly string[]>();
    const newWin = next?.windows ?? new Map<string, readonly string[]>();
    for (const [map, items] of oldWin) {
      const keep = new Set(newWin.get(map) ?? []);
      for (const it of items) if (!keep.has(it)) pushTo(dels, map, it.slice(0, it.indexOf(' : ')));
    }
    for (const [map, items] of newWin) {
      const had = new Set(oldWin.get(map) ?? []);
      for (const it of items) if (!had.has(it)) pushTo(adds, map, it);
    }
    if (next) services.set(key, next);
    else services.delete(key);
  }
  for (const [id, before] of touchedElems) {
    const after = effective(elements.get(id));
    if (before === after) continue;
    const [set, key] = splitElem(id);
    if (before !== undefined) pushTo(dels, set, key);
    if (after !== undefined) pushTo(adds, set, elemText(key, after));
  }
  // Freed slots become reusable from the next sync on (this one may still delete their elements).
  for (const s of freed) pools.get(s.proto)!.free.push(s.n);
  if (freed.length) for (const pool of pools.values()) pool.free.sort((a, b) => a - b);
  for (const [proto, pool] of pools) {
    const needed = Math.ceil(pool.next / ENDPOINT_MAP_SLOTS);
    if (needed > pool.maps) addEndpointMaps(addSets, t, f, proto, pool.maps, needed);
    pool.maps = Math.max(pool.maps, needed);
  }
  // Loops, not spreads: a 30k-Service sync has hundreds of thousands of lines (spread overflows the stack).
  for (const part of [addSets, addChains, flushChains, ruleLines]) for (const l of part) out.push(l);
  emitElements(out, 'delete', t, dels);
  emitElements(out, 'add', t, adds);
  for (const part of [delChains, delSets]) for (const l of part) out.push(l);
  const next: NftMirror = { family, nodeKey, services, elements, slots, pools };
  return { kind: 'partial', text: out.length ? out.join('\n') + '\n' : '', mirror: next, servicesRendered: rendered };
}

/** A transaction that removes Portico's table of a family (succeeds whether or not it exists). */
export function renderCleanup(family: Family = 'ip'): string {
  return `add table ${family} ${TABLE_NAME}\ndelete table ${family} ${TABLE_NAME}\n`;
}
