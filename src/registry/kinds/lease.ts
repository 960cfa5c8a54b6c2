// coordination.k8s.io/v1 Lease: schema, types and printer (used for leader election).
import type { Static } from '@sinclair/typebox';
import type { KindDef } from '../types.js';
import { age, ageColumn, col, nameColumn } from '../printers.js';
import { Int32, MicroTime, O, Obj, Str, Sub, kindSchema, listSchema } from './common.js';

const gvk = { group: 'coordination.k8s.io', version: 'v1', kind: 'Lease' };

export const LeaseSpec = Obj('io.k8s.api.coordination.v1.LeaseSpec', 'LeaseSpec is the state of a lease.', {
  holderIdentity: O(Str('The identity of the current holder.')),
  leaseDurationSeconds: O(Int32('How long, from the last renewal, candidates wait before taking the lease over.')),
  acquireTime: O(MicroTime('When the current holder acquired the lease.')),
  renewTime: O(MicroTime('When the current holder last renewed the lease.')),
  leaseTransitions: O(Int32('How many times the lease changed holders.')),
  strategy: O(Str('The strategy for picking a holder in coordinated leader election.')),
  preferredHolder: O(Str('The holder the lease should pass to, in coordinated leader election.')),
});
export type LeaseSpec = Static<typeof LeaseSpec>;

export const Lease = kindSchema('io.k8s.api.coordination.v1.Lease', gvk, 'Lease is a lock held by one party at a time, renewed periodically.', {
  spec: O(Sub(LeaseSpec, 'The state of the lease.')),
});
export type Lease = Static<typeof Lease>;

export const LeaseList = listSchema(Lease, { ...gvk, kind: 'LeaseList' }, 'The list of Leases.');
export type LeaseList = Static<typeof LeaseList>;

export const leaseKind: KindDef<Lease> = {
  group: 'coordination.k8s.io',
  version: 'v1',
  kind: 'Lease',
  listKind: 'LeaseList',
  resource: 'leases',
  singular: 'lease',
  shortNames: [],
  categories: [],
  namespaced: true,
  subresources: [],
  schema: Lease,
  nameRule: 'dns1123subdomain',
  table: {
    columns: [nameColumn, col('Holder', 'The identity of the current holder of the lease.'), ageColumn],
    cells(l, now) {
      return [l.metadata?.name ?? '', l.spec?.holderIdentity ?? '', age(l.metadata?.creationTimestamp, now)];
    },
  },
};
