// autoscaling/v1 Scale: the body of the `scale` subresource of Deployments and ReplicaSets (what
// `kubectl scale` reads and patches). Not a stored kind: the API builds it from the parent object.
import type { Static } from '@sinclair/typebox';
import { Int32, O, Obj, Str, Sub, kindSchema } from './common.js';

export const ScaleSpec = Obj('io.k8s.api.autoscaling.v1.ScaleSpec', 'ScaleSpec describes the attributes of a scale subresource.', {
  replicas: O(Int32('The desired number of instances for the scaled object.')),
});

export const ScaleStatus = Obj('io.k8s.api.autoscaling.v1.ScaleStatus', 'ScaleStatus represents the current status of a scale subresource.', {
  replicas: Int32('The actual number of observed instances of the scaled object.'),
  selector: O(Str('The label query over pods that should match the replicas count, in the string form of a label selector.')),
});

export const Scale = kindSchema('io.k8s.api.autoscaling.v1.Scale', { group: 'autoscaling', version: 'v1', kind: 'Scale' }, 'Scale represents a scaling request for a resource.', {
  spec: O(Sub(ScaleSpec, 'The desired state of the object.')),
  status: O(Sub(ScaleStatus, 'The current status of the object. Read-only.')),
});
export type Scale = Static<typeof Scale>;
