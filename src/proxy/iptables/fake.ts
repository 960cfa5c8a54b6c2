// An in-memory iptables (nat and filter tables): production code, used by unit tests, the packet
// tracer and `portico explain`. It reads `iptables-restore --noflush` text in the subset the
// renderer emits and the forms `iptables-save` prints (so a kernel dump loads back), applies each
// table block atomically at its COMMIT (as iptables-restore does: an error discards the table being
// built, tables committed before it stay), checks what the kernel checks (a rule jumping to a
// missing chain, deleting a chain that is referenced, not empty or built in, deleting a rule that
// is not there, DNAT/MASQUERADE outside nat, REJECT outside filter) and dumps deterministically.

import { RulesetError } from '../ruleset-error.js';

export class IptError extends RulesetError {
  override name = 'IptError';
  readonly code = 'IPTABLES_ERROR';
}

// ---- rules ----

export type Match =
  | { k: 'src' | 'dst'; neg: boolean; cidr: string }
  | { k: 'proto'; neg: boolean; proto: string }
  | { k: 'dport'; neg: boolean; port: number }
  | { k: 'comment'; text: string }
  | { k: 'addrtype'; neg: boolean; dir: 'src' | 'dst'; type: string }
  | { k: 'mark'; neg: boolean; value: number; mask: number }
  | { k: 'statistic'; probability: number }
  | { k: 'recent'; op: 'rcheck' | 'set' | 'update'; name: string; seconds: number; reap: boolean }
  | { k: 'ctstate'; neg: boolean; states: string[] }
  /** ipset membership (the IPVS mode's rules): `-m set [!] --match-set NAME dst,dst[,src]`. */
  | { k: 'set'; neg: boolean; name: string; dirs: string };

export type Target =
  | { k: 'chain'; chain: string; goto: boolean }
  | { k: 'ACCEPT' | 'DROP' | 'RETURN' | 'MASQUERADE' }
  | { k: 'REJECT'; with: string }
  | { k: 'DNAT'; ip: string; port: number }
  /** new mark = (mark & ~mask) ^ value (--or-mark v: v/v; --xor-mark v: v/0; --set-xmark v/m). */
  | { k: 'MARK'; value: number; mask: number };

export interface Rule {
  /** The spec as written (after `-A CHAIN`). */
  readonly spec: string;
  /** Canonical form: equal for rules the kernel considers equal (used by -D). */
  readonly key: string;
  readonly matches: readonly Match[];
  readonly target?: Target;
  readonly comment?: string;
}

export interface Chain {
  readonly name: string;
  readonly builtin: boolean;
  readonly policy: string;
  rules: Rule[];
}

export interface Table {
  readonly name: string;
  readonly chains: Map<string, Chain>;
}

export const BUILTIN_CHAINS: Record<string, readonly string[]> = {
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
};

const STANDARD_TARGETS = new Set(['ACCEPT', 'DROP', 'RETURN', 'MASQUERADE', 'REJECT', 'DNAT', 'MARK']);

// ---- parsing ----

function tokenize(s: string, line: number): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === ' ' || c === '\t') { i++; continue; }
    if (c === '"') {
      const j = s.indexOf('"', i + 1);
      if (j < 0) throw new IptError('unterminated string', line);
      out.push(s.slice(i + 1, j));
      i = j + 1;
      continue;
    }
    let j = i;
    while (j < s.length && s[j] !== ' ' && s[j] !== '\t') j++;
    out.push(s.slice(i, j));
    i = j;
  }
  return out;
}

function normAddr(a: string, line: number): string {
  const [ip, len] = a.split('/') as [string, string | undefined];
  const v6 = ip.includes(':');
  if (!v6 && !/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) throw new IptError(`host/network \`${a}' not found`, line);
  return `${ip.toLowerCase()}/${len ?? (v6 ? '128' : '32')}`;
}

function num(v: string, line: number): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new IptError(`bad value ${v}`, line);
  return n;
}

function markPair(v: string, line: number): [number, number] {
  const [a, b] = v.split('/') as [string, string | undefined];
  const value = num(a, line);
  return [value, b === undefined ? 0xffffffff : num(b, line)];
}

/** Parses one rule spec (what follows `-A CHAIN`). */
export function parseRule(spec: string, line = 0): Rule {
  const t = tokenize(spec, line);
  const matches: Match[] = [];
  let target: Target | undefined;
  let neg = false;
  let comment: string | undefined;
  const modules = new Set<string>();
  let i = 0;
  const arg = (): string => {
    const v = t[i++];
    if (v === undefined) throw new IptError(`option ${t[i - 2]} needs an argument`, line);
    return v;
  };
  const takeNeg = (): boolean => {
    const n = neg;
    neg = false;
    return n;
  };
  let recent: { op: 'rcheck' | 'set' | 'update'; name: string; seconds: number; reap: boolean } | undefined;
  const flushRecent = () => {
    if (recent) matches.push({ k: 'recent', ...recent });
    recent = undefined;
  };
  while (i < t.length) {
    const tok = t[i++]!;
    if (tok === '!') { neg = true; continue; }
    switch (tok) {
      case '-s': case '--source': matches.push({ k: 'src', neg: takeNeg(), cidr: normAddr(arg(), line) }); break;
      case '-d': case '--destination': matches.push({ k: 'dst', neg: takeNeg(), cidr: normAddr(arg(), line) }); break;
      case '-p': case '--protocol': matches.push({ k: 'proto', neg: takeNeg(), proto: arg().toLowerCase() }); break;
      case '-m': case '--match': {
        flushRecent();
        const m = arg();
        if (!['tcp', 'udp', 'sctp', 'comment', 'addrtype', 'mark', 'statistic', 'recent', 'conntrack', 'set'].includes(m)) throw new IptError(`Couldn't load match \`${m}'`, line);
        modules.add(m);
        if (m === 'recent') recent = { op: 'set', name: 'DEFAULT', seconds: 0, reap: false };
        break;
      }
      case '--dport': case '--destination-port':
        if (!modules.has('tcp') && !modules.has('udp') && !modules.has('sctp') && !matches.some((x) => x.k === 'proto')) throw new IptError('--dport needs -m tcp, udp or sctp', line);
        matches.push({ k: 'dport', neg: takeNeg(), port: num(arg(), line) });
        break;
      case '--comment': comment = arg(); matches.push({ k: 'comment', text: comment }); break;
      case '--dst-type': case '--src-type':
        matches.push({ k: 'addrtype', neg: takeNeg(), dir: tok === '--dst-type' ? 'dst' : 'src', type: arg() });
        break;
      case '--mark': {
        const [value, mask] = markPair(arg(), line);
        matches.push({ k: 'mark', neg: takeNeg(), value, mask });
        break;
      }
      case '--mode': if (arg() !== 'random') throw new IptError('only --mode random is supported', line); break;
      case '--probability': matches.push({ k: 'statistic', probability: num(arg(), line) }); break;
      case '--rcheck': case '--set': case '--update':
        if (!recent) throw new IptError(`${tok} needs -m recent`, line);
        recent.op = tok.slice(2) as 'rcheck' | 'set' | 'update';
        break;
      case '--seconds': if (!recent) throw new IptError('--seconds needs -m recent', line); recent.seconds = num(arg(), line); break;
      case '--reap': if (!recent) throw new IptError('--reap needs -m recent', line); recent.reap = true; break;
      case '--name': if (!recent) throw new IptError('--name needs -m recent', line); recent.name = arg(); break;
      case '--mask': arg(); break;
      case '--rsource': break;
      case '--match-set': {
        if (!modules.has('set')) throw new IptError('--match-set needs -m set', line);
        const n = takeNeg();
        const name = arg();
        matches.push({ k: 'set', neg: n, name, dirs: arg() });
        break;
      }
      case '--ctstate': matches.push({ k: 'ctstate', neg: takeNeg(), states: arg().split(',') }); break;
      case '-j': case '-g': case '--jump': case '--goto': {
        flushRecent();
        const name = arg();
        if (STANDARD_TARGETS.has(name)) {
          target = parseTarget(name, t.slice(i), line);
          i = t.length;
        } else target = { k: 'chain', chain: name, goto: tok === '-g' || tok === '--goto' };
        break;
      }
      default:
        throw new IptError(`unknown option "${tok}"`, line);
    }
  }
  flushRecent();
  if (neg) throw new IptError('dangling !', line);
  const r: Rule = { spec: t.length ? spec.trim().replace(/\s+/g, ' ') : '', key: canonical(matches, target), matches, ...(target ? { target } : {}), ...(comment !== undefined ? { comment } : {}) };
  return r;
}

function parseTarget(name: string, rest: string[], line: number): Target {
  const opt = (o: string): string | undefined => {
    const i = rest.indexOf(o);
    return i >= 0 ? rest[i + 1] : undefined;
  };
  const known = new Set(['--to-destination', '--or-mark', '--xor-mark', '--set-xmark', '--random-fully', '--reject-with']);
  for (let i = 0; i < rest.length; i++) {
    const o = rest[i]!;
    if (!known.has(o)) throw new IptError(`unknown ${name} option "${o}"`, line);
    if (o !== '--random-fully') i++;
  }
  switch (name) {
    case 'DNAT': {
      const to = opt('--to-destination');
      const m = to ? /^\[?([0-9a-fA-F:.]+?)\]?:(\d+)$/.exec(to) : null;
      if (!m) throw new IptError('DNAT needs --to-destination ip:port', line);
      return { k: 'DNAT', ip: m[1]!.toLowerCase(), port: Number(m[2]) };
    }
    case 'MARK': {
      const or = opt('--or-mark');
      const xor = opt('--xor-mark');
      const set = opt('--set-xmark');
      if (or) return { k: 'MARK', value: num(or, line), mask: num(or, line) };
      if (xor) return { k: 'MARK', value: num(xor, line), mask: 0 };
      if (set) {
        const [value, mask] = markPair(set, line);
        return { k: 'MARK', value, mask };
      }
      throw new IptError('MARK needs --or-mark, --xor-mark or --set-xmark', line);
    }
    case 'REJECT': return { k: 'REJECT', with: opt('--reject-with') ?? 'icmp-port-unreachable' };
    default: return { k: name as 'ACCEPT' | 'DROP' | 'RETURN' | 'MASQUERADE' };
  }
}

function canonical(matches: readonly Match[], target: Target | undefined): string {
  const m = matches.map((x) => (x.k === 'statistic' ? { ...x, probability: x.probability.toFixed(8) } : x));
  let tg: unknown = target;
  if (target?.k === 'REJECT' && (target.with === 'icmp-port-unreachable' || target.with === 'icmp6-port-unreachable')) tg = { k: 'REJECT' };
  return JSON.stringify([m, tg ?? null]);
}

// ---- the fake ----

function newTable(name: string): Table {
  const chains = new Map<string, Chain>();
  for (const c of BUILTIN_CHAINS[name] ?? []) chains.set(c, { name: c, builtin: true, policy: 'ACCEPT', rules: [] });
  return { name, chains };
}

function cloneTable(t: Table): Table {
  const chains = new Map<string, Chain>();
  for (const [n, c] of t.chains) chains.set(n, { ...c, rules: [...c.rules] });
  return { name: t.name, chains };
}

export class FakeIptables {
  private readonly tables = new Map<string, Table>();

  constructor(readonly family: 'ip' | 'ip6' = 'ip') {
    for (const t of Object.keys(BUILTIN_CHAINS)) this.tables.set(t, newTable(t));
  }

  getTable(name: string): Table | undefined {
    return this.tables.get(name);
  }

  /** Applies restore text (`--noflush` semantics): each table block at its COMMIT, all or nothing. */
  apply(text: string): void {
    const lines = text.split('\n');
    let cur: Table | undefined;
    let refs = new Map<string, number>();
    for (let n = 0; n < lines.length; n++) {
      const line = lines[n]!.trim();
      const ln = n + 1;
      if (line === '' || line.startsWith('#')) continue;
      if (line.startsWith('*')) {
        if (cur) throw new IptError('COMMIT expected before a new table', ln);
        const base = this.tables.get(line.slice(1));
        if (!base) throw new IptError(`can't initialize iptables table \`${line.slice(1)}': Table does not exist`, ln);
        cur = cloneTable(base);
        refs = countRefs(cur);
        continue;
      }
      if (!cur) throw new IptError('no table given', ln);
      if (line === 'COMMIT') {
        this.tables.set(cur.name, cur);
        cur = undefined;
        continue;
      }
      this.command(cur, refs, line, ln);
    }
    if (cur) throw new IptError('COMMIT expected at end of input');
  }

  private command(t: Table, refs: Map<string, number>, line: string, ln: number): void {
    if (line.startsWith(':')) {
      const [name, policy] = line.slice(1).split(/\s+/) as [string, string | undefined];
      if (!name || name.length > 28) throw new IptError(`invalid chain name \`${name}'`, ln);
      const ch = t.chains.get(name);
      if (ch) {
        for (const r of ch.rules) unref(refs, r);
        ch.rules = [];
        if (ch.builtin && policy && policy !== '-') t.chains.set(name, { ...ch, policy });
      } else t.chains.set(name, { name, builtin: false, policy: '-', rules: [] });
      return;
    }
    const m = /^(-[AIDXFN])\s+(\S+)\s*(.*)$/.exec(line);
    if (!m) throw new IptError(`bad command "${line}"`, ln);
    const [, op, name, rest] = m as unknown as [string, string, string, string];
    const ch = t.chains.get(name);
    if (op === '-N') {
      if (ch) throw new IptError(`chain ${name} already exists`, ln);
      t.chains.set(name, { name, builtin: false, policy: '-', rules: [] });
      return;
    }
    if (!ch) throw new IptError(`chain \`${name}' does not exist`, ln);
    switch (op) {
      case '-A': case '-I': {
        let spec = rest;
        let pos = op === '-A' ? ch.rules.length : 0;
        const lead = /^(\d+)\s*(.*)$/.exec(rest);
        if (op === '-I' && lead) {
          pos = Number(lead[1]) - 1;
          spec = lead[2]!;
          if (pos < 0 || pos > ch.rules.length) throw new IptError(`index of insertion too big`, ln);
        }
        const r = parseRule(spec, ln);
        this.check(t, ch, r, ln);
        ch.rules.splice(pos, 0, r);
        ref(refs, r);
        return;
      }
      case '-D': {
        let idx: number;
        if (/^\d+$/.test(rest)) idx = Number(rest) - 1;
        else {
          const key = parseRule(rest, ln).key;
          idx = ch.rules.findIndex((r) => r.key === key);
        }
        const r = ch.rules[idx];
        if (!r) throw new IptError(`${name}: bad rule (does a matching rule exist in that chain?)`, ln);
        ch.rules.splice(idx, 1);
        unref(refs, r);
        return;
      }
      case '-F':
        for (const r of ch.rules) unref(refs, r);
        ch.rules = [];
        return;
      case '-X':
        if (ch.builtin) throw new IptError(`cannot delete built-in chain ${name}`, ln);
        if ((refs.get(name) ?? 0) > 0) throw new IptError(`chain ${name} is referenced and cannot be deleted`, ln);
        if (ch.rules.length) throw new IptError(`chain ${name} is not empty`, ln);
        t.chains.delete(name);
        return;
    }
  }

  private check(t: Table, ch: Chain, r: Rule, ln: number): void {
    const tg = r.target;
    if (!tg) return;
    if (tg.k === 'chain') {
      const target = t.chains.get(tg.chain);
      if (!target) throw new IptError(`Couldn't load target \`${tg.chain}'`, ln);
      if (target.builtin) throw new IptError(`cannot jump to built-in chain ${tg.chain}`, ln);
      if (tg.chain === ch.name) throw new IptError(`chain ${ch.name} jumps to itself`, ln);
    }
    if ((tg.k === 'DNAT' || tg.k === 'MASQUERADE') && t.name !== 'nat') throw new IptError(`${tg.k} is only valid in the nat table`, ln);
    if (tg.k === 'REJECT' && t.name !== 'filter') throw new IptError('REJECT is only valid in the filter table', ln);
    if (tg.k === 'MASQUERADE' && ch.builtin && ch.name !== 'POSTROUTING') throw new IptError('MASQUERADE only in POSTROUTING', ln);
  }

  /** Chain names of a table: built-in ones first (in hook order), then the rest sorted. */
  chainNames(table: string): string[] {
    const t = this.tables.get(table);
    if (!t) return [];
    const builtin = BUILTIN_CHAINS[table] ?? [];
    return [...builtin, ...[...t.chains.keys()].filter((n) => !builtin.includes(n)).sort()];
  }

  /** `iptables -t T -S CHAIN` (the `-A` lines only). */
  listChain(table: string, chain: string): string {
    const ch = this.tables.get(table)?.chains.get(chain);
    if (!ch) throw new IptError(`chain \`${chain}' does not exist`);
    return ch.rules.map((r) => `-A ${chain} ${r.spec}\n`).join('');
  }

  /** Deterministic `iptables-save`-like dump of both tables. */
  dump(): string {
    let out = '';
    for (const name of ['filter', 'nat']) {
      const t = this.tables.get(name)!;
      const names = this.chainNames(name);
      out += `*${name}\n`;
      for (const n of names) out += `:${n} ${t.chains.get(n)!.builtin ? t.chains.get(n)!.policy : '-'} [0:0]\n`;
      for (const n of names) for (const r of t.chains.get(n)!.rules) out += `-A ${n} ${r.spec}\n`;
      out += 'COMMIT\n';
    }
    return out;
  }
}

function countRefs(t: Table): Map<string, number> {
  const refs = new Map<string, number>();
  for (const ch of t.chains.values()) for (const r of ch.rules) ref(refs, r);
  return refs;
}

function ref(refs: Map<string, number>, r: Rule): void {
  if (r.target?.k === 'chain') refs.set(r.target.chain, (refs.get(r.target.chain) ?? 0) + 1);
}

function unref(refs: Map<string, number>, r: Rule): void {
  if (r.target?.k === 'chain') refs.set(r.target.chain, (refs.get(r.target.chain) ?? 1) - 1);
}
