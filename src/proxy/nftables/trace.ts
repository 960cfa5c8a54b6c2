// A packet tracer over the fake nftables: follows the first packet of a connection through the
// base chains of every table in hook and priority order, as the kernel would, and reports what
// happens to it (DNAT to an endpoint with or without masquerade, reject, drop, accept).
import type { AnonItem, Chain, Expr, FakeNftables, Rhs, Stmt, Table, Verdict } from './fake.js';
import type { Hook, Packet, TraceResult, TraceState } from '../trace-types.js';

export type { Hook, Packet, TraceResult };

export interface TraceOptions {
  /**
   * Which random value every `numgen random mod N` yields (default 0): pick % N when N <= PICKS,
   * otherwise the pick-th of PICKS evenly spaced values in 0..N-1 (so the picks 0..PICKS-1 reach every
   * endpoint window of an endpoint map).
   */
  pick?: number;
}

/** How many picks traceAll tries. */
export const PICKS = 64;

function numgenValue(pick: number, mod: number): number {
  return mod <= PICKS ? pick % mod : Math.floor(((pick % PICKS) * mod) / PICKS);
}

// ---- address matching ----

function v4ToBig(ip: string): bigint | undefined {
  const p = ip.split('.');
  if (p.length !== 4) return undefined;
  let v = 0n;
  for (const x of p) {
    const n = Number(x);
    if (!/^\d+$/.test(x) || n > 255) return undefined;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function v6ToBig(ip: string): bigint | undefined {
  if (!ip.includes(':')) return undefined;
  const [head, tail] = ip.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined ? (tail ? tail.split(':') : []) : [];
  const groups = tail !== undefined ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  if (groups.length !== 8) return undefined;
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(parseInt(g || '0', 16));
  return v;
}

function addr(ip: string): { v: bigint; bits: number } | undefined {
  const a = v4ToBig(ip);
  if (a !== undefined) return { v: a, bits: 32 };
  const b = v6ToBig(ip);
  return b !== undefined ? { v: b, bits: 128 } : undefined;
}

/** value matches pattern: equal, inside a CIDR or `lo-hi` pattern, or the same address written differently. */
export function valueMatches(value: string, pattern: string): boolean {
  if (value === pattern) return true;
  const range = /^(\d+)-(\d+)$/.exec(pattern);
  if (range) {
    if (!/^\d+$/.test(value)) return false;
    const v = Number(value);
    return v >= Number(range[1]) && v <= Number(range[2]);
  }
  const slash = pattern.indexOf('/');
  const va = addr(value);
  if (!va) return false;
  if (slash < 0) {
    const pa = addr(pattern);
    return !!pa && pa.bits === va.bits && pa.v === va.v;
  }
  const pa = addr(pattern.slice(0, slash));
  const len = Number(pattern.slice(slash + 1));
  if (!pa || pa.bits !== va.bits) return false;
  const shift = BigInt(va.bits - len);
  return va.v >> shift === pa.v >> shift;
}

function keyMatches(values: string[], key: string[]): boolean {
  return values.length === key.length && values.every((v, i) => valueMatches(v, key[i]!));
}

// ---- evaluation ----

type State = TraceState;

type Outcome = { k: 'continue' } | { k: 'verdict'; v: 'accept' | 'drop' | 'reject' | 'nat' };

export class Tracer {
  /** Elements the data path added to dynamic sets (affinity), per `family table set`. */
  private readonly dynamic = new Map<string, Set<string>>();

  constructor(private readonly nft: FakeNftables) {}

  /** Forgets what dynamic sets learned (affinity timeouts elapsed). */
  resetDynamic(): void {
    this.dynamic.clear();
  }

  trace(pkt: Packet, opts: TraceOptions = {}): TraceResult {
    const st: State = { pkt, saddr: pkt.src, daddr: pkt.dst, dport: pkt.dport, mark: 0, dnat: false, masquerade: false, path: [] };
    const pick = opts.pick ?? 0;
    const family = addr(pkt.dst)?.bits === 128 ? 'ip6' : 'ip';
    const run = (hook: string): TraceResult | undefined => {
      for (const { table, chain } of this.baseChains(hook, family)) {
        const o = this.runChain(table, chain, st, pick, 0);
        if (o.k === 'verdict' && (o.v === 'drop' || o.v === 'reject')) return this.result(o.v, st);
      }
      return undefined;
    };
    if (pkt.hook === 'prerouting') {
      const r = run('prerouting');
      if (r) return r;
      const local = !st.dnat && pkt.isLocalDst;
      const r2 = run(local ? 'input' : 'forward');
      if (r2) return r2;
      if (local) return this.result(st.dnat ? 'dnat' : 'accept', st);
    } else {
      const r = run('output');
      if (r) return r;
    }
    const r3 = run('postrouting');
    if (r3) return r3;
    return this.result(st.dnat ? 'dnat' : 'accept', st);
  }

  /** Every distinct outcome over numgen picks 0..63 (endpoints reachable by random choice). */
  traceAll(pkt: Packet): TraceResult[] {
    const seen = new Map<string, TraceResult>();
    for (let pick = 0; pick < PICKS; pick++) {
      const r = this.trace(pkt, { pick });
      const k = `${r.verdict} ${r.endpoint?.ip ?? ''}:${r.endpoint?.port ?? ''} ${r.masquerade}`;
      if (!seen.has(k)) seen.set(k, r);
    }
    return [...seen.values()];
  }

  private result(verdict: 'dnat' | 'accept' | 'drop' | 'reject', st: State): TraceResult {
    const r: TraceResult = { verdict, masquerade: st.masquerade, path: st.path };
    if (verdict !== 'drop' && verdict !== 'reject' && st.endpoint) r.endpoint = st.endpoint;
    if (st.comment !== undefined) r.comment = st.comment;
    return r;
  }

  private baseChains(hook: string, pktFamily: string): Array<{ table: Table; chain: Chain }> {
    const out: Array<{ table: Table; chain: Chain }> = [];
    for (const name of this.nft.tableNames()) {
      const [family, tname] = name.split(' ') as [string, string];
      const t = this.nft.getTable(family, tname)!;
      if (family !== pktFamily && family !== 'inet') continue;
      for (const ch of t.chains.values()) if (ch.base && ch.base.hook === hook) out.push({ table: t, chain: ch });
    }
    return out.sort((a, b) => a.chain.base!.priority - b.chain.base!.priority || (a.chain.base!.type === 'nat' ? 1 : 0) - (b.chain.base!.type === 'nat' ? 1 : 0));
  }

  private runChain(t: Table, ch: Chain, st: State, pick: number, depth: number): Outcome {
    if (depth > 32) throw new Error(`chain depth exceeded at ${ch.name}`);
    if (ch.base?.type === 'nat' && st.dnat && (ch.base.hook === 'prerouting' || ch.base.hook === 'output')) return { k: 'continue' };
    st.path.push(`chain ${ch.name}`);
    for (const rule of ch.rules) {
      const o = this.runRule(t, ch, rule.stmts, st, pick, depth, rule.comment);
      if (o === 'nomatch') continue;
      st.path.push(`  ${rule.text}`);
      if (o.k === 'verdict') return o;
      if (o.k === 'return') return { k: 'continue' };
      if (o.k === 'goto') return o.outcome;
    }
    return { k: 'continue' };
  }

  private fieldValue(e: Expr, st: State, pick: number): string[] {
    switch (e.k) {
      case 'concat':
        return e.parts.flatMap((p) => this.fieldValue(p, st, pick));
      case 'numgen':
        return [String(numgenValue(pick, e.mod) + e.offset)];
      case 'mask': {
        const v = Number(this.fieldValue(e.e, st, pick)[0]);
        return [String(v & e.mask)];
      }
      case 'field':
        switch (e.name) {
          case 'saddr': return [st.saddr];
          case 'daddr': return [st.daddr];
          case 'l4proto': return [st.pkt.proto];
          case 'dport': return [String(st.dport)];
          case 'mark': return [String(st.mark)];
          case 'ct state': return ['new'];
          case 'ct status': return [st.dnat ? 'dnat' : ''];
          case 'fib saddr': return [(st.pkt.isLocalSrc ?? st.pkt.hook === 'output') ? 'local' : 'unicast'];
          case 'fib daddr': return [st.pkt.isLocalDst && !st.dnat ? 'local' : 'unicast'];
        }
    }
  }

  private inSet(t: Table, name: string, values: string[]): AnonItem | undefined {
    const s = t.sets.get(name);
    if (!s) throw new Error(`tracer: missing set ${name}`);
    if (s.dynamic) {
      return this.dynamic.get(`${t.family} ${t.name} ${name}`)?.has(values.join(' . ')) ? { key: values } : undefined;
    }
    const exact = s.elements.get(values.join(' . '));
    if (exact) return exact;
    for (const e of s.elements.values()) if (keyMatches(values, e.key)) return e;
    return undefined;
  }

  private matchRhs(t: Table, rhs: Rhs, values: string[]): AnonItem | undefined {
    if (rhs.k === 'lit') {
      const lit = rhs.v;
      if (/^0x[0-9a-f]+$/i.test(lit) || /^\d+$/.test(lit)) return Number(values[0]) === Number(lit) ? { key: [lit] } : undefined;
      return valueMatches(values[0] ?? '', lit) ? { key: [lit] } : undefined;
    }
    if (rhs.k === 'setref') return this.inSet(t, rhs.name, values);
    return rhs.items.find((it) => keyMatches(values, it.key));
  }

  private runRule(
    t: Table, ch: Chain, stmts: Stmt[], st: State, pick: number, depth: number, comment: string | undefined,
  ): 'nomatch' | { k: 'none' } | { k: 'return' } | { k: 'verdict'; v: 'accept' | 'drop' | 'reject' | 'nat' } | { k: 'goto'; outcome: Outcome } {
    const verdict = (v: Verdict): { k: 'return' } | { k: 'verdict'; v: 'accept' | 'drop' } | { k: 'goto'; outcome: Outcome } | { k: 'none' } => {
      if (v.k === 'return') return { k: 'return' };
      if (v.k !== 'jump' && v.k !== 'goto') {
        if (comment !== undefined) st.comment = comment;
        return { k: 'verdict', v: v.k };
      }
      const target = t.chains.get(v.chain);
      if (!target) throw new Error(`tracer: missing chain ${v.chain}`);
      const o = this.runChain(t, target, st, pick, depth + 1);
      if (o.k === 'verdict') return { k: 'goto', outcome: o };
      return v.k === 'goto' ? { k: 'goto', outcome: { k: 'continue' } } : { k: 'none' };
    };
    for (const s of stmts) {
      switch (s.k) {
        case 'match': {
          const hit = this.matchRhs(t, s.rhs, this.fieldValue(s.e, st, pick));
          if (!!hit === s.neg) return 'nomatch';
          break;
        }
        case 'vmap': {
          const values = this.fieldValue(s.e, st, pick);
          const item = s.ref ? this.inSet(t, s.ref, values) : s.items!.find((it) => keyMatches(values, it.key));
          if (!item) return 'nomatch';
          const v = item.value!;
          const r = verdict(v.length === 2 ? { k: v[0] as 'jump' | 'goto', chain: v[1]! } : { k: v[0] as 'accept' | 'drop' | 'return' });
          return r;
        }
        case 'markset':
          st.mark = s.op === '|' ? st.mark | s.value : st.mark ^ s.value;
          break;
        case 'masquerade':
          st.masquerade = true;
          return { k: 'verdict', v: 'nat' };
        case 'dnat':
          return this.doDnat(st, s.ip, s.port, comment);
        case 'dnatmap': {
          const values = this.fieldValue(s.e, st, pick);
          const item = s.ref ? this.inSet(t, s.ref, values) : s.items.find((it) => keyMatches(values, it.key));
          if (!item) return 'nomatch';
          return this.doDnat(st, item.value![0]!, Number(item.value![2]), comment);
        }
        case 'update': {
          const k = `${t.family} ${t.name} ${s.set}`;
          let set = this.dynamic.get(k);
          if (!set) this.dynamic.set(k, (set = new Set()));
          set.add(this.fieldValue(s.e, st, pick).join(' . '));
          break;
        }
        case 'reject':
          if (comment !== undefined) st.comment = comment;
          return { k: 'verdict', v: 'reject' };
        case 'counter':
          break;
        case 'verdict':
          return verdict(s.v);
      }
    }
    void ch;
    return { k: 'none' };
  }

  private doDnat(st: State, ip: string, port: number, comment: string | undefined): { k: 'verdict'; v: 'nat' } {
    st.dnat = true;
    st.endpoint = { ip, port };
    st.daddr = ip;
    st.dport = port;
    if (comment !== undefined) st.comment = comment;
    return { k: 'verdict', v: 'nat' };
  }
}
