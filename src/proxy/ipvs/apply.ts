// The IPVS applier: renders (pure) and hands the difference to the kernel through one injected
// exec: `ipvsadm -R` (virtual and real servers), `ipset restore`, `ip -batch -` (addresses on the
// dummy interface) and, on full syncs only, `iptables-restore --noflush` for the fixed rules.
// A full sync (the first, after any failure, or when asked) reads the kernel back (`ipvsadm -Sn`,
// the dummy's addresses, iptables-save for missing jumps) and converges it; a partial sync sends
// only what the changed Service ports changed. Removed TCP/SCTP real servers get weight 0 and are
// deleted by `drain()` once `ipvsadm -Ln` shows no connection left, or after the drain timeout.
import { ApplyError, firstStderrLine, type Exec, type ExecResult } from '../exec.js';
import type { NodeState, ProxyModel } from '../model.js';
import { binaries, detectVariant, type Variant } from '../iptables/apply.js';
import { missingJumps, parseSave, TABLES, type Family } from '../iptables/render.js';
import {
  deleteReals, diffIpvs, DUMMY_INTERFACE, hasIPv6, isOwnedSet, parseIpsetHeaders, parseIpvsList, parseIpvsSave, render, renderAddrs, renderFullSets,
  renderIptables, renderPartialSets, type IpvsOptions, type IpvsState, type KernelImage,
} from './render.js';

export class IpvsApplyError extends ApplyError {
  override name = 'IpvsApplyError';
  readonly code = 'IPVS_APPLY_FAILED';
}

export interface IpvsSyncReport {
  kind: 'full' | 'partial';
  /** ipvsadm lines sent. */
  ipvsLines: number;
  servicesRendered: number;
  renderMs: number;
  applyMs: number;
}

export interface IpvsApplierOptions extends IpvsOptions {
  exec: Exec;
  /** Force an iptables variant; default: detect from `iptables --version`. */
  iptablesVariant?: Variant;
  /** Delete a draining real server after this long even with connections left (default 15 min). */
  drainTimeoutMs?: number;
  /** Wall clock in ms, injectable for tests; default Date.now. */
  clock?: () => number;
}

/** kube-proxy's IPVS sysctls: conntrack for IPVS connections (so iptables NAT sees them), and expiry of connections to removed destinations. */
export const IPVS_SYSCTLS = ['net.ipv4.vs.conntrack=1', 'net.ipv4.vs.expire_nodest_conn=1', 'net.ipv4.vs.expire_quiescent_template=1'];

export class IpvsApplier {
  private readonly exec: Exec;
  private readonly clock: () => number;
  private readonly drainTimeoutMs: number;
  private variant: Variant | undefined;
  private state: IpvsState | undefined;
  private kernel: KernelImage = new Map();
  /** Draining real servers (`vsKey|ip:port`) → when draining started. */
  private readonly draining = new Map<string, number>();
  private needFull = true;
  /** The kernel's sets hold exactly `state.entryRefs` (every sync since the last full one succeeded). */
  private setsKnown = false;
  /** IPv6 is programmed (its sets and ip6tables rules exist): once an IPv6 Service was seen. */
  private v6 = false;
  /** Syncs and drains run one at a time. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: IpvsApplierOptions) {
    this.exec = o.exec;
    this.clock = o.clock ?? Date.now;
    this.drainTimeoutMs = o.drainTimeoutMs ?? 15 * 60_000;
    this.variant = o.iptablesVariant;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private async run(argv: string[], stdin = '', what = argv[0]): Promise<ExecResult> {
    let r: ExecResult;
    try {
      r = await this.exec(argv, stdin);
    } catch (err) {
      throw new IpvsApplyError(`${what} failed to run: ${(err as Error).message}`, '');
    }
    if (r.code !== 0) throw new IpvsApplyError(`${what} failed: ${firstStderrLine(r)}`, r.stderr);
    return r;
  }

  /** Real servers being drained (for tests and metrics). */
  drainingReals(): string[] {
    return [...this.draining.keys()];
  }

  sync(model: ProxyModel, node: NodeState, full = false): Promise<IpvsSyncReport> {
    return this.serial(() => this.doSync(model, node, full));
  }

  private async doSync(model: ProxyModel, node: NodeState, full: boolean): Promise<IpvsSyncReport> {
    const doFull = full || this.needFull || !this.state;
    this.needFull = true;
    const report: IpvsSyncReport = { kind: doFull ? 'full' : 'partial', ipvsLines: 0, servicesRendered: 0, renderMs: 0, applyMs: 0 };
    let t = performance.now();
    // The sets hold what the state says only if everything since it was written succeeded.
    const known = this.setsKnown ? this.state?.entryRefs : undefined;
    this.setsKnown = false;
    const v6First = !this.v6 && !doFull && [...model.changed].some((k) => { const sp = model.services.get(k); return sp !== undefined && hasIPv6(sp); });
    if (doFull || v6First) {
      report.kind = 'full';
      // Read the kernel back: what IPVS holds, which addresses the dummy has, which jumps exist.
      await this.ensureKernel();
      this.kernel = parseIpvsSave((await this.run(['ipvsadm', '-Sn'])).stdout);
      const dummy = await this.dummyAddresses();
      const variant = (this.variant ??= await detectVariant(this.exec));
      const v6 = this.v6 || [...model.services.values()].some(hasIPv6);
      const families: Family[] = v6 ? ['ip', 'ip6'] : ['ip'];
      const listings = new Map<Family, Map<string, string>>();
      for (const fam of families) listings.set(fam, await this.listing(variant, fam));
      const existingSets = await this.setHeaders();
      report.applyMs += performance.now() - t;
      t = performance.now();
      const r = render(model, 'full', node, this.o);
      const ipt = new Map<Family, string>();
      for (const [fam, listing] of listings) ipt.set(fam, renderIptables(node, missingJumps(listing), fam));
      // Virtual servers Portico owns: on its dummy addresses, on node addresses, or wanted now.
      const owned = new Set([...dummy, ...node.nodeIPs, ...r.state.addrRefs.keys()]);
      const diff = diffIpvs(r.state.vs, this.kernel, 'all', (key) => owned.has(addrOfKey(key)));
      const addrAdd = r.addrAdd.filter((a) => !dummy.has(a));
      const addrDel = [...dummy].filter((a) => !r.state.addrRefs.has(a));
      const sets = renderFullSets({ entryRefs: r.state.entryRefs, existing: existingSets, known, v6 });
      report.renderMs += performance.now() - t;
      t = performance.now();
      await this.send(diff.lines, renderAddrs(addrAdd, addrDel), sets);
      for (const [fam, text] of ipt) await this.run(binaries(variant, fam).restore, text, fam === 'ip6' ? 'ip6tables-restore' : 'iptables-restore');
      this.v6 = v6;
      this.track(diff);
      // What a previous agent left at weight 0 is draining too.
      for (const [key, k] of this.kernel) for (const [real, w] of k.reals) if (w === 0) this.draining.set(`${key}|${real}`, this.draining.get(`${key}|${real}`) ?? this.clock());
      this.state = r.state;
      report.ipvsLines = diff.lines.length;
      report.servicesRendered = r.servicesRendered;
    } else {
      const r = render(model, model.changed, node, this.o, this.state);
      const diff = diffIpvs(r.state.vs, this.kernel, r.touched);
      const addrs = renderAddrs(r.addrAdd, r.addrDel);
      const sets = r.kind === 'full'
        ? renderFullSets({ entryRefs: r.state.entryRefs, existing: await this.setHeaders(), known, v6: this.v6 })
        : renderPartialSets(r.entryAdd, r.entryDel);
      report.renderMs += performance.now() - t;
      t = performance.now();
      await this.send(diff.lines, addrs, sets);
      this.track(diff);
      this.state = r.state;
      report.kind = r.kind;
      report.ipvsLines = diff.lines.length;
      report.servicesRendered = r.servicesRendered;
    }
    report.applyMs += performance.now() - t;
    this.needFull = false;
    this.setsKnown = true;
    return report;
  }

  private track(diff: { draining: string[]; undrained: string[] }): void {
    for (const d of diff.undrained) this.draining.delete(d);
    const now = this.clock();
    for (const d of diff.draining) this.draining.set(d, now);
  }

  /** Order: new virtual servers and addresses first, then the sets that steer traffic to them. */
  private async send(ipvsLines: string[], addrs: string, sets: string): Promise<void> {
    if (ipvsLines.length) await this.run(['ipvsadm', '-R'], ipvsLines.join('\n') + '\n', 'ipvsadm -R');
    if (addrs) await this.run(['ip', '-force', '-batch', '-'], addrs, 'ip -batch');
    if (sets) await this.run(['ipset', 'restore'], sets, 'ipset restore');
  }

  private async ensureKernel(): Promise<void> {
    const s = await this.exec(['sysctl', '-q', '-w', ...IPVS_SYSCTLS], '');
    if (s.code !== 0) {
      throw new IpvsApplyError(`IPVS is not available in this kernel (${firstStderrLine(s)}): the ipvs mode needs the ip_vs module (CONFIG_IP_VS)`, s.stderr);
    }
    const add = await this.exec(['ip', 'link', 'add', DUMMY_INTERFACE, 'type', 'dummy'], '');
    if (add.code !== 0 && !/File exists/.test(add.stderr)) throw new IpvsApplyError(`creating ${DUMMY_INTERFACE} failed: ${firstStderrLine(add)}`, add.stderr);
    await this.run(['ip', 'link', 'set', DUMMY_INTERFACE, 'up']);
  }

  /**
   * The owned sets and their entry counts: `ipset list -t` prints headers only. (Reading entries
   * back, `ipset save`, costs a getprotobynumber() per entry, which reads /etc/protocols.)
   */
  private async setHeaders(): Promise<Map<string, number>> {
    const all = parseIpsetHeaders((await this.run(['ipset', 'list', '-t'])).stdout);
    return new Map([...all].filter(([name]) => isOwnedSet(name)));
  }

  /** iptables-save of one family, as `table\0chain` → its rules (for the missing jumps). */
  private async listing(variant: Variant, fam: Family): Promise<Map<string, string>> {
    const saved = parseSave((await this.run(binaries(variant, fam).save)).stdout);
    const listing = new Map<string, string>();
    for (const tb of TABLES) {
      for (const line of saved.rules.get(tb) ?? []) {
        const k = `${tb}\0${line.split(' ')[1] ?? ''}`;
        listing.set(k, (listing.get(k) ?? '') + line + '\n');
      }
    }
    return listing;
  }

  /** The dummy's addresses, both families (not the link-local one the kernel gives it). */
  private async dummyAddresses(): Promise<Set<string>> {
    const r = await this.run(['ip', '-o', 'addr', 'show', 'dev', DUMMY_INTERFACE]);
    const out = new Set<string>();
    for (const m of r.stdout.matchAll(/\binet6? (\S+?)\/\d+/g)) if (!m[1]!.toLowerCase().startsWith('fe80:')) out.add(m[1]!);
    return out;
  }

  /**
   * Deletes draining real servers without connections (ActiveConn + InActConn = 0 in `ipvsadm -Ln`)
   * or draining for longer than the timeout. Returns how many were deleted.
   */
  drain(): Promise<number> {
    return this.serial(async () => {
      if (this.draining.size === 0 || this.needFull) return 0;
      const counts = new Map<string, number>();
      const vss = new Set([...this.draining.keys()].map((d) => d.slice(0, d.lastIndexOf('|'))));
      // One listing per virtual server with draining real servers (cheap at 10k Services).
      for (const key of vss) {
        const [proto, hp] = key.split(' ') as [string, string];
        const flag = proto === 'tcp' ? '-t' : proto === 'udp' ? '-u' : '--sctp-service';
        const r = await this.exec(['ipvsadm', '-Ln', flag, hp], '');
        if (r.code !== 0) continue; // gone already: its entries are dropped below
        for (const [k, v] of parseIpvsList(r.stdout)) counts.set(k, v);
      }
      const now = this.clock();
      const done: string[] = [];
      for (const [d, since] of this.draining) {
        const key = d.slice(0, d.lastIndexOf('|'));
        if (!this.kernel.get(key)?.reals.has(d.slice(d.lastIndexOf('|') + 1))) {
          this.draining.delete(d);
          continue;
        }
        if ((counts.get(d) ?? 0) === 0 || now - since >= this.drainTimeoutMs) done.push(d);
      }
      const lines = deleteReals(this.kernel, done);
      if (lines.length) {
        try {
          await this.run(['ipvsadm', '-R'], lines.join('\n') + '\n', 'ipvsadm -R');
        } catch (err) {
          this.needFull = true;
          throw err;
        }
      }
      for (const d of done) this.draining.delete(d);
      return lines.length;
    });
  }

  /** Forces the next sync to be full. */
  invalidate(): void {
    this.needFull = true;
  }

  /**
   * Removes what the IPVS mode put in the kernel: every IPVS virtual server (`ipvsadm -C`, as
   * kube-proxy's cleanup flushes IPVS), the dummy interface and the Portico ipsets. The iptables
   * chains that reference the sets must be gone first (the caller runs the iptables cleanup).
   */
  async cleanupIpvs(): Promise<void> {
    this.state = undefined;
    this.kernel = new Map();
    this.draining.clear();
    this.needFull = true;
    this.setsKnown = false;
    this.v6 = false;
    const c = await this.exec(['ipvsadm', '-C'], '');
    if (c.code !== 0 && !/Protocol not available|modprobe/i.test(c.stderr)) throw new IpvsApplyError(`ipvsadm -C failed: ${firstStderrLine(c)}`, c.stderr);
    const del = await this.exec(['ip', 'link', 'del', DUMMY_INTERFACE], '');
    if (del.code !== 0 && !/Cannot find device/.test(del.stderr)) throw new IpvsApplyError(`deleting ${DUMMY_INTERFACE} failed: ${firstStderrLine(del)}`, del.stderr);
    const list = await this.exec(['ipset', 'list', '-n'], '');
    if (list.code !== 0) return;
    const sets = list.stdout.split('\n').map((s) => s.trim()).filter(isOwnedSet);
    if (sets.length) await this.run(['ipset', 'restore'], sets.map((s) => `destroy ${s}`).join('\n') + '\n', 'ipset destroy');
  }
}

function addrOfKey(key: string): string {
  const hp = key.slice(key.indexOf(' ') + 1);
  return hp.startsWith('[') ? hp.slice(1, hp.indexOf(']')) : hp.slice(0, hp.lastIndexOf(':'));
}
