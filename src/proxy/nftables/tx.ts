// The renderer's transaction as data: commands with their objects (tables, chains, rules as
// statement lists, set definitions, elements and endpoint-map ranges). Two consumers: the printer
// below (nft text for `nft -f`, the fake, golden tests, debugging) and the netlink encoder
// (netlink/compile.ts), which writes the same structures straight into a batch. `parseTransactions`
// reads the printed subset back (the encoder's text entry point and its tests).
import { NftError, parseElementList, parseRule, type AnonItem, type Expr, type Rhs, type Stmt } from './fake.js';

export type Family = 'ip' | 'ip6';

export interface NftRule {
  readonly stmts: readonly Stmt[];
  /** Without quotes; the renderer keeps it free of quotes and backslashes. */
  readonly comment?: string;
}

/** A named set's or map's definition: `type KEY [: DATA]` or `typeof KEY : DATA`, flags, timeout. */
export interface SetDef {
  readonly typeof?: boolean;
  readonly key: string;
  readonly data?: string;
  readonly flags?: readonly string[];
  readonly timeoutS?: number;
}

/** An element of a set or map: key (components joined by ` . `) and map value (`goto X`, `drop`, `A . B`). */
export interface Elem {
  readonly key: string;
  readonly value?: string;
}

/** One range `lo-hi` of a numgen interval map and its endpoint (absent in deletes). */
export interface Range {
  readonly lo: number;
  readonly hi: number;
  readonly ip?: string;
  readonly port?: number;
}

/**
 * A service port's window in an endpoint map: endpoint i of n gets the i-th of n near-equal parts of
 * `base .. base+size-1`. Kept as is (not as ranges) so a full sync makes no object per endpoint.
 */
export interface Window {
  readonly map: string;
  readonly base: number;
  readonly size: number;
  readonly eps: readonly { readonly ip: string; readonly port: number }[];
}

/** Calls fn for each range of a window, in ascending order. */
export function forEachRange(w: Window, fn: (lo: number, hi: number, ip: string, port: number) => void): void {
  const n = w.eps.length;
  for (let i = 0; i < n; i++) {
    const ep = w.eps[i]!;
    fn(w.base + Math.floor((i * w.size) / n), w.base + Math.floor(((i + 1) * w.size) / n) - 1, ep.ip, ep.port);
  }
}

export interface ChainHook {
  readonly type: 'filter' | 'nat';
  readonly hook: 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';
  readonly priority: number;
}

export type NftCmd =
  | { readonly k: 'table'; readonly op: 'add' | 'delete' }
  | { readonly k: 'chain'; readonly op: 'add'; readonly name: string; readonly hook?: ChainHook }
  | { readonly k: 'chain'; readonly op: 'flush' | 'delete'; readonly name: string }
  | { readonly k: 'set'; readonly op: 'add'; readonly name: string; readonly def: SetDef }
  | { readonly k: 'set'; readonly op: 'delete'; readonly name: string; readonly map: boolean }
  /** Exactly one of elems, ranges, windows. */
  | { readonly k: 'elements'; readonly op: 'add' | 'delete'; readonly set: string; readonly elems?: readonly Elem[]; readonly ranges?: readonly Range[]; readonly windows?: readonly Window[] }
  | { readonly k: 'rule'; readonly chain: string; readonly rule: NftRule };

export interface Transaction {
  readonly family: Family;
  readonly table: string;
  readonly cmds: readonly NftCmd[];
}

// ---- printer ----

/** Elements per `add/delete element` line (nft's parser copes; long lines only cost memory). */
export const ELEMENT_CHUNK = 1000;

function hex8(v: number): string {
  return `0x${(v >>> 0).toString(16).padStart(8, '0')}`;
}

export function printExpr(e: Expr): string {
  switch (e.k) {
    case 'field':
    case 'numgen':
      return e.text;
    case 'concat':
      return e.parts.map(printExpr).join(' . ');
    case 'mask':
      return `${printExpr(e.e)} & ${hex8(e.mask)}`;
  }
}

function printItems(items: readonly AnonItem[]): string {
  return `{ ${items.map((it) => (it.value ? `${it.key.join(' . ')} : ${it.value.join(' ')}` : it.key.join(' . '))).join(', ')} }`;
}

function printRhs(r: Rhs): string {
  return r.k === 'lit' ? r.v : r.k === 'setref' ? `@${r.name}` : printItems(r.items);
}

export function printStmt(s: Stmt): string {
  switch (s.k) {
    case 'match':
      // A masked value is written with `==`, as nft lists it.
      return `${printExpr(s.e)} ${s.neg ? '!= ' : s.e.k === 'mask' ? '== ' : ''}${printRhs(s.rhs)}`;
    case 'vmap':
      return `${printExpr(s.e)} vmap ${s.ref !== undefined ? `@${s.ref}` : printItems(s.items ?? [])}`;
    case 'markset':
      return `meta mark set meta mark ${s.op} ${hex8(s.value)}`;
    case 'masquerade':
      return s.fullyRandom ? 'masquerade fully-random' : 'masquerade';
    case 'dnat':
      return `dnat to ${s.ip.includes(':') ? `[${s.ip}]` : s.ip}:${s.port}`;
    case 'dnatmap':
      return `dnat ${s.fam} to ${printExpr(s.e)} map ${s.ref !== undefined ? `@${s.ref}` : printItems(s.items)}`;
    case 'update':
      return `update @${s.set} { ${printExpr(s.e)} }`;
    case 'reject':
      return s.with ? `reject with ${s.with}` : 'reject';
    case 'counter':
      return 'counter';
    case 'verdict':
      return s.v.k === 'jump' || s.v.k === 'goto' ? `${s.v.k} ${s.v.chain}` : s.v.k;
  }
}

export function printRule(r: NftRule): string {
  const body = r.stmts.map(printStmt).join(' ');
  return r.comment !== undefined ? `${body} comment "${r.comment}"` : body;
}

export function printSetDef(d: SetDef): string {
  let s = `${d.typeof ? 'typeof' : 'type'} ${d.key}${d.data !== undefined ? ` : ${d.data}` : ''} ;`;
  if (d.flags?.length) s += ` flags ${d.flags.join(',')} ;`;
  if (d.timeoutS !== undefined) s += ` timeout ${d.timeoutS}s ;`;
  return `{ ${s} }`;
}

function elemItems(c: Extract<NftCmd, { k: 'elements' }>): string[] {
  const out: string[] = [];
  if (c.elems) for (const e of c.elems) out.push(e.value !== undefined ? `${e.key} : ${e.value}` : e.key);
  const del = c.op === 'delete';
  if (c.ranges) for (const r of c.ranges) out.push(del ? `${r.lo}-${r.hi}` : `${r.lo}-${r.hi} : ${r.ip} . ${r.port}`);
  if (c.windows) for (const w of c.windows) forEachRange(w, (lo, hi, ip, port) => out.push(del ? `${lo}-${hi}` : `${lo}-${hi} : ${ip} . ${port}`));
  return out;
}

/** The lines of one command (element commands are cut into lines of ELEMENT_CHUNK elements). */
export function printCommand(tx: Transaction, c: NftCmd, out: string[] = []): string[] {
  const t = `${tx.family} ${tx.table}`;
  switch (c.k) {
    case 'table':
      out.push(`${c.op} table ${t}`);
      break;
    case 'chain':
      if (c.op === 'add' && c.hook) out.push(`add chain ${t} ${c.name} { type ${c.hook.type} hook ${c.hook.hook} priority ${c.hook.priority} ; policy accept ; }`);
      else out.push(`${c.op} chain ${t} ${c.name}`);
      break;
    case 'set':
      if (c.op === 'add') out.push(`add ${c.def.data !== undefined ? 'map' : 'set'} ${t} ${c.name} ${printSetDef(c.def)}`);
      else out.push(`delete ${c.map ? 'map' : 'set'} ${t} ${c.name}`);
      break;
    case 'elements': {
      const items = elemItems(c);
      for (let i = 0; i < items.length; i += ELEMENT_CHUNK) out.push(`${c.op} element ${t} ${c.set} { ${items.slice(i, i + ELEMENT_CHUNK).join(', ')} }`);
      break;
    }
    case 'rule':
      out.push(`add rule ${t} ${c.chain} ${printRule(c.rule)}`);
      break;
  }
  return out;
}

/** The transaction as `nft -f` input ('' when it has no commands). */
export function printTransaction(tx: Transaction): string {
  if (tx.cmds.length === 0) return '';
  const out: string[] = [];
  for (const c of tx.cmds) printCommand(tx, c, out);
  return out.join('\n') + '\n';
}

// ---- reading the printed subset back ----

const HOOK_RE = /^\{ type (filter|nat) hook (prerouting|input|forward|output|postrouting) priority (-?\d+) ; policy accept ; \}$/;
const RANGE_RE = /^(\d+)-(\d+)$/;

function parseDef(body: string, line: number): SetDef {
  const m = /^\{(.*)\}$/.exec(body);
  if (!m) throw new NftError(`bad set definition ${body}`, line);
  let def: { typeof?: boolean; key?: string; data?: string; flags?: string[]; timeoutS?: number } = {};
  for (const p of m[1]!.split(';').map((x) => x.trim()).filter(Boolean)) {
    let pm: RegExpExecArray | null;
    if ((pm = /^(type|typeof) (.+?)(?: : (.+))?$/.exec(p))) def = { ...def, ...(pm[1] === 'typeof' ? { typeof: true } : {}), key: pm[2]!, ...(pm[3] !== undefined ? { data: pm[3] } : {}) };
    else if ((pm = /^flags (.+)$/.exec(p))) def.flags = pm[1]!.split(',').map((x) => x.trim());
    else if ((pm = /^timeout (\d+)s$/.exec(p))) def.timeoutS = Number(pm[1]);
    else throw new NftError(`unsupported set property "${p}"`, line);
  }
  if (def.key === undefined) throw new NftError('set without type', line);
  return def as SetDef;
}

/** `{ k . k [: v], ... }` → elements, or ranges when every key is `lo-hi` (numgen interval maps). */
function parseElems(text: string, verb: 'add' | 'delete', line: number): { elems?: Elem[]; ranges?: Range[] } {
  // The renderer writes single spaces and no quotes or braces inside: split without the tokenizer.
  let items: AnonItem[];
  if (text.startsWith('{ ') && text.endsWith(' }') && !/["{}]/.test(text.slice(2, -2))) {
    items = text.slice(2, -2).split(', ').map((part) => {
      const c = part.indexOf(' : ');
      return c < 0 ? { key: part.split(' . ') } : { key: part.slice(0, c).split(' . '), value: part.slice(c + 3).split(' ') };
    });
  } else items = parseElementList(text, text.includes(' : '), line);
  if (items.length && items.every((it) => it.key.length === 1 && RANGE_RE.test(it.key[0]!))) {
    return {
      ranges: items.map((it) => {
        const m = RANGE_RE.exec(it.key[0]!)!;
        if (verb === 'delete' || !it.value) return { lo: Number(m[1]), hi: Number(m[2]) };
        if (it.value.length !== 3 || it.value[1] !== '.') throw new NftError(`bad range value ${it.value.join(' ')}`, line);
        return { lo: Number(m[1]), hi: Number(m[2]), ip: it.value[0]!, port: Number(it.value[2]) };
      }),
    };
  }
  return { elems: items.map((it) => (it.value ? { key: it.key.join(' . '), value: it.value.join(' ') } : { key: it.key.join(' . ') })) };
}

/**
 * Reads `nft -f` text of the renderer's subset into transactions (one per run of lines of the same
 * family and table). Anything else throws NftError.
 */
export function parseTransactions(text: string): Transaction[] {
  const txs: Array<{ family: Family; table: string; cmds: NftCmd[] }> = [];
  let ln = 0;
  for (const raw of text.split('\n')) {
    ln++;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(add|delete|flush) (table|chain|set|map|element|rule) (ip6?) (\S+)(?: (\S+))?(?: (.*))?$/.exec(line);
    if (!m) throw new NftError(`unsupported command: ${line}`, ln);
    const [, verb, what, fam, table, name, tail] = m as unknown as [string, 'add' | 'delete' | 'flush', string, Family, string, string | undefined, string | undefined];
    let tx = txs[txs.length - 1];
    if (!tx || tx.family !== fam || tx.table !== table) txs.push((tx = { family: fam, table, cmds: [] }));
    const need = (ok: boolean) => {
      if (!ok) throw new NftError(`unsupported command: ${line}`, ln);
    };
    switch (what) {
      case 'table':
        need(verb !== 'flush' && name === undefined);
        tx.cmds.push({ k: 'table', op: verb as 'add' | 'delete' });
        break;
      case 'chain':
        need(name !== undefined);
        if (verb === 'add' && tail) {
          const h = HOOK_RE.exec(tail);
          need(!!h);
          tx.cmds.push({ k: 'chain', op: 'add', name: name!, hook: { type: h![1] as ChainHook['type'], hook: h![2] as ChainHook['hook'], priority: Number(h![3]) } });
        } else {
          need(!tail);
          tx.cmds.push({ k: 'chain', op: verb, name: name! });
        }
        break;
      case 'set':
      case 'map':
        need(name !== undefined && verb !== 'flush');
        if (verb === 'add') {
          const def = parseDef(tail ?? '', ln);
          need((what === 'map') === (def.data !== undefined));
          tx.cmds.push({ k: 'set', op: 'add', name: name!, def });
        } else {
          need(!tail);
          tx.cmds.push({ k: 'set', op: 'delete', name: name!, map: what === 'map' });
        }
        break;
      case 'element':
        need(name !== undefined && verb !== 'flush' && !!tail);
        tx.cmds.push({ k: 'elements', op: verb as 'add' | 'delete', set: name!, ...parseElems(tail!, verb as 'add' | 'delete', ln) });
        break;
      case 'rule': {
        need(verb === 'add' && name !== undefined && !!tail);
        const r = parseRule(tail!, ln);
        tx.cmds.push({ k: 'rule', chain: name!, rule: r.comment !== undefined ? { stmts: r.stmts, comment: r.comment } : { stmts: r.stmts } });
        break;
      }
    }
  }
  return txs;
}
