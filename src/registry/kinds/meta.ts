// Shared metadata schemas (k8s.io/apimachinery/pkg/apis/meta/v1). Every kind's schema embeds
// ObjectMeta; the TypeScript types come from these schemas with Static<>, never written twice.
import { Type, type Static } from '@sinclair/typebox';

export const OwnerReference = Type.Object(
  {
    apiVersion: Type.String({ description: 'API version of the referent.' }),
    kind: Type.String({ description: 'Kind of the referent.' }),
    name: Type.String({ description: 'Name of the referent.' }),
    uid: Type.String({ description: 'UID of the referent.' }),
    controller: Type.Optional(Type.Boolean({ description: 'If true, this reference points to the managing controller.' })),
    blockOwnerDeletion: Type.Optional(Type.Boolean({ description: 'If true, the owner cannot be deleted from the key-value store until this reference is removed.' })),
  },
  { $id: 'io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference', description: 'OwnerReference contains enough information to let you identify an owning object.', additionalProperties: false },
);
export type OwnerReference = Static<typeof OwnerReference>;

export const ManagedFieldsEntry = Type.Object(
  {
    manager: Type.Optional(Type.String()),
    operation: Type.Optional(Type.String()),
    apiVersion: Type.Optional(Type.String()),
    time: Type.Optional(Type.String()),
    fieldsType: Type.Optional(Type.String()),
    fieldsV1: Type.Optional(Type.Unknown()),
    subresource: Type.Optional(Type.String()),
  },
  { $id: 'io.k8s.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry', description: 'ManagedFieldsEntry is a workflow-id, a FieldSet and the group version of the resource that the fieldset applies to.', additionalProperties: false },
);

const StringMap = (description: string) => Type.Record(Type.String(), Type.String(), { description });

export const ObjectMeta = Type.Object(
  {
    name: Type.Optional(Type.String({ description: 'Name must be unique within a namespace. Cannot be updated.' })),
    generateName: Type.Optional(Type.String({ description: 'GenerateName is an optional prefix, used by the server, to generate a unique name ONLY IF the Name field has not been provided.' })),
    namespace: Type.Optional(Type.String({ description: 'Namespace defines the space within which each name must be unique.' })),
    uid: Type.Optional(Type.String({ description: 'UID is the unique in time and space value for this object. Populated by the system. Read-only.' })),
    resourceVersion: Type.Optional(Type.String({ description: 'An opaque value that represents the internal version of this object, used for optimistic concurrency. Populated by the system. Read-only.' })),
    generation: Type.Optional(Type.Integer({ description: 'A sequence number representing a specific generation of the desired state. Populated by the system. Read-only.' })),
    creationTimestamp: Type.Optional(Type.String({ format: 'date-time', description: 'CreationTimestamp is a timestamp representing the server time when this object was created. Populated by the system. Read-only.' })),
    deletionTimestamp: Type.Optional(Type.String({ format: 'date-time', description: 'DeletionTimestamp is RFC 3339 date and time at which this resource will be deleted. Set by the server when a graceful deletion is requested. Read-only.' })),
    deletionGracePeriodSeconds: Type.Optional(Type.Integer({ description: 'Number of seconds allowed for this object to gracefully terminate before it will be removed from the system. Read-only.' })),
    labels: Type.Optional(StringMap('Map of string keys and values that can be used to organize and categorize (scope and select) objects.')),
    annotations: Type.Optional(StringMap('Annotations is an unstructured key value map stored with a resource that may be set by external tools to store and retrieve arbitrary metadata.')),
    ownerReferences: Type.Optional(
      Type.Array(OwnerReference, {
        description: 'List of objects depended by this object.',
        'x-kubernetes-patch-merge-key': 'uid',
        'x-kubernetes-patch-strategy': 'merge',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['uid'],
      }),
    ),
    finalizers: Type.Optional(
      Type.Array(Type.String(), {
        description: 'Must be empty before the object is deleted from the registry.',
        'x-kubernetes-patch-strategy': 'merge',
        'x-kubernetes-list-type': 'set',
      }),
    ),
    managedFields: Type.Optional(Type.Array(ManagedFieldsEntry, { description: 'ManagedFields maps workflow-id and version to the set of fields that are managed by that workflow.' })),
  },
  { $id: 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta', description: 'ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.', additionalProperties: false },
);
export type ObjectMeta = Static<typeof ObjectMeta>;

export const ListMeta = Type.Object(
  {
    resourceVersion: Type.Optional(Type.String()),
    continue: Type.Optional(Type.String()),
    remainingItemCount: Type.Optional(Type.Integer()),
  },
  { $id: 'io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta', description: 'ListMeta describes metadata that synthetic resources must have, including lists and various status objects.', additionalProperties: false },
);
export type ListMeta = Static<typeof ListMeta>;

export const LabelSelectorRequirement = Type.Object(
  {
    key: Type.String({ description: 'key is the label key that the selector applies to.' }),
    operator: Type.String({ description: "operator represents a key's relationship to a set of values. Valid operators are In, NotIn, Exists and DoesNotExist." }),
    values: Type.Optional(Type.Array(Type.String(), { 'x-kubernetes-list-type': 'atomic' })),
  },
  { $id: 'io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement', additionalProperties: false },
);

export const LabelSelector = Type.Object(
  {
    matchLabels: Type.Optional(StringMap('matchLabels is a map of {key,value} pairs.')),
    matchExpressions: Type.Optional(Type.Array(LabelSelectorRequirement, { 'x-kubernetes-list-type': 'atomic' })),
  },
  { $id: 'io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector', description: 'A label selector is a label query over a set of resources.', additionalProperties: false },
);
export type LabelSelector = Static<typeof LabelSelector>;

/** Any stored object: what the generic REST layer handles before knowing the kind. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  [field: string]: unknown;
}
