// ObjectMeta validation as apimachinery's ValidateObjectMeta / ValidateObjectMetaUpdate do it.
// Name generation happens before this runs (the storage layer fills name from generateName).
import { field, type FieldError } from '../util/errors.js';
import type { ObjectMeta } from './kinds/meta.js';
import { isDNS1123Label, nameValidatorFor, validateAnnotations, validateLabels, validateQualifiedName, type NameRule, type NameValidator } from './validation.js';

const fieldImmutable = 'field is immutable';

function validateOwnerReferences(refs: ObjectMeta['ownerReferences'], path: string): FieldError[] {
  const errs: FieldError[] = [];
  let firstController = '';
  for (const ref of refs ?? []) {
    const version = (ref.apiVersion ?? '').split('/').pop() ?? '';
    if (!version) errs.push(field.invalid(`${path}.apiVersion`, ref.apiVersion ?? '', 'version must not be empty'));
    if (!ref.kind) errs.push(field.invalid(`${path}.kind`, ref.kind ?? '', 'must not be empty'));
    if (!ref.name) errs.push(field.invalid(`${path}.name`, ref.name ?? '', 'must not be empty'));
    if (!ref.uid) errs.push(field.invalid(`${path}.uid`, ref.uid ?? '', 'must not be empty'));
    if (ref.controller) {
      const cur = `${ref.kind}/${ref.name}`;
      if (firstController) {
        errs.push(field.invalid(path, refs, `Only one reference can have Controller set to true. Found "true" in references for ${firstController} and ${cur}`));
      } else {
        firstController = cur;
      }
    }
  }
  return errs;
}

function validateFinalizers(finalizers: string[] | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  for (const f of finalizers ?? []) errs.push(...validateQualifiedName(f, path));
  if (finalizers?.includes('orphan') && finalizers.includes('foregroundDeletion')) {
    errs.push(field.invalid(path, finalizers, 'finalizer orphan and foregroundDeletion cannot be both set'));
  }
  return errs;
}

/**
 * Metadata on create: name (or generateName) by the kind's rule, namespace required for namespaced
 * kinds and forbidden for cluster-scoped ones, labels, annotations (256 KiB in total), owner
 * references and finalizers.
 */
export function validateObjectMeta(meta: ObjectMeta, namespaced: boolean, nameRule: NameRule | NameValidator, path = 'metadata'): FieldError[] {
  const nameFn = nameValidatorFor(nameRule);
  const errs: FieldError[] = [];
  if (meta.generateName) {
    for (const msg of nameFn(meta.generateName, true)) errs.push(field.invalid(`${path}.generateName`, meta.generateName, msg));
  }
  if (!meta.name) {
    errs.push(field.required(`${path}.name`, 'name or generateName is required'));
  } else {
    for (const msg of nameFn(meta.name, false)) errs.push(field.invalid(`${path}.name`, meta.name, msg));
  }
  if (namespaced) {
    if (!meta.namespace) errs.push(field.required(`${path}.namespace`));
    else for (const msg of isDNS1123Label(meta.namespace)) errs.push(field.invalid(`${path}.namespace`, meta.namespace, msg));
  } else if (meta.namespace) {
    errs.push(field.forbidden(`${path}.namespace`, 'not allowed on this type'));
  }
  if (meta.generation !== undefined && meta.generation < 0) {
    errs.push(field.invalid(`${path}.generation`, meta.generation, 'must be greater than or equal to 0'));
  }
  errs.push(...validateLabels(meta.labels, `${path}.labels`));
  errs.push(...validateAnnotations(meta.annotations, `${path}.annotations`));
  errs.push(...validateOwnerReferences(meta.ownerReferences, `${path}.ownerReferences`));
  errs.push(...validateFinalizers(meta.finalizers, `${path}.finalizers`));
  return errs;
}

export interface MetaUpdateOptions {
  /**
   * Refuse an update without metadata.resourceVersion ("must be specified for an update"). Off by
   * default: kinds that allow unconditional updates (Services, Endpoints) get the stored version
   * before validation, as kube-apiserver's store does.
   */
  requireResourceVersion?: boolean;
}

/** Metadata on update: identity and system fields immutable (run together with validateObjectMeta). */
export function validateObjectMetaUpdate(next: ObjectMeta, old: ObjectMeta, path = 'metadata', opts: MetaUpdateOptions = {}): FieldError[] {
  const errs: FieldError[] = [];
  if (old.deletionTimestamp) {
    const had = new Set(old.finalizers ?? []);
    const extra = [...new Set(next.finalizers ?? [])].filter((f) => !had.has(f)).sort();
    if (extra.length) {
      errs.push(field.forbidden(`${path}.finalizers`, `no new finalizers can be added if the object is being deleted, found new finalizers []string{${extra.map((f) => JSON.stringify(f)).join(', ')}}`));
    }
  }
  if (opts.requireResourceVersion && !next.resourceVersion) {
    errs.push(field.invalid(`${path}.resourceVersion`, next.resourceVersion ?? '', 'must be specified for an update'));
  }
  if ((next.generation ?? 0) < (old.generation ?? 0)) {
    errs.push(field.invalid(`${path}.generation`, next.generation ?? 0, 'must not be decremented'));
  }
  const immutable: Array<[keyof ObjectMeta, unknown]> = [
    ['name', ''],
    ['namespace', ''],
    ['uid', ''],
    ['creationTimestamp', null],
    ['deletionTimestamp', null],
    ['deletionGracePeriodSeconds', null],
  ];
  for (const [key, zero] of immutable) {
    const a = next[key] ?? zero;
    const b = old[key] ?? zero;
    if (a !== b) errs.push(field.invalid(`${path}.${key}`, a, fieldImmutable));
  }
  // Labels, annotations, owner references and finalizers are kube's update checks too, but the
  // storage layer runs validateObjectMeta on every update as well; checking them here again would
  // report each bad label twice.
  return errs;
}
