// Field selectors (k8s.io/apimachinery/pkg/fields): `a=b`, `a==b`, `a!=b`, comma-joined, with `\`
// escaping `\`, `,` and `=` in values. Parsed once into a flat term array; matching calls the
// caller's getter per term and compares strings.
import { BadRequestError } from '../util/errors.js';

export type FieldOperator = '=' | '==' | '!=';

export interface FieldRequirement {
  readonly field: string;
  readonly operator: FieldOperator;
  readonly value: string;
}

/** Returns the object's value for a selectable field; undefined counts as "" (Go's fields.Set). */
export type FieldGetter = (field: string) => string | undefined;

export interface FieldSelector {
  matches(get: FieldGetter): boolean;
  empty(): boolean;
  toString(): string;
  requirements(): readonly FieldRequirement[];
  /** The distinct fields the selector uses, so the API can reject unsupported ones. */
  fields(): readonly string[];
  /** The value `field` must equal, for index lookups (e.g. `metadata.name=NAME` in `kubectl get -w NAME`). */
  requiresExactMatch(field: string): string | undefined;
}

/** Escapes a value for the string form (fields.EscapeValue). */
export function escapeFieldValue(v: string): string {
  return v.replace(/[\\,=]/g, (c) => `\\${c}`);
}

class TermsSelector implements FieldSelector {
  private readonly terms: readonly FieldRequirement[];
  // Parallel arrays keep the match loop free of property lookups on term objects.
  private readonly names: readonly string[];
  private readonly values: readonly string[];
  private readonly negated: readonly boolean[];
  constructor(terms: FieldRequirement[]) {
    this.terms = terms;
    this.names = terms.map((t) => t.field);
    this.values = terms.map((t) => t.value);
    this.negated = terms.map((t) => t.operator === '!=');
  }
  matches(get: FieldGetter): boolean {
    for (let i = 0; i < this.names.length; i++) {
      const equal = (get(this.names[i]!) ?? '') === this.values[i];
      if (equal === this.negated[i]) return false;
    }
    return true;
  }
  empty(): boolean {
    return this.terms.length === 0;
  }
  toString(): string {
    return this.terms.map((t) => `${t.field}${t.operator === '!=' ? '!=' : '='}${escapeFieldValue(t.value)}`).join(',');
  }
  requirements(): readonly FieldRequirement[] {
    return this.terms;
  }
  fields(): readonly string[] {
    return [...new Set(this.names)];
  }
  requiresExactMatch(field: string): string | undefined {
    for (const t of this.terms) if (t.field === field && t.operator !== '!=') return t.value;
    return undefined;
  }
}

const EVERYTHING: FieldSelector = new TermsSelector([]);

export function everythingFields(): FieldSelector {
  return EVERYTHING;
}

/** A one-term `field=value` selector (fields.OneTermEqualSelector). */
export function fieldEquals(field: string, value: string): FieldSelector {
  return new TermsSelector([{ field, operator: '=', value }]);
}

// Splits on commas not preceded by an escaping backslash; the backslashes stay for unescape.
function splitTerms(s: string): string[] {
  const terms: string[] = [];
  let start = 0;
  let escaped = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (escaped) escaped = false;
    else if (c === '\\') escaped = true;
    else if (c === ',') {
      terms.push(s.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(s.slice(start));
  return terms;
}

const OPERATORS: readonly FieldOperator[] = ['!=', '==', '='];

// The first operator occurrence splits the term; field names cannot be escaped.
function splitTerm(term: string): [string, FieldOperator, string] | undefined {
  for (let i = 0; i < term.length; i++) {
    for (const op of OPERATORS) {
      if (term.startsWith(op, i)) return [term.slice(0, i), op, term.slice(i + op.length)];
    }
  }
  return undefined;
}

function unescapeValue(s: string): string {
  if (!/[\\,=]/.test(s)) return s;
  let out = '';
  let escaped = false;
  for (const c of s) {
    if (escaped) {
      if (c !== '\\' && c !== ',' && c !== '=') throw new BadRequestError(`invalid field selector: invalid escape sequence: \\${c}`);
      out += c;
      escaped = false;
    } else if (c === '\\') {
      escaped = true;
    } else if (c === ',' || c === '=') {
      // Go prints the rune with %v, i.e. its code point.
      throw new BadRequestError(`invalid field selector: unescaped character in value: ${c.codePointAt(0)}`);
    } else {
      out += c;
    }
  }
  if (escaped) throw new BadRequestError('invalid field selector: invalid escape sequence: \\');
  return out;
}

/** Parses `?fieldSelector=`; throws BadRequestError with kube-apiserver's message. */
export function parseFieldSelector(s: string): FieldSelector {
  if (s === '') return EVERYTHING;
  const parts = splitTerms(s).sort();
  const terms: FieldRequirement[] = [];
  for (const part of parts) {
    if (part === '') continue;
    const split = splitTerm(part);
    if (!split) throw new BadRequestError(`invalid selector: '${s}'; can't understand '${part}'`);
    const [lhs, op, rhs] = split;
    terms.push({ field: lhs, operator: op, value: unescapeValue(rhs) });
  }
  return terms.length === 0 ? EVERYTHING : new TermsSelector(terms);
}

/**
 * Rejects fields a kind cannot select on, with kube-apiserver's message, e.g.
 * `"spec.foo" is not a known field selector: only "metadata.name", "metadata.namespace"`.
 */
export function checkSupportedFields(sel: FieldSelector, supported: readonly string[]): void {
  for (const f of sel.fields()) {
    if (!supported.includes(f)) {
      throw new BadRequestError(`${JSON.stringify(f)} is not a known field selector: only ${supported.map((x) => JSON.stringify(x)).join(', ')}`);
    }
  }
}
