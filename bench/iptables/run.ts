// iptables backend benchmark: full sync of N services x 10 endpoints (render and apply measured
// separately) beside a plain `iptables-restore --noflush` of the same text into an empty namespace
// (the anchor), then a partial sync (one endpoint removed), for the legacy and nft variants. Runs
// inside network namespaces it creates and always deletes; needs root. A restore that fails or
// outlives the bound is recorded in its row (exit code, the tool's last words) and the run goes on.
// Rows, `uptime` at start and end and the commit go to bench/iptables/results-<start>.json.
//   node dist/bench/iptables/run.js [services...] [--variants legacy,nft] [--only anchor|sync]
//     [--bound-s 900] [--full-without-noflush]   (defaults: 1000 10000; both variants, env VARIANTS too; anchor and sync)
// --full-without-noflush: the anchor and the applier's first (full) restore go without --noflush.
// Into an empty namespace that loads the same ruleset, and iptables-nft 1.8.9 needs it at 10k and
// more: with --noflush its restore time grows faster than the square of the text (BENCHMARKS.md). The
// partial sync after it is the applier's own (--noflush); the row says fullWithoutNoflush.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { IptApplier, binaries, type Exec, type Variant } from '../../src/proxy/iptables/apply.js';
import { render, type NodeState } from '../../src/proxy/iptables/render.js';
import { ep, generatedModel, sport } from '../../src/proxy/testing.js';
import type { ProxyModel } from '../../src/proxy/model.js';
import { REPO_ROOT, run } from '../../test/scenarios/plan.js';

const node: NodeState = { nodeName: 'node-a', nodeIPs: ['198.19.255.1'], nodePortAddresses: [], clusterCIDR: '198.19.0.0/16', masqueradeAll: false };

const flags = new Map<string, string>();
const sizes: number[] = [];
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i]!;
  if (a === '--full-without-noflush') flags.set(a.slice(2), '');
  else if (a.startsWith('--')) flags.set(a.slice(2), process.argv[++i] ?? '');
  else if (Number(a) > 0) sizes.push(Number(a));
}
const VARIANTS = (flags.get('variants') ?? process.env.VARIANTS ?? 'legacy,nft').split(',') as Variant[];
const ONLY = flags.get('only');
if (ONLY !== undefined && ONLY !== 'anchor' && ONLY !== 'sync') throw new Error(`--only must be anchor or sync, not ${JSON.stringify(ONLY)}`);
/** One restore that takes longer is killed and recorded as not finished. */
const BOUND_MS = Number(flags.get('bound-s') ?? '900') * 1000;
const FULL_WITHOUT_NOFLUSH = flags.has('full-without-noflush');
const uptime = () => spawnSync('uptime', { encoding: 'utf8' }).stdout.trim();

/** A restore that did not load: the tool's exit code and its last stderr lines, or the bound it outlived. */
interface Failure {
  failedAfterMs: number;
  code: number | null;
  timedOut: boolean;
  stderr: string;
}

/** Runs fn with an Exec inside a fresh namespace; a restore that fails ends fn and is returned. */
async function withNs<T>(fn: (exec: Exec) => Promise<T>): Promise<T | Failure> {
  const ns = `portico-ipt-${randomBytes(4).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', ns]);
  let failure: Failure | undefined;
  try {
    return await fn(async (argv, stdin) => {
      const t = performance.now();
      const r = await run(['ip', 'netns', 'exec', ns, ...argv], { input: stdin, boundMs: BOUND_MS });
      const ms = performance.now() - t;
      if (r.code !== 0 && argv[0]?.endsWith('-restore')) {
        failure = { failedAfterMs: Math.round(ms), code: r.code, timedOut: ms >= BOUND_MS, stderr: r.stderr.trim().split('\n').slice(-3).join('\n') };
      }
      return { code: r.code ?? 1, stdout: r.stdout, stderr: r.stderr };
    });
  } catch (err) {
    if (failure) return failure;
    throw err;
  } finally {
    execFileSync('ip', ['netns', 'del', ns]);
  }
}

function oneEndpointLess(m: ProxyModel): ProxyModel {
  const services = new Map(m.services);
  const [key, sp] = [...services.entries()][Math.floor(services.size / 2)]!;
  const changed = sport({ ...sp, endpoints: sp.endpoints.slice(1).map((e) => ep(e.ip, e.port, { nodeName: e.nodeName })) });
  services.set(key, changed);
  return { services, changed: new Set([key]) };
}

const failed = (x: unknown): x is Failure => typeof x === 'object' && x !== null && 'failedAfterMs' in x;

async function main(): Promise<void> {
  const started = new Date().toISOString();
  const uptimeStart = uptime();
  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).stdout.trim();
  console.log(`uptime at start: ${uptimeStart}`);
  const rows: unknown[] = [];
  for (const n of sizes.length ? sizes : [1000, 10000]) {
    const model = generatedModel(n, 10);
    const t0 = performance.now();
    const text = render(model, 'full', node).text;
    const renderMs = performance.now() - t0;
    for (const variant of VARIANTS) {
      const out: Record<string, unknown> = { services: n, endpoints: 10, variant, bytes: text.length, lines: text.split('\n').length - 1, renderMs: Math.round(renderMs) };
      if (FULL_WITHOUT_NOFLUSH) out.fullWithoutNoflush = true;
      const withoutNoflush = (argv: string[]) => (FULL_WITHOUT_NOFLUSH ? argv.filter((x) => x !== '--noflush') : argv);
      if (ONLY !== 'sync') {
        const plain = await withNs(async (exec) => {
          const s = performance.now();
          const r = await exec(withoutNoflush(binaries(variant, 'ip').restore), text);
          if (r.code !== 0) throw new Error(r.stderr);
          return performance.now() - s;
        });
        if (failed(plain)) out.plainRestoreFailed = plain;
        else out.plainRestoreMs = Math.round(plain);
      }
      if (ONLY !== 'anchor') {
        const row = await withNs(async (exec) => {
          let first = true;
          const a = new IptApplier({
            exec: (argv, stdin) => {
              if (!first || !argv[0]?.endsWith('-restore')) return exec(argv, stdin);
              first = false;
              return exec(withoutNoflush(argv), stdin);
            },
            variant,
          });
          const full = await a.sync(model, node);
          Object.assign(out, { fullSyncRenderMs: Math.round(full.renderMs), fullSyncApplyMs: Math.round(full.applyMs) });
          const part = await a.sync(oneEndpointLess(model), node);
          Object.assign(out, { partialRenderMs: +part.renderMs.toFixed(2), partialApplyMs: Math.round(part.applyMs), partialBytes: part.bytes });
        });
        if (failed(row)) out.syncFailed = row;
      }
      console.log(JSON.stringify(out));
      rows.push(out);
    }
  }
  const uptimeEnd = uptime();
  console.log(`uptime at end: ${uptimeEnd}`);
  const file = join(REPO_ROOT, 'bench', 'iptables', `results-${started.slice(0, 16).replace(':', '')}.json`);
  writeFileSync(file, JSON.stringify({ started, commit, machine: '2-core VM', uptimeStart, uptimeEnd, boundS: BOUND_MS / 1000, rows }, null, 1) + '\n');
  console.log(`written ${file}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
