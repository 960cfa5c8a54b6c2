// Building blocks shared by the kind schemas: scalar fields with descriptions, the Kubernetes
// OpenAPI extensions (int-or-string, preserve-unknown-fields, list types), references to named
// sub-schemas, the top-level kind and list wrappers, and the core/v1 types several kinds share.
import { Type, type Static, type TSchema, type TObject, type TProperties } from '@sinclair/typebox';
import { ListMeta, ObjectMeta } from './meta.js';

export const Str = (description: string, extra: Record<string, unknown> = {}) => Type.String({ description, ...extra });
export const Int32 = (description: string) => Type.Integer({ format: 'int32', description });
export const Int64 = (description: string) => Type.Integer({ format: 'int64', description });
export const Bool = (description: string) => Type.Boolean({ description });
/** metav1.Time: RFC 3339, second precision. */
export const Time = (description: string) => Type.String({ format: 'date-time', description });
/** metav1.MicroTime: RFC 3339 with microseconds. */
export const MicroTime = (description: string) => Type.String({ format: 'date-time', description });
export const StrMap = (description: string, extra: Record<string, unknown> = {}) =>
  Type.Record(Type.String(), Type.String(), { description, ...extra });
/** A list of strings; `listType` as upstream publishes it ('atomic' unless said otherwise). */
export const StrList = (description: string, extra: Record<string, unknown> = { 'x-kubernetes-list-type': 'atomic' }) =>
  Type.Array(Type.String(), { description, ...extra });

/** intstr.IntOrString (targetPort, probe ports): an integer or a string, as upstream marks it. */
export const IntOrString = (description: string) =>
  Type.Unsafe<number | string>({
    description,
    'x-kubernetes-int-or-string': true,
    anyOf: [{ type: 'integer' }, { type: 'string' }],
  });

/** resource.Quantity: "100m", "1Gi" or a bare number. */
export const Quantity = Type.Unsafe<string | number>({
  $id: 'io.k8s.apimachinery.pkg.api.resource.Quantity',
  description: 'Quantity is a fixed-point number written as a string with an optional SI or binary suffix, such as "100m", "1Gi" or "2".',
  oneOf: [{ type: 'string' }, { type: 'number' }],
});
export const QuantityMap = (description: string) => Type.Record(Type.String(), Quantity, { description });

/** A sub-tree Portico does not interpret: accepted as is, never reported as unknown. */
export const Preserve = (description: string) =>
  Type.Unsafe<Record<string, unknown>>({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true, description });

/**
 * A field whose value is a named schema. OpenAPI 3.0 ignores siblings of `$ref`, so upstream wraps
 * the reference in a one-element `allOf` to give the field its own description; we do the same.
 */
export const Sub = <S extends TSchema>(schema: S, description: string) =>
  Type.Unsafe<Static<S>>({ allOf: [schema], description });

export const Obj = <P extends TProperties>(id: string, description: string, props: P) =>
  Type.Object(props, { $id: id, description, additionalProperties: false });

export const O = Type.Optional;

export const Atomic = { 'x-kubernetes-list-type': 'atomic' } as const;
export const SetList = { 'x-kubernetes-list-type': 'set' } as const;
/** Strategic-merge-patch list merged by one key, as upstream publishes it. */
export const mergeBy = (key: string, mapKeys: string[] = [key]) => ({
  'x-kubernetes-patch-merge-key': key,
  'x-kubernetes-patch-strategy': 'merge',
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': mapKeys,
});

// ---- top-level kinds and lists ----

const apiVersionField = Str('APIVersion defines the versioned schema of this representation of an object.');
const kindField = Str('Kind is a string value representing the REST resource this object represents.');

export interface Gvk {
  group: string;
  version: string;
  kind: string;
}

/** A top-level kind: apiVersion, kind, metadata and the kind's own fields, tagged with its GVK. */
export const kindSchema = <P extends TProperties>(id: string, gvk: Gvk, description: string, props: P) =>
  Type.Object(
    {
      apiVersion: O(apiVersionField),
      kind: O(kindField),
      metadata: O(Sub(ObjectMeta, "Standard object's metadata.")),
      ...props,
    },
    { $id: id, description, additionalProperties: false, 'x-kubernetes-group-version-kind': [gvk] },
  );

export const listSchema = <S extends TObject>(item: S, gvk: Gvk, itemsDescription: string) =>
  Type.Object(
    {
      apiVersion: O(apiVersionField),
      kind: O(kindField),
      metadata: O(Sub(ListMeta, "Standard list metadata.")),
      items: Type.Array(item, { description: itemsDescription }),
    },
    {
      $id: `${String(item.$id)}List`,
      description: `${gvk.kind} is a list of ${gvk.kind.replace(/List$/, '')} objects.`,
      additionalProperties: false,
      'x-kubernetes-group-version-kind': [gvk],
    },
  );

// ---- core/v1 types shared by several kinds ----

export const ObjectReference = Obj('io.k8s.api.core.v1.ObjectReference', 'ObjectReference points at another object in the cluster.', {
  apiVersion: O(Str('API version of the referent.')),
  fieldPath: O(Str('If the reference is to part of an object (such as one container of a pod), the path to that part, e.g. "spec.containers{name}".')),
  kind: O(Str('Kind of the referent.')),
  name: O(Str('Name of the referent.')),
  namespace: O(Str('Namespace of the referent.')),
  resourceVersion: O(Str('The referent\'s resourceVersion this reference was made at, if any.')),
  uid: O(Str('UID of the referent.')),
});
export type ObjectReference = Static<typeof ObjectReference>;

export const LocalObjectReference = Obj('io.k8s.api.core.v1.LocalObjectReference', 'A reference to another object by name in the same namespace.', {
  name: O(Str('Name of the referent.')),
});

/** metav1.Condition: the standard condition shape used by newer status fields. */
export const Condition = Obj('io.k8s.apimachinery.pkg.apis.meta.v1.Condition', 'Condition describes one aspect of the current state of an object.', {
  type: Str('Type of the condition, in CamelCase.'),
  status: Str('Status of the condition: True, False or Unknown.'),
  observedGeneration: O(Int64('The metadata.generation the condition was computed from.')),
  lastTransitionTime: Time('When the condition last changed from one status to another.'),
  reason: Str('A programmatic identifier, in CamelCase, for the last transition.'),
  message: Str('A human-readable message about the last transition.'),
});
export type Condition = Static<typeof Condition>;
