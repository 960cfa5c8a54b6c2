// The cluster zone: an index from lowercased names to the records the Kubernetes DNS
// specification (schema 1.1.0) gives them, kept up to date from informer events.
//
// Shape: one entry per Service, found by its name (`byFqdn`); port names (`_<port>._<proto>.<svc>`)
// and endpoint names (`<host>.<svc>`) are found through the entry of their last labels, reverse
// names through `ptr` (address -> entries). Each entry memoises the wire-format answer per name and
// query type when first asked, so a query is a couple of Map lookups plus a header copy, and
// 100,000 endpoints cost no name strings or index nodes of their own. An event on a Service or an
// EndpointSlice rebuilds only that Service's entry; a Pod event touches only the pod-IP index.
import { isIPv4, isIPv6 } from 'node:net';
import type { Informer } from '../client/types.js';
import type { Service } from '../registry/kinds/service.js';
import type { EndpointSlice } from '../registry/kinds/endpointslice.js';
import type { Pod } from '../registry/kinds/pod.js';
import type { Namespace } from '../registry/kinds/namespace.js';
import { CLASS_IN, HEADER_LEN, TYPE, Writer, reverseName, type RR } from './wire.js';

export type PodMode = 'disabled' | 'insecure' | 'verified';

export interface ZoneOptions {
  /** The cluster domain, default `cluster.local`. */
  zone?: string;
  /** TTL of every record but dns-version (28800), default 30 as kubeadm configures CoreDNS. */
  ttl?: number;
  /** CoreDNS's `pods` option; default `insecure` as kubeadm configures it. */
  podMode?: PodMode;
  /** Addresses of `ns.dns.<zone>` when there is no `kube-system/kube-dns` Service. */
  nsAddresses?: string[];
  /** Clock for the SOA serial (unix seconds of the last change). */
  now?: () => number;
}

export interface ZoneInformers {
  services: Informer<Service>;
  endpointSlices: Informer<EndpointSlice>;
  pods?: Informer<Pod>;
  /** When given, a namespace exists iff it is listed; otherwise iff it holds a Service or Pod. */
  namespaces?: Informer<Namespace>;
}

export const DNS_SCHEMA_VERSION = '1.1.0';
const DNS_VERSION_TTL = 28800;
const MAX_CHASE = 8;

/** A pre-rendered response body: answer records then additional records, for a question at offset 12. */
export interface Rendered {
  body: Buffer;
  ancount: number;
  nscount: number;
  arcount: number;
  /** End offset (in body) of each answer record, for truncation at a record boundary. */
  answerEnds: number[];
}

export type Answer =
  | { t: 'answer'; r: Rendered }
  | { t: 'nodata' }
  | { t: 'nxdomain' }
  | { t: 'refused' }
  /** Not ours: forward to the upstreams. */
  | { t: 'forward' }
  /** An ExternalName chain ending outside the zone: answer `hops` (CNAMEs) then the upstream's records for the last target. */
  | { t: 'external'; hops: string[]; target: string };

const NODATA: Answer = { t: 'nodata' };
const NXDOMAIN: Answer = { t: 'nxdomain' };
const REFUSED: Answer = { t: 'refused' };
const FORWARD: Answer = { t: 'forward' };

interface Port {
  name: string;
  /** Lowercase: tcp, udp, sctp. */
  protocol: string;
  /** -1 when the slice lists no ports (answers A/AAAA, never SRV). */
  port: number;
}

interface Ep {
  host: string;
  ip: string;
  ports: Port[];
}

/** One EndpointSlice as the entry reads it: its ports and its (informer-owned) endpoints. */
interface SliceView {
  ports: Port[];
  endpoints: EndpointSlice['endpoints'];
}

interface SvcEntry {
  key: string;
  fqdn: string;
  kind: 'cluster' | 'headless' | 'external';
  clusterIPs: string[];
  ports: Port[];
  /** The endpoints stay in the slices: `epsOf` lists the ready ones when an answer is rendered. */
  slices: SliceView[];
  publishAll: boolean;
  externalName: string;
  /** Whether the service name has records (else NXDOMAIN, as a headless Service with no ready endpoint). */
  exists: boolean;
  /** `_<port>._<proto>` labels with SRV records. */
  portKeys: string[];
  /** qtype -> rendered answer of the service name (null: NODATA). */
  cache: Map<number, Rendered | null> | undefined;
  /** Host labels of the published endpoints, listed when an endpoint name is first asked for. */
  hosts: Set<string> | undefined;
  /** Port and endpoint names asked for so far: first label(s) -> qtype -> rendered answer. */
  subCache: Map<string, Map<number, Rendered | null>> | undefined;
}

/** An in-zone name the entries answer: the service name (sub ''), a port name or an endpoint name. */
interface Found {
  e: SvcEntry;
  kind: 'svc' | 'port' | 'ep';
  sub: string;
}

interface Target {
  ip: string;
  port: number;
  target: string;
}

const NO_PORT: Port[] = [{ name: '', protocol: '', port: -1 }];

/** CoreDNS's endpointHostname: the hostname, else the address with '.'/':' turned into '-'. */
export function endpointHostname(hostname: string | undefined, ip: string): string {
  if (hostname) return hostname.toLowerCase();
  if (ip.includes('.')) return ip.replaceAll('.', '-');
  const h = ip.toLowerCase().replaceAll(':', '-');
  return h.endsWith('-') ? `${h}0` : h;
}

function wireLen(name: string): number {
  return name ? name.length + 2 : 1;
}

export class ZoneIndex {
  readonly zone: string;
  readonly ttl: number;
  readonly podMode: PodMode;
  private readonly zoneSuffix: string;
  private readonly dnsVersionName: string;
  private readonly nsAddressesOpt: string[];
  private readonly now: () => number;

  /** Lowercased service name -> entry. */
  private readonly byFqdn = new Map<string, SvcEntry>();
  /** `ptrKey(address)` -> the entries with that cluster IP or endpoint address. */
  private readonly ptr = new Map<string, SvcEntry | SvcEntry[]>();
  private readonly services = new Map<string, Service>();
  private readonly entries = new Map<string, SvcEntry>();
  /** service key -> its slices (a few per Service; arrays, as 10,000 small Maps cost megabytes) */
  private readonly slicesBySvc = new Map<string, EndpointSlice[]>();
  private readonly sliceSvc = new Map<string, string>();
  /** namespace -> number of Services and Pods in it */
  private readonly nsCount = new Map<string, number>();
  private namespaceSet: Set<string> | undefined;
  /** pod IP -> namespaces of the (non-deleting) pods with it */
  private readonly podIPs = new Map<string, string[]>();
  private readonly podSeen = new Map<string, { ns: string; ips: string[] }>();

  private serial: number;
  /** Bumped on every change that can alter an answer: whole-reply caches compare it. */
  generation = 0;
  private soaRR: Buffer | undefined;
  private soaSerial = -1;
  private readonly apexCache = new Map<number, Rendered | null>();
  private apexSerial = -1;
  private informers: ZoneInformers | undefined;

  constructor(opts: ZoneOptions = {}) {
    this.zone = (opts.zone ?? 'cluster.local').toLowerCase().replace(/\.$/, '');
    this.zoneSuffix = `.${this.zone}`;
    this.dnsVersionName = `dns-version.${this.zone}`;
    this.ttl = opts.ttl ?? 30;
    this.podMode = opts.podMode ?? 'insecure';
    this.nsAddressesOpt = opts.nsAddresses ?? ['127.0.0.1'];
    this.now = opts.now ?? (() => Math.floor(Date.now() / 1000));
    this.serial = this.now();
  }

  // ---------------------------------------------------------------------------------------------
  // Informer wiring

  /** Subscribes to the informers; returns the unsubscribe function. */
  attach(inf: ZoneInformers): () => void {
    this.informers = inf;
    const offs: Array<() => void> = [];
    if (inf.namespaces) {
      this.namespaceSet = new Set();
      offs.push(inf.namespaces.addHandler({
        onAdd: (n) => {
          this.generation++;
          this.namespaceSet?.add(n.metadata?.name ?? '');
        },
        onDelete: (n) => {
          this.generation++;
          this.namespaceSet?.delete(n.metadata?.name ?? '');
        },
      }));
    }
    offs.push(inf.services.addHandler({
      onAdd: (s) => this.setService(s),
      onUpdate: (_o, s) => this.setService(s),
      onDelete: (s) => this.deleteService(s),
    }));
    offs.push(inf.endpointSlices.addHandler({
      onAdd: (s) => this.setSlice(s),
      onUpdate: (_o, s) => this.setSlice(s),
      onDelete: (s) => this.deleteSlice(s),
    }));
    if (inf.pods) {
      offs.push(inf.pods.addHandler({
        onAdd: (p) => this.setPod(p),
        onUpdate: (_o, p) => this.setPod(p),
        onDelete: (p) => this.deletePod(p),
      }));
    }
    return () => offs.forEach((f) => f());
  }

  /** True once every attached informer has synced. */
  synced(): boolean {
    const i = this.informers;
    if (!i) return false;
    return i.services.hasSynced() && i.endpointSlices.hasSynced() && (i.pods?.hasSynced() ?? true) && (i.namespaces?.hasSynced() ?? true);
  }

  private touch(): void {
    this.generation++;
    this.serial = Math.max(this.serial, this.now());
  }

  private bumpNs(ns: string, d: number): void {
    const n = (this.nsCount.get(ns) ?? 0) + d;
    if (n <= 0) this.nsCount.delete(ns);
    else this.nsCount.set(ns, n);
  }

  namespaceExists(ns: string): boolean {
    return this.namespaceSet ? this.namespaceSet.has(ns) : this.nsCount.has(ns);
  }

  setService(s: Service): void {
    const key = `${s.metadata?.namespace ?? ''}/${s.metadata?.name ?? ''}`;
    if (!this.services.has(key)) this.bumpNs(s.metadata?.namespace ?? '', 1);
    this.services.set(key, s);
    this.rebuild(key);
  }

  deleteService(s: Service): void {
    const key = `${s.metadata?.namespace ?? ''}/${s.metadata?.name ?? ''}`;
    if (this.services.delete(key)) this.bumpNs(s.metadata?.namespace ?? '', -1);
    this.rebuild(key);
  }

  setSlice(sl: EndpointSlice): void {
    const ns = sl.metadata?.namespace ?? '';
    const sliceKey = `${ns}/${sl.metadata?.name ?? ''}`;
    const svcName = sl.metadata?.labels?.['kubernetes.io/service-name'];
    const svcKey = svcName ? `${ns}/${svcName}` : undefined;
    const prev = this.sliceSvc.get(sliceKey);
    if (prev !== undefined && prev !== svcKey) {
      this.dropSlice(prev, sl);
      this.sliceSvc.delete(sliceKey);
      this.rebuild(prev);
    }
    if (svcKey === undefined) return;
    const name = sl.metadata?.name;
    const rest = (this.slicesBySvc.get(svcKey) ?? []).filter((x) => x.metadata?.name !== name);
    this.slicesBySvc.set(svcKey, [...rest, sl]);
    this.sliceSvc.set(sliceKey, svcKey);
    this.rebuild(svcKey);
  }

  private dropSlice(svcKey: string, sl: EndpointSlice): void {
    const rest = (this.slicesBySvc.get(svcKey) ?? []).filter((x) => x.metadata?.name !== sl.metadata?.name);
    if (rest.length) this.slicesBySvc.set(svcKey, rest);
    else this.slicesBySvc.delete(svcKey);
  }

  deleteSlice(sl: EndpointSlice): void {
    const sliceKey = `${sl.metadata?.namespace ?? ''}/${sl.metadata?.name ?? ''}`;
    const svcKey = this.sliceSvc.get(sliceKey);
    if (svcKey === undefined) return;
    this.sliceSvc.delete(sliceKey);
    this.dropSlice(svcKey, sl);
    this.rebuild(svcKey);
  }

  setPod(p: Pod): void {
    this.generation++;
    const key = `${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`;
    const ns = p.metadata?.namespace ?? '';
    const ips = p.metadata?.deletionTimestamp ? [] : podIPsOf(p);
    const old = this.podSeen.get(key);
    if (!old) this.bumpNs(ns, 1);
    else this.unindexPod(old);
    this.podSeen.set(key, { ns, ips });
    for (const ip of ips) {
      const list = this.podIPs.get(ip);
      if (list) list.push(ns);
      else this.podIPs.set(ip, [ns]);
    }
  }

  deletePod(p: Pod): void {
    this.generation++;
    const key = `${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`;
    const old = this.podSeen.get(key);
    if (!old) return;
    this.podSeen.delete(key);
    this.unindexPod(old);
    this.bumpNs(old.ns, -1);
  }

  private unindexPod(old: { ns: string; ips: string[] }): void {
    for (const ip of old.ips) {
      const list = this.podIPs.get(ip);
      if (!list) continue;
      const i = list.indexOf(old.ns);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.podIPs.delete(ip);
    }
  }

  /** Recomputes one Service's entry and swaps it (and its addresses) in the index. */
  private rebuild(svcKey: string): void {
    this.touch();
    const svc = this.services.get(svcKey);
    const entry = svc ? this.makeEntry(svcKey, svc) : undefined;
    const prev = this.entries.get(svcKey);
    if (prev) {
      if (this.byFqdn.get(prev.fqdn) === prev) this.byFqdn.delete(prev.fqdn);
      for (const k of ptrKeysOf(prev)) this.unlinkPtr(k, prev);
    }
    if (entry) {
      this.entries.set(svcKey, entry);
      this.byFqdn.set(entry.fqdn, entry);
      for (const k of ptrKeysOf(entry)) this.linkPtr(k, entry);
    } else {
      this.entries.delete(svcKey);
    }
    if (svcKey === 'kube-system/kube-dns') this.apexCache.clear();
  }

  private linkPtr(k: string, e: SvcEntry): void {
    const cur = this.ptr.get(k);
    if (cur === undefined) this.ptr.set(k, e);
    else if (Array.isArray(cur)) cur.push(e);
    else this.ptr.set(k, [cur, e]);
  }

  private unlinkPtr(k: string, e: SvcEntry): void {
    const cur = this.ptr.get(k);
    if (cur === e) {
      this.ptr.delete(k);
    } else if (Array.isArray(cur)) {
      const rest = cur.filter((x) => x !== e);
      if (rest.length === 0) this.ptr.delete(k);
      else this.ptr.set(k, rest.length === 1 ? rest[0]! : rest);
    }
  }

  private makeEntry(key: string, s: Service): SvcEntry {
    const ns = (s.metadata?.namespace ?? '').toLowerCase();
    const name = (s.metadata?.name ?? '').toLowerCase();
    const spec = s.spec ?? {};
    const fqdn = `${name}.${ns}.svc.${this.zone}`;
    const kind = spec.type === 'ExternalName' ? 'external' : spec.clusterIP === 'None' ? 'headless' : 'cluster';
    const clusterIPs = (spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : []).filter((ip) => isIPv4(ip) || isIPv6(ip));
    const ports: Port[] = (spec.ports ?? []).map((p) => ({ name: (p.name ?? '').toLowerCase(), protocol: (p.protocol ?? 'TCP').toLowerCase(), port: p.port }));
    const slices: SliceView[] = [];
    if (kind !== 'external') {
      for (const sl of this.slicesBySvc.get(key) ?? []) {
        if (sl.addressType !== 'IPv4' && sl.addressType !== 'IPv6') continue;
        const slPorts: Port[] = sl.ports?.length
          ? sl.ports.map((p) => ({ name: (p.name ?? '').toLowerCase(), protocol: (p.protocol ?? 'TCP').toLowerCase(), port: p.port ?? -1 }))
          : NO_PORT;
        if (sl.endpoints?.length) slices.push({ ports: slPorts, endpoints: sl.endpoints });
      }
    }
    const externalName = (spec.externalName ?? '').toLowerCase().replace(/\.$/, '');
    const e: SvcEntry = {
      key, fqdn: flat(fqdn), kind, clusterIPs, ports, slices, publishAll: spec.publishNotReadyAddresses === true, externalName,
      exists: false, portKeys: [], cache: undefined, hosts: undefined, subCache: undefined,
    };
    if (kind === 'external') {
      e.exists = externalName !== '' && !isIPv4(externalName) && !isIPv6(externalName);
      return e;
    }
    const eps = epsOf(e);
    e.exists = svcTargets(e, eps).length > 0;
    const portKeys = new Set<string>();
    for (const p of kind === 'cluster' ? (clusterIPs.length ? ports : []) : eps.flatMap((ep) => ep.ports)) {
      if (p.name && p.port >= 0) portKeys.add(`_${p.name}._${p.protocol}`);
    }
    e.portKeys = [...portKeys];
    return e;
  }

  // ---------------------------------------------------------------------------------------------
  // Lookup

  /** True when `qname` (lowercased) is the zone or below it. */
  inZone(qname: string): boolean {
    return qname === this.zone || qname.endsWith(this.zoneSuffix);
  }

  /** The answer for a lowercased name and a type. Names outside the zone and unknown reverse names are `forward`. */
  lookup(qname: string, qtype: number, qclass = CLASS_IN): Answer {
    if (!this.inZone(qname)) {
      if (qtype === TYPE.PTR) {
        const r = this.renderPtr(qname);
        if (r) return { t: 'answer', r };
      }
      return FORWARD;
    }
    if (qclass !== CLASS_IN && qclass !== 255) return REFUSED;
    if (qtype === TYPE.AXFR || qtype === TYPE.IXFR) return REFUSED;
    // CoreDNS's kubernetes handler: TXT exists only on dns-version and SOA only at the apex; both
    // are NODATA on every other name of the zone, existing or not (no existence check is made).
    if (qtype === TYPE.TXT && qname !== this.dnsVersionName) return NODATA;
    if (qtype === TYPE.SOA && qname !== this.zone) return NODATA;
    const f = this.find(qname);
    if (f) {
      if (f.kind === 'svc' && f.e.kind === 'external' && qtype !== TYPE.CNAME && qtype !== TYPE.SRV) return this.chase(qname, qtype);
      const r = this.render(f, qname, qtype);
      return r ? { t: 'answer', r } : NODATA;
    }
    return this.lookupStructural(qname, qtype);
  }

  /** The Service, port or endpoint name `qname` is, if it exists. */
  private find(qname: string): Found | undefined {
    let e = this.byFqdn.get(qname);
    if (e) return e.exists ? { e, kind: 'svc', sub: '' } : undefined;
    const dot = qname.indexOf('.');
    if (dot <= 0) return undefined;
    if (qname.charCodeAt(0) === 0x5f /* _ */) {
      // _<port>._<proto>.<service name>; host labels never start with '_'.
      const dot2 = qname.indexOf('.', dot + 1);
      if (dot2 < 0) return undefined;
      e = this.byFqdn.get(qname.slice(dot2 + 1));
      const sub = qname.slice(0, dot2);
      return e && e.portKeys.includes(sub) ? { e, kind: 'port', sub } : undefined;
    }
    e = this.byFqdn.get(qname.slice(dot + 1));
    if (!e || e.kind === 'external') return undefined;
    const host = qname.slice(0, dot);
    e.hosts ??= new Set(epsOf(e).map((ep) => ep.host));
    return e.hosts.has(host) ? { e, kind: 'ep', sub: host } : undefined;
  }

  private render(f: Found, qname: string, qtype: number): Rendered | null {
    let cache: Map<number, Rendered | null> | undefined;
    if (f.kind === 'svc') {
      cache = f.e.cache ??= new Map();
    } else {
      const subs = (f.e.subCache ??= new Map());
      cache = subs.get(f.sub);
      if (!cache) subs.set(f.sub, (cache = new Map()));
    }
    const hit = cache.get(qtype);
    if (hit !== undefined) return hit;
    let r: Rendered | null;
    if (f.kind === 'svc' && f.e.kind === 'external') r = qtype === TYPE.CNAME ? this.renderRecords(qname, [{ type: TYPE.CNAME, data: f.e.externalName }]) : null;
    else r = this.renderTargets(qname, qtype, targetsOf(f));
    cache.set(qtype, r);
    return r;
  }

  /** PTR for a reverse name: a cluster IP names its Service (and wins); an endpoint address its endpoint name. */
  private renderPtr(qname: string): Rendered | null {
    const key = ptrKeyOfReverse(qname);
    const hit = key === undefined ? undefined : this.ptr.get(key);
    if (hit === undefined) return null;
    const primary: string[] = [];
    const other: string[] = [];
    for (const e of Array.isArray(hit) ? hit : [hit]) {
      if (e.kind === 'cluster' && e.clusterIPs.some((ip) => ptrKey(ip) === key)) primary.push(e.fqdn);
      for (const ep of epsOf(e)) if (ptrKey(ep.ip) === key) other.push(`${ep.host}.${e.fqdn}`);
    }
    const targets = [...new Set(primary.length ? primary : other)];
    return targets.length ? this.renderRecords(qname, targets.map((t) => ({ type: TYPE.PTR, data: t }))) : null;
  }

  /** Names that are not in the index: apex, dns-version, ns.dns, svc/pod subtrees, pods. */
  private lookupStructural(qname: string, qtype: number): Answer {
    if (qname === this.zone) {
      if (qtype !== TYPE.SOA && qtype !== TYPE.NS) return NODATA;
      const r = this.renderApex(qname, qtype);
      return r ? { t: 'answer', r } : NODATA;
    }
    const base = qname.slice(0, qname.length - this.zoneSuffix.length);
    if (base === 'dns-version') {
      // CoreDNS parses `dns-version` as a record request whose last label is neither svc nor pod.
      if (qtype !== TYPE.TXT) return NXDOMAIN;
      return { t: 'answer', r: this.renderOne(qname, (w) => w.rrBody(TYPE.TXT, DNS_VERSION_TTL, (x) => {
        x.u8(DNS_SCHEMA_VERSION.length);
        x.bytes(Buffer.from(DNS_SCHEMA_VERSION, 'latin1'));
      })) };
    }
    if (base === 'ns.dns') {
      if (qtype !== TYPE.A && qtype !== TYPE.AAAA) return NODATA;
      const ips = this.nsAddresses().filter((ip) => (qtype === TYPE.A ? isIPv4(ip) : isIPv6(ip)));
      if (!ips.length) return NODATA;
      return { t: 'answer', r: this.renderAddrs(qname, ips) };
    }
    if (base === 'svc' || base === 'pod' || base === 'dns') return NODATA;
    const segs = base.split('.');
    const n = segs.length;
    const kind = segs[n - 1];
    if (kind !== 'svc' && kind !== 'pod') return NXDOMAIN;
    const ns = segs[n - 2]!;
    if (!this.namespaceExists(ns)) return NXDOMAIN;
    if (n === 2) return kind === 'pod' && this.podMode === 'disabled' ? NXDOMAIN : NODATA;
    if (kind === 'svc' || n !== 3 || this.podMode === 'disabled') return NXDOMAIN;
    // <a-b-c-d>.<ns>.pod.<zone>
    const label = segs[0]!;
    const ip = label.split('-').length === 4 && !label.includes('--') ? label.replaceAll('-', '.') : label.replaceAll('-', ':');
    const v4 = isIPv4(ip);
    if (!v4 && !isIPv6(ip)) return NXDOMAIN;
    if (this.podMode === 'verified' && !(this.podIPs.get(ip)?.includes(ns))) return NXDOMAIN;
    if (qtype !== (v4 ? TYPE.A : TYPE.AAAA)) return NODATA;
    return { t: 'answer', r: this.renderAddrs(qname, [ip]) };
  }

  /** Follows ExternalName CNAMEs inside the zone; ends in the cluster's records or an `external` answer. */
  private chase(qname: string, qtype: number): Answer {
    const hops: string[] = [];
    let cur = qname;
    const base = HEADER_LEN + wireLen(qname) + 4;
    for (let i = 0; i < MAX_CHASE; i++) {
      const f = this.find(cur);
      if (!f || f.kind !== 'svc' || f.e.kind !== 'external') break;
      hops.push(f.e.externalName);
      cur = f.e.externalName;
      if (!this.inZone(cur)) return { t: 'external', hops, target: cur };
    }
    const w = new Writer(base);
    w.seedName(qname, HEADER_LEN);
    const ends: number[] = [];
    let owner: string | number = HEADER_LEN;
    for (const h of hops) {
      w.rr(owner, { type: TYPE.CNAME, class: CLASS_IN, ttl: this.ttl, data: h });
      ends.push(w.len);
      owner = h;
    }
    const f = this.find(cur);
    if (f && !(f.kind === 'svc' && f.e.kind === 'external')) {
      const targets = targetsOf(f);
      if (qtype === TYPE.A || qtype === TYPE.AAAA) {
        for (const ip of uniqueIPs(targets, qtype === TYPE.AAAA)) {
          w.rr(cur, { type: qtype, class: CLASS_IN, ttl: this.ttl, data: ip });
          ends.push(w.len);
        }
      }
    }
    return { t: 'answer', r: { body: Buffer.from(w.result()), ancount: ends.length, nscount: 0, arcount: 0, answerEnds: ends } };
  }

  /** CNAME records of an external chain followed by the upstream's records, as a response body. */
  renderExternal(qname: string, hops: string[], tail: RR[]): Rendered {
    const w = new Writer(HEADER_LEN + wireLen(qname) + 4);
    w.seedName(qname, HEADER_LEN);
    const ends: number[] = [];
    let owner: string | number = HEADER_LEN;
    for (const h of hops) {
      w.rr(owner, { type: TYPE.CNAME, class: CLASS_IN, ttl: this.ttl, data: h });
      ends.push(w.len);
      owner = h;
    }
    for (const rr of tail) {
      try {
        w.rr(rr.name, rr);
        ends.push(w.len);
      } catch {
        break; // an upstream record we cannot re-encode ends the answer there
      }
    }
    return { body: Buffer.from(w.result()), ancount: ends.length, nscount: 0, arcount: 0, answerEnds: ends };
  }

  private renderTargets(qname: string, qtype: number, targets: Target[]): Rendered | null {
    if (qtype === TYPE.A || qtype === TYPE.AAAA) {
      const ips = uniqueIPs(targets, qtype === TYPE.AAAA);
      return ips.length ? this.renderAddrs(qname, ips) : null;
    }
    if (qtype === TYPE.SRV) return this.renderSrv(qname, targets);
    return null;
  }

  private renderSrv(qname: string, targets: Target[]): Rendered | null {
    const seen = new Set<string>();
    const srv: Target[] = [];
    for (const t of targets) {
      if (t.port < 0) continue;
      const k = `${t.target} ${t.port}`;
      if (seen.has(k)) continue;
      seen.add(k);
      srv.push(t);
    }
    if (!srv.length) return null;
    // CoreDNS: one priority (0), weights sharing 100 equally, at least 1.
    const weight = Math.max(1, Math.floor(100 / srv.length));
    const w = new Writer(HEADER_LEN + wireLen(qname) + 4, 64 + srv.length * 64);
    w.seedName(qname, HEADER_LEN);
    const ends: number[] = [];
    for (const t of srv) {
      w.ownerPointer(HEADER_LEN);
      w.rrBody(TYPE.SRV, this.ttl, (x) => {
        x.u16(0);
        x.u16(weight);
        x.u16(t.port);
        x.name(t.target);
      });
      ends.push(w.len);
    }
    let arcount = 0;
    const extra = new Set<string>();
    for (const t of srv) {
      const k = `${t.target} ${t.ip}`;
      if (extra.has(k)) continue;
      extra.add(k);
      const v6 = !isIPv4(t.ip);
      w.rr(t.target, { type: v6 ? TYPE.AAAA : TYPE.A, class: CLASS_IN, ttl: this.ttl, data: t.ip });
      arcount++;
    }
    return { body: Buffer.from(w.result()), ancount: ends.length, nscount: 0, arcount, answerEnds: ends };
  }

  private renderAddrs(qname: string, ips: string[]): Rendered {
    return this.renderRecords(qname, ips.map((ip) => ({ type: isIPv4(ip) ? TYPE.A : TYPE.AAAA, data: ip })));
  }

  private renderRecords(qname: string, rrs: Array<{ type: number; data: string }>): Rendered {
    const w = new Writer(HEADER_LEN + wireLen(qname) + 4, 32 + rrs.length * 32);
    w.seedName(qname, HEADER_LEN);
    const ends: number[] = [];
    for (const rr of rrs) {
      w.rr(HEADER_LEN, { type: rr.type, class: CLASS_IN, ttl: this.ttl, data: rr.data });
      ends.push(w.len);
    }
    return { body: Buffer.from(w.result()), ancount: ends.length, nscount: 0, arcount: 0, answerEnds: ends };
  }

  private renderOne(qname: string, body: (w: Writer) => void): Rendered {
    const w = new Writer(HEADER_LEN + wireLen(qname) + 4, 64);
    w.seedName(qname, HEADER_LEN);
    w.ownerPointer(HEADER_LEN);
    body(w);
    return { body: Buffer.from(w.result()), ancount: 1, nscount: 0, arcount: 0, answerEnds: [w.len] };
  }

  private nsAddresses(): string[] {
    const e = this.entries.get('kube-system/kube-dns');
    return e && e.clusterIPs.length ? e.clusterIPs : this.nsAddressesOpt;
  }

  private renderApex(qname: string, qtype: number): Rendered | null {
    if (this.apexSerial !== this.serial) {
      this.apexCache.clear();
      this.apexSerial = this.serial;
    }
    const hit = this.apexCache.get(qtype);
    if (hit !== undefined) return hit;
    let r: Rendered | null = null;
    if (qtype === TYPE.SOA) {
      r = this.renderOne(qname, (w) => w.rrBody(TYPE.SOA, this.ttl, (x) => this.soaRData(x)));
    } else if (qtype === TYPE.NS) {
      const w = new Writer(HEADER_LEN + wireLen(qname) + 4, 128);
      w.seedName(qname, HEADER_LEN);
      const nsName = `ns.dns.${this.zone}`;
      w.rr(HEADER_LEN, { type: TYPE.NS, class: CLASS_IN, ttl: this.ttl, data: nsName });
      const end = w.len;
      const ips = this.nsAddresses();
      for (const ip of ips) w.rr(nsName, { type: isIPv4(ip) ? TYPE.A : TYPE.AAAA, class: CLASS_IN, ttl: this.ttl, data: ip });
      r = { body: Buffer.from(w.result()), ancount: 1, nscount: 0, arcount: ips.length, answerEnds: [end] };
    }
    this.apexCache.set(qtype, r);
    return r;
  }

  private soaRData(x: Writer): void {
    x.name(`ns.dns.${this.zone}`);
    x.name(`hostmaster.${this.zone}`);
    x.u32(this.serial);
    x.u32(7200);
    x.u32(1800);
    x.u32(86400);
    x.u32(this.ttl);
  }

  /** The zone's SOA as one uncompressed record, for the authority section of negative answers. */
  soaRecord(): Buffer {
    if (this.soaRR && this.soaSerial === this.serial) return this.soaRR;
    const w = new Writer(0, 128);
    w.name(this.zone, false);
    w.rrBody(TYPE.SOA, this.ttl, (x) => {
      x.name(`ns.dns.${this.zone}`, false);
      x.name(`hostmaster.${this.zone}`, false);
      x.u32(this.serial);
      x.u32(7200);
      x.u32(1800);
      x.u32(86400);
      x.u32(this.ttl);
    });
    this.soaRR = Buffer.from(w.result());
    this.soaSerial = this.serial;
    return this.soaRR;
  }

  /** Number of indexed keys: Services by name and addresses with a PTR (for tests and memory figures). */
  size(): number {
    return this.byFqdn.size + this.ptr.size;
  }
}

function podIPsOf(p: Pod): string[] {
  const ips = new Set<string>();
  if (p.status?.podIP) ips.add(p.status.podIP);
  for (const x of p.status?.podIPs ?? []) if (x.ip) ips.add(x.ip);
  return [...ips];
}

function uniqueIPs(targets: Target[], v6: boolean): string[] {
  const seen = new Set<string>();
  for (const t of targets) if (isIPv4(t.ip) !== v6) seen.add(t.ip);
  return [...seen];
}

/** A flat copy of a string built by concatenation (kept for long: a cons-string tree costs more). */
function flat(s: string): string {
  return Buffer.from(s, 'latin1').toString('latin1');
}

function targetsOf(f: Found): Target[] {
  const eps = epsOf(f.e);
  if (f.kind === 'svc') return svcTargets(f.e, eps);
  if (f.kind === 'ep') return epTargets(f.e, eps, f.sub);
  const dot = f.sub.indexOf('.');
  return portTargets(f.e, eps, f.sub.slice(1, dot), f.sub.slice(dot + 2));
}

/** The published endpoint addresses of an entry (ready ones, or all with publishNotReadyAddresses). */
function epsOf(e: SvcEntry): Ep[] {
  const out: Ep[] = [];
  for (const sl of e.slices) {
    for (const ep of sl.endpoints) {
      if (!(ep.conditions?.ready ?? true) && !e.publishAll) continue;
      for (const ip of ep.addresses ?? []) {
        if (isIPv4(ip) || isIPv6(ip)) out.push({ host: endpointHostname(ep.hostname, ip), ip, ports: sl.ports });
      }
    }
  }
  return out;
}

/** The `ptr` key of an address: IPv4 as written (one canonical form), IPv6 as its reverse name. */
function ptrKey(ip: string): string | undefined {
  return isIPv4(ip) ? ip : reverseName(ip);
}

/** The `ptr` key a reverse name (lowercased) asks for, if it names one address. */
function ptrKeyOfReverse(qname: string): string | undefined {
  if (qname.endsWith('.ip6.arpa')) return qname;
  if (!qname.endsWith('.in-addr.arpa')) return undefined;
  const labels = qname.slice(0, -'.in-addr.arpa'.length).split('.');
  if (labels.length !== 4) return undefined;
  const ip = labels.reverse().join('.');
  return isIPv4(ip) ? ip : undefined;
}

function ptrKeysOf(e: SvcEntry): Set<string> {
  const keys = new Set<string>();
  const add = (ip: string): void => {
    const k = ptrKey(ip);
    if (k !== undefined) keys.add(k);
  };
  if (e.kind === 'cluster') e.clusterIPs.forEach(add);
  if (e.kind !== 'external') for (const ep of epsOf(e)) add(ep.ip);
  return keys;
}

function svcTargets(e: SvcEntry, eps: Ep[]): Target[] {
  const out: Target[] = [];
  if (e.kind === 'cluster') {
    for (const p of e.ports.length ? e.ports : NO_PORT) for (const ip of e.clusterIPs) out.push({ ip, port: p.port, target: e.fqdn });
  } else if (e.kind === 'headless') {
    for (const ep of eps) for (const p of ep.ports) out.push({ ip: ep.ip, port: p.port, target: `${ep.host}.${e.fqdn}` });
  }
  return out;
}

function portTargets(e: SvcEntry, eps: Ep[], name: string, proto: string): Target[] {
  const out: Target[] = [];
  if (e.kind === 'cluster') {
    for (const p of e.ports) if (p.name === name && p.protocol === proto) for (const ip of e.clusterIPs) out.push({ ip, port: p.port, target: e.fqdn });
  } else if (e.kind === 'headless') {
    for (const ep of eps) for (const p of ep.ports) if (p.name === name && p.protocol === proto) out.push({ ip: ep.ip, port: p.port, target: `${ep.host}.${e.fqdn}` });
  }
  return out;
}

function epTargets(e: SvcEntry, eps: Ep[], host: string): Target[] {
  const out: Target[] = [];
  for (const ep of eps) if (ep.host === host) for (const p of ep.ports) out.push({ ip: ep.ip, port: p.port, target: `${host}.${e.fqdn}` });
  return out;
}
