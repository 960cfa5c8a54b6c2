// Where the kernel's wall time for one full-sync batch goes (diagnostic for bench:nftables section 1).
// Per round: optionally load and delete namespaces first as run.ts does between sizes (a 1k anchor
// `nft -f` and a 1k Portico full sync), optionally wait, then send one 10k x 10 full-sync batch into a
// fresh namespace and record: wall time of the send, this process's user/system CPU in it (nfnetlink
// processes the batch inside sendmsg, in the sender's context), the CPU kernel worker threads used in
// the same window (namespace teardown runs in kworkers), all CPUs' busy time, and load.
// With --split, the batch goes as three: table, sets and chains; then the rules; then the elements
// (what each part costs the kernel); --elements-first sends the elements before the rules.
//   node dist/bench/nftables/kernel.js [--size 10000] [--rounds 3] [--before none|teardown] [--settle-ms 0] [--split]
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { render, type NodeState } from '../../src/proxy/nftables/render.js';
import type { NftCmd, Transaction } from '../../src/proxy/nftables/tx.js';
import { NetlinkCompiler } from '../../src/proxy/nftables/netlink/compile.js';
import { NetlinkSocket } from '../../src/proxy/nftables/netlink/socket.js';
import { generatedModel } from '../../src/proxy/testing.js';
import { anchorText } from './anchor.js';
import { Sandbox } from './sandbox.js';
import { kworkerMs, kworkersQuiet, TICK_MS } from './kworkers.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? def) : def;
}
const SIZE = Number(arg('size', '10000'));
const ROUNDS = Number(arg('rounds', '3'));
const BEFORE = arg('before', 'none');
const SETTLE_MS = Number(arg('settle-ms', '0'));
const SPLIT = process.argv.includes('--split');
const ELEMENTS_FIRST = process.argv.includes('--elements-first');
const POD_CIDR = '198.19.0.0/16';
const node: NodeState = { nodeName: 'node-a', nodeIPs: ['198.19.255.11'], nodePortAddresses: [], clusterCIDR: POD_CIDR, masqueradeAll: false, serviceCIDRs: ['198.18.0.0/16'] };
const log = (s: string) => process.stderr.write(`[bench:nftables:kernel] ${s}\n`);

/** Busy and total CPU ms of all CPUs so far, from /proc/stat. */
function cpuMs(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  const idle = f[3]! + f[4]!;
  return { busy: (total - idle) * TICK_MS, total: total * TICK_MS };
}

async function main(): Promise<void> {
  const sb = new Sandbox();
  const model = generatedModel(SIZE, 10);
  const rows: object[] = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      let tornDown = 0;
      if (BEFORE === 'teardown') {
        const small = generatedModel(1000, 10);
        const a = await sb.addNs(`pre-a${round}`);
        await sb.execOk(a, ['nft', '-f', '-'], { input: anchorText(small, POD_CIDR) });
        const p = await sb.addNs(`pre-p${round}`);
        const s = new NetlinkSocket(`/run/netns/${p}`);
        s.transact(new NetlinkCompiler().compileTx([render(small, 'full', node).tx]));
        s.close();
        const k0 = kworkerMs();
        await sb.delNs(p);
        await sb.delNs(a);
        tornDown = kworkerMs() - k0;
      }
      if (SETTLE_MS > 0) await new Promise((r) => setTimeout(r, SETTLE_MS));
      const ns = await sb.addNs(`k${round}`);
      const tx = render(model, 'full', node).tx;
      const sock = new NetlinkSocket(`/run/netns/${ns}`);
      if (SPLIT) {
        const part = (f: (c: NftCmd) => boolean): Transaction => ({ ...tx, cmds: tx.cmds.filter(f) });
        const compiler = new NetlinkCompiler();
        const rules: [string, Transaction] = ['rules', part((c) => c.k === 'rule')];
        const elements: [string, Transaction] = ['elements', part((c) => c.k === 'elements')];
        const parts: Array<[string, Transaction]> = [
          ['table, sets, chains', part((c) => c.k === 'table' || c.k === 'set' || c.k === 'chain')],
          ...(ELEMENTS_FIRST ? [elements, rules] : [rules, elements]),
        ];
        const split: object[] = [];
        for (const [what, t] of parts) {
          const b = compiler.compileTx([t]);
          const u0 = process.cpuUsage();
          const t0 = performance.now();
          sock.transact(b);
          compiler.commit();
          const u = process.cpuUsage(u0);
          split.push({ what, messages: b.messages, bytes: b.bytes.length, wallMs: Math.round(performance.now() - t0), sysMs: Math.round(u.system / 1000) });
        }
        sock.close();
        await sb.delNs(ns);
        await kworkersQuiet();
        log(JSON.stringify({ round, split }));
        rows.push({ round, load1: loadavg()[0], split });
        continue;
      }
      const batch = new NetlinkCompiler().compileTx([tx]);
      const load = loadavg()[0]!;
      const k0 = kworkerMs();
      const c0 = cpuMs();
      const u0 = process.cpuUsage();
      const t0 = performance.now();
      sock.transact(batch);
      const wall = performance.now() - t0;
      const u = process.cpuUsage(u0);
      const c1 = cpuMs();
      const k1 = kworkerMs();
      sock.close();
      const k2 = kworkerMs();
      const tDel = performance.now();
      await sb.delNs(ns);
      const settle = await kworkersQuiet();
      const row = {
        round, before: BEFORE, settleMs: SETTLE_MS, load1: load, batchBytes: batch.bytes.length,
        wallMs: Math.round(wall), userMs: Math.round(u.user / 1000), sysMs: Math.round(u.system / 1000),
        kworkerMsDuring: k1 - k0, cpusBusyMsDuring: c1.busy - c0.busy, cpusTotalMsDuring: c1.total - c0.total,
        kworkerMsFromPreviousTeardownCall: tornDown,
        teardownKworkerMs: kworkerMs() - k2, teardownQuietAfterMs: Math.round(performance.now() - tDel), settleWaitMs: Math.round(settle),
      };
      log(JSON.stringify(row));
      rows.push(row);
    }
  } finally {
    await sb.destroy();
  }
  process.stdout.write(JSON.stringify(rows, null, 1) + '\n');
}

await main();
