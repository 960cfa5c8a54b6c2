// Service validation with kube-apiserver's rules, field paths and messages (ValidateService,
// ValidateServiceClusterIPsRelatedFields, ValidateServiceUpdate and the IP-family checks its
// allocator runs before allocating). Metadata is validated by the storage layer (meta-validation).
// Not here: node-port range and "already allocated", which belong to the allocators.
import { field, type FieldError } from '../../util/errors.js';
import type { ClusterConfig } from '../types.js';
import type { Service, ServicePort, ServiceSpec } from '../kinds/service.js';
import { parseIP } from '../../util/ip.js';
import {
  isValidPortNum,
  validateCIDR,
  validateDNS1123Label,
  validateDNS1123Subdomain,
  validateIP,
  validateLabels,
  validateNonSpecialIP,
  validatePortNumOrName,
  validateQualifiedName,
} from '../validation.js';
import { clusterIPFamilies, externallyAccessible, familyOfIP, isHeadless, MaxClientIPTimeoutSeconds, needsHealthCheck } from './defaults.js';

// Supported values, sorted as Go's sets.List prints them.
const serviceTypes = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'];
const protocols = ['SCTP', 'TCP', 'UDP'];
const affinities = ['ClientIP', 'None'];
const trafficPolicies = ['Cluster', 'Local'];
const ipFamilyNames = ['IPv4', 'IPv6'];
const ipFamilyPolicies = ['PreferDualStack', 'RequireDualStack', 'SingleStack'];

function validateServicePort(sp: ServicePort, requireName: boolean, names: Set<string>, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (requireName && !sp.name) {
    errs.push(field.required(`${path}.name`));
  } else if (sp.name) {
    errs.push(...validateDNS1123Label(sp.name, `${path}.name`));
    if (names.has(sp.name)) errs.push(field.duplicate(`${path}.name`, sp.name));
    else names.add(sp.name);
  }
  for (const msg of isValidPortNum(sp.port)) errs.push(field.invalid(`${path}.port`, sp.port ?? 0, msg));
  if (!sp.protocol) errs.push(field.required(`${path}.protocol`));
  else if (!protocols.includes(sp.protocol)) errs.push(field.notSupported(`${path}.protocol`, sp.protocol, protocols));
  errs.push(...validatePortNumOrName(sp.targetPort, `${path}.targetPort`));
  if (sp.appProtocol !== undefined) errs.push(...validateQualifiedName(sp.appProtocol, `${path}.appProtocol`));
  return errs;
}

function validateClientIPAffinityConfig(spec: ServiceSpec, path: string): FieldError[] {
  const detail = 'when session affinity type is ClientIP';
  const cfg = spec.sessionAffinityConfig;
  if (!cfg) return [field.required(path, detail)];
  if (!cfg.clientIP) return [field.required(`${path}.clientIP`, detail)];
  const t = cfg.clientIP.timeoutSeconds;
  if (t === undefined) return [field.required(`${path}.clientIP.timeoutSeconds`, detail)];
  if (!(t > 0 && t <= MaxClientIPTimeoutSeconds)) {
    return [field.invalid(`${path}.clientIP.timeoutSeconds`, t, `must be greater than 0 and less than ${MaxClientIPTimeoutSeconds}`)];
  }
  return [];
}

/** ValidateServiceClusterIPsRelatedFields: clusterIP/clusterIPs in step, families and policy values. */
export function validateClusterIPsRelatedFields(spec: ServiceSpec): FieldError[] {
  if (spec.type === 'ExternalName') return [];
  const errs: FieldError[] = [];
  const clusterIPs = spec.clusterIPs ?? [];
  const ipsPath = 'spec.clusterIPs';
  if (spec.clusterIP) {
    if (clusterIPs.length === 0) errs.push(field.required(ipsPath));
    else if (clusterIPs[0] !== spec.clusterIP) errs.push(field.invalid(ipsPath, clusterIPs, 'first value must match `clusterIP`'));
  } else if (clusterIPs.length !== 0) {
    errs.push(field.invalid(ipsPath, clusterIPs, 'must be empty when `clusterIP` is not specified'));
  }
  const seen = new Set<string>();
  (spec.ipFamilies ?? []).forEach((fam, i) => {
    if (!ipFamilyNames.includes(fam)) errs.push(field.notSupported(`spec.ipFamilies[${i}]`, fam, ipFamilyNames));
    if (seen.has(fam)) errs.push(field.duplicate(`spec.ipFamilies[${i}]`, fam));
    seen.add(fam);
  });
  if (spec.ipFamilyPolicy !== undefined && !ipFamilyPolicies.includes(spec.ipFamilyPolicy)) {
    errs.push(field.notSupported('spec.ipFamilyPolicy', spec.ipFamilyPolicy, ipFamilyPolicies));
  }
  let badIPs = false;
  clusterIPs.forEach((ip, i) => {
    if (i === 0 && ip === 'None') {
      if (clusterIPs.length > 1) {
        badIPs = true;
        errs.push(field.invalid(ipsPath, clusterIPs, "'None' must be the first and only value"));
      }
      return;
    }
    const e = validateIP(ip, `${ipsPath}[${i}]`);
    if (e.length) badIPs = true;
    errs.push(...e);
  });
  if (clusterIPs.length > 2) errs.push(field.invalid(ipsPath, clusterIPs, 'may only hold up to 2 values'));
  // Further checks would only restate a bad address.
  if (badIPs) return errs;
  if (clusterIPs.length > 1) {
    const fams = clusterIPs.map((ip) => familyOfIP(ip));
    if (!(clusterIPs.length === 2 && fams[0] !== fams[1])) {
      errs.push(field.invalid(ipsPath, clusterIPs, 'may specify no more than one IP for each IP family'));
    }
  }
  if (!isHeadless(spec) && clusterIPs.length > 0 && (spec.ipFamilies?.length ?? 0) > 0) {
    const fams = spec.ipFamilies!;
    clusterIPs.forEach((ip, i) => {
      if (i >= fams.length) return;
      const isV6 = parseIP(ip)?.family === 6;
      if (fams[i] === 'IPv4' && isV6) errs.push(field.invalid(`${ipsPath}[${i}]`, ip, `expected an IPv4 value as indicated by \`ipFamilies[${i}]\``));
      if (fams[i] === 'IPv6' && !isV6) errs.push(field.invalid(`${ipsPath}[${i}]`, ip, `expected an IPv6 value as indicated by \`ipFamilies[${i}]\``));
    });
  }
  return errs;
}

/**
 * The IP-family checks kube-apiserver makes against its configuration before allocating
 * (initIPFamilyFields): policy against the number of IPs and families, families and given cluster
 * IPs configured on this cluster, RequireDualStack only on a dual-stack cluster.
 */
export function validateIPFamiliesForCluster(spec: ServiceSpec, cfg: ClusterConfig): FieldError[] {
  if (spec.type === 'ExternalName') return [];
  const errs: FieldError[] = [];
  const configured = clusterIPFamilies(cfg);
  const clusterIPs = spec.clusterIPs ?? [];
  const families = spec.ipFamilies ?? [];
  const policy = spec.ipFamilyPolicy ?? 'SingleStack';
  if (policy === 'SingleStack') {
    if (clusterIPs.length === 2) {
      errs.push(field.invalid('spec.ipFamilyPolicy', policy, "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified"));
    }
    if (families.length === 2) {
      errs.push(field.invalid('spec.ipFamilyPolicy', policy, "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified"));
    }
  }
  clusterIPs.forEach((ip, i) => {
    if (ip === 'None') return;
    const fam = familyOfIP(ip);
    if (fam && i >= families.length && !configured.includes(fam)) {
      errs.push(field.invalid(`spec.clusterIPs[${i}]`, clusterIPs, `${fam} is not configured on this cluster`));
    }
  });
  if (errs.length) return errs;
  // Headless without selector may carry families the cluster does not serve.
  if (spec.clusterIP === 'None' && Object.keys(spec.selector ?? {}).length === 0) return errs;
  if (policy === 'RequireDualStack' && configured.length < 2) {
    errs.push(field.invalid('spec.ipFamilyPolicy', policy, 'this cluster is not configured for dual-stack services'));
  }
  families.forEach((fam, i) => {
    if (ipFamilyNames.includes(fam) && !configured.includes(fam as 'IPv4' | 'IPv6')) {
      errs.push(field.invalid(`spec.ipFamilies[${i}]`, fam, 'not configured on this cluster'));
    }
  });
  return errs;
}

/** ValidateService without metadata, plus Portico's externalName-is-not-an-IP rule and cluster checks. */
export function validateService(svc: Service, cfg: ClusterConfig): FieldError[] {
  const spec: ServiceSpec = svc.spec ?? {};
  const errs: FieldError[] = [];
  const ports = spec.ports ?? [];
  const headless = isHeadless(spec);

  if (ports.length === 0 && !headless && spec.type !== 'ExternalName') errs.push(field.required('spec.ports'));
  switch (spec.type) {
    case 'LoadBalancer':
      if (headless) errs.push(field.invalid('spec.clusterIPs[0]', 'None', "may not be set to 'None' for LoadBalancer services"));
      break;
    case 'NodePort':
      if (headless) errs.push(field.invalid('spec.clusterIPs[0]', 'None', "may not be set to 'None' for NodePort services"));
      break;
    case 'ExternalName': {
      if ((spec.clusterIPs?.length ?? 0) > 0) errs.push(field.forbidden('spec.clusterIPs', 'may not be set for ExternalName services'));
      if ((spec.ipFamilies?.length ?? 0) > 0) errs.push(field.forbidden('spec.ipFamilies', 'may not be set for ExternalName services'));
      if (spec.ipFamilyPolicy !== undefined) errs.push(field.forbidden('spec.ipFamilyPolicy', 'may not be set for ExternalName services'));
      // A CNAME may end in a dot to mark it fully qualified.
      const cname = (spec.externalName ?? '').replace(/\.$/, '');
      if (!cname) {
        errs.push(field.required('spec.externalName'));
      } else {
        const dnsErrs = validateDNS1123Subdomain(cname, 'spec.externalName');
        errs.push(...dnsErrs);
        // kube only warns here; the service notes make it a rule: a name, never an address.
        if (dnsErrs.length === 0 && parseIP(cname)) errs.push(field.invalid('spec.externalName', cname, 'must be a DNS name, not an IP address'));
      }
      break;
    }
  }

  const names = new Set<string>();
  ports.forEach((p, i) => errs.push(...validateServicePort(p, ports.length > 1, names, `spec.ports[${i}]`)));

  if (spec.selector) errs.push(...validateLabels(spec.selector, 'spec.selector'));

  if (!spec.sessionAffinity) errs.push(field.required('spec.sessionAffinity'));
  else if (!affinities.includes(spec.sessionAffinity)) errs.push(field.notSupported('spec.sessionAffinity', spec.sessionAffinity, affinities));
  if (spec.sessionAffinity === 'ClientIP') {
    errs.push(...validateClientIPAffinityConfig(spec, 'spec.sessionAffinityConfig'));
  } else if (spec.sessionAffinity === 'None' && spec.sessionAffinityConfig !== undefined) {
    errs.push(field.forbidden('spec.sessionAffinityConfig', 'must not be set when session affinity is None'));
  }

  errs.push(...validateClusterIPsRelatedFields(spec));

  (spec.externalIPs ?? []).forEach((ip, i) => {
    const path = `spec.externalIPs[${i}]`;
    const e = validateIP(ip, path);
    errs.push(...(e.length ? e : validateNonSpecialIP(ip, path, { noMulticast: true })));
  });

  if (!spec.type) errs.push(field.required('spec.type'));
  else if (!serviceTypes.includes(spec.type)) errs.push(field.notSupported('spec.type', spec.type, serviceTypes));

  if (spec.type === 'ClusterIP') {
    ports.forEach((p, i) => {
      if (p.nodePort) errs.push(field.forbidden(`spec.ports[${i}].nodePort`, "may not be used when `type` is 'ClusterIP'"));
    });
  }

  const nodePorts = new Set<string>();
  ports.forEach((p, i) => {
    if (!p.nodePort) return;
    const key = `${p.protocol}/${p.nodePort}`;
    if (nodePorts.has(key)) errs.push(field.duplicate(`spec.ports[${i}].nodePort`, p.nodePort));
    nodePorts.add(key);
  });
  const portKeys = new Set<string>();
  ports.forEach((p, i) => {
    const key = `${p.protocol}/${p.port}`;
    if (portKeys.has(key)) errs.push(field.duplicate(`spec.ports[${i}]`, { protocol: p.protocol ?? '', port: p.port ?? 0 }));
    portKeys.add(key);
  });

  const ranges = spec.loadBalancerSourceRanges ?? [];
  if (ranges.length > 0) {
    // kube's path really is capitalised here.
    const path = 'spec.LoadBalancerSourceRanges';
    if (spec.type !== 'LoadBalancer') errs.push(field.forbidden(path, "may only be used when `type` is 'LoadBalancer'"));
    ranges.forEach((r, i) => errs.push(...validateCIDR(r.trim(), `${path}[${i}]`)));
  } else {
    const ann = svc.metadata?.annotations?.['service.beta.kubernetes.io/load-balancer-source-ranges'];
    if (ann !== undefined) {
      const path = 'metadata.annotations[service.beta.kubernetes.io/load-balancer-source-ranges]';
      if (spec.type !== 'LoadBalancer') errs.push(field.forbidden(path, "may only be used when `type` is 'LoadBalancer'"));
      const v = ann.trim();
      if (v) for (const c of v.split(',')) errs.push(...validateCIDR(c.trim(), path));
    }
  }

  if (spec.allocateLoadBalancerNodePorts !== undefined && spec.type !== 'LoadBalancer') {
    errs.push(field.forbidden('spec.allocateLoadBalancerNodePorts', "may only be used when `type` is 'LoadBalancer'"));
  }
  // kube's path lacks the `spec.` prefix here.
  if (spec.type === 'LoadBalancer' && spec.allocateLoadBalancerNodePorts === undefined) errs.push(field.required('allocateLoadBalancerNodePorts'));

  if (spec.type === 'LoadBalancer') {
    if (spec.loadBalancerClass !== undefined) errs.push(...validateQualifiedName(spec.loadBalancerClass, 'spec.loadBalancerClass'));
  } else if (spec.loadBalancerClass !== undefined) {
    errs.push(field.forbidden('spec.loadBalancerClass', "may only be used when `type` is 'LoadBalancer'"));
  }

  if (spec.loadBalancerIP !== undefined && spec.loadBalancerIP !== '' && spec.type === 'LoadBalancer') {
    // kube stores it unchecked; the LB allocator needs an address to honour it.
    errs.push(...validateIP(spec.loadBalancerIP, 'spec.loadBalancerIP'));
  }

  errs.push(...validateExternalTrafficPolicy(spec));

  if (spec.internalTrafficPolicy === undefined) {
    if (spec.type === 'ClusterIP' || spec.type === 'NodePort' || spec.type === 'LoadBalancer') errs.push(field.required('spec.internalTrafficPolicy'));
  } else if (!trafficPolicies.includes(spec.internalTrafficPolicy)) {
    errs.push(field.notSupported('spec.internalTrafficPolicy', spec.internalTrafficPolicy, trafficPolicies));
  }
  if (spec.trafficDistribution !== undefined && spec.trafficDistribution !== 'PreferClose') {
    errs.push(field.notSupported('spec.trafficDistribution', spec.trafficDistribution, ['PreferClose']));
  }

  // Allocation-time checks only make sense on an otherwise sound object (kube runs them later).
  if (errs.length === 0) errs.push(...validateIPFamiliesForCluster(spec, cfg));
  return errs;
}

function validateExternalTrafficPolicy(spec: ServiceSpec): FieldError[] {
  const errs: FieldError[] = [];
  if (!externallyAccessible(spec)) {
    if (spec.externalTrafficPolicy) {
      errs.push(field.invalid('spec.externalTrafficPolicy', spec.externalTrafficPolicy, 'may only be set for externally-accessible services'));
    }
  } else if (!spec.externalTrafficPolicy) {
    errs.push(field.required('spec.externalTrafficPolicy'));
  } else if (!trafficPolicies.includes(spec.externalTrafficPolicy)) {
    errs.push(field.notSupported('spec.externalTrafficPolicy', spec.externalTrafficPolicy, trafficPolicies));
  }
  if (!needsHealthCheck(spec)) {
    if (spec.healthCheckNodePort) {
      errs.push(field.invalid('spec.healthCheckNodePort', spec.healthCheckNodePort, "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"));
    }
  } else if (spec.healthCheckNodePort) {
    // Absent is fine here (unlike kube's validation, which runs after allocation): the allocator fills it.
    for (const msg of isValidPortNum(spec.healthCheckNodePort)) errs.push(field.invalid('spec.healthCheckNodePort', spec.healthCheckNodePort, msg));
  }
  return errs;
}

/** ValidateServiceUpdate's own rules (validateService runs as well). */
export function validateServiceUpdate(svc: Service, old: Service): FieldError[] {
  const spec = svc.spec ?? {};
  const o = old.spec ?? {};
  const errs: FieldError[] = [];
  const externalName = spec.type === 'ExternalName' || o.type === 'ExternalName';
  const newHeadless = isHeadless(spec);
  const oldHeadless = isHeadless(o);
  const ips = spec.clusterIPs ?? [];
  const oldIPs = o.clusterIPs ?? [];

  // Cluster IPs: may not change, except to/from ExternalName and between headless Services.
  if (!externalName && !(oldHeadless && newHeadless)) {
    if (oldIPs.length === ips.length) {
      oldIPs.forEach((ip, i) => {
        if (ip !== ips[i]) errs.push(field.invalid(`spec.clusterIPs[${i}]`, ips, 'may not change once set'));
      });
    } else if (oldIPs.length > ips.length) {
      if (ips.length === 0) errs.push(field.invalid('spec.clusterIPs[0]', ips, 'primary clusterIP can not be unset'));
      if (oldIPs.length > 0 && ips.length > 0 && ips[0] !== oldIPs[0]) errs.push(field.invalid('spec.clusterIPs[0]', ips, 'may not change once set'));
      if (ips.length === 1 && spec.ipFamilyPolicy !== 'SingleStack') {
        errs.push(field.invalid('spec.ipFamilyPolicy', spec.ipFamilyPolicy ?? null, "must be set to 'SingleStack' when releasing the secondary clusterIP"));
      }
    } else if (oldIPs.length > 0 && ips[0] !== oldIPs[0]) {
      errs.push(field.invalid('spec.clusterIPs[0]', ips, 'may not change once set'));
    }
  }

  // IP families: same rule, and free when switching to or from headless.
  if (!externalName && newHeadless === oldHeadless && !newHeadless) {
    const fams = spec.ipFamilies ?? [];
    const oldFams = o.ipFamilies ?? [];
    if (oldFams.length === fams.length) {
      if (oldFams.some((f, i) => f !== fams[i])) errs.push(field.invalid('spec.ipFamilies[0]', fams, 'may not change once set'));
    } else if (oldFams.length > fams.length) {
      if (ips.length === 0) errs.push(field.invalid('spec.ipFamilies[0]', fams, 'primary ipFamily can not be unset'));
      if (fams.length > 0 && fams[0] !== oldFams[0]) errs.push(field.invalid('spec.ipFamilies[0]', ips, 'may not change once set'));
      if (fams.length === 1 && spec.ipFamilyPolicy !== 'SingleStack') {
        errs.push(field.invalid('spec.ipFamilyPolicy', spec.ipFamilyPolicy ?? null, "must be set to 'SingleStack' when releasing the secondary ipFamily"));
      }
    } else if (oldFams.length > 0 && fams.length > 0 && fams[0] !== oldFams[0]) {
      errs.push(field.invalid('spec.ipFamilies[0]', ips, 'may not change once set'));
    }
  }

  if (o.type === 'LoadBalancer' && spec.type === 'LoadBalancer' && o.loadBalancerClass !== spec.loadBalancerClass) {
    errs.push(field.invalid('spec.loadBalancerClass', spec.loadBalancerClass ?? null, 'may not change once set'));
  }
  if (needsHealthCheck(o) && needsHealthCheck(spec) && o.healthCheckNodePort && spec.healthCheckNodePort !== o.healthCheckNodePort) {
    errs.push(field.forbidden('spec.healthCheckNodePort', 'field is immutable'));
  }
  return errs;
}

