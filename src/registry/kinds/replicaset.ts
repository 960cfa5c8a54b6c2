// apps/v1 ReplicaSet: schema, types, defaults (replicas 1, pod template as for pods), validation
// (registry/apps/validation.ts), the status and scale subresources, and kube's table printer.
import type { Static } from '@sinclair/typebox';
import { Type } from '@sinclair/typebox';
import type { KindDef } from '../types.js';
import { age, ageColumn, col, nameColumn } from '../printers.js';
import { validateNonnegative, validateSelectorAndTemplate, validateSelectorUpdate } from '../apps/validation.js';
import { selectorFromLabelSelector } from '../../selectors/labels.js';
import { Int32, Int64, O, Obj, Str, Sub, Time, kindSchema, listSchema, mergeBy } from './common.js';
import { LabelSelector } from './meta.js';
import { PodTemplateSpec, defaultPodSpec } from './pod.js';

const gvk = { group: 'apps', version: 'v1', kind: 'ReplicaSet' };

export const ReplicaSetSpec = Obj('io.k8s.api.apps.v1.ReplicaSetSpec', 'ReplicaSetSpec is the specification of a ReplicaSet.', {
  replicas: O(Int32('Replicas is the number of desired pods. Defaults to 1.')),
  minReadySeconds: O(Int32('Minimum number of seconds for which a newly created pod should be ready without any of its container crashing, for it to be considered available. Defaults to 0.')),
  selector: Sub(LabelSelector, "Selector is a label query over pods that should match the replica count. Label keys and values that must match in order to be controlled by this replica set. It must match the pod template's labels."),
  template: O(Sub(PodTemplateSpec, 'Template is the object that describes the pod that will be created if insufficient replicas are detected.')),
});

export const ReplicaSetCondition = Obj('io.k8s.api.apps.v1.ReplicaSetCondition', 'ReplicaSetCondition describes the state of a replica set at a certain point.', {
  type: Str('Type of replica set condition.'),
  status: Str('Status of the condition, one of True, False, Unknown.'),
  lastTransitionTime: O(Time('The last time the condition transitioned from one status to another.')),
  reason: O(Str("The reason for the condition's last transition.")),
  message: O(Str('A human readable message indicating details about the transition.')),
});

export const ReplicaSetStatus = Obj('io.k8s.api.apps.v1.ReplicaSetStatus', 'ReplicaSetStatus represents the current status of a ReplicaSet.', {
  replicas: Int32('Replicas is the most recently observed number of non-terminating pods.'),
  fullyLabeledReplicas: O(Int32('The number of non-terminating pods that have labels matching the labels of the pod template of the replicaset.')),
  readyReplicas: O(Int32('The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.')),
  availableReplicas: O(Int32('The number of available non-terminating pods (ready for at least minReadySeconds) for this replica set.')),
  terminatingReplicas: O(Int32('The number of terminating pods for this replica set.')),
  observedGeneration: O(Int64('ObservedGeneration reflects the generation of the most recently observed ReplicaSet.')),
  conditions: O(Type.Array(ReplicaSetCondition, { description: "Represents the latest available observations of a replica set's current state.", ...mergeBy('type') })),
});

export const ReplicaSet = kindSchema('io.k8s.api.apps.v1.ReplicaSet', gvk, 'ReplicaSet ensures that a specified number of pod replicas are running at any given time.', {
  spec: O(Sub(ReplicaSetSpec, 'Spec defines the specification of the desired behavior of the ReplicaSet.')),
  status: O(Sub(ReplicaSetStatus, 'Status is the most recently observed status of the ReplicaSet. Populated by the system. Read-only.')),
});
export type ReplicaSet = Static<typeof ReplicaSet>;

export const ReplicaSetList = listSchema(ReplicaSet, { ...gvk, kind: 'ReplicaSetList' }, 'List of ReplicaSets.');

// ---- printer cells shared with Deployments (kube's layoutContainerCells and selector string) ----

export const templateColumns = (selectorDoc: string) => [
  col('Containers', 'Names of each container in the template.', 1),
  col('Images', 'Images referenced by each container in the template.', 1),
  col('Selector', selectorDoc, 1),
];

export function templateCells(spec: { selector?: LabelSelector; template?: Static<typeof PodTemplateSpec> } | undefined): string[] {
  const containers = spec?.template?.spec?.containers ?? [];
  let selector: string;
  try {
    selector = selectorFromLabelSelector(spec?.selector).toString();
  } catch {
    selector = '<invalid>';
  }
  return [containers.map((c) => c.name).join(','), containers.map((c) => c.image ?? '').join(','), selector];
}

export const replicaSetKind: KindDef<ReplicaSet> = {
  group: 'apps',
  version: 'v1',
  kind: 'ReplicaSet',
  listKind: 'ReplicaSetList',
  resource: 'replicasets',
  singular: 'replicaset',
  shortNames: ['rs'],
  categories: ['all'],
  namespaced: true,
  subresources: ['status', 'scale'],
  schema: ReplicaSet,
  nameRule: 'dns1123subdomain',
  generation: true,
  defaults(rs) {
    const spec = (rs.spec ??= {} as NonNullable<ReplicaSet['spec']>);
    spec.replicas ??= 1;
    if (spec.template?.spec) defaultPodSpec(spec.template.spec);
  },
  validate(rs) {
    const spec = rs.spec;
    return [
      ...validateNonnegative(spec?.replicas, 'spec.replicas'),
      ...validateNonnegative(spec?.minReadySeconds, 'spec.minReadySeconds'),
      ...validateSelectorAndTemplate(spec, 'spec'),
    ];
  },
  validateUpdate(rs, old) {
    return validateSelectorUpdate(rs.spec?.selector, old.spec?.selector, 'spec.selector');
  },
  table: {
    columns: [
      nameColumn,
      col('Desired', 'Replicas is the number of desired pods. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1.', 0, 'integer'),
      col('Current', 'Replicas is the most recently observed number of non-terminating pods.', 0, 'integer'),
      col('Ready', 'The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.', 0, 'integer'),
      ageColumn,
      ...templateColumns('Selector is a label query over pods that should match the replica count.'),
    ],
    cells(rs, now) {
      return [rs.metadata?.name ?? '', rs.spec?.replicas ?? 0, rs.status?.replicas ?? 0, rs.status?.readyReplicas ?? 0, age(rs.metadata?.creationTimestamp, now), ...templateCells(rs.spec)];
    },
  },
};
