// The error family. Every failure that can reach a client is one of these; the API turns them into
// Kubernetes `Status` objects, the CLI into one line and an exit code. Messages follow
// kube-apiserver's wording so users can search for them.

export type StatusReason =
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Invalid'
  | 'BadRequest'
  | 'Expired'
  | 'Gone'
  | 'MethodNotAllowed'
  | 'RequestEntityTooLarge'
  | 'Unauthorized'
  | 'Forbidden'
  | 'UnsupportedMediaType'
  | 'NotAcceptable'
  | 'InternalError'
  | 'ServiceUnavailable'
  | 'Timeout';

export interface StatusCause {
  reason: string;
  message: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

/** A Kubernetes `Status` object (metav1.Status). */
export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message: string;
  reason: StatusReason | '';
  details?: StatusDetails;
  code: number;
}

/** Identifies the object an error is about, as kube-apiserver's `GroupResource` + name. */
export interface Qualified {
  /** Resource plural, e.g. "services"; with group: "endpointslices.discovery.k8s.io". */
  resource: string;
  group?: string;
  kind?: string;
  name: string;
}

function qualifiedResource(q: Pick<Qualified, 'resource' | 'group'>): string {
  return q.group ? `${q.resource}.${q.group}` : q.resource;
}

export class StatusError extends Error {
  override name = 'StatusError';
  readonly code: number;
  readonly reason: StatusReason;
  readonly details: StatusDetails | undefined;
  constructor(code: number, reason: StatusReason, message: string, details?: StatusDetails) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.details = details;
  }
  toStatus(): Status {
    const s: Status = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      code: this.code,
    };
    if (this.details) s.details = this.details;
    return s;
  }
}

export class NotFoundError extends StatusError {
  override name = 'NotFoundError';
  constructor(q: Qualified) {
    super(404, 'NotFound', `${qualifiedResource(q)} "${q.name}" not found`, detailsOf(q));
  }
}

export class AlreadyExistsError extends StatusError {
  override name = 'AlreadyExistsError';
  constructor(q: Qualified) {
    super(409, 'AlreadyExists', `${qualifiedResource(q)} "${q.name}" already exists`, detailsOf(q));
  }
}

export class ConflictError extends StatusError {
  override name = 'ConflictError';
  constructor(q: Qualified, detail = 'the object has been modified; please apply your changes to the latest version and try again') {
    super(409, 'Conflict', `Operation cannot be fulfilled on ${qualifiedResource(q)} "${q.name}": ${detail}`, detailsOf(q));
  }
}

export class BadRequestError extends StatusError {
  override name = 'BadRequestError';
  constructor(message: string) {
    super(400, 'BadRequest', message);
  }
}

/** 410 for a compacted resourceVersion or an expired continue token. */
export class ExpiredError extends StatusError {
  override name = 'ExpiredError';
  constructor(message: string) {
    super(410, 'Expired', message);
  }
}

export class MethodNotAllowedError extends StatusError {
  override name = 'MethodNotAllowedError';
  constructor(message = 'the server does not allow this method on the requested resource') {
    super(405, 'MethodNotAllowed', message);
  }
}

export class RequestEntityTooLargeError extends StatusError {
  override name = 'RequestEntityTooLargeError';
  constructor(limitBytes: number) {
    super(413, 'RequestEntityTooLarge', `Request entity too large: limit is ${limitBytes}`);
  }
}

export class UnauthorizedError extends StatusError {
  override name = 'UnauthorizedError';
  constructor() {
    super(401, 'Unauthorized', 'Unauthorized');
  }
}

export class UnsupportedMediaTypeError extends StatusError {
  override name = 'UnsupportedMediaTypeError';
  constructor(contentType: string) {
    super(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got ${JSON.stringify(contentType)})`);
  }
}

export class NotAcceptableError extends StatusError {
  override name = 'NotAcceptableError';
  constructor(message: string) {
    super(406, 'NotAcceptable', message);
  }
}

export class InternalError extends StatusError {
  override name = 'InternalError';
  constructor(message: string) {
    super(500, 'InternalError', `Internal error occurred: ${message}`);
  }
}

export class ServiceUnavailableError extends StatusError {
  override name = 'ServiceUnavailableError';
  constructor(message: string) {
    super(503, 'ServiceUnavailable', message);
  }
}

function detailsOf(q: Qualified): StatusDetails {
  const d: StatusDetails = { name: q.name, kind: q.resource };
  if (q.group) d.group = q.group;
  return d;
}

// ---- field errors (k8s.io/apimachinery/pkg/util/validation/field) ----

export type FieldErrorType =
  | 'FieldValueRequired'
  | 'FieldValueInvalid'
  | 'FieldValueDuplicate'
  | 'FieldValueNotSupported'
  | 'FieldValueForbidden'
  | 'FieldValueTooLong'
  | 'FieldValueTooMany'
  | 'InternalError';

export interface FieldError {
  type: FieldErrorType;
  /** Dotted path with indices, e.g. `spec.ports[0].port`. */
  field: string;
  badValue?: unknown;
  detail?: string;
  /** For FieldValueNotSupported: the allowed values. */
  supported?: string[];
}

/**
 * A bad value already printed as Go's `%#v` prints it (structs and maps, e.g.
 * `map[string]string{"app":"web"}`), for field errors whose upstream text shows a Go value.
 */
export class GoValue {
  constructor(readonly repr: string) {}
  toJSON(): string {
    return this.repr;
  }
}

/** Formats a value the way Go's field errors do: strings quoted, numbers and booleans bare. */
export function formatBadValue(v: unknown): string {
  if (v instanceof GoValue) return v.repr;
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v === null || v === undefined) return 'null';
  return JSON.stringify(v);
}

/** The part of a field error after the path (Go: `field.Error.ErrorBody()`). */
export function fieldErrorBody(e: FieldError): string {
  switch (e.type) {
    case 'FieldValueRequired':
      return e.detail ? `Required value: ${e.detail}` : 'Required value';
    case 'FieldValueInvalid':
      return `Invalid value: ${formatBadValue(e.badValue)}${e.detail ? `: ${e.detail}` : ''}`;
    case 'FieldValueDuplicate':
      return `Duplicate value: ${formatBadValue(e.badValue)}`;
    case 'FieldValueNotSupported': {
      const base = `Unsupported value: ${formatBadValue(e.badValue)}`;
      if (e.supported && e.supported.length) return `${base}: supported values: ${e.supported.map((s) => JSON.stringify(s)).join(', ')}`;
      return e.detail ? `${base}: ${e.detail}` : base;
    }
    case 'FieldValueForbidden':
      return e.detail ? `Forbidden: ${e.detail}` : 'Forbidden';
    case 'FieldValueTooLong':
      return `Too long: ${e.detail ?? 'value is too long'}`;
    case 'FieldValueTooMany':
      return `Too many: ${e.detail ?? 'too many items'}`;
    case 'InternalError':
      return `Internal error: ${e.detail ?? ''}`;
  }
}

export function fieldErrorString(e: FieldError): string {
  return `${e.field}: ${fieldErrorBody(e)}`;
}

// Constructors mirroring field.Required, field.Invalid, ...
export const field = {
  required: (path: string, detail?: string): FieldError => ({ type: 'FieldValueRequired', field: path, ...(detail ? { detail } : {}) }),
  invalid: (path: string, badValue: unknown, detail?: string): FieldError => ({ type: 'FieldValueInvalid', field: path, badValue, ...(detail ? { detail } : {}) }),
  duplicate: (path: string, badValue: unknown): FieldError => ({ type: 'FieldValueDuplicate', field: path, badValue }),
  notSupported: (path: string, badValue: unknown, supported: string[]): FieldError => ({ type: 'FieldValueNotSupported', field: path, badValue, supported }),
  forbidden: (path: string, detail: string): FieldError => ({ type: 'FieldValueForbidden', field: path, detail }),
  tooMany: (path: string, detail: string): FieldError => ({ type: 'FieldValueTooMany', field: path, detail }),
  tooLong: (path: string, detail: string): FieldError => ({ type: 'FieldValueTooLong', field: path, detail }),
};

/** 422 Invalid: `Service "x" is invalid: <errors>`; several errors are bracketed as Go's aggregate prints them. */
export class InvalidError extends StatusError {
  override name = 'InvalidError';
  readonly fieldErrors: FieldError[];
  constructor(kind: string, objName: string, errors: FieldError[], group?: string) {
    const parts = errors.map(fieldErrorString);
    const joined = parts.length === 1 ? parts[0]! : `[${parts.join(', ')}]`;
    const details: StatusDetails = {
      name: objName,
      kind,
      causes: errors.map((e) => ({ reason: e.type, message: fieldErrorBody(e), field: e.field })),
    };
    if (group) details.group = group;
    // kube names the group-qualified kind in the message (`Deployment.apps "web" is invalid`).
    super(422, 'Invalid', `${group ? `${kind}.${group}` : kind} "${objName}" is invalid: ${joined}`, details);
    this.fieldErrors = errors;
  }
}

/** Turns anything thrown into a StatusError, so no handler leaks a stack trace or crashes. */
export function toStatusError(err: unknown): StatusError {
  if (err instanceof StatusError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new InternalError(msg);
}

/** A CLI usage or input error: one line, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
  readonly exitCode = 2;
}
