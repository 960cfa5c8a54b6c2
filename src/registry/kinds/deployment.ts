// apps/v1 Deployment: schema, types, kube's defaults (replicas 1, RollingUpdate 25%/25%,
// revisionHistoryLimit 10, progressDeadlineSeconds 600, the pod template as for pods), validation
// (registry/apps/validation.ts), the status and scale subresources, and kube's table printer.
import type { Static } from '@sinclair/typebox';
import { Type } from '@sinclair/typebox';
import type { KindDef } from '../types.js';
import { field } from '../../util/errors.js';
import { age, ageColumn, col, nameColumn } from '../printers.js';
import { validateNonnegative, validateRollingUpdate, validateSelectorAndTemplate, validateSelectorUpdate } from '../apps/validation.js';
import { Bool, Int32, Int64, IntOrString, O, Obj, Str, Sub, Time, kindSchema, listSchema, mergeBy } from './common.js';
import { LabelSelector } from './meta.js';
import { PodTemplateSpec, defaultPodSpec } from './pod.js';
import { templateCells, templateColumns } from './replicaset.js';

const gvk = { group: 'apps', version: 'v1', kind: 'Deployment' };

export const RollingUpdateDeployment = Obj('io.k8s.api.apps.v1.RollingUpdateDeployment', 'Spec to control the desired behavior of rolling update.', {
  maxUnavailable: O(IntOrString('The maximum number of pods that can be unavailable during the update. Value can be an absolute number (ex: 5) or a percentage of desired pods (ex: 10%). Absolute number is calculated from percentage by rounding down. This can not be 0 if MaxSurge is 0. Defaults to 25%.')),
  maxSurge: O(IntOrString('The maximum number of pods that can be scheduled above the desired number of pods. Value can be an absolute number (ex: 5) or a percentage of desired pods (ex: 10%). This can not be 0 if MaxUnavailable is 0. Absolute number is calculated from percentage by rounding up. Defaults to 25%.')),
});

export const DeploymentStrategy = Obj('io.k8s.api.apps.v1.DeploymentStrategy', 'DeploymentStrategy describes how to replace existing pods with new ones.', {
  type: O(Str('Type of deployment. Can be "Recreate" or "RollingUpdate". Default is RollingUpdate.\n\nPossible enum values:\n - `"Recreate"` Kill all existing pods before creating new ones.\n - `"RollingUpdate"` Replace the old ReplicaSets by new one using rolling update i.e gradually scale down the old ReplicaSets and scale up the new one.', { enum: ['Recreate', 'RollingUpdate'] })),
  rollingUpdate: O(Sub(RollingUpdateDeployment, 'Rolling update config params. Present only if DeploymentStrategyType = RollingUpdate.')),
});

export const DeploymentSpec = Obj('io.k8s.api.apps.v1.DeploymentSpec', 'DeploymentSpec is the specification of the desired behavior of the Deployment.', {
  replicas: O(Int32('Number of desired pods. This is a pointer to distinguish between explicit zero and not specified. Defaults to 1.')),
  selector: Sub(LabelSelector, "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment. It must match the pod template's labels."),
  template: Sub(PodTemplateSpec, 'Template describes the pods that will be created. The only allowed template.spec.restartPolicy value is "Always".'),
  strategy: O(Sub(DeploymentStrategy, 'The deployment strategy to use to replace existing pods with new ones.')),
  minReadySeconds: O(Int32('Minimum number of seconds for which a newly created pod should be ready without any of its container crashing, for it to be considered available. Defaults to 0 (pod will be considered available as soon as it is ready)')),
  revisionHistoryLimit: O(Int32('The number of old ReplicaSets to retain to allow rollback. This is a pointer to distinguish between explicit zero and not specified. Defaults to 10.')),
  paused: O(Bool('Indicates that the deployment is paused.')),
  progressDeadlineSeconds: O(Int32('The maximum time in seconds for a deployment to make progress before it is considered to be failed. The deployment controller will continue to process failed deployments and a condition with a ProgressDeadlineExceeded reason will be surfaced in the deployment status. Note that progress will not be estimated during the time a deployment is paused. Defaults to 600s.')),
});

export const DeploymentCondition = Obj('io.k8s.api.apps.v1.DeploymentCondition', 'DeploymentCondition describes the state of a deployment at a certain point.', {
  type: Str('Type of deployment condition.'),
  status: Str('Status of the condition, one of True, False, Unknown.'),
  lastUpdateTime: O(Time('The last time this condition was updated.')),
  lastTransitionTime: O(Time('Last time the condition transitioned from one status to another.')),
  reason: O(Str("The reason for the condition's last transition.")),
  message: O(Str('A human readable message indicating details about the transition.')),
});
export type DeploymentCondition = Static<typeof DeploymentCondition>;

export const DeploymentStatus = Obj('io.k8s.api.apps.v1.DeploymentStatus', 'DeploymentStatus is the most recently observed status of the Deployment.', {
  observedGeneration: O(Int64('The generation observed by the deployment controller.')),
  replicas: O(Int32('Total number of non-terminating pods targeted by this deployment (their labels match the selector).')),
  updatedReplicas: O(Int32('Total number of non-terminating pods targeted by this deployment that have the desired template spec.')),
  readyReplicas: O(Int32('Total number of non-terminating pods targeted by this Deployment with a Ready Condition.')),
  availableReplicas: O(Int32('Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by this deployment.')),
  unavailableReplicas: O(Int32('Total number of unavailable pods targeted by this deployment. This is the total number of pods that are still required for the deployment to have 100% available capacity.')),
  terminatingReplicas: O(Int32('Total number of terminating pods targeted by this deployment.')),
  conditions: O(Type.Array(DeploymentCondition, { description: "Represents the latest available observations of a deployment's current state.", ...mergeBy('type') })),
  collisionCount: O(Int32('Count of hash collisions for the Deployment. The Deployment controller uses this field as a collision avoidance mechanism when it needs to create the name for the newest ReplicaSet.')),
});
export type DeploymentStatus = Static<typeof DeploymentStatus>;

export const Deployment = kindSchema('io.k8s.api.apps.v1.Deployment', gvk, 'Deployment enables declarative updates for Pods and ReplicaSets.', {
  spec: O(Sub(DeploymentSpec, 'Specification of the desired behavior of the Deployment.')),
  status: O(Sub(DeploymentStatus, 'Most recently observed status of the Deployment.')),
});
export type Deployment = Static<typeof Deployment>;
export type DeploymentSpec = Static<typeof DeploymentSpec>;

export const DeploymentList = listSchema(Deployment, { ...gvk, kind: 'DeploymentList' }, 'Items is the list of Deployments.');

export const deploymentKind: KindDef<Deployment> = {
  group: 'apps',
  version: 'v1',
  kind: 'Deployment',
  listKind: 'DeploymentList',
  resource: 'deployments',
  singular: 'deployment',
  shortNames: ['deploy'],
  categories: ['all'],
  namespaced: true,
  subresources: ['status', 'scale'],
  schema: Deployment,
  nameRule: 'dns1123subdomain',
  generation: true,
  defaults(d) {
    const spec = (d.spec ??= {} as DeploymentSpec);
    spec.replicas ??= 1;
    const strategy = (spec.strategy ??= {});
    strategy.type ??= 'RollingUpdate';
    if (strategy.type === 'RollingUpdate') {
      const ru = (strategy.rollingUpdate ??= {});
      ru.maxUnavailable ??= '25%';
      ru.maxSurge ??= '25%';
    }
    spec.revisionHistoryLimit ??= 10;
    spec.progressDeadlineSeconds ??= 600;
    if (spec.template?.spec) defaultPodSpec(spec.template.spec);
  },
  validate(d) {
    const spec = d.spec;
    const errs = [...validateNonnegative(spec?.replicas, 'spec.replicas'), ...validateSelectorAndTemplate(spec, 'spec')];
    const strategy = spec?.strategy;
    if (strategy?.type === 'Recreate') {
      if (strategy.rollingUpdate) errs.push(field.forbidden('spec.strategy.rollingUpdate', "may not be specified when strategy `type` is 'Recreate'"));
    } else if (strategy?.type === 'RollingUpdate') {
      if (!strategy.rollingUpdate) errs.push(field.required('spec.strategy.rollingUpdate', 'this should be defaulted and never be nil'));
      else errs.push(...validateRollingUpdate(strategy.rollingUpdate, 'spec.strategy.rollingUpdate'));
    } else {
      errs.push(field.notSupported('spec.strategy.type', strategy?.type ?? '', ['Recreate', 'RollingUpdate']));
    }
    errs.push(...validateNonnegative(spec?.minReadySeconds, 'spec.minReadySeconds'));
    errs.push(...validateNonnegative(spec?.revisionHistoryLimit, 'spec.revisionHistoryLimit'));
    const pds = spec?.progressDeadlineSeconds;
    if (pds !== undefined) {
      errs.push(...validateNonnegative(pds, 'spec.progressDeadlineSeconds'));
      if (pds <= (spec?.minReadySeconds ?? 0)) errs.push(field.invalid('spec.progressDeadlineSeconds', pds, 'must be greater than minReadySeconds'));
    }
    return errs;
  },
  validateUpdate(d, old) {
    return validateSelectorUpdate(d.spec?.selector, old.spec?.selector, 'spec.selector');
  },
  table: {
    columns: [
      nameColumn,
      col('Ready', 'Number of the pod with ready state'),
      col('Up-to-date', 'Total number of non-terminated pods targeted by this deployment that have the desired template spec.'),
      col('Available', 'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.'),
      ageColumn,
      ...templateColumns('Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.'),
    ],
    cells(d, now) {
      const s = d.status ?? {};
      return [d.metadata?.name ?? '', `${s.readyReplicas ?? 0}/${d.spec?.replicas ?? 0}`, s.updatedReplicas ?? 0, s.availableReplicas ?? 0, age(d.metadata?.creationTimestamp, now), ...templateCells(d.spec)];
    },
  },
};
