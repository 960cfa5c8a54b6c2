// A packet tracer over the fake iptables: follows the first packet of a connection through the
// built-in chains the kernel would run (prerouting: nat PREROUTING, then filter INPUT for a local
// destination or filter FORWARD and nat POSTROUTING; output: nat OUTPUT, filter OUTPUT, nat
// POSTROUTING) and reports what happens to it: DNAT to an endpoint with or without masquerade,
// reject, drop or accept. `-m statistic` draws from an injected random source, `-m recent` keeps
// per-list state with an injectable clock, `-m addrtype` answers from the packet's flags.
import { valueMatches } from '../nftables/trace.js';
import type { Chain, FakeIptables, Match, Rule, Table } from './fake.js';
import type { Hook, Packet, TraceResult, TraceState } from '../trace-types.js';

export type { Hook, Packet, TraceResult };

export interface TraceOptions {
  /** Source of `-m statistic --mode random` draws in [0, 1); a rule matches when the draw < probability. Default: always 0 (first candidate). */
  random?: () => number;
}

interface State extends TraceState {
  random: () => number;
}

type Outcome = { k: 'continue' } | { k: 'return' } | { k: 'verdict'; v: 'ACCEPT' | 'DROP' | 'REJECT' | 'NAT' };

export class Tracer {
  /** `-m recent` lists: name → source address → time last set (seconds). */
  private readonly recent = new Map<string, Map<string, number>>();
  private now = 0;

  constructor(private readonly ipt: FakeIptables) {}

  /** Moves the clock `-m recent --seconds` is measured against. */
  advance(seconds: number): void {
    this.now += seconds;
  }

  /** Forgets what the recent lists learned. */
  resetRecent(): void {
    this.recent.clear();
  }

  trace(pkt: Packet, opts: TraceOptions = {}): TraceResult {
    const st: State = { pkt, saddr: pkt.src, daddr: pkt.dst, dport: pkt.dport, mark: 0, dnat: false, masquerade: false, path: [], random: opts.random ?? (() => 0) };
    const run = (table: string, chain: string): 'drop' | 'reject' | undefined => {
      const t = this.ipt.getTable(table);
      const ch = t?.chains.get(chain);
      if (!t || !ch) return undefined;
      const o = this.runChain(t, ch, st, 0);
      if (o.k === 'verdict' && o.v === 'DROP') return 'drop';
      if (o.k === 'verdict' && o.v === 'REJECT') return 'reject';
      return undefined;
    };
    const steps: Array<[string, string] | 'route'> = pkt.hook === 'prerouting'
      ? [['nat', 'PREROUTING'], 'route']
      : [['nat', 'OUTPUT'], ['filter', 'OUTPUT'], ['nat', 'POSTROUTING']];
    for (const step of steps) {
      if (step === 'route') {
        const local = pkt.isLocalDst && !st.dnat;
        const v = run('filter', local ? 'INPUT' : 'FORWARD');
        if (v) return this.result(v, st);
        if (local) return this.result('accept', st);
        const v2 = run('nat', 'POSTROUTING');
        if (v2) return this.result(v2, st);
        continue;
      }
      const v = run(step[0], step[1]);
      if (v) return this.result(v, st);
    }
    return this.result(st.dnat ? 'dnat' : 'accept', st);
  }

  /**
   * Every distinct outcome when the k-th statistic draw is the first to succeed, k = 0..63
   * (the endpoints reachable by random choice).
   */
  traceAll(pkt: Packet): TraceResult[] {
    const seen = new Map<string, TraceResult>();
    for (let k = 0; k < 64; k++) {
      let n = 0;
      const r = this.trace(pkt, { random: () => (n++ < k ? 0.999999999 : 0) });
      const key = `${r.verdict} ${r.endpoint?.ip ?? ''}:${r.endpoint?.port ?? ''} ${r.masquerade}`;
      if (!seen.has(key)) seen.set(key, r);
    }
    return [...seen.values()];
  }

  private result(verdict: TraceResult['verdict'], st: State): TraceResult {
    const r: TraceResult = { verdict: st.dnat && verdict === 'accept' ? 'dnat' : verdict, masquerade: st.masquerade, path: st.path };
    if (verdict !== 'drop' && verdict !== 'reject' && st.endpoint) r.endpoint = st.endpoint;
    if (st.comment !== undefined) r.comment = st.comment;
    return r;
  }

  private runChain(t: Table, ch: Chain, st: State, depth: number): Outcome {
    if (depth > 32) throw new Error(`chain depth exceeded at ${ch.name}`);
    // The nat table sees only the first packet; once DNAT happened, later nat hooks before routing skip.
    st.path.push(`${t.name} ${ch.name}`);
    for (const rule of ch.rules) {
      if (!this.matches(rule, st)) continue;
      st.path.push(`  -A ${ch.name} ${rule.spec}`);
      const tg = rule.target;
      if (!tg) continue;
      switch (tg.k) {
        case 'chain': {
          const next = t.chains.get(tg.chain);
          if (!next) throw new Error(`tracer: missing chain ${tg.chain}`);
          const o = this.runChain(t, next, st, depth + 1);
          if (o.k === 'verdict') return o;
          if (tg.goto) return { k: 'return' };
          continue;
        }
        case 'RETURN':
          return { k: 'return' };
        case 'MARK':
          st.mark = ((st.mark & ~tg.mask) ^ tg.value) >>> 0;
          continue;
        case 'DNAT':
          st.dnat = true;
          st.endpoint = { ip: tg.ip, port: tg.port };
          st.daddr = tg.ip;
          st.dport = tg.port;
          if (rule.comment !== undefined) st.comment = rule.comment;
          return { k: 'verdict', v: 'NAT' };
        case 'MASQUERADE':
          st.masquerade = true;
          return { k: 'verdict', v: 'NAT' };
        case 'ACCEPT':
        case 'DROP':
        case 'REJECT':
          if (rule.comment !== undefined) st.comment = rule.comment;
          return { k: 'verdict', v: tg.k };
      }
    }
    return { k: 'continue' };
  }

  private matches(rule: Rule, st: State): boolean {
    for (const m of rule.matches) if (!this.match(m, st)) return false;
    return true;
  }

  private match(m: Match, st: State): boolean {
    switch (m.k) {
      case 'src': return valueMatches(st.saddr, m.cidr) !== m.neg;
      case 'dst': return valueMatches(st.daddr, m.cidr) !== m.neg;
      case 'proto': return (st.pkt.proto === m.proto) !== m.neg;
      case 'dport': return (st.dport === m.port) !== m.neg;
      case 'comment': return true;
      case 'addrtype': {
        const local = m.dir === 'dst' ? st.pkt.isLocalDst && !st.dnat : (st.pkt.isLocalSrc ?? st.pkt.hook === 'output');
        return ((m.type === 'LOCAL') === local) !== m.neg;
      }
      case 'mark': return (((st.mark & m.mask) >>> 0) === ((m.value & m.mask) >>> 0)) !== m.neg;
      case 'statistic': return st.random() < m.probability;
      case 'ctstate': return m.states.includes('NEW') !== m.neg;
      case 'set': throw new Error(`the tracer does not model ipsets (-m set --match-set ${m.name})`);
      case 'recent': {
        let list = this.recent.get(m.name);
        if (!list) this.recent.set(m.name, (list = new Map()));
        if (m.op === 'set') {
          list.set(st.saddr, this.now);
          return true;
        }
        const seen = list.get(st.saddr);
        const fresh = seen !== undefined && (m.seconds === 0 || this.now - seen <= m.seconds);
        if (m.reap) for (const [a, t] of list) if (m.seconds > 0 && this.now - t > m.seconds) list.delete(a);
        if (fresh && m.op === 'update') list.set(st.saddr, this.now);
        return fresh;
      }
    }
  }
}
