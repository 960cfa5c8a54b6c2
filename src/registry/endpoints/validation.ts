// Endpoints defaulting and validation: kube-apiserver's ValidateEndpoints (minus metadata, which
// the storage layer checks), plus Portico's rules from the service notes: an endpoint address may
// not be a virtual IP (inside the service CIDRs) nor multicast, and port names are unique per subset.
import { field, type FieldError } from '../../util/errors.js';
import type { ClusterConfig } from '../types.js';
import type { EndpointAddress, EndpointPort, Endpoints } from '../kinds/endpoints.js';
import { cidrContains, parseCIDR, parseIP } from '../../util/ip.js';
import { isValidPortNum, loopbackCluster, nameIsDNSSubdomain, validateDNS1123Label, validateIP, validateNonSpecialIP, validateQualifiedName } from '../validation.js';

const protocols = ['SCTP', 'TCP', 'UDP'];

/** SetDefaults_Endpoints: ports without a protocol are TCP. */
export function defaultEndpoints(ep: Endpoints): void {
  for (const ss of ep.subsets ?? []) {
    for (const p of ss.ports ?? []) if (!p.protocol) p.protocol = 'TCP';
  }
}

function validateAddress(a: EndpointAddress, path: string, cfg: ClusterConfig): FieldError[] {
  const errs: FieldError[] = [];
  const ipPath = `${path}.ip`;
  const ipErrs = validateIP(a.ip, ipPath);
  errs.push(...ipErrs);
  if (a.hostname) errs.push(...validateDNS1123Label(a.hostname, `${path}.hostname`));
  if (a.nodeName !== undefined) {
    for (const msg of nameIsDNSSubdomain(a.nodeName, false)) errs.push(field.invalid(`${path}.nodeName`, a.nodeName, msg));
  }
  if (ipErrs.length === 0) {
    const special = validateNonSpecialIP(a.ip, ipPath, { noMulticast: true, allowLoopback: loopbackCluster(cfg.serviceCIDRs) });
    errs.push(...special);
    const ip = parseIP(a.ip)!;
    for (const c of cfg.serviceCIDRs) {
      const cidr = parseCIDR(c);
      if (cidr && cidrContains(cidr, ip)) {
        errs.push(field.invalid(ipPath, a.ip, `may not be in the service CIDR (${c}): an endpoint must be a real address (such as a pod's), not a virtual IP`));
      }
    }
  } else {
    // kube reports the unparsable address a second time from its non-special check.
    errs.push(field.invalid(ipPath, a.ip, 'must be a valid IP address'));
  }
  return errs;
}

function validatePort(p: EndpointPort, requireName: boolean, names: Set<string>, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (requireName && !p.name) {
    errs.push(field.required(`${path}.name`));
  } else if (p.name) {
    errs.push(...validateDNS1123Label(p.name, `${path}.name`));
    // Not in kube; the proxy matches ports to Service ports by name, so two would be ambiguous.
    if (names.has(p.name)) errs.push(field.duplicate(`${path}.name`, p.name));
    names.add(p.name);
  }
  for (const msg of isValidPortNum(p.port)) errs.push(field.invalid(`${path}.port`, p.port ?? 0, msg));
  if (!p.protocol) errs.push(field.required(`${path}.protocol`));
  else if (!protocols.includes(p.protocol)) errs.push(field.notSupported(`${path}.protocol`, p.protocol, protocols));
  if (p.appProtocol !== undefined) errs.push(...validateQualifiedName(p.appProtocol, `${path}.appProtocol`));
  return errs;
}

/** Endpoints validation on create and update (kube has no update-only rules for Endpoints). */
export function validateEndpoints(ep: Endpoints, cfg: ClusterConfig): FieldError[] {
  const errs: FieldError[] = [];
  (ep.subsets ?? []).forEach((ss, i) => {
    const path = `subsets[${i}]`;
    const addrs = ss.addresses ?? [];
    const notReady = ss.notReadyAddresses ?? [];
    if (addrs.length === 0 && notReady.length === 0) errs.push(field.required(path, 'must specify `addresses` or `notReadyAddresses`'));
    addrs.forEach((a, j) => errs.push(...validateAddress(a, `${path}.addresses[${j}]`, cfg)));
    notReady.forEach((a, j) => errs.push(...validateAddress(a, `${path}.notReadyAddresses[${j}]`, cfg)));
    const ports = ss.ports ?? [];
    const names = new Set<string>();
    ports.forEach((p, j) => errs.push(...validatePort(p, ports.length > 1, names, `${path}.ports[${j}]`)));
  });
  return errs;
}
