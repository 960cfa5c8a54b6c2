// Label selectors (k8s.io/apimachinery/pkg/labels): the string grammar of `?labelSelector=` and
// `kubectl -l`, Service-style maps and metav1.LabelSelector. Each requirement is compiled once into
// a closure; matching does no parsing, no regex and no allocation, because controllers match every
// pod against every selector.
import { BadRequestError, field, fieldErrorString, type FieldError } from '../util/errors.js';
import type { LabelSelector } from '../registry/kinds/meta.js';
import { isQualifiedName, isValidLabelValue } from '../registry/validation.js';

/** Operators as apimachinery's `selection` package spells them. */
export type Operator = 'in' | 'notin' | '=' | '==' | '!=' | 'exists' | '!' | 'gt' | 'lt';

export interface Requirement {
  readonly key: string;
  readonly operator: Operator;
  /** As given (string form: sorted and de-duplicated, as the Go parser's set does). */
  readonly values: readonly string[];
}

export type Labels = Readonly<Record<string, string>> | undefined;

export interface Selector {
  matches(labels: Labels): boolean;
  /** True when the selector does not restrict anything (matches every object). */
  empty(): boolean;
  toString(): string;
  requirements(): readonly Requirement[];
  /** The single value `key` must equal (`key=v`, `key==v`, `key in (v)`), for index lookups. */
  requiresExactMatch(key: string): string | undefined;
}

type Matcher = (labels: Readonly<Record<string, string>>) => boolean;

const NO_LABELS: Readonly<Record<string, string>> = Object.freeze({});

// Reading `labels[key]` and testing for a string also rejects inherited names such as
// "constructor", without a hasOwnProperty call per match.
function compile(r: Requirement): Matcher {
  const key = r.key;
  const vals = r.values;
  switch (r.operator) {
    case 'exists':
      return (ls) => typeof ls[key] === 'string';
    case '!':
      return (ls) => typeof ls[key] !== 'string';
    case '=':
    case '==':
    case 'in': {
      if (vals.length === 1) {
        const want = vals[0]!;
        return (ls) => ls[key] === want;
      }
      const set = new Set(vals);
      return (ls) => {
        const v = ls[key];
        return typeof v === 'string' && set.has(v);
      };
    }
    case '!=':
    case 'notin': {
      if (vals.length === 1) {
        const avoid = vals[0]!;
        return (ls) => ls[key] !== avoid;
      }
      const set = new Set(vals);
      return (ls) => {
        const v = ls[key];
        return typeof v !== 'string' || !set.has(v);
      };
    }
    case 'gt':
    case 'lt': {
      const bound = Number(vals[0]);
      const gt = r.operator === 'gt';
      return (ls) => {
        const v = ls[key];
        if (typeof v !== 'string' || !INTEGER.test(v)) return false;
        const n = Number(v);
        return gt ? n > bound : n < bound;
      };
    }
  }
}

const INTEGER = /^[+-]?\d+$/;

function requirementString(r: Requirement): string {
  const sorted = r.values.length > 1 ? [...r.values].sort() : r.values;
  switch (r.operator) {
    case 'exists':
      return r.key;
    case '!':
      return `!${r.key}`;
    case 'in':
      return `${r.key} in (${sorted.join(',')})`;
    case 'notin':
      return `${r.key} notin (${sorted.join(',')})`;
    case 'gt':
      return `${r.key}>${sorted.join(',')}`;
    case 'lt':
      return `${r.key}<${sorted.join(',')}`;
    default:
      return `${r.key}${r.operator}${sorted.join(',')}`;
  }
}

class RequirementsSelector implements Selector {
  private readonly reqs: readonly Requirement[];
  private readonly matchers: readonly Matcher[];
  constructor(reqs: Requirement[]) {
    // Sorted by key so the string form is deterministic, as the Go parser does.
    this.reqs = [...reqs].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    this.matchers = this.reqs.map(compile);
  }
  matches(labels: Labels): boolean {
    const ls = labels ?? NO_LABELS;
    const m = this.matchers;
    for (let i = 0; i < m.length; i++) if (!m[i]!(ls)) return false;
    return true;
  }
  empty(): boolean {
    return this.reqs.length === 0;
  }
  toString(): string {
    return this.reqs.map(requirementString).join(',');
  }
  requirements(): readonly Requirement[] {
    return this.reqs;
  }
  requiresExactMatch(key: string): string | undefined {
    for (const r of this.reqs) {
      if (r.key !== key) continue;
      if ((r.operator === '=' || r.operator === '==' || r.operator === 'in') && r.values.length === 1) return r.values[0];
      return undefined;
    }
    return undefined;
  }
}

const NOTHING: Selector = Object.freeze({
  matches: () => false,
  empty: () => false,
  toString: () => '',
  requirements: () => [],
  requiresExactMatch: () => undefined,
});

const EVERYTHING: Selector = new RequirementsSelector([]);

/** Matches every object (an empty selector). */
export function everything(): Selector {
  return EVERYTHING;
}

/** Matches no object (what a nil metav1.LabelSelector means). */
export function nothing(): Selector {
  return NOTHING;
}

// ---- requirement construction (labels.NewRequirement) ----

function aggregate(errs: string[]): string {
  return errs.length === 1 ? errs[0]! : `[${errs.join(', ')}]`;
}

function keyError(key: string, path: string): FieldError | undefined {
  const errs = isQualifiedName(key);
  return errs.length ? field.invalid(path, key, errs.join('; ')) : undefined;
}

/** Validates a requirement as labels.NewRequirement does; returns the Go error text, or undefined. */
export function validateRequirement(r: Requirement): string | undefined {
  const errs: FieldError[] = [];
  const ke = keyError(r.key, 'key');
  if (ke) errs.push(ke);
  const vals = r.values;
  switch (r.operator) {
    case 'in':
    case 'notin':
      if (vals.length === 0) errs.push(field.invalid('values', vals, "for 'in', 'notin' operators, values set can't be empty"));
      break;
    case '=':
    case '==':
    case '!=':
      if (vals.length !== 1) errs.push(field.invalid('values', vals, 'exact-match compatibility requires one single value'));
      break;
    case 'exists':
    case '!':
      if (vals.length !== 0) errs.push(field.invalid('values', vals, 'values set must be empty for exists and does not exist'));
      break;
    case 'gt':
    case 'lt':
      if (vals.length !== 1) errs.push(field.invalid('values', vals, "for 'Gt', 'Lt' operators, exactly one value is required"));
      vals.forEach((v, i) => {
        if (!INTEGER.test(v) || !Number.isSafeInteger(Number(v))) errs.push(field.invalid(`values[${i}]`, v, "for 'Gt', 'Lt' operators, the value must be an integer"));
      });
      break;
  }
  vals.forEach((v, i) => {
    const ve = isValidLabelValue(v);
    if (ve.length) errs.push(field.invalid(`values[${i}][${r.key}]`, v, ve.join('; ')));
  });
  return errs.length ? aggregate(errs.map(fieldErrorString)) : undefined;
}

function newRequirement(key: string, operator: Operator, values: string[]): Requirement {
  const r: Requirement = { key, operator, values };
  const err = validateRequirement(r);
  if (err) throw new BadRequestError(err);
  return r;
}

// ---- the string grammar (labels.Parse) ----

const enum Tok {
  Error,
  End,
  CloseParen,
  Comma,
  Bang,
  DoubleEquals,
  Equals,
  Greater,
  Ident,
  In,
  Less,
  NotEquals,
  NotIn,
  OpenParen,
}

const KEYWORDS: ReadonlyMap<string, Tok> = new Map([
  [')', Tok.CloseParen],
  [',', Tok.Comma],
  ['!', Tok.Bang],
  ['==', Tok.DoubleEquals],
  ['=', Tok.Equals],
  ['>', Tok.Greater],
  ['in', Tok.In],
  ['<', Tok.Less],
  ['!=', Tok.NotEquals],
  ['notin', Tok.NotIn],
  ['(', Tok.OpenParen],
]);

interface Item {
  tok: Tok;
  lit: string;
}

const isSpace = (c: string): boolean => c === ' ' || c === '\t' || c === '\r' || c === '\n';
const isSpecial = (c: string): boolean => c === '=' || c === '!' || c === '(' || c === ')' || c === ',' || c === '>' || c === '<';

function lex(s: string): Item[] {
  const items: Item[] = [];
  let i = 0;
  for (;;) {
    while (i < s.length && isSpace(s[i]!)) i++;
    if (i >= s.length) {
      items.push({ tok: Tok.End, lit: '' });
      return items;
    }
    if (isSpecial(s[i]!)) {
      // Longest run of symbols that still spells an operator: "!=" over "!", "==" over "=".
      let buf = '';
      let last: Item | undefined;
      while (i < s.length && isSpecial(s[i]!)) {
        const next = buf + s[i]!;
        const t = KEYWORDS.get(next);
        if (t !== undefined) {
          last = { tok: t, lit: next };
          buf = next;
          i++;
        } else if (last) {
          break;
        } else {
          buf = next;
          i++;
        }
      }
      items.push(last ?? { tok: Tok.Error, lit: `error expected: keyword found '${buf}'` });
      continue;
    }
    const start = i;
    while (i < s.length && !isSpecial(s[i]!) && !isSpace(s[i]!)) i++;
    const word = s.slice(start, i);
    const kw = KEYWORDS.get(word);
    items.push({ tok: kw === Tok.In || kw === Tok.NotIn ? kw : Tok.Ident, lit: word });
  }
}

class Parser {
  private pos = 0;
  constructor(private readonly items: Item[]) {}

  // In value position "in" and "notin" are ordinary identifiers (`a in (in)`).
  private peek(values: boolean): Item {
    const it = this.items[Math.min(this.pos, this.items.length - 1)]!;
    return values && (it.tok === Tok.In || it.tok === Tok.NotIn) ? { tok: Tok.Ident, lit: it.lit } : it;
  }
  private next(values: boolean): Item {
    const it = this.peek(values);
    if (this.pos < this.items.length - 1) this.pos++;
    return it;
  }

  parse(): Requirement[] {
    const reqs: Requirement[] = [];
    for (;;) {
      const { tok, lit } = this.peek(true);
      if (tok === Tok.End) return reqs;
      if (tok !== Tok.Ident && tok !== Tok.Bang) throw new BadRequestError(`found '${lit}', expected: !, identifier, or 'end of string'`);
      try {
        reqs.push(this.requirement());
      } catch (e) {
        if (e instanceof BadRequestError) throw new BadRequestError(`unable to parse requirement: ${e.message}`);
        throw e;
      }
      const after = this.next(true);
      if (after.tok === Tok.End) return reqs;
      if (after.tok !== Tok.Comma) throw new BadRequestError(`found '${after.lit}', expected: ',' or 'end of string'`);
      const t2 = this.peek(true);
      if (t2.tok !== Tok.Ident && t2.tok !== Tok.Bang) throw new BadRequestError(`found '${t2.lit}', expected: identifier after ','`);
    }
  }

  private requirement(): Requirement {
    let op: Operator | undefined;
    let it = this.next(true);
    if (it.tok === Tok.Bang) {
      op = '!';
      it = this.next(true);
    }
    if (it.tok !== Tok.Ident) throw new BadRequestError(`found '${it.lit}', expected: identifier`);
    const key = it.lit;
    const ke = keyError(key, '<nil>');
    if (ke) throw new BadRequestError(fieldErrorString(ke));
    const la = this.peek(true).tok;
    if (op === undefined && (la === Tok.End || la === Tok.Comma)) op = 'exists';
    if (op === '!' || op === 'exists') return newRequirement(key, op, []);

    const opItem = this.next(false);
    switch (opItem.tok) {
      case Tok.In:
        return newRequirement(key, 'in', this.valueSet());
      case Tok.NotIn:
        return newRequirement(key, 'notin', this.valueSet());
      case Tok.Equals:
        return newRequirement(key, '=', this.exactValue());
      case Tok.DoubleEquals:
        return newRequirement(key, '==', this.exactValue());
      case Tok.NotEquals:
        return newRequirement(key, '!=', this.exactValue());
      case Tok.Greater:
        return newRequirement(key, 'gt', this.exactValue());
      case Tok.Less:
        return newRequirement(key, 'lt', this.exactValue());
      default:
        throw new BadRequestError(`found '${opItem.lit}', expected: in, notin, =, ==, !=, gt, lt`);
    }
  }

  private valueSet(): string[] {
    const open = this.next(true);
    if (open.tok !== Tok.OpenParen) throw new BadRequestError(`found '${open.lit}' expected: '('`);
    const first = this.peek(true);
    if (first.tok === Tok.CloseParen) {
      this.next(true);
      return [''];
    }
    if (first.tok !== Tok.Ident && first.tok !== Tok.Comma) throw new BadRequestError(`found '${first.lit}', expected: ',', ')' or identifier`);
    const set = new Set<string>();
    // A list of possibly empty identifiers: "(a,,b)" and "(,a)" hold the empty value too.
    for (;;) {
      const it = this.next(true);
      if (it.tok === Tok.Ident) {
        set.add(it.lit);
        const la = this.peek(true);
        if (la.tok === Tok.Comma) continue;
        if (la.tok === Tok.CloseParen) break;
        throw new BadRequestError(`found '${la.lit}', expected: ',' or ')'`);
      } else if (it.tok === Tok.Comma) {
        if (set.size === 0) set.add('');
        const la = this.peek(true);
        if (la.tok === Tok.CloseParen) {
          set.add('');
          break;
        }
        if (la.tok === Tok.Comma) set.add('');
      } else {
        throw new BadRequestError(`found '${it.lit}', expected: ',', or identifier`);
      }
    }
    const close = this.next(true);
    if (close.tok !== Tok.CloseParen) throw new BadRequestError(`found '${first.lit}', expected: ')'`);
    return [...set].sort();
  }

  private exactValue(): string[] {
    const la = this.peek(true);
    if (la.tok === Tok.End || la.tok === Tok.Comma) return [''];
    const it = this.next(true);
    if (it.tok === Tok.Ident) return [it.lit];
    throw new BadRequestError(`found '${it.lit}', expected: identifier`);
  }
}

/**
 * Parses the string form (`a=b,c!=d,e in (x,y),!f,g`). Throws BadRequestError with
 * kube-apiserver's message, which the API returns as a 400 for `?labelSelector=`.
 */
export function parseLabelSelector(s: string): Selector {
  const reqs = new Parser(lex(s)).parse();
  return reqs.length === 0 ? EVERYTHING : new RequirementsSelector(reqs);
}

/**
 * A Service-style selector map: every pair must match. An empty or absent map yields everything();
 * callers that treat "no selector" specially (Services without a selector get no endpoints) check
 * for it before calling. Values are not validated: they come from validated objects.
 */
export function selectorFromMap(m: Readonly<Record<string, string>> | undefined | null): Selector {
  if (!m) return EVERYTHING;
  const keys = Object.keys(m);
  if (keys.length === 0) return EVERYTHING;
  return new RequirementsSelector(keys.map((k) => ({ key: k, operator: '=', values: [m[k]!] })));
}

const EXPRESSION_OPS: Readonly<Record<string, Operator>> = { In: 'in', NotIn: 'notin', Exists: 'exists', DoesNotExist: '!' };

/**
 * metav1.LabelSelectorAsSelector: null/undefined selects nothing, `{}` selects everything,
 * otherwise matchLabels AND matchExpressions. Invalid keys, values or operators throw BadRequestError.
 */
export function selectorFromLabelSelector(ls: LabelSelector | null | undefined): Selector {
  if (ls == null) return NOTHING;
  const labels = ls.matchLabels ?? {};
  const exprs = ls.matchExpressions ?? [];
  const keys = Object.keys(labels).sort();
  if (keys.length + exprs.length === 0) return EVERYTHING;
  const reqs: Requirement[] = [];
  for (const k of keys) reqs.push(newRequirement(k, '=', [labels[k]!]));
  for (const e of exprs) {
    const op = Object.hasOwn(EXPRESSION_OPS, e.operator) ? EXPRESSION_OPS[e.operator] : undefined;
    if (!op) throw new BadRequestError(`${JSON.stringify(e.operator)} is not a valid label selector operator`);
    reqs.push(newRequirement(e.key, op, [...(e.values ?? [])]));
  }
  return new RequirementsSelector(reqs);
}

/** Builds a selector from requirements already constructed in code (validated here). */
export function selectorFromRequirements(reqs: readonly Requirement[]): Selector {
  if (reqs.length === 0) return EVERYTHING;
  return new RequirementsSelector(reqs.map((r) => newRequirement(r.key, r.operator, [...r.values])));
}
