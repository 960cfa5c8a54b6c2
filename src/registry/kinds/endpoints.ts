// core/v1 Endpoints: schema, types and table printer. Defaulting and validation live in
// registry/endpoints/ and are plugged in below.
import type { Static } from '@sinclair/typebox';
import { Type } from '@sinclair/typebox';
import type { KindDef } from '../types.js';
import { age, ageColumn, col, joinHostPort, nameColumn } from '../printers.js';
import { defaultEndpoints, validateEndpoints } from '../endpoints/validation.js';
import { Atomic, Int32, O, Obj, ObjectReference, Str, Sub, kindSchema, listSchema } from './common.js';

const gvk = { group: '', version: 'v1', kind: 'Endpoints' };

export const EndpointAddress = Obj('io.k8s.api.core.v1.EndpointAddress', 'EndpointAddress is one IP address of an endpoint.', {
  ip: Str('The IP address of the endpoint. Loopback, link-local and multicast addresses are not allowed.'),
  hostname: O(Str('The hostname of the endpoint, used for DNS records of headless Services.')),
  nodeName: O(Str('The node hosting this endpoint, used to tell which endpoints are local to a node.')),
  targetRef: O(Sub(ObjectReference, 'The object (usually a Pod) providing this endpoint.')),
});
export type EndpointAddress = Static<typeof EndpointAddress>;

export const EndpointPort = Obj('io.k8s.api.core.v1.EndpointPort', 'EndpointPort is one port of an endpoint.', {
  name: O(Str('The name of the port; must match the name of a ServicePort. Optional when there is one port.')),
  port: Int32('The port number.'),
  protocol: O(Str('The IP protocol: TCP, UDP or SCTP. Defaults to TCP.', { enum: ['SCTP', 'TCP', 'UDP'] })),
  appProtocol: O(Str('The application protocol of this port, a hint for implementations.')),
});
export type EndpointPort = Static<typeof EndpointPort>;

export const EndpointSubset = Obj('io.k8s.api.core.v1.EndpointSubset', 'EndpointSubset is a group of addresses that share the same ports; the endpoints are the cross product of addresses and ports.', {
  addresses: O(Type.Array(EndpointAddress, { description: 'Addresses that serve the ports and are ready.', ...Atomic })),
  notReadyAddresses: O(Type.Array(EndpointAddress, { description: 'Addresses that serve the ports but are not ready yet (or stopped being ready).', ...Atomic })),
  ports: O(Type.Array(EndpointPort, { description: 'The ports these addresses serve.', ...Atomic })),
});
export type EndpointSubset = Static<typeof EndpointSubset>;

export const Endpoints = kindSchema('io.k8s.api.core.v1.Endpoints', gvk, 'Endpoints is the set of addresses and ports that implement a Service.', {
  subsets: O(Type.Array(EndpointSubset, { description: 'The groups of addresses and ports of the Service.', ...Atomic })),
});
export type Endpoints = Static<typeof Endpoints>;

export const EndpointsList = listSchema(Endpoints, { ...gvk, kind: 'EndpointsList' }, 'The list of Endpoints.');
export type EndpointsList = Static<typeof EndpointsList>;

/** kube's formatEndpoints: up to 3 `ip:port`, then ` + N more...`; `<none>` without subsets. */
export function formatEndpoints(ep: Endpoints): string {
  const subsets = ep.subsets ?? [];
  if (subsets.length === 0) return '<none>';
  const max = 3;
  const list: string[] = [];
  let more = false;
  let count = 0;
  for (const ss of subsets) {
    const addrs = ss.addresses ?? [];
    const ports = ss.ports ?? [];
    if (ports.length === 0) {
      // Headless Services may have no ports: list bare IPs.
      count += addrs.length;
      for (const a of addrs) {
        if (list.length === max) {
          more = true;
          break;
        }
        list.push(a.ip);
      }
      continue;
    }
    for (const p of ports) {
      count += addrs.length;
      for (const a of addrs) {
        if (list.length === max) {
          more = true;
          break;
        }
        list.push(joinHostPort(a.ip, p.port));
      }
    }
  }
  const ret = list.join(',');
  return more ? `${ret} + ${count - max} more...` : ret;
}

export const endpointsKind: KindDef<Endpoints> = {
  group: '',
  version: 'v1',
  kind: 'Endpoints',
  listKind: 'EndpointsList',
  resource: 'endpoints',
  singular: 'endpoints',
  shortNames: ['ep'],
  categories: [],
  namespaced: true,
  subresources: [],
  schema: Endpoints,
  // Defaulting and validation come from registry/endpoints/ (another part); set on these lines.
  defaults: defaultEndpoints,
  validate: validateEndpoints,
  validateUpdate: undefined,
  nameRule: 'dns1123subdomain',
  table: {
    columns: [
      nameColumn,
      col('Endpoints', 'The addresses and ports of the endpoints.'),
      ageColumn,
    ],
    cells(ep, now) {
      return [ep.metadata?.name ?? '', formatEndpoints(ep), age(ep.metadata?.creationTimestamp, now)];
    },
  },
};
