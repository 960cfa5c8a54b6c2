// Deployment and ReplicaSet defaults and validation, with kube-apiserver's texts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deploymentKind, type Deployment } from '../kinds/deployment.js';
import { replicaSetKind, type ReplicaSet } from '../kinds/replicaset.js';
import { fieldErrorString } from '../../util/errors.js';
import type { ClusterConfig } from '../types.js';

const cfg = {} as ClusterConfig;
const dep = (spec: Record<string, unknown>): Deployment =>
  ({ metadata: { name: 'web' }, spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'i' }] } }, ...spec } }) as Deployment;
const errors = (d: Deployment) => {
  deploymentKind.defaults!(d, cfg);
  return deploymentKind.validate!(d, cfg).map(fieldErrorString);
};

test('Deployment defaults: replicas 1, RollingUpdate 25%/25%, history 10, deadline 600, template as for pods', () => {
  const d = dep({});
  deploymentKind.defaults!(d, cfg);
  const s = d.spec!;
  assert.deepEqual([s.replicas, s.strategy, s.revisionHistoryLimit, s.progressDeadlineSeconds], [1, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } }, 10, 600]);
  assert.equal(s.template.spec!.restartPolicy, 'Always');
  assert.deepEqual(s.template.spec!.containers[0]!.resources, {});
  const r = dep({ strategy: { type: 'Recreate' } });
  deploymentKind.defaults!(r, cfg);
  assert.deepEqual(r.spec!.strategy, { type: 'Recreate' });
  const rs = { metadata: { name: 'x' }, spec: { selector: { matchLabels: { a: 'b' } } } } as ReplicaSet;
  replicaSetKind.defaults!(rs, cfg);
  assert.equal(rs.spec!.replicas, 1);
});

test('Deployment validation messages', () => {
  assert.deepEqual(errors(dep({})), []);
  assert.deepEqual(errors(dep({ selector: undefined })), ['spec.selector: Required value', 'spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: `selector` does not match template `labels`']);
  assert.deepEqual(errors(dep({ selector: {} })), ['spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment']);
  assert.deepEqual(errors(dep({ replicas: -1, minReadySeconds: 5, progressDeadlineSeconds: 5 })), ['spec.replicas: Invalid value: -1: must be greater than or equal to 0', 'spec.progressDeadlineSeconds: Invalid value: 5: must be greater than minReadySeconds']);
  assert.deepEqual(errors(dep({ strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 'x', maxUnavailable: '120%' } } })), [
    "spec.strategy.rollingUpdate.maxSurge: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"x\"}: a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
    'spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:"120%"}: must not be greater than 100%',
  ]);
  assert.deepEqual(errors(dep({ strategy: { type: 'Recreate', rollingUpdate: { maxSurge: 1 } } })), ["spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"]);
  assert.deepEqual(errors(dep({ strategy: { type: 'Blue' } })), ['spec.strategy.type: Unsupported value: "Blue": supported values: "Recreate", "RollingUpdate"']);
  const noContainers = dep({});
  noContainers.spec!.template.spec!.containers = [];
  assert.deepEqual(errors(noContainers), ['spec.template.spec.containers: Required value']);
  const exprs = dep({ selector: { matchExpressions: [{ key: 'app', operator: 'In' }] } });
  assert.deepEqual(errors(exprs), [
    "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
    'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:"app", Operator:"In", Values:[]string(nil)}}}: invalid label selector',
  ]);
});

test('the selector is immutable', () => {
  const old = dep({});
  const next = dep({ selector: { matchLabels: { app: 'web', v: '2' } } });
  assert.deepEqual(deploymentKind.validateUpdate!(next, old, cfg).map(fieldErrorString), [
    'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web", "v":"2"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable',
  ]);
  assert.deepEqual(deploymentKind.validateUpdate!(dep({ selector: { matchLabels: { app: 'web' } } }), old, cfg), []);
});
