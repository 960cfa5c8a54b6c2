// Service defaulting: kube's SetDefaults_Service, the strategy's clusterIP/clusterIPs normalisation,
// and the IP-family fields kube-apiserver fills in before allocating (initIPFamilyFields).
// Update-time fix-ups that need the old object are in prepareServiceUpdate.
import type { ClusterConfig } from '../types.js';
import type { Service, ServiceSpec } from '../kinds/service.js';
import { ipFamilyOf, parseCIDR } from '../../util/ip.js';

export const DefaultClientIPTimeoutSeconds = 10800;
export const MaxClientIPTimeoutSeconds = 86400;

export type IPFamilyName = 'IPv4' | 'IPv6';

/** The IP families the cluster serves, primary first (from --service-cidr). */
export function clusterIPFamilies(cfg: Pick<ClusterConfig, 'serviceCIDRs'>): IPFamilyName[] {
  // Every Service create and update asks; the flag's CIDRs are parsed once per array.
  let out = familiesOf.get(cfg.serviceCIDRs);
  if (!out) familiesOf.set(cfg.serviceCIDRs, (out = parseFamilies(cfg.serviceCIDRs)));
  return out;
}

const familiesOf = new WeakMap<readonly string[], IPFamilyName[]>();

function parseFamilies(cidrs: readonly string[]): IPFamilyName[] {
  const out: IPFamilyName[] = [];
  for (const c of cidrs) {
    const p = parseCIDR(c);
    if (!p) continue;
    const fam: IPFamilyName = p.family === 4 ? 'IPv4' : 'IPv6';
    if (!out.includes(fam)) out.push(fam);
  }
  return out.length ? out : ['IPv4'];
}

export function familyOfIP(ip: string): IPFamilyName | null {
  const f = ipFamilyOf(ip);
  return f === 4 ? 'IPv4' : f === 6 ? 'IPv6' : null;
}

/** clusterIPs is exactly ["None"]. */
export function isHeadless(spec: ServiceSpec | undefined): boolean {
  return spec?.clusterIPs?.length === 1 && spec.clusterIPs[0] === 'None';
}

/** Reachable from outside through node ports, external IPs or a load balancer (kube's ExternallyAccessible). */
export function externallyAccessible(spec: ServiceSpec | undefined): boolean {
  const t = spec?.type;
  return t === 'LoadBalancer' || t === 'NodePort' || (t === 'ClusterIP' && (spec?.externalIPs?.length ?? 0) > 0);
}

/** LoadBalancer with externalTrafficPolicy Local (kube's NeedsHealthCheck). */
export function needsHealthCheck(spec: ServiceSpec | undefined): boolean {
  return spec?.type === 'LoadBalancer' && spec.externalTrafficPolicy === 'Local';
}

/** SetDefaults_Service, then the create-time normalisation and IP-family fields. */
export function defaultService(svc: Service, cfg: ClusterConfig): void {
  const spec = (svc.spec ??= {});
  if (!spec.sessionAffinity) spec.sessionAffinity = 'None';
  if (spec.sessionAffinity === 'None') delete spec.sessionAffinityConfig;
  if (spec.sessionAffinity === 'ClientIP' && spec.sessionAffinityConfig?.clientIP?.timeoutSeconds === undefined) {
    spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: DefaultClientIPTimeoutSeconds } };
  }
  if (!spec.type) spec.type = 'ClusterIP';
  for (const p of spec.ports ?? []) {
    if (!p.protocol) p.protocol = 'TCP';
    // 0 and "" both mean "not set" for an IntOrString.
    if (p.targetPort === undefined || p.targetPort === 0 || p.targetPort === '') p.targetPort = p.port;
  }
  if (externallyAccessible(spec) && !spec.externalTrafficPolicy) spec.externalTrafficPolicy = 'Cluster';
  if (spec.internalTrafficPolicy === undefined && (spec.type === 'ClusterIP' || spec.type === 'NodePort' || spec.type === 'LoadBalancer')) {
    spec.internalTrafficPolicy = 'Cluster';
  }
  if (spec.type === 'LoadBalancer' && spec.allocateLoadBalancerNodePorts === undefined) spec.allocateLoadBalancerNodePorts = true;

  // Old clients set only the singular field; new ones both.
  if (spec.clusterIP && !(spec.clusterIPs && spec.clusterIPs.length)) spec.clusterIPs = [spec.clusterIP];

  defaultIPFamilies(svc, cfg);
}

/**
 * initIPFamilyFields: policy SingleStack unless asked (headless without selector: RequireDualStack),
 * families inferred from given cluster IPs, else the cluster's primary family, plus the other family
 * for dual-stack policies when the cluster has both. Anything contradictory is left for validation.
 */
export function defaultIPFamilies(svc: Service, cfg: ClusterConfig): void {
  const spec = (svc.spec ??= {});
  if (spec.type === 'ExternalName') return;
  const configured = clusterIPFamilies(cfg);
  const selectorless = Object.keys(spec.selector ?? {}).length === 0;
  const headlessSelectorless = spec.clusterIP === 'None' && selectorless;
  if (!spec.ipFamilyPolicy) spec.ipFamilyPolicy = headlessSelectorless ? 'RequireDualStack' : 'SingleStack';

  const clusterIPs = spec.clusterIPs ?? [];
  // Infer only from well-formed input; validation reports the rest.
  if (clusterIPs.some((ip) => ip !== 'None' && familyOfIP(ip) === null)) return;
  if (clusterIPs.length > 2 || (clusterIPs.length === 2 && familyOfIP(clusterIPs[0]!) === familyOfIP(clusterIPs[1]!))) return;
  if ((spec.ipFamilies ?? []).some((f) => f !== 'IPv4' && f !== 'IPv6')) return;
  const families = [...(spec.ipFamilies ?? [])];
  for (let i = 0; i < clusterIPs.length; i++) {
    const ip = clusterIPs[i]!;
    if (ip === 'None') break;
    const fam = familyOfIP(ip)!;
    if (i >= families.length) {
      if (!configured.includes(fam)) return;
      families.push(fam);
    }
  }
  const other = (f: string): IPFamilyName => (f === 'IPv4' ? 'IPv6' : 'IPv4');
  if (headlessSelectorless) {
    // Headless without selector may name families the cluster lacks (its endpoints are hand-made).
    if (families.length === 0) families.push(configured[0]!);
    if (families.length < 2 && spec.ipFamilyPolicy !== 'SingleStack') families.push(other(families[0]!));
    spec.ipFamilies = families;
    return;
  }
  if (families.some((f) => !configured.includes(f as IPFamilyName))) return;
  if (spec.ipFamilyPolicy === 'RequireDualStack' && configured.length < 2) return;
  if (families.length === 0) families.push(configured[0]!);
  if (spec.ipFamilyPolicy !== 'SingleStack' && families.length === 1 && configured.length === 2) families.push(other(families[0]!));
  spec.ipFamilies = families;
}

function needsClusterIP(spec: ServiceSpec): boolean {
  return spec.type !== 'ExternalName';
}

function needsNodePort(spec: ServiceSpec): boolean {
  return spec.type === 'NodePort' || spec.type === 'LoadBalancer';
}

function sameList(a: readonly unknown[] | undefined, b: readonly unknown[] | undefined): boolean {
  const x = a ?? [];
  const y = b ?? [];
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/**
 * Update-time strategy of kube-apiserver (PrepareForUpdate), run after defaults and before
 * validation: keep allocated values the client left out (cluster IPs, node ports, health-check
 * port), keep clusterIP and clusterIPs in step, adopt the old ipFamilyPolicy, and drop values that
 * no longer apply after a type change when the client did not touch them.
 */
export function prepareServiceUpdate(svc: Service, old: Service): void {
  const spec = (svc.spec ??= {});
  const o = old.spec ?? {};

  // patchAllocatedValues
  if (needsClusterIP(o) && needsClusterIP(spec)) {
    if (!spec.clusterIP && o.clusterIP) spec.clusterIP = o.clusterIP;
    if (!(spec.clusterIPs && spec.clusterIPs.length) && o.clusterIPs?.length) spec.clusterIPs = [...o.clusterIPs];
  }
  if (needsNodePort(o) && needsNodePort(spec)) {
    const used = (s: ServiceSpec) => new Set((s.ports ?? []).map((p) => p.nodePort ?? 0).filter((n) => n !== 0));
    const newUsed = used(spec);
    const taken = new Set([...used(o)].filter((n) => newUsed.has(n)));
    const byName = new Map<string, number>();
    for (const p of o.ports ?? []) byName.set(p.name ?? '', p.nodePort ?? 0);
    for (const p of spec.ports ?? []) {
      if (p.nodePort) continue;
      const prev = byName.get(p.name ?? '') ?? 0;
      if (prev && !taken.has(prev)) p.nodePort = prev;
    }
  }
  if (needsHealthCheck(o) && needsHealthCheck(spec) && !spec.healthCheckNodePort && o.healthCheckNodePort) {
    spec.healthCheckNodePort = o.healthCheckNodePort;
  }

  // NormalizeClusterIPs (update form)
  if (o.clusterIPs?.length && !spec.clusterIPs?.length && (o.clusterIP ?? '') === (spec.clusterIP ?? '')) spec.clusterIPs = [...o.clusterIPs];
  if ((o.clusterIP ?? '') !== (spec.clusterIP ?? '')) {
    if (o.clusterIP && !spec.clusterIP) {
      if (sameList(o.clusterIPs, spec.clusterIPs)) delete spec.clusterIPs;
    } else if (sameList(o.clusterIPs, spec.clusterIPs)) {
      spec.clusterIPs = [spec.clusterIP!];
    }
  }

  // dropTypeDependentFields
  if (needsClusterIP(o) && !needsClusterIP(spec)) {
    if ((o.clusterIP ?? '') === (spec.clusterIP ?? '') && sameList(o.clusterIPs, spec.clusterIPs)) {
      delete spec.clusterIP;
      delete spec.clusterIPs;
    }
    if (sameList(o.ipFamilies, spec.ipFamilies)) delete spec.ipFamilies;
    if (o.ipFamilyPolicy === spec.ipFamilyPolicy) delete spec.ipFamilyPolicy;
  }
  if (needsNodePort(o) && !needsNodePort(spec)) {
    const sameNodePorts = sameList((o.ports ?? []).map((p) => p.nodePort ?? 0), (spec.ports ?? []).map((p) => p.nodePort ?? 0));
    if (sameNodePorts) for (const p of spec.ports ?? []) delete p.nodePort;
  }
  if (needsHealthCheck(o) && !needsHealthCheck(spec) && o.healthCheckNodePort === spec.healthCheckNodePort) delete spec.healthCheckNodePort;
  if (o.type === 'LoadBalancer' && spec.type !== 'LoadBalancer') {
    if (spec.allocateLoadBalancerNodePorts !== undefined && spec.allocateLoadBalancerNodePorts === o.allocateLoadBalancerNodePorts) delete spec.allocateLoadBalancerNodePorts;
    if (o.loadBalancerClass === spec.loadBalancerClass) delete spec.loadBalancerClass;
  }
  if (externallyAccessible(o) && !externallyAccessible(spec) && o.externalTrafficPolicy === spec.externalTrafficPolicy) delete spec.externalTrafficPolicy;
  if (spec.type !== 'LoadBalancer' && svc.status?.loadBalancer) svc.status.loadBalancer = {};

  // initIPFamilyFields on update: a client that left the policy out keeps the old one.
  if (!spec.ipFamilyPolicy && o.ipFamilyPolicy && spec.type !== 'ExternalName') spec.ipFamilyPolicy = o.ipFamilyPolicy;
}
