// The iptables renderer: PURE (model, changed keys | 'full', node state, previous state) → text for
// `iptables-restore --noflush` (or `ip6tables-restore`), plus the next state. No I/O.
//
// Shape, in the style kube-proxy users know (see README.md):
//   nat    PREROUTING/OUTPUT → PORTICO-SERVICES: one rule per service address:port → SVC/SVL/EXT/FW,
//          last rule `-m addrtype --dst-type LOCAL -j PORTICO-NODEPORTS` (one rule per node port → EXT)
//          PORTICO-SVC-* / PORTICO-SVL-*: `-m statistic --mode random --probability 1/(n-i)` → SEP
//          PORTICO-SEP-*: hairpin mark, DNAT (and `-m recent --set` under session affinity)
//          POSTROUTING → PORTICO-POSTROUTING: MASQUERADE --random-fully what PORTICO-MARK-MASQ marked
//   filter INPUT/FORWARD/OUTPUT → PORTICO-SERVICES (cluster IPs without endpoints: REJECT, or DROP
//          for ITP Local), PORTICO-EXTERNAL-SERVICES (external addresses and node ports: REJECT, or
//          DROP for ETP Local without local endpoints), PORTICO-PROXY-FIREWALL
//          (loadBalancerSourceRanges), PORTICO-NODEPORTS (health-check node ports), PORTICO-FORWARD.
//
// Partial syncs. `iptables-restore --noflush` leaves every chain alone unless the text declares it
// (`:CHAIN - [0:0]`), which flushes it. So a partial sync declares and refills only the chains of
// changed service ports whose rules differ, declares (flushes) chains that disappear and `-X`es
// them at the end of the table, and edits the shared fixed chains rule by rule: `-D CHAIN <spec>`
// for a dispatch rule that went away, `-I PORTICO-SERVICES 1 <spec>` (the node-port jump must stay
// last) or `-A CHAIN <spec>` for one that appeared. It never declares a fixed chain: doing so would
// flush the dispatch rules of every other service. A full sync declares everything (fixed chains
// included) and deletes chains the previous state knew of that are gone.
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
import { CH, chainName, FIXED_CHAINS, isOwnedChain, serviceComment } from './names.js';

export type { NodeState };
export type Family = 'ip' | 'ip6';
export type TableName = 'nat' | 'filter';
export const TABLES: readonly TableName[] = ['nat', 'filter'];

/** What one service port puts in the kernel. */
export interface Contribution {
  /** `table\0chain` → rule specs (what follows `-A CHAIN`), in order. */
  readonly chains: ReadonlyMap<string, readonly string[]>;
  /** Rules in the shared fixed chains: `table\0chain\0spec`, no duplicates. */
  readonly dispatch: readonly string[];
}

/** The renderer's memory of what the kernel holds: explicit, passed in and returned. */
export interface IptState {
  readonly family: Family;
  /** Node state the rules were built for (and whether in large-cluster mode); a different one forces a full sync. */
  readonly nodeKey: string;
  readonly services: ReadonlyMap<string, Contribution>;
  /** Owned per-service chains found in the kernel but not (yet) owned by a service: `table\0chain`. Deleted by the next full sync. */
  readonly stale: ReadonlySet<string>;
}

export interface RenderResult {
  kind: 'full' | 'partial';
  /** Text for `iptables-restore --noflush`; '' when there is nothing to do. */
  text: string;
  state: IptState;
  servicesRendered: number;
}

/** A jump from a built-in chain into a fixed Portico chain. */
export interface Jump {
  table: TableName;
  chain: 'PREROUTING' | 'OUTPUT' | 'POSTROUTING' | 'INPUT' | 'FORWARD';
  spec: string;
  target: string;
}

export interface RenderOptions {
  /** Jumps to insert (at the top of their built-in chain, in the order given) because they are missing. */
  installJumps?: readonly Jump[];
}

export const MASQ_MARK = '0x4000';

/**
 * kube-proxy's largeClusterEndpointsThreshold: above this many endpoints (all service ports, this
 * family) the per-endpoint rules (SVC/SVL → SEP and the SEP chains) go without `-m comment`, as in
 * kube-proxy's "large cluster mode". Each comment is 288 bytes of the kernel's x_tables blob, which
 * is capped at 512 MiB per table (XT_MAX_TABLE_SIZE; iptables-legacy): 30,000 Services x 10
 * endpoints need 565 MB with them (the restore fails at COMMIT), 306 MB without.
 */
export const LARGE_CLUSTER_ENDPOINTS = 1000;

/** True when the model has more than LARGE_CLUSTER_ENDPOINTS endpoints of family `family`. */
export function isLargeCluster(model: ProxyModel, family: Family): boolean {
  const f = FAMILIES[family];
  let n = 0;
  for (const sp of model.services.values()) {
    for (const e of sp.endpoints) if (f.is(e.ip) && ++n > LARGE_CLUSTER_ENDPOINTS) return true;
  }
  return false;
}

interface Fam {
  name: Family;
  host: number;
  loopback: string;
  is(ip: string): boolean;
}

export const FAMILIES: Record<Family, Fam> = {
  ip: { name: 'ip', host: 32, loopback: '127.0.0.0/8', is: (ip) => !ip.includes(':') },
  ip6: { name: 'ip6', host: 128, loopback: '::1/128', is: (ip) => ip.includes(':') },
};

/** Which families a model needs rules for. */
export function familiesOf(model: ProxyModel): Family[] {
  for (const sp of model.services.values()) if (sp.clusterIPs.some((ip) => ip.includes(':'))) return ['ip', 'ip6'];
  return ['ip'];
}

export function emptyState(family: Family = 'ip', stale: Iterable<string> = []): IptState {
  return { family, nodeKey: '', services: new Map(), stale: new Set(stale) };
}

/** The jumps from built-in chains, in the order they should appear (each at the top of its chain). */
export function jumps(): Jump[] {
  const portals = '-m comment --comment "portico service portals"';
  const ext = '-m comment --comment "portico externally-visible service portals"';
  const fw = '-m comment --comment "portico load balancer firewall"';
  const nw = '-m conntrack --ctstate NEW';
  const j = (table: TableName, chain: Jump['chain'], spec: string, target: string): Jump => ({ table, chain, spec: `${spec} -j ${target}`, target });
  return [
    j('nat', 'PREROUTING', portals, CH.SERVICES),
    j('nat', 'OUTPUT', portals, CH.SERVICES),
    j('nat', 'POSTROUTING', '-m comment --comment "portico postrouting rules"', CH.POSTROUTING),
    j('filter', 'INPUT', `${nw} ${fw}`, CH.FIREWALL),
    j('filter', 'INPUT', '-m comment --comment "portico health check service ports"', CH.NODEPORTS),
    j('filter', 'INPUT', `${nw} ${ext}`, CH.EXTERNAL),
    j('filter', 'FORWARD', `${nw} ${fw}`, CH.FIREWALL),
    j('filter', 'FORWARD', '-m comment --comment "portico forwarding rules"', CH.FORWARD),
    j('filter', 'FORWARD', `${nw} ${portals}`, CH.SERVICES),
    j('filter', 'FORWARD', `${nw} ${ext}`, CH.EXTERNAL),
    j('filter', 'OUTPUT', `${nw} ${fw}`, CH.FIREWALL),
    j('filter', 'OUTPUT', `${nw} ${portals}`, CH.SERVICES),
  ];
}

/**
 * The jumps missing from a listing of built-in chains (`iptables -t T -S CHAIN` lines, any
 * tables and chains mixed): a jump is present when its built-in chain has a rule with
 * `-j <its target>`. Pure; the applier feeds it what iptables printed.
 */
export function missingJumps(listing: ReadonlyMap<string, string>): Jump[] {
  return jumps().filter((jp) => {
    const lines = (listing.get(`${jp.table}\0${jp.chain}`) ?? '').split('\n');
    return !lines.some((l) => l.startsWith(`-A ${jp.chain} `) && new RegExp(`(^| )-j ${jp.target}( |$)`).test(l));
  });
}

function nodeKeyOf(node: NodeState): string {
  return JSON.stringify([node.nodeName, node.zone ?? '', node.nodeIPs, node.nodePortAddresses, node.clusterCIDR, node.masqueradeAll]);
}

function inFamily(f: Fam, cidrs: readonly string[]): string[] {
  return cidrs.map((c) => c.trim()).filter((c) => c !== '' && f.is(c.split('/')[0] ?? ''));
}

function cidr(f: Fam, ip: string): string {
  return ip.includes('/') ? ip : `${ip}/${f.host}`;
}

function comment(text: string): string {
  return `-m comment --comment "${text.replace(/["\\]/g, '_').slice(0, 250)}"`;
}

/** kube-proxy prints probabilities with ten decimals. */
export function probability(n: number, i: number): string {
  return (1 / (n - i)).toFixed(10);
}

/** Matches a node port on this node's addresses: one prefix per nodePortAddresses CIDR, or any local address except loopback. */
function nodePortMatches(f: Fam, node: NodeState): Array<{ dst: string }> {
  const cidrs = inFamily(f, node.nodePortAddresses);
  return cidrs.length ? cidrs.map((c) => ({ dst: `-d ${c}` })) : [{ dst: `! -d ${f.loopback}` }];
}

function fixedRules(f: Fam, node: NodeState): { head: Map<string, string[]>; tail: Map<string, string[]> } {
  const head = new Map<string, string[]>([
    [`nat\0${CH.MARK_MASQ}`, [`-j MARK --or-mark ${MASQ_MARK}`]],
    [`nat\0${CH.POSTROUTING}`, [
      `-m mark ! --mark ${MASQ_MARK}/${MASQ_MARK} -j RETURN`,
      `-j MARK --xor-mark ${MASQ_MARK}`,
      `${comment('portico service traffic requiring SNAT')} -j MASQUERADE --random-fully`,
    ]],
    [`filter\0${CH.FORWARD}`, [
      `${comment('portico forwarding rules')} -m mark --mark ${MASQ_MARK}/${MASQ_MARK} -j ACCEPT`,
      `${comment('portico forwarding conntrack rule')} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
    ]],
  ]);
  const tail = new Map<string, string[]>([
    [`nat\0${CH.SERVICES}`, nodePortMatches(f, node).map((m) =>
      `${m.dst} ${comment('portico service nodeports; NOTE: this must be the last rule in this chain')} -m addrtype --dst-type LOCAL -j ${CH.NODEPORTS}`)],
  ]);
  return { head, tail };
}

/** What one service port contributes to the tables of family f. Pure. `largeCluster`: see LARGE_CLUSTER_ENDPOINTS. */
export function contributionOf(sp0: ServicePortInfo, family: Family, node: NodeState, largeCluster = false): Contribution {
  const f = FAMILIES[family];
  const chains = new Map<string, string[]>();
  const dispatch = new Set<string>();
  const clusterIPs = sp0.clusterIPs.filter(f.is);
  if (clusterIPs.length === 0) return { chains, dispatch: [] };
  const sp: ServicePortInfo = { ...sp0, endpoints: sp0.endpoints.filter((ep) => f.is(ep.ip)) };
  const cat = categorizeEndpoints(sp, { nodeName: node.nodeName, zone: node.zone ?? '' });
  const p = sp.protocol.toLowerCase();
  const cmt = serviceComment(sp);
  const c = comment(cmt);
  // What the per-endpoint rules start with: the service comment, unless the cluster is large.
  const ec = largeCluster ? '' : `${c} `;
  const dport = `-m ${p} --dport ${sp.port}`;
  const add = (table: TableName, chain: string, spec: string) => dispatch.add(`${table}\0${chain}\0${spec}`);
  const clusterCIDRs = inFamily(f, node.clusterCIDR ? [node.clusterCIDR] : []);
  // No endpoints: TCP gets a reset, everything else ICMP port unreachable. kube-proxy rejects TCP
  // with ICMP too, but the kernel rate-limits ICMP errors per destination host (icmp_ratelimit:
  // a burst of 6, then 1/s), so a pod retrying TCP to an empty Service would use up the budget and
  // its UDP datagrams would then vanish silently; resets are not rate-limited. The client sees
  // ECONNREFUSED either way (and the nftables backend's reject chain does the same).
  const reject = p === 'tcp' ? 'REJECT --reject-with tcp-reset' : 'REJECT';

  // Endpoint chains, shared by the SVC and SVL chains of this service port.
  const seps = new Map<string, string>();
  const sepOf = (ep: EndpointInfo): string => {
    const key = `${ep.ip}:${ep.port}`;
    let name = seps.get(key);
    if (name) return name;
    name = chainName('SEP', sp, key);
    seps.set(key, name);
    const to = f.name === 'ip6' ? `[${ep.ip}]:${ep.port}` : key;
    const recent = sp.affinityTimeoutSeconds > 0 ? `-m recent --set --name ${name} ` : '';
    chains.set(`nat\0${name}`, [
      `-s ${cidr(f, ep.ip)} ${ec}-j ${CH.MARK_MASQ}`,
      `-p ${p} ${ec}${recent}-j DNAT --to-destination ${to}`,
    ]);
    return name;
  };
  const choice = (eps: EndpointInfo[]): string[] => {
    const names = eps.map(sepOf);
    const rules: string[] = [];
    if (sp.affinityTimeoutSeconds > 0) {
      for (const n of names) rules.push(`${ec}-m recent --rcheck --seconds ${sp.affinityTimeoutSeconds} --reap --name ${n} -j ${n}`);
    }
    names.forEach((n, i) => {
      rules.push(i < names.length - 1 ? `${ec}-m statistic --mode random --probability ${probability(names.length, i)} -j ${n}` : `${ec}-j ${n}`);
    });
    return rules;
  };
  const masqForClusterIP = (): string[] => clusterIPs.flatMap((ip) => {
    const m = `-d ${cidr(f, ip)} -p ${p} ${comment(`${cmt} cluster IP`)} ${dport} -j ${CH.MARK_MASQ}`;
    if (node.masqueradeAll) return [m];
    return clusterCIDRs.map((cc) => `! -s ${cc} ${m}`);
  });

  let svc = '';
  let svl = '';
  if (usesClusterEndpoints(sp) && cat.cluster.length) {
    svc = chainName('SVC', sp);
    chains.set(`nat\0${svc}`, [...(sp.internalPolicyLocal ? [] : masqForClusterIP()), ...choice(cat.cluster)]);
  }
  if (usesLocalEndpoints(sp) && cat.local.length) {
    svl = chainName('SVL', sp);
    chains.set(`nat\0${svl}`, [...(sp.internalPolicyLocal ? masqForClusterIP() : []), ...choice(cat.local)]);
  }

  // Internal traffic: the cluster IPs.
  const intChain = sp.internalPolicyLocal ? svl : svc;
  for (const ip of clusterIPs) {
    const m = `-d ${cidr(f, ip)} -p ${p}`;
    if (internalEndpoints(sp, cat).length && intChain) add('nat', CH.SERVICES, `${m} ${comment(`${cmt} cluster IP`)} ${dport} -j ${intChain}`);
    else if (cat.hasAny) add('filter', CH.SERVICES, `${m} ${comment(`${cmt} has no local endpoints`)} ${dport} -j DROP`);
    else add('filter', CH.SERVICES, `${m} ${comment(`${cmt} has no endpoints`)} ${dport} -j ${reject}`);
  }

  // External traffic: external IPs, load-balancer IPs, node port.
  if (!sp.externallyAccessible) return { chains, dispatch: [...dispatch] };
  const extIPs = [...new Set(sp.externalIPs.filter(f.is))];
  const lbIPs = [...new Set(sp.loadBalancerIPs.filter(f.is))];
  if (extIPs.length === 0 && lbIPs.length === 0 && sp.nodePort === 0) return { chains, dispatch: [...dispatch] };
  const filterExternal = (verdict: 'REJECT' | 'DROP', why: string) => {
    const cm = comment(`${cmt} ${why}`);
    const target = verdict === 'REJECT' ? reject : 'DROP';
    for (const ip of extIPs) add('filter', CH.EXTERNAL, `-d ${cidr(f, ip)} -p ${p} ${cm} ${dport} -j ${target}`);
    for (const ip of lbIPs) add('filter', CH.EXTERNAL, `-d ${cidr(f, ip)} -p ${p} ${cm} ${dport} -j ${target}`);
    if (sp.nodePort > 0) {
      for (const m of nodePortMatches(f, node)) add('filter', CH.EXTERNAL, `${m.dst} -p ${p} ${cm} -m addrtype --dst-type LOCAL -m ${p} --dport ${sp.nodePort} -j ${target}`);
    }
  };
  if (!cat.hasAny) {
    filterExternal('REJECT', 'has no endpoints');
    return { chains, dispatch: [...dispatch] };
  }
  const ext = chainName('EXT', sp);
  const extRules: string[] = [];
  const extEps = externalEndpoints(sp, cat);
  if (!sp.externalPolicyLocal) {
    if (svc) extRules.push(`${comment(`masquerade traffic for ${cmt} external destinations`)} -j ${CH.MARK_MASQ}`, `-j ${svc}`);
  } else {
    if (svc) {
      for (const cc of clusterCIDRs) extRules.push(`-s ${cc} ${comment(`pod traffic for ${cmt} external destinations`)} -j ${svc}`);
      extRules.push(
        `${comment(`masquerade LOCAL traffic for ${cmt} external destinations`)} -m addrtype --src-type LOCAL -j ${CH.MARK_MASQ}`,
        `${comment(`route LOCAL traffic for ${cmt} external destinations`)} -m addrtype --src-type LOCAL -j ${svc}`,
      );
    }
    if (extEps.length && svl) extRules.push(`-j ${svl}`);
  }
  chains.set(`nat\0${ext}`, extRules);
  if (!extEps.length) filterExternal('DROP', 'has no local endpoints');

  for (const ip of extIPs) add('nat', CH.SERVICES, `-d ${cidr(f, ip)} -p ${p} ${comment(`${cmt} external IP`)} ${dport} -j ${ext}`);
  const ranges = sp.loadBalancerSourceRanges.length ? inFamily(f, sp.loadBalancerSourceRanges) : undefined;
  const fw = ranges && lbIPs.length ? chainName('FW', sp) : '';
  if (fw) {
    chains.set(`nat\0${fw}`, ranges!.map((r) => `-s ${r} ${comment(`${cmt} loadbalancer IP`)} -j ${ext}`));
    for (const ip of lbIPs) add('filter', CH.FIREWALL, `-d ${cidr(f, ip)} -p ${p} ${comment(`${cmt} traffic not accepted by ${fw}`)} ${dport} -j DROP`);
  }
  for (const ip of lbIPs) add('nat', CH.SERVICES, `-d ${cidr(f, ip)} -p ${p} ${comment(`${cmt} loadbalancer IP`)} ${dport} -j ${fw || ext}`);
  if (sp.nodePort > 0) add('nat', CH.NODEPORTS, `-p ${p} ${c} -m ${p} --dport ${sp.nodePort} -j ${ext}`);
  if (sp.healthCheckNodePort > 0 && sp.externalPolicyLocal) {
    add('filter', CH.NODEPORTS, `-p tcp ${comment(`${cmt} health check node port`)} -m tcp --dport ${sp.healthCheckNodePort} -j ACCEPT`);
  }
  return { chains, dispatch: [...dispatch] };
}

// ---- text assembly ----

class Sections {
  readonly decl = new Map<TableName, string[]>([['nat', []], ['filter', []]]);
  readonly del = new Map<TableName, string[]>([['nat', []], ['filter', []]]);
  readonly rules = new Map<TableName, string[]>([['nat', []], ['filter', []]]);
  readonly last = new Map<TableName, string[]>([['nat', []], ['filter', []]]);

  text(): string {
    let out = '';
    for (const t of TABLES) {
      const lines = [...this.decl.get(t)!, ...this.del.get(t)!, ...this.rules.get(t)!, ...this.last.get(t)!];
      if (lines.length) out += `*${t}\n${lines.join('\n')}\nCOMMIT\n`;
    }
    return out;
  }
}

function split2(id: string): [TableName, string] {
  const i = id.indexOf('\0');
  return [id.slice(0, i) as TableName, id.slice(i + 1)];
}

function split3(id: string): [TableName, string, string] {
  const i = id.indexOf('\0');
  const j = id.indexOf('\0', i + 1);
  return [id.slice(0, i) as TableName, id.slice(i + 1, j), id.slice(j + 1)];
}

function sameRules(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((r, i) => r === b[i]);
}

const consumed = new WeakSet<IptState>();

function addJumps(s: Sections, install: readonly Jump[] | undefined): void {
  // Inserted at the top in reverse order, so they end up in the order given.
  for (const jp of [...(install ?? [])].reverse()) s.last.get(jp.table)!.push(`-I ${jp.chain} 1 ${jp.spec}`);
}

/**
 * Renders restore text. `changed === 'full'`, a missing state, a state of another family or one
 * built for another node state give a full sync; otherwise only the changed service ports are
 * touched. A partial render updates the state passed in and returns it (it is consumed: rendering
 * against it again throws); if the restore fails, drop it and sync fully next time.
 */
export function render(
  model: ProxyModel,
  changed: Iterable<string> | 'full',
  node: NodeState,
  prev?: IptState,
  family: Family = 'ip',
  opts: RenderOptions = {},
): RenderResult {
  const large = isLargeCluster(model, family);
  // Crossing the large-cluster threshold changes every endpoint rule: a full sync, as for a new node state.
  const nodeKey = `${nodeKeyOf(node)}${large ? ' large' : ''}`;
  const s = new Sections();

  if (changed === 'full' || !prev || prev.family !== family || prev.nodeKey !== nodeKey) {
    const services = new Map<string, Contribution>();
    for (const [key, sp] of model.services) {
      const c = contributionOf(sp, family, node, large);
      if (c.chains.size || c.dispatch.length) services.set(key, c);
    }
    const { head, tail } = fixedRules(FAMILIES[family], node);
    const dispatch = new Map<string, string[]>();
    for (const t of TABLES) {
      for (const ch of FIXED_CHAINS[t]) {
        s.decl.get(t)!.push(`:${ch} - [0:0]`);
        for (const r of head.get(`${t}\0${ch}`) ?? []) s.rules.get(t)!.push(`-A ${ch} ${r}`);
        dispatch.set(`${t}\0${ch}`, []);
      }
    }
    const live = new Set<string>();
    for (const c of services.values()) {
      for (const [id, rules] of c.chains) {
        const [t, ch] = split2(id);
        live.add(id);
        s.decl.get(t)!.push(`:${ch} - [0:0]`);
        for (const r of rules) s.rules.get(t)!.push(`-A ${ch} ${r}`);
      }
      for (const d of c.dispatch) {
        const [t, ch, spec] = split3(d);
        dispatch.get(`${t}\0${ch}`)!.push(`-A ${ch} ${spec}`);
      }
    }
    for (const [id, lines] of dispatch) {
      const t = split2(id)[0];
      // A loop, not a spread: the dispatch chain has a rule per Service address (stack limits).
      const into = s.rules.get(t)!;
      for (const l of lines) into.push(l);
      for (const r of tail.get(id) ?? []) into.push(`-A ${split2(id)[1]} ${r}`);
    }
    // Chains the previous state knew of (or found in the kernel) that are gone: flush, then delete.
    const gone = new Set<string>(prev?.stale ?? []);
    for (const c of prev?.services.values() ?? []) for (const id of c.chains.keys()) gone.add(id);
    for (const id of [...gone].sort()) {
      if (live.has(id)) continue;
      const [t, ch] = split2(id);
      if (!isOwnedChain(ch) || (FIXED_CHAINS[t] as readonly string[]).includes(ch)) continue;
      s.decl.get(t)!.push(`:${ch} - [0:0]`);
      s.last.get(t)!.push(`-X ${ch}`);
    }
    addJumps(s, opts.installJumps);
    return { kind: 'full', text: s.text(), state: { family, nodeKey, services, stale: new Set() }, servicesRendered: services.size };
  }

  if (consumed.has(prev)) throw new Error('iptables state already consumed by a previous render');
  consumed.add(prev);
  const services = prev.services as Map<string, Contribution>;
  let rendered = 0;
  for (const key of new Set(changed)) {
    const old = services.get(key);
    const sp = model.services.get(key);
    const c = sp ? contributionOf(sp, family, node, large) : undefined;
    const next = c && (c.chains.size || c.dispatch.length) ? c : undefined;
    if (!old && !next) continue;
    rendered++;
    const oldChains = old?.chains ?? new Map<string, readonly string[]>();
    const newChains = next?.chains ?? new Map<string, readonly string[]>();
    for (const [id, rules] of newChains) {
      const before = oldChains.get(id);
      if (before && sameRules(before, rules)) continue;
      const [t, ch] = split2(id);
      s.decl.get(t)!.push(`:${ch} - [0:0]`);
      for (const r of rules) s.rules.get(t)!.push(`-A ${ch} ${r}`);
    }
    for (const id of oldChains.keys()) {
      if (newChains.has(id)) continue;
      const [t, ch] = split2(id);
      s.decl.get(t)!.push(`:${ch} - [0:0]`);
      s.last.get(t)!.push(`-X ${ch}`);
    }
    const oldD = new Set(old?.dispatch ?? []);
    const newD = new Set(next?.dispatch ?? []);
    for (const d of oldD) {
      if (newD.has(d)) continue;
      const [t, ch, spec] = split3(d);
      s.del.get(t)!.push(`-D ${ch} ${spec}`);
    }
    for (const d of newD) {
      if (oldD.has(d)) continue;
      const [t, ch, spec] = split3(d);
      s.rules.get(t)!.push(t === 'nat' && ch === CH.SERVICES ? `-I ${ch} 1 ${spec}` : `-A ${ch} ${spec}`);
    }
    if (next) services.set(key, next);
    else services.delete(key);
  }
  addJumps(s, opts.installJumps);
  return { kind: 'partial', text: s.text(), state: { family, nodeKey, services, stale: prev.stale }, servicesRendered: rendered };
}

// ---- iptables-save parsing (cleanup, stale chains after a restart) ----

export interface SavedTables {
  /** table → chain names (built-in and user). */
  chains: Map<string, string[]>;
  /** table → `-A` lines. */
  rules: Map<string, string[]>;
}

/** Reads the chain and rule lines of `iptables-save` output. */
export function parseSave(text: string): SavedTables {
  const chains = new Map<string, string[]>();
  const rules = new Map<string, string[]>();
  let table = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) {
      table = line.slice(1);
      chains.set(table, []);
      rules.set(table, []);
    } else if (line.startsWith(':') && table) chains.get(table)!.push(line.slice(1).split(' ')[0]!);
    else if (line.startsWith('-A ') && table) rules.get(table)!.push(line);
  }
  return { chains, rules };
}

/** Owned per-service chains in a save listing: `table\0chain`, for emptyState(family, stale). */
export function staleFromSave(text: string): string[] {
  const saved = parseSave(text);
  const out: string[] = [];
  for (const t of TABLES) {
    for (const ch of saved.chains.get(t) ?? []) {
      if (isOwnedChain(ch) && !(FIXED_CHAINS[t] as readonly string[]).includes(ch)) out.push(`${t}\0${ch}`);
    }
  }
  return out;
}

const BUILTIN = new Set(['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING']);

/**
 * Restore text that removes every Portico chain and every rule jumping to one from a chain that is
 * not Portico's (built-in or foreign), given what `iptables-save` printed. '' when nothing is owned.
 */
export function renderCleanup(saveText: string): string {
  const saved = parseSave(saveText);
  let out = '';
  for (const t of TABLES) {
    const owned = (saved.chains.get(t) ?? []).filter(isOwnedChain).sort();
    const lines: string[] = [];
    for (const r of saved.rules.get(t) ?? []) {
      const m = /^-A (\S+) (.*)$/.exec(r);
      if (!m) continue;
      const target = /(?:^| )-[jg] (\S+)/.exec(m[2]!)?.[1] ?? '';
      if (!isOwnedChain(m[1]!) && isOwnedChain(target)) lines.push(`-D ${m[1]} ${m[2]}`);
    }
    for (const ch of owned) if (!BUILTIN.has(ch)) lines.push(`:${ch} - [0:0]`);
    for (const ch of owned) if (!BUILTIN.has(ch)) lines.push(`-X ${ch}`);
    if (lines.length) out += `*${t}\n${lines.join('\n')}\nCOMMIT\n`;
  }
  return out;
}
