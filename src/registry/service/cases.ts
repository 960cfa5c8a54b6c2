// The table of Service, Endpoints and Service-update cases: each row a manifest as a user writes it
// (before defaulting) and the outcome kube-apiserver gives. The unit test runs every row through
// defaults + validation; the end-to-end test replays them through the API and kubectl.
// Addresses follow the test plan: service CIDR 198.18.0.0/16, pod CIDR 198.19.0.0/16, node links
// 198.19.255.0/24, node ports 30000-32767.
import type { FieldErrorType } from '../../util/errors.js';
import type { ClusterConfig } from '../types.js';

export interface ExpectedError {
  field: string;
  type: FieldErrorType;
  /** A substring of the error body (what follows `<field>: `). */
  message: string;
}

export type CaseKind = 'Service' | 'Endpoints' | 'ServiceUpdate';

export interface ValidationCase {
  name: string;
  kind: CaseKind;
  /** ServiceUpdate: the Service as first created (it must be accepted). */
  old?: Manifest;
  /** The manifest as written; for ServiceUpdate the replacement of `old`. */
  manifest: Manifest;
  /**
   * 'ok': accepted. 'allocator': passes validation but the allocator refuses it with
   * `allocatorMessage` (node-port range, addresses). Otherwise every error expected, in any order.
   */
  expect: 'ok' | 'allocator' | ExpectedError[];
  allocatorMessage?: string;
  note?: string;
}

export type Manifest = Record<string, unknown> & { metadata: Record<string, unknown> };

/** The cluster the expectations assume. */
export const caseClusterConfig: ClusterConfig = {
  serviceCIDRs: ['198.18.0.0/16'],
  podCIDR: '198.19.0.0/16',
  nodePortRange: { base: 30000, size: 2768 },
  clusterDomain: 'cluster.local',
  lbPool: [],
};

function svc(name: string, spec: Record<string, unknown>, meta: Record<string, unknown> = {}): Manifest {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default', ...meta }, spec };
}

function eps(name: string, subsets: unknown[], meta: Record<string, unknown> = {}): Manifest {
  return { apiVersion: 'v1', kind: 'Endpoints', metadata: { name, namespace: 'default', ...meta }, subsets };
}

const p80 = [{ port: 80, targetPort: 8080 }];
const sel = { app: 'web' };

function invalid(f: string, message: string): ExpectedError {
  return { field: f, type: 'FieldValueInvalid', message };
}
function required(f: string, message = 'Required value'): ExpectedError {
  return { field: f, type: 'FieldValueRequired', message };
}
function forbidden(f: string, message: string): ExpectedError {
  return { field: f, type: 'FieldValueForbidden', message };
}
function unsupported(f: string, message: string): ExpectedError {
  return { field: f, type: 'FieldValueNotSupported', message };
}
function duplicate(f: string, message = 'Duplicate value'): ExpectedError {
  return { field: f, type: 'FieldValueDuplicate', message };
}

const dns1035 = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";
const rfc1123Label = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const rfc1123Subdomain = 'a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters';
const portRange = 'must be between 1 and 65535, inclusive';
const notIP = 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)';
const nodePortRangeMsg = 'provided port is not in the valid range. The range of valid ports is 30000-32767';

const serviceCases: ValidationCase[] = [
  // ---- the service notes' manifests, placeholders filled in ----
  {
    name: 'notes: NodePort with a selector and a fixed cluster IP',
    kind: 'Service',
    manifest: svc('web', {
      selector: { app: 'web', tier: 'frontend' },
      type: 'NodePort',
      clusterIP: '198.18.0.50',
      ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30080 }],
    }),
    expect: 'ok',
  },
  {
    name: 'notes: headless Service (clusterIP None, type left out)',
    kind: 'Service',
    manifest: svc('web-headless', { selector: { app: 'web' }, clusterIP: 'None', ports: [{ name: 'http', port: 80, targetPort: 8080 }] }),
    expect: 'ok',
  },
  {
    name: 'notes: ExternalName with a domain name',
    kind: 'Service',
    manifest: svc('external-db', { type: 'ExternalName', externalName: 'db.example.com' }),
    expect: 'ok',
  },
  {
    name: 'notes: selectorless ClusterIP Service for hand-made Endpoints',
    kind: 'Service',
    manifest: svc('vantiq', { type: 'ClusterIP', ports: [{ name: 'http', port: 80, targetPort: 8080 }] }),
    expect: 'ok',
    note: 'the notes use namespace aiops-nx; default keeps the row free of namespace setup',
  },
  {
    name: 'notes: externalIPs on a ClusterIP Service',
    kind: 'Service',
    manifest: svc('web-external', { selector: sel, ports: [{ port: 80, protocol: 'TCP', targetPort: 80 }], externalIPs: ['198.19.255.200'] }),
    expect: 'ok',
    note: "the notes' 1.1.1.1 replaced by an address of the test plan's node-link range",
  },
  {
    name: 'notes: nodePort 8081 is outside the node-port range',
    kind: 'Service',
    manifest: svc('web-8081', { selector: sel, type: 'NodePort', ports: [{ nodePort: 8081, port: 80, protocol: 'TCP', targetPort: 80 }] }),
    expect: 'allocator',
    allocatorMessage: nodePortRangeMsg,
    note: 'validation accepts it; the node-port allocator refuses it (spec.ports[0].nodePort: Invalid value: 8081)',
  },

  // ---- valid Services ----
  { name: 'minimal ClusterIP with one unnamed port', kind: 'Service', manifest: svc('minimal', { selector: sel, ports: [{ port: 80 }] }), expect: 'ok' },
  {
    name: 'two named ports',
    kind: 'Service',
    manifest: svc('two-ports', { selector: sel, ports: [{ name: 'http', port: 80 }, { name: 'https', port: 443 }] }),
    expect: 'ok',
  },
  {
    name: 'same port number on UDP and TCP',
    kind: 'Service',
    manifest: svc('dns', { selector: sel, ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }] }),
    expect: 'ok',
  },
  { name: 'SCTP port', kind: 'Service', manifest: svc('sctp', { selector: sel, ports: [{ port: 3868, protocol: 'SCTP' }] }), expect: 'ok' },
  { name: 'named targetPort', kind: 'Service', manifest: svc('named-target', { selector: sel, ports: [{ port: 80, targetPort: 'http-web' }] }), expect: 'ok' },
  { name: 'LoadBalancer without anything else', kind: 'Service', manifest: svc('lb', { selector: sel, type: 'LoadBalancer', ports: p80 }), expect: 'ok' },
  {
    name: 'LoadBalancer with Local policy and a healthCheckNodePort',
    kind: 'Service',
    manifest: svc('lb-local', { selector: sel, type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 30100, ports: p80 }),
    expect: 'ok',
  },
  {
    name: 'LoadBalancer with source ranges (space-padded allowed)',
    kind: 'Service',
    manifest: svc('lb-ranges', { selector: sel, type: 'LoadBalancer', loadBalancerSourceRanges: ['198.19.255.0/24', ' 10.0.0.0/8 '], ports: p80 }),
    expect: 'ok',
  },
  {
    name: 'LoadBalancer with a loadBalancerClass',
    kind: 'Service',
    manifest: svc('lb-class', { selector: sel, type: 'LoadBalancer', loadBalancerClass: 'example.com/other-lb', ports: p80 }),
    expect: 'ok',
  },
  {
    name: 'LoadBalancer without node ports',
    kind: 'Service',
    manifest: svc('lb-no-np', { selector: sel, type: 'LoadBalancer', allocateLoadBalancerNodePorts: false, ports: p80 }),
    expect: 'ok',
  },
  { name: 'ClientIP affinity gets the default timeout', kind: 'Service', manifest: svc('sticky', { selector: sel, sessionAffinity: 'ClientIP', ports: p80 }), expect: 'ok' },
  {
    name: 'ClientIP affinity with the longest timeout',
    kind: 'Service',
    manifest: svc('sticky-day', { selector: sel, sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 86400 } }, ports: p80 }),
    expect: 'ok',
  },
  {
    name: 'sessionAffinityConfig is dropped when affinity is None',
    kind: 'Service',
    manifest: svc('none-affinity', { selector: sel, sessionAffinity: 'None', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } }, ports: p80 }),
    expect: 'ok',
  },
  { name: 'internalTrafficPolicy Local', kind: 'Service', manifest: svc('itp-local', { selector: sel, internalTrafficPolicy: 'Local', ports: p80 }), expect: 'ok' },
  { name: 'ExternalName with a trailing dot', kind: 'Service', manifest: svc('ext-dot', { type: 'ExternalName', externalName: 'db.example.com.' }), expect: 'ok' },
  { name: 'ExternalName with ports', kind: 'Service', manifest: svc('ext-ports', { type: 'ExternalName', externalName: 'db.example.com', ports: [{ port: 5432 }] }), expect: 'ok' },
  { name: 'headless without ports', kind: 'Service', manifest: svc('headless-noports', { selector: sel, clusterIP: 'None' }), expect: 'ok' },
  {
    name: 'headless without selector defaults to RequireDualStack even on a single-stack cluster',
    kind: 'Service',
    manifest: svc('headless-selectorless', { clusterIP: 'None', ports: [{ name: 'http', port: 80 }] }),
    expect: 'ok',
  },
  {
    name: 'NodePort with Local policy',
    kind: 'Service',
    manifest: svc('np-local', { selector: sel, type: 'NodePort', externalTrafficPolicy: 'Local', ports: p80 }),
    expect: 'ok',
  },
  {
    name: 'ClusterIP with externalIPs may set externalTrafficPolicy',
    kind: 'Service',
    manifest: svc('eip-local', { selector: sel, externalIPs: ['198.19.255.201'], externalTrafficPolicy: 'Local', ports: p80 }),
    expect: 'ok',
  },
  {
    name: 'same nodePort on two protocols',
    kind: 'Service',
    manifest: svc('np-two-proto', {
      selector: sel,
      type: 'NodePort',
      ports: [{ name: 'dns', port: 53, protocol: 'UDP', nodePort: 30053 }, { name: 'dns-tcp', port: 53, protocol: 'TCP', nodePort: 30053 }],
    }),
    expect: 'ok',
  },
  {
    name: 'appProtocol as a domain-prefixed name',
    kind: 'Service',
    manifest: svc('app-proto', { selector: sel, ports: [{ port: 80, appProtocol: 'kubernetes.io/h2c' }] }),
    expect: 'ok',
  },
  { name: 'explicit ipFamilies IPv4', kind: 'Service', manifest: svc('v4', { selector: sel, ipFamilies: ['IPv4'], ports: p80 }), expect: 'ok' },
  {
    name: 'PreferDualStack on a single-stack cluster stays single',
    kind: 'Service',
    manifest: svc('prefer-ds', { selector: sel, ipFamilyPolicy: 'PreferDualStack', ports: p80 }),
    expect: 'ok',
  },
  { name: 'name of 63 characters', kind: 'Service', manifest: svc(`a${'b'.repeat(62)}`, { selector: sel, ports: p80 }), expect: 'ok' },
  { name: 'publishNotReadyAddresses', kind: 'Service', manifest: svc('pnra', { selector: sel, publishNotReadyAddresses: true, ports: p80 }), expect: 'ok' },
  {
    name: 'node port at the top of the range',
    kind: 'Service',
    manifest: svc('np-top', { selector: sel, type: 'NodePort', ports: [{ port: 80, nodePort: 32767 }] }),
    expect: 'ok',
  },

  // ---- names and metadata ----
  { name: 'upper-case name', kind: 'Service', manifest: svc('Web', { selector: sel, ports: p80 }), expect: [invalid('metadata.name', dns1035)] },
  { name: 'name starting with a digit', kind: 'Service', manifest: svc('1web', { selector: sel, ports: p80 }), expect: [invalid('metadata.name', dns1035)] },
  { name: 'name with a dot', kind: 'Service', manifest: svc('web.v1', { selector: sel, ports: p80 }), expect: [invalid('metadata.name', "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?'")] },
  {
    name: 'name of 64 characters',
    kind: 'Service',
    manifest: svc(`a${'b'.repeat(63)}`, { selector: sel, ports: p80 }),
    expect: [invalid('metadata.name', 'must be no more than 63 characters')],
  },
  {
    name: 'label value with a space',
    kind: 'Service',
    manifest: svc('bad-label', { selector: sel, ports: p80 }, { labels: { app: 'my web' } }),
    expect: [invalid('metadata.labels', 'a valid label must be an empty string or consist of alphanumeric characters')],
  },
  {
    name: 'annotation key with two slashes',
    kind: 'Service',
    manifest: svc('bad-annotation', { selector: sel, ports: p80 }, { annotations: { 'a/b/c': 'x' } }),
    expect: [invalid('metadata.annotations', "with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')")],
  },
  {
    name: 'annotations over 256 KiB',
    kind: 'Service',
    manifest: svc('big-annotations', { selector: sel, ports: p80 }, { annotations: { big: 'x'.repeat(256 * 1024) } }),
    expect: [{ field: 'metadata.annotations', type: 'FieldValueTooLong', message: 'may not be more than 262144 bytes' }],
  },

  // ---- ports ----
  { name: 'no ports on a ClusterIP Service', kind: 'Service', manifest: svc('no-ports', { selector: sel }), expect: [required('spec.ports')] },
  { name: 'port left out (0)', kind: 'Service', manifest: svc('port-zero', { selector: sel, ports: [{ name: 'http', targetPort: 80 }] }), expect: [invalid('spec.ports[0].port', portRange)] },
  { name: 'port 70000', kind: 'Service', manifest: svc('port-big', { selector: sel, ports: [{ port: 70000, targetPort: 80 }] }), expect: [invalid('spec.ports[0].port', portRange)] },
  {
    name: 'protocol HTTP',
    kind: 'Service',
    manifest: svc('proto-http', { selector: sel, ports: [{ port: 80, protocol: 'HTTP' }] }),
    expect: [unsupported('spec.ports[0].protocol', 'supported values: "SCTP", "TCP", "UDP"')],
  },
  {
    name: 'two ports without names',
    kind: 'Service',
    manifest: svc('unnamed', { selector: sel, ports: [{ port: 80 }, { port: 443 }] }),
    expect: [required('spec.ports[0].name'), required('spec.ports[1].name')],
  },
  {
    name: 'one of two ports without a name',
    kind: 'Service',
    manifest: svc('half-named', { selector: sel, ports: [{ name: 'http', port: 80 }, { port: 443 }] }),
    expect: [required('spec.ports[1].name')],
  },
  {
    name: 'duplicate port names',
    kind: 'Service',
    manifest: svc('dup-names', { selector: sel, ports: [{ name: 'http', port: 80 }, { name: 'http', port: 8080 }] }),
    expect: [duplicate('spec.ports[1].name', 'Duplicate value: "http"')],
  },
  {
    name: 'upper-case port name',
    kind: 'Service',
    manifest: svc('upper-port', { selector: sel, ports: [{ name: 'HTTP', port: 80 }] }),
    expect: [invalid('spec.ports[0].name', rfc1123Label)],
  },
  {
    name: 'port name with an underscore',
    kind: 'Service',
    manifest: svc('underscore-port', { selector: sel, ports: [{ name: 'my_port', port: 80 }] }),
    expect: [invalid('spec.ports[0].name', rfc1123Label)],
  },
  {
    name: 'same protocol and port twice',
    kind: 'Service',
    manifest: svc('dup-port', { selector: sel, ports: [{ name: 'a', port: 80 }, { name: 'b', port: 80, targetPort: 8080 }] }),
    expect: [duplicate('spec.ports[1]')],
  },
  {
    name: 'same nodePort twice on TCP',
    kind: 'Service',
    manifest: svc('dup-nodeport', { selector: sel, type: 'NodePort', ports: [{ name: 'a', port: 80, nodePort: 30090 }, { name: 'b', port: 81, nodePort: 30090 }] }),
    expect: [duplicate('spec.ports[1].nodePort', 'Duplicate value: 30090')],
  },
  {
    name: 'nodePort on a ClusterIP Service',
    kind: 'Service',
    manifest: svc('cip-nodeport', { selector: sel, type: 'ClusterIP', ports: [{ port: 80, nodePort: 30091 }] }),
    expect: [forbidden('spec.ports[0].nodePort', "may not be used when `type` is 'ClusterIP'")],
  },
  {
    name: 'nodePort 40000 is outside the range',
    kind: 'Service',
    manifest: svc('np-40000', { selector: sel, type: 'NodePort', ports: [{ port: 80, nodePort: 40000 }] }),
    expect: 'allocator',
    allocatorMessage: nodePortRangeMsg,
  },
  { name: 'targetPort 70000', kind: 'Service', manifest: svc('tp-big', { selector: sel, ports: [{ port: 80, targetPort: 70000 }] }), expect: [invalid('spec.ports[0].targetPort', portRange)] },
  {
    name: 'targetPort name with an underscore',
    kind: 'Service',
    manifest: svc('tp-underscore', { selector: sel, ports: [{ port: 80, targetPort: 'http_web' }] }),
    expect: [invalid('spec.ports[0].targetPort', 'must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)')],
  },
  {
    name: 'targetPort number written as a string',
    kind: 'Service',
    manifest: svc('tp-digits', { selector: sel, ports: [{ port: 80, targetPort: '8080' }] }),
    expect: [invalid('spec.ports[0].targetPort', 'must contain at least one letter (a-z)')],
  },
  {
    name: 'targetPort name longer than 15',
    kind: 'Service',
    manifest: svc('tp-long', { selector: sel, ports: [{ port: 80, targetPort: 'very-long-port-name' }] }),
    expect: [invalid('spec.ports[0].targetPort', 'must be no more than 15 characters')],
  },
  {
    name: 'targetPort name with consecutive hyphens',
    kind: 'Service',
    manifest: svc('tp-hyphens', { selector: sel, ports: [{ port: 80, targetPort: 'web--x' }] }),
    expect: [invalid('spec.ports[0].targetPort', 'must not contain consecutive hyphens')],
  },
  {
    name: 'appProtocol with two slashes',
    kind: 'Service',
    manifest: svc('bad-app-proto', { selector: sel, ports: [{ port: 80, appProtocol: 'a/b/c' }] }),
    expect: [invalid('spec.ports[0].appProtocol', 'a qualified name')],
  },

  // ---- types, cluster IPs and families ----
  { name: 'unknown type', kind: 'Service', manifest: svc('bad-type', { selector: sel, type: 'Foo', ports: p80 }), expect: [unsupported('spec.type', 'supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"')] },
  {
    name: 'NodePort with clusterIP None',
    kind: 'Service',
    manifest: svc('np-headless', { selector: sel, type: 'NodePort', clusterIP: 'None', ports: p80 }),
    expect: [invalid('spec.clusterIPs[0]', "may not be set to 'None' for NodePort services")],
  },
  {
    name: 'LoadBalancer with clusterIP None',
    kind: 'Service',
    manifest: svc('lb-headless', { selector: sel, type: 'LoadBalancer', clusterIP: 'None', ports: p80 }),
    expect: [invalid('spec.clusterIPs[0]', "may not be set to 'None' for LoadBalancer services")],
  },
  { name: 'malformed clusterIP', kind: 'Service', manifest: svc('bad-cip', { selector: sel, clusterIP: '198.18.0.300', ports: p80 }), expect: [invalid('spec.clusterIPs[0]', notIP)] },
  {
    name: 'IPv6 clusterIP on an IPv4 cluster',
    kind: 'Service',
    manifest: svc('v6-cip', { selector: sel, clusterIP: 'fd00::10', ports: p80 }),
    expect: [invalid('spec.clusterIPs[0]', 'IPv6 is not configured on this cluster')],
  },
  {
    name: 'clusterIPs[0] differs from clusterIP',
    kind: 'Service',
    manifest: svc('cips-mismatch', { selector: sel, clusterIP: '198.18.0.60', clusterIPs: ['198.18.0.61'], ports: p80 }),
    expect: [invalid('spec.clusterIPs', 'first value must match `clusterIP`')],
  },
  {
    name: 'clusterIPs without clusterIP',
    kind: 'Service',
    manifest: svc('cips-only', { selector: sel, clusterIPs: ['198.18.0.62'], ports: p80 }),
    expect: [invalid('spec.clusterIPs', 'must be empty when `clusterIP` is not specified')],
  },
  {
    name: 'two IPv4 clusterIPs',
    kind: 'Service',
    manifest: svc('cips-two-v4', { selector: sel, clusterIP: '198.18.0.63', clusterIPs: ['198.18.0.63', '198.18.0.64'], ipFamilyPolicy: 'PreferDualStack', ports: p80 }),
    expect: [invalid('spec.clusterIPs', 'may specify no more than one IP for each IP family')],
  },
  {
    name: "'None' followed by an address",
    kind: 'Service',
    manifest: svc('cips-none-first', { selector: sel, clusterIP: 'None', clusterIPs: ['None', '198.18.0.65'], ports: p80 }),
    expect: [invalid('spec.clusterIPs', "'None' must be the first and only value")],
  },
  {
    name: 'unknown IP family',
    kind: 'Service',
    manifest: svc('fam-ipv5', { selector: sel, ipFamilies: ['IPv5'], ports: p80 }),
    expect: [unsupported('spec.ipFamilies[0]', 'supported values: "IPv4", "IPv6"')],
  },
  {
    name: 'IP family twice',
    kind: 'Service',
    manifest: svc('fam-dup', { selector: sel, ipFamilies: ['IPv4', 'IPv4'], ipFamilyPolicy: 'PreferDualStack', ports: p80 }),
    expect: [duplicate('spec.ipFamilies[1]', 'Duplicate value: "IPv4"')],
  },
  {
    name: 'unknown ipFamilyPolicy',
    kind: 'Service',
    manifest: svc('bad-policy', { selector: sel, ipFamilyPolicy: 'DualStack', ports: p80 }),
    expect: [unsupported('spec.ipFamilyPolicy', 'supported values: "PreferDualStack", "RequireDualStack", "SingleStack"')],
  },
  {
    name: 'RequireDualStack on a single-stack cluster',
    kind: 'Service',
    manifest: svc('require-ds', { selector: sel, ipFamilyPolicy: 'RequireDualStack', ports: p80 }),
    expect: [invalid('spec.ipFamilyPolicy', 'this cluster is not configured for dual-stack services')],
  },
  {
    name: 'IPv6 family on an IPv4 cluster',
    kind: 'Service',
    manifest: svc('fam-v6', { selector: sel, ipFamilies: ['IPv6'], ports: p80 }),
    expect: [invalid('spec.ipFamilies[0]', 'not configured on this cluster')],
  },
  {
    name: 'IPv4 clusterIP with family IPv6',
    kind: 'Service',
    manifest: svc('fam-mismatch', { selector: sel, clusterIP: '198.18.0.66', ipFamilies: ['IPv6'], ports: p80 }),
    expect: [invalid('spec.clusterIPs[0]', 'expected an IPv6 value as indicated by `ipFamilies[0]`')],
  },
  {
    name: 'SingleStack with two families',
    kind: 'Service',
    manifest: svc('single-two-fams', { selector: sel, ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv4', 'IPv6'], ports: p80 }),
    expect: [invalid('spec.ipFamilyPolicy', "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified")],
  },

  // ---- ExternalName ----
  { name: 'ExternalName without externalName', kind: 'Service', manifest: svc('ext-missing', { type: 'ExternalName' }), expect: [required('spec.externalName')] },
  {
    name: 'ExternalName with an IP address',
    kind: 'Service',
    manifest: svc('ext-ip', { type: 'ExternalName', externalName: '198.19.255.1' }),
    expect: [invalid('spec.externalName', 'must be a DNS name, not an IP address')],
    note: 'kube-apiserver only warns; the service notes forbid an IP here',
  },
  {
    name: 'ExternalName with upper case',
    kind: 'Service',
    manifest: svc('ext-upper', { type: 'ExternalName', externalName: 'DB.Example.com' }),
    expect: [invalid('spec.externalName', rfc1123Subdomain)],
  },
  {
    name: 'ExternalName with a clusterIP',
    kind: 'Service',
    manifest: svc('ext-cip', { type: 'ExternalName', externalName: 'db.example.com', clusterIP: '198.18.0.67' }),
    expect: [forbidden('spec.clusterIPs', 'may not be set for ExternalName services')],
  },
  {
    name: 'ExternalName with ipFamilies',
    kind: 'Service',
    manifest: svc('ext-fams', { type: 'ExternalName', externalName: 'db.example.com', ipFamilies: ['IPv4'] }),
    expect: [forbidden('spec.ipFamilies', 'may not be set for ExternalName services')],
  },
  {
    name: 'ExternalName with ipFamilyPolicy',
    kind: 'Service',
    manifest: svc('ext-policy', { type: 'ExternalName', externalName: 'db.example.com', ipFamilyPolicy: 'SingleStack' }),
    expect: [forbidden('spec.ipFamilyPolicy', 'may not be set for ExternalName services')],
  },

  // ---- traffic policies and affinity ----
  {
    name: 'externalTrafficPolicy on a plain ClusterIP Service',
    kind: 'Service',
    manifest: svc('etp-cip', { selector: sel, externalTrafficPolicy: 'Local', ports: p80 }),
    expect: [invalid('spec.externalTrafficPolicy', 'may only be set for externally-accessible services')],
  },
  {
    name: 'externalTrafficPolicy Global',
    kind: 'Service',
    manifest: svc('etp-global', { selector: sel, type: 'NodePort', externalTrafficPolicy: 'Global', ports: p80 }),
    expect: [unsupported('spec.externalTrafficPolicy', 'supported values: "Cluster", "Local"')],
  },
  {
    name: 'healthCheckNodePort on a NodePort Service',
    kind: 'Service',
    manifest: svc('hc-np', { selector: sel, type: 'NodePort', externalTrafficPolicy: 'Local', healthCheckNodePort: 30101, ports: p80 }),
    expect: [invalid('spec.healthCheckNodePort', "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'")],
  },
  {
    name: 'healthCheckNodePort on a LoadBalancer with Cluster policy',
    kind: 'Service',
    manifest: svc('hc-cluster', { selector: sel, type: 'LoadBalancer', healthCheckNodePort: 30102, ports: p80 }),
    expect: [invalid('spec.healthCheckNodePort', "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'")],
  },
  {
    name: 'internalTrafficPolicy Everywhere',
    kind: 'Service',
    manifest: svc('itp-bad', { selector: sel, internalTrafficPolicy: 'Everywhere', ports: p80 }),
    expect: [unsupported('spec.internalTrafficPolicy', 'supported values: "Cluster", "Local"')],
  },
  {
    name: 'unknown sessionAffinity',
    kind: 'Service',
    manifest: svc('affinity-sticky', { selector: sel, sessionAffinity: 'Sticky', ports: p80 }),
    expect: [unsupported('spec.sessionAffinity', 'supported values: "ClientIP", "None"')],
  },
  {
    name: 'ClientIP timeout 0',
    kind: 'Service',
    manifest: svc('affinity-zero', { selector: sel, sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 0 } }, ports: p80 }),
    expect: [invalid('spec.sessionAffinityConfig.clientIP.timeoutSeconds', 'must be greater than 0 and less than 86400')],
  },
  {
    name: 'ClientIP timeout over a day',
    kind: 'Service',
    manifest: svc('affinity-long', { selector: sel, sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 86401 } }, ports: p80 }),
    expect: [invalid('spec.sessionAffinityConfig.clientIP.timeoutSeconds', 'Invalid value: 86401: must be greater than 0 and less than 86400')],
  },
  {
    name: 'trafficDistribution Anywhere',
    kind: 'Service',
    manifest: svc('td-bad', { selector: sel, trafficDistribution: 'Anywhere', ports: p80 }),
    expect: [unsupported('spec.trafficDistribution', 'supported values: "PreferClose"')],
  },

  // ---- selector, external IPs, load balancer fields ----
  {
    name: 'selector value with a slash',
    kind: 'Service',
    manifest: svc('bad-selector', { selector: { app: 'web/v1' }, ports: p80 }),
    expect: [invalid('spec.selector', 'a valid label must be an empty string')],
  },
  { name: 'externalIP malformed', kind: 'Service', manifest: svc('eip-bad', { selector: sel, externalIPs: ['1.2.3'], ports: p80 }), expect: [invalid('spec.externalIPs[0]', notIP)] },
  {
    name: 'externalIP loopback',
    kind: 'Service',
    manifest: svc('eip-loopback', { selector: sel, externalIPs: ['127.0.0.1'], ports: p80 }),
    expect: [invalid('spec.externalIPs[0]', 'may not be in the loopback range (127.0.0.0/8, ::1/128)')],
  },
  {
    name: 'externalIP link-local',
    kind: 'Service',
    manifest: svc('eip-linklocal', { selector: sel, externalIPs: ['169.254.1.1'], ports: p80 }),
    expect: [invalid('spec.externalIPs[0]', 'may not be in the link-local range (169.254.0.0/16, fe80::/10)')],
  },
  {
    name: 'externalIP link-local multicast',
    kind: 'Service',
    manifest: svc('eip-llmc', { selector: sel, externalIPs: ['224.0.0.5'], ports: p80 }),
    expect: [invalid('spec.externalIPs[0]', 'may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)')],
  },
  {
    name: 'externalIP multicast',
    kind: 'Service',
    manifest: svc('eip-mc', { selector: sel, externalIPs: ['239.1.2.3'], ports: p80 }),
    expect: [invalid('spec.externalIPs[0]', 'may not be in the multicast range (224.0.0.0/4, ff00::/8)')],
    note: 'kube refuses only link-local multicast; issue 3 asks for all multicast',
  },
  {
    name: 'externalIP unspecified',
    kind: 'Service',
    manifest: svc('eip-zero', { selector: sel, externalIPs: ['0.0.0.0'], ports: p80 }),
    expect: [invalid('spec.externalIPs[0]', 'may not be unspecified (0.0.0.0)')],
  },
  {
    name: 'loadBalancerSourceRanges with a bad CIDR',
    kind: 'Service',
    manifest: svc('lb-bad-range', { selector: sel, type: 'LoadBalancer', loadBalancerSourceRanges: ['10.0.0.0/33'], ports: p80 }),
    expect: [invalid('spec.LoadBalancerSourceRanges[0]', 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)')],
  },
  {
    name: 'loadBalancerSourceRanges on a ClusterIP Service',
    kind: 'Service',
    manifest: svc('cip-ranges', { selector: sel, loadBalancerSourceRanges: ['10.0.0.0/8'], ports: p80 }),
    expect: [forbidden('spec.LoadBalancerSourceRanges', "may only be used when `type` is 'LoadBalancer'")],
  },
  {
    name: 'allocateLoadBalancerNodePorts on a NodePort Service',
    kind: 'Service',
    manifest: svc('np-alloc', { selector: sel, type: 'NodePort', allocateLoadBalancerNodePorts: true, ports: p80 }),
    expect: [forbidden('spec.allocateLoadBalancerNodePorts', "may only be used when `type` is 'LoadBalancer'")],
  },
  {
    name: 'loadBalancerClass on a ClusterIP Service',
    kind: 'Service',
    manifest: svc('cip-class', { selector: sel, loadBalancerClass: 'example.com/lb', ports: p80 }),
    expect: [forbidden('spec.loadBalancerClass', "may only be used when `type` is 'LoadBalancer'")],
  },
  {
    name: 'loadBalancerClass not a qualified name',
    kind: 'Service',
    manifest: svc('lb-bad-class', { selector: sel, type: 'LoadBalancer', loadBalancerClass: 'example.com/-lb', ports: p80 }),
    expect: [invalid('spec.loadBalancerClass', 'name part must consist of alphanumeric characters')],
  },
  {
    name: 'loadBalancerIP not an address',
    kind: 'Service',
    manifest: svc('lb-bad-ip', { selector: sel, type: 'LoadBalancer', loadBalancerIP: 'pool-a', ports: p80 }),
    expect: [invalid('spec.loadBalancerIP', notIP)],
    note: 'kube stores loadBalancerIP unchecked; Portico honours it from its pool, so it must be an address',
  },
];

const podIP = '198.19.1.10';

const endpointsCases: ValidationCase[] = [
  {
    name: 'notes: Endpoints for the selectorless Service, port name matching',
    kind: 'Endpoints',
    manifest: eps('vantiq', [{ addresses: [{ ip: podIP }], ports: [{ name: 'http', port: 8080 }] }]),
    expect: 'ok',
  },
  {
    name: 'two named ports',
    kind: 'Endpoints',
    manifest: eps('ep-two', [{ addresses: [{ ip: podIP }], ports: [{ name: 'http', port: 8080 }, { name: 'https', port: 8443 }] }]),
    expect: 'ok',
  },
  { name: 'notReadyAddresses only', kind: 'Endpoints', manifest: eps('ep-notready', [{ notReadyAddresses: [{ ip: podIP }], ports: [{ port: 8080 }] }]), expect: 'ok' },
  {
    name: 'hostname and nodeName',
    kind: 'Endpoints',
    manifest: eps('ep-host', [{ addresses: [{ ip: podIP, hostname: 'web-0', nodeName: 'node-1.example' }], ports: [{ port: 8080, protocol: 'UDP' }] }]),
    expect: 'ok',
  },
  { name: 'IPv6 address', kind: 'Endpoints', manifest: eps('ep-v6', [{ addresses: [{ ip: 'fd00:19::5' }], ports: [{ port: 8080 }] }]), expect: 'ok' },
  { name: 'no subsets', kind: 'Endpoints', manifest: eps('ep-empty', []), expect: 'ok' },
  { name: 'subset without ports (headless)', kind: 'Endpoints', manifest: eps('ep-noports', [{ addresses: [{ ip: podIP }] }]), expect: 'ok' },
  {
    name: 'subset without addresses',
    kind: 'Endpoints',
    manifest: eps('ep-noaddr', [{ ports: [{ port: 8080 }] }]),
    expect: [required('subsets[0]', 'must specify `addresses` or `notReadyAddresses`')],
  },
  {
    name: 'address not an IP',
    kind: 'Endpoints',
    manifest: eps('ep-bad-ip', [{ addresses: [{ ip: 'web-0' }], ports: [{ port: 8080 }] }]),
    expect: [invalid('subsets[0].addresses[0].ip', notIP), invalid('subsets[0].addresses[0].ip', 'must be a valid IP address')],
  },
  {
    name: 'loopback address',
    kind: 'Endpoints',
    manifest: eps('ep-loopback', [{ addresses: [{ ip: '127.0.0.1' }], ports: [{ port: 8080 }] }]),
    expect: [invalid('subsets[0].addresses[0].ip', 'may not be in the loopback range (127.0.0.0/8, ::1/128)')],
  },
  {
    name: 'link-local address',
    kind: 'Endpoints',
    manifest: eps('ep-linklocal', [{ addresses: [{ ip: '169.254.169.254' }], ports: [{ port: 80 }] }]),
    expect: [invalid('subsets[0].addresses[0].ip', 'may not be in the link-local range (169.254.0.0/16, fe80::/10)')],
  },
  {
    name: 'link-local multicast address',
    kind: 'Endpoints',
    manifest: eps('ep-llmc', [{ addresses: [{ ip: '224.0.0.1' }], ports: [{ port: 80 }] }]),
    expect: [invalid('subsets[0].addresses[0].ip', 'may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)')],
  },
  {
    name: 'multicast address',
    kind: 'Endpoints',
    manifest: eps('ep-mc', [{ addresses: [{ ip: '239.0.0.1' }], ports: [{ port: 80 }] }]),
    expect: [invalid('subsets[0].addresses[0].ip', 'may not be in the multicast range (224.0.0.0/4, ff00::/8)')],
  },
  {
    name: 'unspecified address in notReadyAddresses',
    kind: 'Endpoints',
    manifest: eps('ep-zero', [{ notReadyAddresses: [{ ip: '0.0.0.0' }], ports: [{ port: 80 }] }]),
    expect: [invalid('subsets[0].notReadyAddresses[0].ip', 'may not be unspecified (0.0.0.0)')],
  },
  {
    name: 'notes: a virtual IP (inside the service CIDR) is not an endpoint',
    kind: 'Endpoints',
    manifest: eps('ep-vip', [{ addresses: [{ ip: '198.18.0.10' }], ports: [{ port: 80 }] }]),
    expect: [invalid('subsets[0].addresses[0].ip', 'may not be in the service CIDR (198.18.0.0/16)')],
  },
  {
    name: 'two ports, one without a name',
    kind: 'Endpoints',
    manifest: eps('ep-unnamed', [{ addresses: [{ ip: podIP }], ports: [{ name: 'http', port: 8080 }, { port: 8443 }] }]),
    expect: [required('subsets[0].ports[1].name')],
  },
  {
    name: 'duplicate port names in a subset',
    kind: 'Endpoints',
    manifest: eps('ep-dupname', [{ addresses: [{ ip: podIP }], ports: [{ name: 'http', port: 8080 }, { name: 'http', port: 8081 }] }]),
    expect: [duplicate('subsets[0].ports[1].name', 'Duplicate value: "http"')],
  },
  {
    name: 'same port name in two subsets is fine',
    kind: 'Endpoints',
    manifest: eps('ep-twosubsets', [
      { addresses: [{ ip: podIP }], ports: [{ name: 'http', port: 8080 }] },
      { addresses: [{ ip: '198.19.1.11' }], ports: [{ name: 'http', port: 9090 }] },
    ]),
    expect: 'ok',
  },
  { name: 'port 0', kind: 'Endpoints', manifest: eps('ep-port0', [{ addresses: [{ ip: podIP }], ports: [{ name: 'http' }] }]), expect: [invalid('subsets[0].ports[0].port', portRange)] },
  {
    name: 'protocol ICMP',
    kind: 'Endpoints',
    manifest: eps('ep-icmp', [{ addresses: [{ ip: podIP }], ports: [{ port: 80, protocol: 'ICMP' }] }]),
    expect: [unsupported('subsets[0].ports[0].protocol', 'supported values: "SCTP", "TCP", "UDP"')],
  },
  {
    name: 'upper-case port name',
    kind: 'Endpoints',
    manifest: eps('ep-upper', [{ addresses: [{ ip: podIP }], ports: [{ name: 'HTTP', port: 80 }] }]),
    expect: [invalid('subsets[0].ports[0].name', rfc1123Label)],
  },
  {
    name: 'hostname with an underscore',
    kind: 'Endpoints',
    manifest: eps('ep-badhost', [{ addresses: [{ ip: podIP, hostname: 'web_0' }], ports: [{ port: 80 }] }]),
    expect: [invalid('subsets[0].addresses[0].hostname', rfc1123Label)],
  },
  {
    name: 'nodeName with upper case',
    kind: 'Endpoints',
    manifest: eps('ep-badnode', [{ addresses: [{ ip: podIP, nodeName: 'Node-1' }], ports: [{ port: 80 }] }]),
    expect: [invalid('subsets[0].addresses[0].nodeName', rfc1123Subdomain)],
  },
  {
    name: 'Endpoints name may contain dots (DNS-1123 subdomain)',
    kind: 'Endpoints',
    manifest: eps('web.v1', [{ addresses: [{ ip: podIP }], ports: [{ port: 80 }] }]),
    expect: 'ok',
  },
  {
    name: 'Endpoints name with upper case',
    kind: 'Endpoints',
    manifest: eps('Web', [{ addresses: [{ ip: podIP }], ports: [{ port: 80 }] }]),
    expect: [invalid('metadata.name', rfc1123Subdomain)],
  },
];

const fixed = (ip: string, spec: Record<string, unknown> = {}) => ({ selector: sel, clusterIP: ip, ports: p80, ...spec });

const updateCases: ValidationCase[] = [
  {
    name: 'changing clusterIP',
    kind: 'ServiceUpdate',
    old: svc('upd-cip', fixed('198.18.0.20')),
    manifest: svc('upd-cip', fixed('198.18.0.21')),
    expect: [invalid('spec.clusterIPs[0]', 'may not change once set')],
  },
  {
    name: 'adding a port keeps the clusterIP',
    kind: 'ServiceUpdate',
    old: svc('upd-port', fixed('198.18.0.22')),
    manifest: svc('upd-port', fixed('198.18.0.22', { ports: [{ name: 'http', port: 80 }, { name: 'https', port: 443 }] })),
    expect: 'ok',
  },
  {
    name: 'leaving clusterIP out keeps the allocated one',
    kind: 'ServiceUpdate',
    old: svc('upd-omit', fixed('198.18.0.23')),
    manifest: svc('upd-omit', { selector: sel, ports: p80 }),
    expect: 'ok',
  },
  {
    name: 'headless to a cluster IP',
    kind: 'ServiceUpdate',
    old: svc('upd-headless', fixed('None')),
    manifest: svc('upd-headless', fixed('198.18.0.24')),
    expect: [invalid('spec.clusterIPs[0]', 'may not change once set')],
  },
  {
    name: 'cluster IP to headless',
    kind: 'ServiceUpdate',
    old: svc('upd-to-headless', fixed('198.18.0.25')),
    manifest: svc('upd-to-headless', fixed('None')),
    expect: [invalid('spec.clusterIPs[0]', 'may not change once set')],
  },
  {
    name: 'ClusterIP to ExternalName releases the cluster IP',
    kind: 'ServiceUpdate',
    old: svc('upd-to-ext', fixed('198.18.0.26')),
    manifest: svc('upd-to-ext', { type: 'ExternalName', externalName: 'db.example.com' }),
    expect: 'ok',
  },
  {
    name: 'ExternalName to ClusterIP with a chosen clusterIP',
    kind: 'ServiceUpdate',
    old: svc('upd-from-ext', { type: 'ExternalName', externalName: 'db.example.com' }),
    manifest: svc('upd-from-ext', fixed('198.18.0.27')),
    expect: 'ok',
  },
  {
    name: 'ExternalName to ClusterIP, address allocated',
    kind: 'ServiceUpdate',
    old: svc('upd-from-ext2', { type: 'ExternalName', externalName: 'db.example.com' }),
    manifest: svc('upd-from-ext2', { selector: sel, ports: p80 }),
    expect: 'ok',
  },
  {
    name: 'ClusterIP to NodePort',
    kind: 'ServiceUpdate',
    old: svc('upd-to-np', fixed('198.18.0.28')),
    manifest: svc('upd-to-np', fixed('198.18.0.28', { type: 'NodePort' })),
    expect: 'ok',
  },
  {
    name: 'NodePort to ClusterIP with the old nodePort still written',
    kind: 'ServiceUpdate',
    old: svc('upd-np-cip', fixed('198.18.0.29', { type: 'NodePort', ports: [{ port: 80, nodePort: 30081 }] })),
    manifest: svc('upd-np-cip', fixed('198.18.0.29', { type: 'ClusterIP', ports: [{ port: 80, nodePort: 30081 }] })),
    expect: 'ok',
    note: 'the unchanged node port is dropped on the type change, as kube-apiserver does',
  },
  {
    name: 'NodePort to ClusterIP with a new nodePort',
    kind: 'ServiceUpdate',
    old: svc('upd-np-cip2', fixed('198.18.0.30', { type: 'NodePort', ports: [{ port: 80, nodePort: 30082 }] })),
    manifest: svc('upd-np-cip2', fixed('198.18.0.30', { type: 'ClusterIP', ports: [{ port: 80, nodePort: 30083 }] })),
    expect: [forbidden('spec.ports[0].nodePort', "may not be used when `type` is 'ClusterIP'")],
  },
  {
    name: 'changing ipFamilies',
    kind: 'ServiceUpdate',
    old: svc('upd-fam', fixed('198.18.0.31', { ipFamilies: ['IPv4'] })),
    manifest: svc('upd-fam', fixed('198.18.0.31', { ipFamilies: ['IPv6'] })),
    expect: [invalid('spec.ipFamilies[0]', 'may not change once set'), invalid('spec.clusterIPs[0]', 'expected an IPv6 value as indicated by `ipFamilies[0]`')],
  },
  {
    name: 'changing loadBalancerClass',
    kind: 'ServiceUpdate',
    old: svc('upd-lbc', fixed('198.18.0.32', { type: 'LoadBalancer', loadBalancerClass: 'example.com/a' })),
    manifest: svc('upd-lbc', fixed('198.18.0.32', { type: 'LoadBalancer', loadBalancerClass: 'example.com/b' })),
    expect: [invalid('spec.loadBalancerClass', 'may not change once set')],
  },
  {
    name: 'setting loadBalancerClass on an existing LoadBalancer',
    kind: 'ServiceUpdate',
    old: svc('upd-lbc-set', fixed('198.18.0.33', { type: 'LoadBalancer' })),
    manifest: svc('upd-lbc-set', fixed('198.18.0.33', { type: 'LoadBalancer', loadBalancerClass: 'example.com/a' })),
    expect: [invalid('spec.loadBalancerClass', 'may not change once set')],
  },
  {
    name: 'LoadBalancer to ClusterIP drops an unchanged loadBalancerClass',
    kind: 'ServiceUpdate',
    old: svc('upd-lb-cip', fixed('198.18.0.34', { type: 'LoadBalancer', loadBalancerClass: 'example.com/a' })),
    manifest: svc('upd-lb-cip', fixed('198.18.0.34', { type: 'ClusterIP', loadBalancerClass: 'example.com/a' })),
    expect: 'ok',
  },
  {
    name: 'changing healthCheckNodePort',
    kind: 'ServiceUpdate',
    old: svc('upd-hc', fixed('198.18.0.35', { type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 30200 })),
    manifest: svc('upd-hc', fixed('198.18.0.35', { type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 30201 })),
    expect: [forbidden('spec.healthCheckNodePort', 'field is immutable')],
  },
  {
    name: 'headless Service changes its selector',
    kind: 'ServiceUpdate',
    old: svc('upd-headless-sel', fixed('None')),
    manifest: svc('upd-headless-sel', fixed('None', { selector: { app: 'web2' } })),
    expect: 'ok',
  },
];

/** Every case, at least 80. */
export const validationCases: ValidationCase[] = [...serviceCases, ...endpointsCases, ...updateCases];
