// core/v1 Namespace: schema, types, defaults (phase Active, the kubernetes finalizer) and printer.
import type { Static } from '@sinclair/typebox';
import { Type } from '@sinclair/typebox';
import type { KindDef } from '../types.js';
import { age, ageColumn, col, nameColumn } from '../printers.js';
import { O, Obj, Str, StrList, Sub, Time, kindSchema, listSchema, mergeBy } from './common.js';

const gvk = { group: '', version: 'v1', kind: 'Namespace' };

export const NamespaceSpec = Obj('io.k8s.api.core.v1.NamespaceSpec', 'NamespaceSpec describes the attributes of a namespace.', {
  finalizers: O(StrList('Values that must be cleared before the namespace is removed from storage.')),
});

export const NamespaceCondition = Obj('io.k8s.api.core.v1.NamespaceCondition', 'NamespaceCondition is one aspect of the state of a namespace.', {
  type: Str('The condition type.'),
  status: Str('True, False or Unknown.'),
  lastTransitionTime: O(Time('When the condition last changed status.')),
  reason: O(Str('A CamelCase reason for the last transition.')),
  message: O(Str('A human-readable message about the last transition.')),
});

export const NamespaceStatus = Obj('io.k8s.api.core.v1.NamespaceStatus', 'NamespaceStatus is the current state of a namespace.', {
  phase: O(Str('Active or Terminating.', { enum: ['Active', 'Terminating'] })),
  conditions: O(Type.Array(NamespaceCondition, { description: 'The current conditions of the namespace.', ...mergeBy('type') })),
});

export const Namespace = kindSchema('io.k8s.api.core.v1.Namespace', gvk, 'A Namespace is a scope for names; most objects live in one.', {
  spec: O(Sub(NamespaceSpec, 'The behaviour of the namespace.')),
  status: O(Sub(NamespaceStatus, 'The current state of the namespace. Populated by the system.')),
});
export type Namespace = Static<typeof Namespace>;

export const NamespaceList = listSchema(Namespace, { ...gvk, kind: 'NamespaceList' }, 'The list of Namespaces.');
export type NamespaceList = Static<typeof NamespaceList>;

export const namespaceKind: KindDef<Namespace> = {
  group: '',
  version: 'v1',
  kind: 'Namespace',
  listKind: 'NamespaceList',
  resource: 'namespaces',
  singular: 'namespace',
  shortNames: ['ns'],
  categories: [],
  namespaced: false,
  subresources: ['status'],
  schema: Namespace,
  nameRule: 'dns1123label',
  defaults(ns) {
    ns.status ??= {};
    ns.status.phase ??= 'Active';
    ns.spec ??= {};
    // kube-apiserver adds its finalizer on create so namespace deletion can empty the namespace first.
    ns.spec.finalizers ??= ['kubernetes'];
  },
  fieldSelectors: {
    'status.phase': (ns) => ns.status?.phase ?? '',
  },
  table: {
    columns: [nameColumn, col('Status', 'The lifecycle phase of the namespace.'), ageColumn],
    cells(ns, now) {
      return [ns.metadata?.name ?? '', ns.status?.phase ?? '', age(ns.metadata?.creationTimestamp, now)];
    },
  },
};
