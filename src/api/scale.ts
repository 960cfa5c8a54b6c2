// The `scale` subresource of Deployments and ReplicaSets (kube's ScaleREST): an autoscaling/v1
// Scale built from the parent's spec.replicas, status.replicas and selector; writes change only
// spec.replicas, through the parent's own validation.
import type { KindDef } from '../registry/types.js';
import type { KubeObject, LabelSelector } from '../registry/kinds/meta.js';
import { Scale } from '../registry/kinds/scale.js';
import { selectorFromLabelSelector } from '../selectors/labels.js';
import { ConflictError, InvalidError, field } from '../util/errors.js';

export { Scale };
type Scaled = KubeObject & { spec?: { replicas?: number; selector?: LabelSelector }; status?: { replicas?: number } };

/** The decode definition of a Scale body sent to `<resource>/scale`. */
export function scaleKindDef(parent: KindDef): KindDef {
  return { ...parent, group: 'autoscaling', version: 'v1', kind: 'Scale', listKind: 'ScaleList', schema: Scale, subresources: [] };
}

export function toScale(obj: KubeObject): Scale {
  const o = obj as Scaled;
  const m = o.metadata ?? {};
  let selector = '';
  try {
    selector = selectorFromLabelSelector(o.spec?.selector).toString();
  } catch {
    // an unparsable selector cannot be stored; leave it empty
  }
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, creationTimestamp: m.creationTimestamp },
    spec: { replicas: o.spec?.replicas ?? 0 },
    status: { replicas: o.status?.replicas ?? 0, selector },
  };
}

/** Applies a Scale to its parent: validated as kube's ValidateScale, guarded by its resourceVersion. */
export function setScaleReplicas(cur: KubeObject, scale: Scale, name: string): KubeObject {
  const replicas = scale.spec?.replicas ?? 0;
  if (replicas < 0) throw new InvalidError('Scale', name, [field.invalid('spec.replicas', replicas, 'must be greater than or equal to 0')], 'autoscaling');
  const rv = scale.metadata?.resourceVersion;
  if (rv && rv !== cur.metadata?.resourceVersion) {
    throw new ConflictError({ resource: `${(cur.kind ?? '').toLowerCase()}s`, group: 'apps', name });
  }
  ((cur as Scaled).spec ??= {}).replicas = replicas;
  return cur;
}
