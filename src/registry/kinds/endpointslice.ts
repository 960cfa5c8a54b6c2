// discovery.k8s.io/v1 EndpointSlice: schema, types, simple validation and table printer.
import type { Static } from '@sinclair/typebox';
import { Type } from '@sinclair/typebox';
import { field, type FieldError } from '../../util/errors.js';
import type { KindDef } from '../types.js';
import { age, ageColumn, col, listWithMore, nameColumn } from '../printers.js';
import { Atomic, Bool, Int32, O, Obj, ObjectReference, SetList, Str, StrMap, Sub, kindSchema, listSchema } from './common.js';

const gvk = { group: 'discovery.k8s.io', version: 'v1', kind: 'EndpointSlice' };

export const EndpointConditions = Obj('io.k8s.api.discovery.v1.EndpointConditions', 'EndpointConditions is the current state of an endpoint.', {
  ready: O(Bool('The endpoint is ready to receive traffic. Absent means unknown; consumers treat it as ready. False for terminating endpoints unless publishNotReadyAddresses.')),
  serving: O(Bool('The endpoint is ready for traffic, whether or not it is terminating.')),
  terminating: O(Bool('The endpoint is terminating.')),
});

export const ForZone = Obj('io.k8s.api.discovery.v1.ForZone', 'ForZone names a zone an endpoint should serve.', {
  name: Str('The name of the zone.'),
});
export const ForNode = Obj('io.k8s.api.discovery.v1.ForNode', 'ForNode names a node an endpoint should serve.', {
  name: Str('The name of the node.'),
});

export const EndpointHints = Obj('io.k8s.api.discovery.v1.EndpointHints', 'EndpointHints say where an endpoint should be consumed, for topology-aware routing.', {
  forZones: O(Type.Array(ForZone, { description: 'The zones this endpoint should serve.', ...Atomic })),
  forNodes: O(Type.Array(ForNode, { description: 'The nodes this endpoint should serve.', ...Atomic })),
});

export const Endpoint = Obj('io.k8s.api.discovery.v1.Endpoint', 'Endpoint is one logical backend of a Service.', {
  addresses: Type.Array(Type.String(), { description: 'The addresses of the endpoint, of the slice\'s addressType. Consumers use the first one. 1 to 100 entries.', ...SetList }),
  conditions: O(Sub(EndpointConditions, 'The current state of the endpoint.')),
  hostname: O(Str('The hostname of the endpoint, used for DNS records of headless Services.')),
  targetRef: O(Sub(ObjectReference, 'The object (usually a Pod) providing this endpoint.')),
  deprecatedTopology: O(StrMap('Deprecated topology labels; kept for reading old objects, no longer set.')),
  nodeName: O(Str('The node hosting this endpoint.')),
  zone: O(Str('The zone this endpoint lives in.')),
  hints: O(Sub(EndpointHints, 'Hints on how this endpoint should be consumed.')),
});
export type Endpoint = Static<typeof Endpoint>;

export const DiscoveryEndpointPort = Obj('io.k8s.api.discovery.v1.EndpointPort', 'EndpointPort is one port served by the endpoints of a slice.', {
  name: O(Str('The name of the port: empty or a DNS-1123 label, matching the ServicePort name.')),
  protocol: O(Str('The IP protocol: TCP, UDP or SCTP. Defaults to TCP.', { enum: ['SCTP', 'TCP', 'UDP'] })),
  port: O(Int32('The port number. Absent means all ports.')),
  appProtocol: O(Str('The application protocol of this port, a hint for implementations.')),
});
export type DiscoveryEndpointPort = Static<typeof DiscoveryEndpointPort>;

export const EndpointSlice = kindSchema('io.k8s.api.discovery.v1.EndpointSlice', gvk, 'EndpointSlice is a subset of the endpoints of a Service. A Service may have several slices; together they hold all its endpoints.', {
  addressType: Str('The type of the addresses in this slice: IPv4, IPv6 or FQDN. Cannot change.', { enum: ['FQDN', 'IPv4', 'IPv6'] }),
  endpoints: Type.Array(Endpoint, { description: 'The endpoints of this slice, at most 1000.', ...Atomic }),
  ports: O(Type.Array(DiscoveryEndpointPort, { description: 'The ports every endpoint of this slice serves, at most 100.', ...Atomic })),
});
export type EndpointSlice = Static<typeof EndpointSlice>;

export const EndpointSliceList = listSchema(EndpointSlice, { ...gvk, kind: 'EndpointSliceList' }, 'The list of EndpointSlices.');
export type EndpointSliceList = Static<typeof EndpointSliceList>;

function portsCell(ports: DiscoveryEndpointPort[] | undefined): string {
  const list: string[] = [];
  const max = 3;
  let more = false;
  let count = 0;
  for (const p of ports ?? []) {
    if (list.length < max) list.push(p.port !== undefined ? String(p.port) : p.name !== undefined ? p.name : '*');
    else if (list.length === max) more = true;
    count++;
  }
  return listWithMore(list, more, count, max);
}

function endpointsCell(endpoints: Endpoint[] | undefined): string {
  const list: string[] = [];
  const max = 3;
  let more = false;
  let count = 0;
  for (const ep of endpoints ?? []) {
    for (const a of ep.addresses ?? []) {
      if (list.length < max) list.push(a);
      else if (list.length === max) more = true;
      count++;
    }
  }
  return listWithMore(list, more, count, max);
}

const addressTypes = ['IPv4', 'IPv6', 'FQDN'];

export const endpointSliceKind: KindDef<EndpointSlice> = {
  group: 'discovery.k8s.io',
  version: 'v1',
  kind: 'EndpointSlice',
  listKind: 'EndpointSliceList',
  resource: 'endpointslices',
  singular: 'endpointslice',
  shortNames: [],
  categories: [],
  namespaced: true,
  subresources: [],
  schema: EndpointSlice,
  nameRule: 'dns1123subdomain',
  defaults(slice) {
    // Decoding leaves a missing list absent; the stored form always has one (Go's nil slice).
    if (!slice.endpoints) slice.endpoints = [];
    for (const p of slice.ports ?? []) {
      if (p.protocol === undefined) p.protocol = 'TCP';
      if (p.name === undefined) p.name = '';
    }
  },
  validate(slice) {
    const errs: FieldError[] = [];
    if (slice.addressType === undefined || slice.addressType === '') errs.push(field.required('addressType'));
    else if (!addressTypes.includes(slice.addressType)) errs.push(field.notSupported('addressType', slice.addressType, addressTypes));
    (slice.endpoints ?? []).forEach((ep, i) => {
      if (!ep.addresses || ep.addresses.length === 0) errs.push(field.required(`endpoints[${i}].addresses`, 'must contain at least 1 address'));
      else if (ep.addresses.length > 100) errs.push(field.tooMany(`endpoints[${i}].addresses`, `must have at most 100 items`));
    });
    if ((slice.endpoints ?? []).length > 1000) errs.push(field.tooMany('endpoints', 'must have at most 1000 items'));
    if ((slice.ports ?? []).length > 20000) errs.push(field.tooMany('ports', 'must have at most 20000 items'));
    return errs;
  },
  table: {
    columns: [
      nameColumn,
      col('AddressType', 'The type of the addresses in this slice.'),
      col('Ports', 'The ports the endpoints of this slice serve.'),
      col('Endpoints', 'The addresses of the endpoints in this slice.'),
      ageColumn,
    ],
    cells(s, now) {
      return [s.metadata?.name ?? '', s.addressType ?? '', portsCell(s.ports), endpointsCell(s.endpoints), age(s.metadata?.creationTimestamp, now)];
    },
  },
};
