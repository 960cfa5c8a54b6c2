// iptables backend benchmark: full sync of N services x 10 endpoints (render and apply measured
// separately) beside a plain `iptables-restore --noflush` of the same text into an empty namespace,
// then a partial sync (one endpoint removed), for the legacy and nft variants. Runs inside network
// namespaces it creates and always deletes; needs root.
//   VARIANTS=legacy,nft node dist/bench/iptables/run.js [services...]     (default: 1000 10000)
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { IptApplier, binaries, spawnExec, type Exec, type Variant } from '../../src/proxy/iptables/apply.js';
import { render, type NodeState } from '../../src/proxy/iptables/render.js';
import { ep, generatedModel, sport } from '../../src/proxy/testing.js';
import type { ProxyModel } from '../../src/proxy/model.js';

const node: NodeState = { nodeName: 'node-a', nodeIPs: ['198.19.255.1'], nodePortAddresses: [], clusterCIDR: '198.19.0.0/16', masqueradeAll: false };

async function withNs<T>(fn: (exec: Exec) => Promise<T>): Promise<T> {
  const ns = `portico-ipt-${randomBytes(4).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    return await fn((argv, stdin) => spawnExec(['ip', 'netns', 'exec', ns, ...argv], stdin));
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

async function main(): Promise<void> {
  const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
  const results: unknown[] = [];
  for (const n of sizes.length ? sizes : [1000, 10000]) {
    const model = generatedModel(n, 10);
    const t0 = performance.now();
    const text = render(model, 'full', node).text;
    const renderMs = performance.now() - t0;
    for (const variant of (process.env.VARIANTS ?? 'legacy,nft').split(',') as Variant[]) {
      const plainMs = await withNs(async (exec) => {
        const s = performance.now();
        const r = await exec(binaries(variant, 'ip').restore, text);
        if (r.code !== 0) throw new Error(r.stderr);
        return performance.now() - s;
      });
      const row = await withNs(async (exec) => {
        const a = new IptApplier({ exec, variant });
        const full = await a.sync(model, node);
        const part = await a.sync(oneEndpointLess(model), node);
        return { full, part };
      });
      const out = {
        services: n, endpoints: 10, variant, bytes: text.length, renderMs: Math.round(renderMs),
        fullSyncRenderMs: Math.round(row.full.renderMs), fullSyncApplyMs: Math.round(row.full.applyMs), plainRestoreMs: Math.round(plainMs),
        partialRenderMs: +row.part.renderMs.toFixed(2), partialApplyMs: Math.round(row.part.applyMs), partialBytes: row.part.bytes,
      };
      console.log(JSON.stringify(out));
      results.push(out);
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
