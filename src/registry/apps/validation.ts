// Validation of apps/v1 Deployments and ReplicaSets with kube-apiserver's messages
// (pkg/apis/apps/validation): the selector is required, non-empty and must match the template's
// labels, the template makes restartable pods, the rolling-update numbers are sane, and the
// selector never changes after creation. Values upstream prints as Go structs are printed the same.
import type { LabelSelector } from '../kinds/meta.js';
import type { PodTemplateSpec } from '../kinds/pod.js';
import { GoValue, field, type FieldError } from '../../util/errors.js';
import { selectorFromLabelSelector } from '../../selectors/labels.js';
import { isValidLabelValue, regexError, validateAnnotations, validateDNS1123Label, validateLabels, validateQualifiedName } from '../validation.js';

const goQuote = (s: string) => JSON.stringify(s);

/** `%#v` of a map[string]string: keys sorted, as Go's fmt prints maps. */
export function goStringMap(m: Record<string, string> | undefined): string {
  if (!m) return 'map[string]string(nil)';
  const keys = Object.keys(m).sort();
  return `map[string]string{${keys.map((k) => `${goQuote(k)}:${goQuote(m[k]!)}`).join(', ')}}`;
}

/** `%#v` of a metav1.LabelSelector struct. */
export function goLabelSelector(s: LabelSelector): string {
  const exprs = s.matchExpressions;
  const exprText = exprs
    ? `[]v1.LabelSelectorRequirement{${exprs
        .map((e) => `v1.LabelSelectorRequirement{Key:${goQuote(e.key)}, Operator:${goQuote(e.operator)}, Values:${e.values ? `[]string{${e.values.map(goQuote).join(', ')}}` : '[]string(nil)'}}`)
        .join(', ')}}`
    : '[]v1.LabelSelectorRequirement(nil)';
  return `v1.LabelSelector{MatchLabels:${goStringMap(s.matchLabels)}, MatchExpressions:${exprText}}`;
}

/** `%#v` of an intstr.IntOrString. */
function goIntOrString(v: number | string | undefined): string {
  if (typeof v === 'string') return `intstr.IntOrString{Type:1, IntVal:0, StrVal:${goQuote(v)}}`;
  return `intstr.IntOrString{Type:0, IntVal:${v ?? 0}, StrVal:""}`;
}

export function validateNonnegative(value: number | undefined, path: string): FieldError[] {
  return value !== undefined && value < 0 ? [field.invalid(path, value, 'must be greater than or equal to 0')] : [];
}

/** metav1 ValidateLabelSelector. */
function validateLabelSelector(s: LabelSelector, path: string): FieldError[] {
  const errs: FieldError[] = [];
  (s.matchExpressions ?? []).forEach((e, i) => {
    const p = `${path}.matchExpressions[${i}]`;
    if (e.operator === 'In' || e.operator === 'NotIn') {
      if (!e.values?.length) errs.push(field.required(`${p}.values`, "must be specified when `operator` is 'In' or 'NotIn'"));
    } else if (e.operator === 'Exists' || e.operator === 'DoesNotExist') {
      if (e.values?.length) errs.push(field.forbidden(`${p}.values`, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
    } else {
      errs.push(field.invalid(`${p}.operator`, e.operator, 'not a valid selector operator'));
    }
    errs.push(...validateQualifiedName(e.key, `${p}.key`));
    for (const v of e.values ?? []) for (const m of isValidLabelValue(v)) errs.push(field.invalid(`${p}.values`, v, m));
  });
  errs.push(...validateLabels(s.matchLabels, `${path}.matchLabels`));
  return errs;
}

/** The pod template of a ReplicaSet or Deployment (ValidatePodTemplateSpecForReplicaSet). */
function validateTemplate(template: PodTemplateSpec | undefined, selector: LabelSelector | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (!template) return [field.required(path)];
  let sel;
  try {
    sel = selectorFromLabelSelector(selector);
  } catch {
    return [field.invalid(path.replace(/\.template$/, '.selector'), selector ? new GoValue(goLabelSelector(selector)) : null, 'invalid label selector')];
  }
  const labels = template.metadata?.labels;
  if (!sel.empty() && !sel.matches(labels)) {
    errs.push(field.invalid(`${path}.metadata.labels`, new GoValue(goStringMap(labels)), '`selector` does not match template `labels`'));
  }
  errs.push(...validateLabels(labels, `${path}.metadata.labels`));
  errs.push(...validateAnnotations(template.metadata?.annotations, `${path}.metadata.annotations`));
  const spec = template.spec;
  const containers = spec?.containers ?? [];
  if (containers.length === 0) errs.push(field.required(`${path}.spec.containers`));
  const seen = new Set<string>();
  containers.forEach((c, i) => {
    const p = `${path}.spec.containers[${i}]`;
    if (!c.name) errs.push(field.required(`${p}.name`));
    else {
      errs.push(...validateDNS1123Label(c.name, `${p}.name`));
      if (seen.has(c.name)) errs.push(field.duplicate(`${p}.name`, c.name));
      seen.add(c.name);
    }
    if (!c.image) errs.push(field.required(`${p}.image`));
  });
  const rp = spec?.restartPolicy;
  if (rp !== undefined && rp !== 'Always') errs.push(field.notSupported(`${path}.spec.restartPolicy`, rp, ['Always']));
  if (spec?.activeDeadlineSeconds !== undefined) errs.push(field.forbidden(`${path}.spec.activeDeadlineSeconds`, 'activeDeadlineSeconds in ReplicaSet is not Supported'));
  return errs;
}

/** The selector checks both kinds share (upstream says "deployment" for ReplicaSets too). */
export function validateSelectorAndTemplate(spec: { selector?: LabelSelector; template?: PodTemplateSpec } | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const selector = spec?.selector;
  if (!selector) errs.push(field.required(`${path}.selector`));
  else {
    errs.push(...validateLabelSelector(selector, `${path}.selector`));
    if (Object.keys(selector.matchLabels ?? {}).length + (selector.matchExpressions?.length ?? 0) === 0) {
      errs.push(field.invalid(`${path}.selector`, new GoValue(goLabelSelector(selector)), 'empty selector is invalid for deployment'));
    }
  }
  errs.push(...validateTemplate(spec?.template, selector, `${path}.template`));
  return errs;
}

export interface RollingUpdateLike {
  maxUnavailable?: number | string;
  maxSurge?: number | string;
}

const PERCENT = /^[0-9]+%$/;

/** ValidatePositiveIntOrPercent. */
function validateIntOrPercent(v: number | string | undefined, path: string): FieldError[] {
  if (typeof v === 'string') {
    if (!PERCENT.test(v)) return [field.invalid(path, new GoValue(goIntOrString(v)), regexError("a valid percent string must be a numeric string followed by an ending '%'", '[0-9]+%', '1%', '93%'))];
    return [];
  }
  return validateNonnegative(v, path);
}

/** The value an int-or-percent stands for against a total (intstr.GetScaledValueFromIntOrPercent). */
export function scaledValue(v: number | string | undefined, total: number, roundUp: boolean): number {
  if (v === undefined) return 0;
  if (typeof v === 'number') return v;
  const pct = Number(v.replace(/%$/, ''));
  if (!Number.isFinite(pct)) return 0;
  return roundUp ? Math.ceil((pct * total) / 100) : Math.floor((pct * total) / 100);
}

const intOrPercentValue = (v: number | string | undefined) => (typeof v === 'string' ? Number(v.replace(/%$/, '')) || 0 : (v ?? 0));

export function validateRollingUpdate(ru: RollingUpdateLike, path: string): FieldError[] {
  const errs = [...validateIntOrPercent(ru.maxUnavailable, `${path}.maxUnavailable`), ...validateIntOrPercent(ru.maxSurge, `${path}.maxSurge`)];
  if (intOrPercentValue(ru.maxUnavailable) === 0 && intOrPercentValue(ru.maxSurge) === 0) {
    errs.push(field.invalid(`${path}.maxUnavailable`, new GoValue(goIntOrString(ru.maxUnavailable)), 'may not be 0 when `maxSurge` is 0'));
  }
  if (typeof ru.maxUnavailable === 'string' && PERCENT.test(ru.maxUnavailable) && intOrPercentValue(ru.maxUnavailable) > 100) {
    errs.push(field.invalid(`${path}.maxUnavailable`, new GoValue(goIntOrString(ru.maxUnavailable)), 'must not be greater than 100%'));
  }
  return errs;
}

/** apps/v1 selectors are immutable. */
export function validateSelectorUpdate(next: LabelSelector | undefined, old: LabelSelector | undefined, path: string): FieldError[] {
  if (JSON.stringify(canonSelector(next)) === JSON.stringify(canonSelector(old))) return [];
  return [field.invalid(path, next ? new GoValue(goLabelSelector(next)) : null, 'field is immutable')];
}

function canonSelector(s: LabelSelector | undefined): unknown {
  if (!s) return null;
  const ml = s.matchLabels ?? {};
  return { l: Object.keys(ml).sort().map((k) => [k, ml[k]]), e: s.matchExpressions ?? [] };
}
