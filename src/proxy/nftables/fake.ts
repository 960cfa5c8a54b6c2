// An in-memory nftables: production code, used by unit tests, the packet tracer and
// `portico explain`. It understands the subset of `nft -f` syntax the renderer emits, applies a
// transaction atomically (all or nothing), checks references as the kernel does (jump or goto to a
// missing chain or a base chain, missing sets, deleting a referenced or non-empty chain or a
// referenced set, deleting a missing element, re-adding an element with another value) and dumps
// deterministically.

import { RulesetError } from '../ruleset-error.js';

export class NftError extends RulesetError {
  override name = 'NftError';
  readonly code = 'NFT_ERROR';
}

// ---- syntax tree ----

export type FieldName =
  | 'saddr' | 'daddr' | 'l4proto' | 'dport' | 'mark' | 'ct state' | 'ct status' | 'fib saddr' | 'fib daddr';

export type Expr =
  | { k: 'field'; name: FieldName; text: string }
  | { k: 'numgen'; mod: number; offset: number; text: string }
  | { k: 'concat'; parts: Expr[] }
  | { k: 'mask'; e: Expr; mask: number };

export type Verdict =
  | { k: 'accept' | 'drop' | 'return' }
  | { k: 'jump' | 'goto'; chain: string };

/** An anonymous set or map: keys are concatenation components. */
export interface AnonItem {
  key: string[];
  value?: string[];
}

export type Rhs = { k: 'lit'; v: string } | { k: 'setref'; name: string } | { k: 'anon'; items: AnonItem[] };

export type Stmt =
  | { k: 'match'; e: Expr; neg: boolean; rhs: Rhs }
  | { k: 'vmap'; e: Expr; ref?: string; items?: AnonItem[] }
  | { k: 'markset'; op: '|' | '^'; value: number }
  | { k: 'masquerade'; fullyRandom?: boolean }
  | { k: 'dnat'; ip: string; port: number }
  /** `dnat ip to EXPR map { ... }` (anonymous) or `map @name` (a named data map). */
  | { k: 'dnatmap'; fam: 'ip' | 'ip6'; e: Expr; items: AnonItem[]; ref?: string }
  | { k: 'update'; set: string; e: Expr }
  | { k: 'reject'; with: string }
  | { k: 'counter' }
  | { k: 'verdict'; v: Verdict };

export interface Rule {
  text: string;
  stmts: Stmt[];
  comment?: string;
}

export interface BaseSpec {
  type: string;
  hook: string;
  priority: number;
  policy: string;
}

export interface Chain {
  name: string;
  base?: BaseSpec;
  rules: Rule[];
}

export interface NamedSet {
  name: string;
  isMap: boolean;
  /** A map whose values are data (`addr . port`), not verdicts. */
  dataMap: boolean;
  /** `flags interval`: keys are ranges `lo-hi` (or single values) that must not overlap. */
  interval: boolean;
  /** The definition body as given (type, flags, timeout), normalised. */
  def: string;
  dynamic: boolean;
  /** Joined key → element. */
  elements: Map<string, { key: string[]; value?: string[] }>;
}

export interface Table {
  family: string;
  name: string;
  chains: Map<string, Chain>;
  sets: Map<string, NamedSet>;
}

// ---- tokenizer ----

function tokenize(s: string, line: number): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === ' ' || c === '\t') { i++; continue; }
    if (c === '"') {
      const j = s.indexOf('"', i + 1);
      if (j < 0) throw new NftError('unterminated string', line);
      out.push(s.slice(i, j + 1));
      i = j + 1;
      continue;
    }
    if (c === '{' || c === '}' || c === ',' || c === ';') { out.push(c); i++; continue; }
    let j = i;
    while (j < s.length && !' \t{},;"'.includes(s[j]!)) j++;
    out.push(s.slice(i, j));
    i = j;
  }
  return out;
}

class Cursor {
  i = 0;
  constructor(readonly t: string[], readonly line: number) {}
  peek(o = 0): string | undefined {
    return this.t[this.i + o];
  }
  next(): string {
    const v = this.t[this.i++];
    if (v === undefined) throw new NftError('unexpected end of line', this.line);
    return v;
  }
  eat(v: string): boolean {
    if (this.t[this.i] === v) { this.i++; return true; }
    return false;
  }
  expect(v: string): void {
    const got = this.next();
    if (got !== v) throw new NftError(`expected "${v}", got "${got}"`, this.line);
  }
  done(): boolean {
    return this.i >= this.t.length;
  }
}

const NAME_RE = /^[A-Za-z][A-Za-z0-9/_.-]*$/;

function parsePrimary(c: Cursor): Expr | undefined {
  const a = c.peek();
  const b = c.peek(1);
  if ((a === 'ip' || a === 'ip6') && (b === 'saddr' || b === 'daddr')) {
    c.i += 2;
    return { k: 'field', name: b, text: `${a} ${b}` };
  }
  if (a === 'meta' && (b === 'l4proto' || b === 'mark')) {
    c.i += 2;
    return { k: 'field', name: b, text: `meta ${b}` };
  }
  if (a === 'th' && b === 'dport') {
    c.i += 2;
    return { k: 'field', name: 'dport', text: 'th dport' };
  }
  if (a === 'ct' && (b === 'state' || b === 'status')) {
    c.i += 2;
    return { k: 'field', name: `ct ${b}`, text: `ct ${b}` };
  }
  if (a === 'fib' && (b === 'saddr' || b === 'daddr') && c.peek(2) === 'type') {
    c.i += 3;
    return { k: 'field', name: `fib ${b}`, text: `fib ${b} type` };
  }
  if (a === 'numgen' && b === 'random' && c.peek(2) === 'mod') {
    c.i += 3;
    const mod = Number(c.next());
    if (!Number.isInteger(mod) || mod <= 0) throw new NftError('bad numgen modulus', c.line);
    let offset = 0;
    const hasOffset = c.eat('offset');
    if (hasOffset) {
      offset = Number(c.next());
      if (!Number.isInteger(offset) || offset < 0 || offset + mod > 2 ** 32) throw new NftError('bad numgen offset', c.line);
    }
    return { k: 'numgen', mod, offset, text: `numgen random mod ${mod}${hasOffset ? ` offset ${offset}` : ''}` };
  }
  return undefined;
}

function parseExpr(c: Cursor): Expr {
  const first = parsePrimary(c);
  if (!first) throw new NftError(`unknown expression at "${c.peek() ?? ''}"`, c.line);
  const parts = [first];
  while (c.peek() === '.') {
    c.i++;
    const p = parsePrimary(c);
    if (!p) throw new NftError('bad concatenation', c.line);
    parts.push(p);
  }
  let e: Expr = parts.length === 1 ? first : { k: 'concat', parts };
  if (c.peek() === '&') {
    c.i++;
    e = { k: 'mask', e, mask: Number(c.next()) };
  }
  return e;
}

/** Parses `{ a . b [: v ...], ... }` (after the opening brace was seen). */
function parseAnon(c: Cursor, isMap: boolean): AnonItem[] {
  c.expect('{');
  const items: AnonItem[] = [];
  while (!c.eat('}')) {
    const key: string[] = [c.next()];
    while (c.peek() === '.') { c.i++; key.push(c.next()); }
    const item: AnonItem = { key };
    if (isMap) {
      c.expect(':');
      const value: string[] = [];
      while (c.peek() !== ',' && c.peek() !== '}') value.push(c.next());
      if (value.length === 0) throw new NftError('map element without value', c.line);
      item.value = value;
    }
    items.push(item);
    if (!c.eat(',') && c.peek() !== '}') throw new NftError(`expected "," or "}" at "${c.peek() ?? ''}"`, c.line);
  }
  return items;
}

/** The items of an element list `{ k . k [: v], ... }` as the renderer writes it (shared with the netlink compiler). */
export function parseElementList(text: string, isMap: boolean, line = 0): AnonItem[] {
  const c = new Cursor(tokenize(text, line), line);
  const items = parseAnon(c, isMap);
  if (!c.done()) throw new NftError('trailing tokens after elements', line);
  return items;
}

export function parseVerdict(words: string[], line: number): Verdict {
  const [a, b] = words;
  if ((a === 'accept' || a === 'drop' || a === 'return') && words.length === 1) return { k: a };
  if ((a === 'jump' || a === 'goto') && b !== undefined && words.length === 2 && NAME_RE.test(b)) return { k: a, chain: b };
  throw new NftError(`bad verdict "${words.join(' ')}"`, line);
}

function parseAddrPort(s: string, line: number): { ip: string; port: number } {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(s) ?? /^([0-9.]+):(\d+)$/.exec(s);
  if (!m) throw new NftError(`bad address:port "${s}"`, line);
  return { ip: m[1]!, port: Number(m[2]) };
}

function parseNumber(s: string, line: number): number {
  const n = Number(s);
  if (!Number.isFinite(n)) throw new NftError(`bad number "${s}"`, line);
  return n;
}

export function parseRule(text: string, line = 0): Rule {
  const c = new Cursor(tokenize(text, line), line);
  const stmts: Stmt[] = [];
  let comment: string | undefined;
  while (!c.done()) {
    const w = c.peek()!;
    if (w === 'comment') {
      c.i++;
      const s = c.next();
      if (!s.startsWith('"')) throw new NftError('comment must be quoted', line);
      comment = s.slice(1, -1);
      if (comment.length > 128) throw new NftError('comment too long', line);
      continue;
    }
    if (w === 'counter') { c.i++; stmts.push({ k: 'counter' }); continue; }
    if (w === 'masquerade') {
      c.i++;
      stmts.push(c.eat('fully-random') ? { k: 'masquerade', fullyRandom: true } : { k: 'masquerade' });
      continue;
    }
    if (w === 'accept' || w === 'drop' || w === 'return') { c.i++; stmts.push({ k: 'verdict', v: { k: w } }); continue; }
    if (w === 'jump' || w === 'goto') { c.i++; stmts.push({ k: 'verdict', v: parseVerdict([w, c.next()], line) }); continue; }
    if (w === 'reject') {
      c.i++;
      let withWhat = '';
      if (c.eat('with')) {
        const parts: string[] = [];
        while (!c.done() && c.peek() !== 'comment') parts.push(c.next());
        withWhat = parts.join(' ');
        if (withWhat !== 'tcp reset' && !withWhat.startsWith('icmp')) throw new NftError(`bad reject "${withWhat}"`, line);
      }
      stmts.push({ k: 'reject', with: withWhat });
      continue;
    }
    if (w === 'update') {
      c.i++;
      const ref = c.next();
      if (!ref.startsWith('@')) throw new NftError('update needs @set', line);
      c.expect('{');
      const e = parseExpr(c);
      c.expect('}');
      stmts.push({ k: 'update', set: ref.slice(1), e });
      continue;
    }
    if (w === 'dnat') {
      c.i++;
      if (c.eat('to')) {
        const ap = parseAddrPort(c.next(), line);
        stmts.push({ k: 'dnat', ip: ap.ip, port: ap.port });
        continue;
      }
      const fam = c.next();
      if (fam !== 'ip' && fam !== 'ip6') throw new NftError('dnat: expected "to", "ip" or "ip6"', line);
      c.expect('to');
      const e = parseExpr(c);
      c.expect('map');
      if (c.peek()?.startsWith('@')) {
        stmts.push({ k: 'dnatmap', fam, e, items: [], ref: c.next().slice(1) });
        continue;
      }
      const items = parseAnon(c, true);
      for (const it of items) if (it.value?.length !== 3 || it.value[1] !== '.') throw new NftError('dnat map value must be addr . port', line);
      stmts.push({ k: 'dnatmap', fam, e, items });
      continue;
    }
    if (w === 'meta' && c.peek(1) === 'mark' && c.peek(2) === 'set') {
      c.i += 3;
      if (c.next() !== 'meta' || c.next() !== 'mark') throw new NftError('meta mark set: only "meta mark | v" and "meta mark ^ v"', line);
      const op = c.next();
      if (op !== '|' && op !== '^') throw new NftError(`meta mark set: bad operator ${op}`, line);
      stmts.push({ k: 'markset', op, value: parseNumber(c.next(), line) });
      continue;
    }
    const e = parseExpr(c);
    if (c.eat('vmap')) {
      if (c.peek()?.startsWith('@')) stmts.push({ k: 'vmap', e, ref: c.next().slice(1) });
      else {
        const items = parseAnon(c, true);
        for (const it of items) parseVerdict(it.value!, line);
        stmts.push({ k: 'vmap', e, items });
      }
      continue;
    }
    let neg = false;
    if (c.eat('!=')) neg = true;
    else c.eat('==');
    const r = c.peek();
    if (r === undefined) throw new NftError('missing right-hand side', line);
    let rhs: Rhs;
    if (r.startsWith('@')) { c.i++; rhs = { k: 'setref', name: r.slice(1) }; }
    else if (r === '{') rhs = { k: 'anon', items: parseAnon(c, false) };
    else { c.i++; rhs = { k: 'lit', v: r }; }
    stmts.push({ k: 'match', e, neg, rhs });
  }
  stmts.forEach((s, i) => {
    if (s.k === 'verdict' && i !== stmts.length - 1) throw new NftError('statement after verdict', line);
  });
  return { text: text.trim().replace(/\s+/g, ' '), stmts, ...(comment !== undefined ? { comment } : {}) };
}

// ---- references ----

function verdictTargets(stmts: Stmt[]): string[] {
  const out: string[] = [];
  for (const s of stmts) {
    if (s.k === 'verdict' && (s.v.k === 'jump' || s.v.k === 'goto')) out.push(s.v.chain);
    if (s.k === 'vmap' && s.items) for (const it of s.items) { const v = it.value!; if (v.length === 2) out.push(v[1]!); }
  }
  return out;
}

function setRefs(stmts: Stmt[]): string[] {
  const out: string[] = [];
  for (const s of stmts) {
    if (s.k === 'match' && s.rhs.k === 'setref') out.push(s.rhs.name);
    if (s.k === 'vmap' && s.ref) out.push(s.ref);
    if (s.k === 'update') out.push(s.set);
    if (s.k === 'dnatmap' && s.ref) out.push(s.ref);
  }
  return out;
}

// ---- the fake ----

function cloneTable(t: Table): Table {
  const chains = new Map<string, Chain>();
  for (const [n, ch] of t.chains) chains.set(n, { ...ch, rules: [...ch.rules] });
  const sets = new Map<string, NamedSet>();
  for (const [n, s] of t.sets) sets.set(n, { ...s, elements: new Map(s.elements) });
  return { ...t, chains, sets };
}

function parseSetDef(body: string, line: number): { isMap: boolean; dataMap: boolean; interval: boolean; def: string; dynamic: boolean } {
  const parts = body.split(';').map((p) => p.trim().replace(/\s+/g, ' ')).filter(Boolean);
  const typ = parts.find((p) => p.startsWith('type ') || p.startsWith('typeof '));
  if (!typ) throw new NftError('set without type', line);
  for (const p of parts) {
    if (!/^(type|typeof|flags|timeout|size) /.test(p)) throw new NftError(`unsupported set property "${p}"`, line);
  }
  const flags = (parts.find((p) => p.startsWith('flags ')) ?? '').slice(6).split(',').map((f) => f.trim());
  const isMap = typ.includes(' : ');
  return { isMap, dataMap: isMap && !typ.endsWith(' : verdict'), interval: flags.includes('interval'), def: parts.join('; '), dynamic: flags.includes('dynamic') };
}

/** An interval set's key as [lo, hi] (numbers only: the renderer's interval maps are keyed by numgen). */
function rangeOf(key: string, line: number): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(key);
  if (!m) throw new NftError(`bad interval key "${key}"`, line);
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  if (hi < lo) throw new NftError(`bad interval "${key}"`, line);
  return [lo, hi];
}

const ELEMENT_RE = /^(add|delete) element (ip6?) (\S+) (\S+) (\{.*\})$/;

export class FakeNftables {
  private tables = new Map<string, Table>();

  /** Applies one transaction atomically; throws NftError (and changes nothing) on any error. */
  apply(text: string): void {
    const work = new Map<string, Table>();
    for (const [k, t] of this.tables) work.set(k, t);
    const cloned = new Set<string>();
    const table = (fam: string, name: string, line: number, mustExist = true): Table | undefined => {
      const key = `${fam} ${name}`;
      let t = work.get(key);
      if (!t) {
        if (mustExist) throw new NftError(`No such file or directory: table ${key}`, line);
        return undefined;
      }
      if (!cloned.has(key)) {
        t = cloneTable(t);
        work.set(key, t);
        cloned.add(key);
      }
      return t;
    };
    const lines = text.split('\n');
    for (let n = 0; n < lines.length; n++) {
      const line = lines[n]!.trim();
      const ln = n + 1;
      if (line === '' || line.startsWith('#')) continue;
      let m: RegExpExecArray | null;
      if ((m = /^(add|delete) table (ip6?) (\S+)$/.exec(line))) {
        const key = `${m[2]} ${m[3]}`;
        if (m[1] === 'add') {
          if (!work.has(key)) { work.set(key, { family: m[2]!, name: m[3]!, chains: new Map(), sets: new Map() }); cloned.add(key); }
        } else {
          if (!work.has(key)) throw new NftError(`No such file or directory: table ${key}`, ln);
          work.delete(key);
          cloned.delete(key);
        }
        continue;
      }
      if ((m = /^add chain (ip6?) (\S+) (\S+)(?: \{ type (filter|nat) hook (\w+) priority (-?\d+) ; policy (accept|drop) ; \})?$/.exec(line))) {
        const t = table(m[1]!, m[2]!, ln)!;
        const name = m[3]!;
        if (!NAME_RE.test(name)) throw new NftError(`bad chain name ${name}`, ln);
        const base = m[4] ? { type: m[4], hook: m[5]!, priority: Number(m[6]), policy: m[7]! } : undefined;
        const ex = t.chains.get(name);
        if (ex) {
          if (JSON.stringify(ex.base) !== JSON.stringify(base)) throw new NftError(`chain ${name} exists with another definition`, ln);
        } else t.chains.set(name, { name, ...(base ? { base } : {}), rules: [] });
        continue;
      }
      if ((m = /^(flush|delete) chain (ip6?) (\S+) (\S+)$/.exec(line))) {
        const t = table(m[2]!, m[3]!, ln)!;
        const ch = t.chains.get(m[4]!);
        if (!ch) throw new NftError(`No such file or directory: chain ${m[4]}`, ln);
        if (m[1] === 'flush') t.chains.set(ch.name, { ...ch, rules: [] });
        else {
          if (ch.rules.length) throw new NftError(`Device or resource busy: chain ${ch.name} has rules (flush it first)`, ln);
          this.checkUnreferencedChain(t, ch.name, ln);
          t.chains.delete(ch.name);
        }
        continue;
      }
      if ((m = /^add (set|map) (ip6?) (\S+) (\S+) \{(.*)\}$/.exec(line))) {
        const t = table(m[2]!, m[3]!, ln)!;
        const name = m[4]!;
        if (!NAME_RE.test(name)) throw new NftError(`bad set name ${name}`, ln);
        const d = parseSetDef(m[5]!, ln);
        if (d.isMap !== (m[1] === 'map')) throw new NftError(`${m[1]} ${name}: type does not match`, ln);
        const ex = t.sets.get(name);
        if (ex) {
          if (ex.def !== d.def) throw new NftError(`set ${name} exists with another definition`, ln);
        } else t.sets.set(name, { name, isMap: d.isMap, dataMap: d.dataMap, interval: d.interval, def: d.def, dynamic: d.dynamic, elements: new Map() });
        continue;
      }
      if ((m = /^delete (set|map) (ip6?) (\S+) (\S+)$/.exec(line))) {
        const t = table(m[2]!, m[3]!, ln)!;
        if (!t.sets.has(m[4]!)) throw new NftError(`No such file or directory: set ${m[4]}`, ln);
        for (const ch of t.chains.values()) for (const r of ch.rules) {
          if (setRefs(r.stmts).includes(m[4]!)) throw new NftError(`Device or resource busy: set ${m[4]} used by chain ${ch.name}`, ln);
        }
        t.sets.delete(m[4]!);
        continue;
      }
      if ((m = ELEMENT_RE.exec(line))) {
        const t = table(m[2]!, m[3]!, ln)!;
        const set = t.sets.get(m[4]!);
        if (!set) throw new NftError(`No such file or directory: set ${m[4]}`, ln);
        const c = new Cursor(tokenize(m[5]!, ln), ln);
        const items = parseAnon(c, m[1] === 'add' && set.isMap);
        if (!c.done()) throw new NftError('trailing tokens after elements', ln);
        for (const it of items) {
          const k = it.key.join(' . ');
          if (m[1] === 'add') {
            if (set.dataMap) {
              const v = it.value!;
              if (v.length !== 3 || v[1] !== '.' || !/^\d+$/.test(v[2]!)) throw new NftError(`map ${set.name}: value must be addr . port, got "${v.join(' ')}"`, ln);
            } else if (set.isMap) {
              const v = parseVerdict(it.value!, ln);
              if (v.k === 'jump' || v.k === 'goto') this.checkJumpTarget(t, v.chain, ln);
            }
            const ex = set.elements.get(k);
            if (ex && (ex.value ?? []).join(' ') !== (it.value ?? []).join(' ')) throw new NftError(`File exists: element ${k} in ${set.name}`, ln);
            if (set.interval && !ex) {
              // The kernel refuses overlapping intervals.
              if (it.key.length !== 1) throw new NftError(`interval set ${set.name}: one-component keys only`, ln);
              const [lo, hi] = rangeOf(k, ln);
              for (const other of set.elements.keys()) {
                const [a, b] = rangeOf(other, ln);
                if (lo <= b && a <= hi) throw new NftError(`File exists: interval ${k} overlaps ${other} in ${set.name}`, ln);
              }
            }
            set.elements.set(k, it);
          } else {
            if (!set.elements.delete(k)) throw new NftError(`No such file or directory: element ${k} in ${set.name}`, ln);
          }
        }
        continue;
      }
      if ((m = /^add rule (ip6?) (\S+) (\S+) (.*)$/.exec(line))) {
        const t = table(m[1]!, m[2]!, ln)!;
        const ch = t.chains.get(m[3]!);
        if (!ch) throw new NftError(`No such file or directory: chain ${m[3]}`, ln);
        const rule = parseRule(m[4]!, ln);
        for (const target of verdictTargets(rule.stmts)) this.checkJumpTarget(t, target, ln);
        for (const s of setRefs(rule.stmts)) if (!t.sets.has(s)) throw new NftError(`No such file or directory: set ${s}`, ln);
        for (const s of rule.stmts) {
          if (s.k === 'dnatmap' && s.ref && !t.sets.get(s.ref)!.dataMap) throw new NftError(`set ${s.ref} is not a data map`, ln);
        }
        for (const s of rule.stmts) {
          if (s.k === 'reject' && ch.base && ch.base.hook === 'prerouting') throw new NftError('reject is not allowed in prerouting', ln);
          if ((s.k === 'dnat' || s.k === 'dnatmap' || s.k === 'masquerade') && ch.base && ch.base.type !== 'nat') throw new NftError('nat statement outside a nat chain', ln);
        }
        ch.rules.push(rule);
        continue;
      }
      throw new NftError(`syntax error: ${line.slice(0, 80)}`, ln);
    }
    this.tables = work;
  }

  private checkJumpTarget(t: Table, chain: string, line: number): void {
    const target = t.chains.get(chain);
    if (!target) throw new NftError(`No such file or directory: chain ${chain}`, line);
    if (target.base) throw new NftError(`Operation not supported: jump to base chain ${chain}`, line);
  }

  private checkUnreferencedChain(t: Table, name: string, line: number): void {
    for (const ch of t.chains.values()) for (const r of ch.rules) {
      if (verdictTargets(r.stmts).includes(name)) throw new NftError(`Device or resource busy: chain ${name} referenced from ${ch.name}`, line);
    }
    for (const s of t.sets.values()) {
      if (!s.isMap) continue;
      for (const e of s.elements.values()) {
        const v = e.value ?? [];
        if (v.length === 2 && v[1] === name) throw new NftError(`Device or resource busy: chain ${name} referenced from map ${s.name}`, line);
      }
    }
  }

  getTable(family: string, name: string): Readonly<Table> | undefined {
    return this.tables.get(`${family} ${name}`);
  }

  tableNames(): string[] {
    return [...this.tables.keys()].sort();
  }

  /** Deterministic listing: tables, sets and chains sorted by name, elements sorted; rules in order. */
  dump(): string {
    const out: string[] = [];
    for (const key of this.tableNames()) {
      const t = this.tables.get(key)!;
      out.push(`table ${key} {`);
      for (const name of [...t.sets.keys()].sort()) {
        const s = t.sets.get(name)!;
        out.push(`\t${s.isMap ? 'map' : 'set'} ${name} { ${s.def} }`);
        const els = [...s.elements.values()].map((e) => (e.value ? `${e.key.join(' . ')} : ${e.value.join(' ')}` : e.key.join(' . '))).sort();
        for (const e of els) out.push(`\t\telement ${e}`);
      }
      for (const name of [...t.chains.keys()].sort()) {
        const ch = t.chains.get(name)!;
        out.push(`\tchain ${name} {${ch.base ? ` type ${ch.base.type} hook ${ch.base.hook} priority ${ch.base.priority}; policy ${ch.base.policy};` : ''}`);
        for (const r of ch.rules) out.push(`\t\t${r.text}`);
        out.push('\t}');
      }
      out.push('}');
    }
    return out.join('\n') + (out.length ? '\n' : '');
  }
}
