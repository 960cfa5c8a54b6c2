// The iptables applier: renders (pure) and hands the text to `iptables-restore --noflush` (and
// `ip6tables-restore` once an IPv6 cluster IP appears) through one injected exec. Full syncs first
// read `iptables-save` to learn which jumps from built-in chains are missing and which Portico
// chains the kernel still holds (after a restart or a failed sync), so the restore text both
// installs the jumps exactly once and deletes leftovers. The state advances only when the restore
// succeeded; after any failure the next sync is full.
import { ApplyError, firstStderrLine, spawnExec, type Exec, type ExecResult } from '../exec.js';
import type { ProxyModel } from '../model.js';
import {
  emptyState, familiesOf, missingJumps, parseSave, render, renderCleanup, staleFromSave, TABLES,
  type Family, type IptState, type NodeState,
} from './render.js';

export { spawnExec, type Exec, type ExecResult };

/** Which iptables: the legacy x_tables kernel API or the nf_tables-based compatibility layer. */
export type Variant = 'legacy' | 'nft';

export class IptApplyError extends ApplyError {
  override name = 'IptApplyError';
  readonly code = 'IPTABLES_APPLY_FAILED';
}

export interface SyncReport {
  kind: 'full' | 'partial';
  variant: Variant;
  /** Bytes of restore text sent, all families. */
  bytes: number;
  servicesRendered: number;
  renderMs: number;
  applyMs: number;
}

export interface IptApplierOptions {
  exec: Exec;
  /** Force a variant; default: detect from `iptables --version`. */
  variant?: Variant;
  /** Monotonic clock in ms, injectable for tests; default performance.now. */
  now?: () => number;
}

/** `iptables v1.8.9 (nf_tables)` → nft, `(legacy)` → legacy; undefined when it says neither. */
export function parseVariant(versionOutput: string): Variant | undefined {
  if (/\(nf_tables\)/.test(versionOutput)) return 'nft';
  if (/\(legacy\)/.test(versionOutput)) return 'legacy';
  return undefined;
}

export async function detectVariant(exec: Exec): Promise<Variant> {
  const r = await exec(['iptables', '--version'], '');
  const v = parseVariant(r.stdout + r.stderr);
  if (r.code !== 0 || !v) throw new IptApplyError(`cannot tell the iptables variant from: ${(r.stdout + r.stderr).trim() || `exit code ${r.code}`}`, r.stderr);
  return v;
}

/** The binaries of a variant and family. */
export function binaries(variant: Variant, family: Family): { restore: string[]; save: string[] } {
  const base = family === 'ip6' ? 'ip6tables' : 'iptables';
  return { restore: [`${base}-${variant}-restore`, '-w', '--noflush'], save: [`${base}-${variant}-save`] };
}

export class IptApplier {
  private readonly exec: Exec;
  private readonly now: () => number;
  private variant: Variant | undefined;
  private states = new Map<Family, IptState>();
  private needFull = true;

  constructor(opts: IptApplierOptions) {
    this.exec = opts.exec;
    this.variant = opts.variant;
    this.now = opts.now ?? (() => performance.now());
  }

  async getVariant(): Promise<Variant> {
    this.variant ??= await detectVariant(this.exec);
    return this.variant;
  }

  /** Forces the next sync to be full (e.g. after an external flush). */
  invalidate(): void {
    this.needFull = true;
  }

  private async save(variant: Variant, family: Family): Promise<string> {
    const r = await this.exec(binaries(variant, family).save, '');
    if (r.code !== 0) throw new IptApplyError(`${binaries(variant, family).save[0]} failed: ${firstStderrLine(r)}`, r.stderr);
    return r.stdout;
  }

  /**
   * Syncs the kernel to the model: full the first time, after a failure or when asked (reading
   * iptables-save first), otherwise partial for `model.changed`. One restore per family.
   */
  async sync(model: ProxyModel, node: NodeState, full = false): Promise<SyncReport> {
    const variant = await this.getVariant();
    const doFull = full || this.needFull;
    const families = new Set<Family>([...familiesOf(model), ...this.states.keys()]);
    const report: SyncReport = { kind: doFull ? 'full' : 'partial', variant, bytes: 0, servicesRendered: 0, renderMs: 0, applyMs: 0 };
    const next = new Map<Family, IptState>();
    this.needFull = true;
    for (const fam of families) {
      let t0 = this.now();
      let text: string;
      let state: IptState;
      if (doFull || !this.states.has(fam)) {
        if (!doFull) report.kind = 'full';
        const saved = await this.save(variant, fam);
        report.applyMs += this.now() - t0;
        t0 = this.now();
        const listing = new Map<string, string>();
        const parsed = parseSave(saved);
        for (const t of TABLES) {
          for (const line of parsed.rules.get(t) ?? []) {
            const chain = line.split(' ')[1] ?? '';
            listing.set(`${t}\0${chain}`, (listing.get(`${t}\0${chain}`) ?? '') + line + '\n');
          }
        }
        const r = render(model, 'full', node, emptyState(fam, staleFromSave(saved)), fam, { installJumps: missingJumps(listing) });
        text = r.text;
        state = r.state;
        report.servicesRendered += r.servicesRendered;
      } else {
        const r = render(model, model.changed, node, this.states.get(fam), fam);
        if (r.kind === 'full') report.kind = 'full';
        text = r.text;
        state = r.state;
        report.servicesRendered += r.servicesRendered;
      }
      const t1 = this.now();
      report.renderMs += t1 - t0;
      if (text !== '') {
        let res: ExecResult;
        const argv = binaries(variant, fam).restore;
        try {
          res = await this.exec(argv, text);
        } catch (err) {
          throw new IptApplyError(`${argv[0]} failed to run: ${err instanceof Error ? err.message : String(err)}`, '');
        }
        if (res.code !== 0) throw new IptApplyError(`${argv[0]} rejected the ${report.kind} sync: ${firstStderrLine(res)}`, res.stderr);
      }
      report.applyMs += this.now() - t1;
      report.bytes += text.length;
      next.set(fam, state);
    }
    this.states = next;
    this.needFull = false;
    return report;
  }

  /** Removes every Portico chain and every jump to one, in both families (a family whose tools are missing is skipped). */
  async cleanup(): Promise<void> {
    const variant = await this.getVariant();
    this.states.clear();
    this.needFull = true;
    for (const fam of ['ip', 'ip6'] as const) {
      let saved: string;
      try {
        saved = await this.save(variant, fam);
      } catch (err) {
        if (fam === 'ip6') continue;
        throw err;
      }
      const text = renderCleanup(saved);
      if (text === '') continue;
      const res = await this.exec(binaries(variant, fam).restore, text);
      if (res.code !== 0) throw new IptApplyError(`iptables cleanup failed: ${firstStderrLine(res)}`, res.stderr);
    }
  }
}
