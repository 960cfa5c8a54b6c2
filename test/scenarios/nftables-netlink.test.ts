// The netlink transport against the kernel (root): the same transactions applied by `nft -f` in one
// network namespace and as netlink batches from this process in another must leave the same ruleset
// (`nft list ruleset` compared line for line), for a full sync and a run of random partial syncs
// covering every rule form the renderer emits: endpoint interval maps (windows added, redrawn and
// freed), session affinity (cascades, and a numgen vmap above 32 endpoints), Local policies,
// firewall chains with several source ranges, IPv6, UDP, no endpoints.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { NftApplier, NftApplyError } from '../../src/proxy/nftables/apply.js';
import type { NodeState } from '../../src/proxy/model.js';
import { ep, modelOf, mutate, randomService, rng, sport } from '../../src/proxy/testing.js';
import type { ProxyModel, ServicePortInfo } from '../../src/proxy/model.js';
import { run, runOk } from './plan.js';

const ID = randomBytes(3).toString('hex');
const NS = { cli: `pnl-${ID}-cli`, netlink: `pnl-${ID}-nl` };
const NODE: NodeState = {
  nodeName: 'node-a', nodeIPs: ['198.19.255.11', 'fd00::11'], nodePortAddresses: [], clusterCIDR: '198.19.0.0/16', masqueradeAll: false,
  serviceCIDRs: ['198.18.0.0/16', 'fd00:18::/112'],
};

const nsExec = (ns: string) => async (argv: string[], stdin: string) => {
  const r = await run(['ip', 'netns', 'exec', ns, ...argv], { input: stdin, boundMs: 120_000 });
  return { code: r.code ?? 1, stdout: r.stdout, stderr: r.stderr };
};
const listing = (ns: string) => runOk(['ip', 'netns', 'exec', ns, 'nft', 'list', 'ruleset']);

/** Services the random generator never makes. */
function specials(): ServicePortInfo[] {
  const many = Array.from({ length: 40 }, (_, j) => ep(`198.19.40.${j + 1}`, 8080, { nodeName: j % 2 ? 'node-a' : 'node-b' }));
  return [
    sport({ name: 'many', clusterIP: '198.18.1.1', endpoints: many }),
    sport({ name: 'many-affinity', clusterIP: '198.18.1.2', affinityTimeoutSeconds: 300, endpoints: many }),
    sport({
      name: 'lb-ranges', clusterIP: '198.18.1.3', nodePort: 31000, loadBalancerIPs: ['198.19.255.201'],
      loadBalancerSourceRanges: ['10.0.0.0/8', '192.168.1.0/24', '198.19.255.96/27', '10.1.0.0/16'], endpoints: [ep('198.19.41.1', 80)],
    }),
    sport({ name: 'v6', clusterIPs: ['198.18.1.4', 'fd00:18::4'], endpoints: [ep('198.19.42.1', 80), ep('fd00:19::1', 80), ep('fd00:19::2', 80, { nodeName: 'node-a' })] }),
    sport({ name: 'v6-local', clusterIPs: ['fd00:18::5'], nodePort: 31001, externalPolicyLocal: true, externalIPs: ['fd00:254::10'], endpoints: [ep('fd00:19::3', 80, { nodeName: 'node-a' })] }),
    sport({ name: 'udp-none', protocol: 'UDP', clusterIP: '198.18.1.6', port: 53 }),
  ];
}

describe('nftables over netlink gives the same ruleset as nft -f', { skip: process.getuid?.() !== 0 ? 'needs root (network namespaces)' : false }, () => {
  const appliers: NftApplier[] = [];
  before(async () => {
    for (const ns of Object.values(NS)) await runOk(['ip', 'netns', 'add', ns]);
  });
  after(async () => {
    for (const a of appliers) a.close();
    for (const ns of Object.values(NS)) await run(['ip', 'netns', 'del', ns]);
  });

  it('full sync, then 40 random partial syncs: identical listings after each', async () => {
    const cli = new NftApplier({ exec: nsExec(NS.cli) });
    const nl = new NftApplier({ exec: nsExec(NS.netlink), transport: 'netlink', netnsPath: `/run/netns/${NS.netlink}` });
    appliers.push(nl);
    const r = rng(6);
    const SIZE = 40;
    const ports = Array.from({ length: SIZE }, (_, i) => randomService(r, i));
    let model: ProxyModel = modelOf([...ports, ...specials()]);
    for (let step = 0; step <= 40; step++) {
      if (step > 0) model = mutate(r, model, SIZE);
      const a = await cli.sync(model, NODE);
      const b = await nl.sync(model, NODE);
      assert.equal(b.kind, a.kind, `step ${step}: sync kind`);
      assert.equal(b.via, a.via === 'none' ? 'none' : 'netlink', `step ${step}: the netlink applier fell back to nft -f`);
      assert.equal(await listing(NS.netlink), await listing(NS.cli), `step ${step}: rulesets differ`);
    }
    const full = await listing(NS.netlink);
    assert.match(full, /table ip6 portico/);
    assert.match(full, /meta l4proto tcp dnat ip to numgen random mod 65536 (offset \d+ )?map @endpoints-tcp-0/);
    assert.match(full, /meta l4proto tcp dnat ip6 to numgen random mod 65536 (offset \d+ )?map @endpoints-tcp-0/);
    assert.match(full, /typeof numgen random mod 65536 : ip6 daddr \. tcp dport/);
    assert.match(full, /numgen random mod 40 vmap/);
    assert.match(full, /ip saddr != \{ 10\.0\.0\.0\/8, 192\.168\.1\.0\/24, 198\.19\.255\.96\/27 \} drop/);
    await cli.cleanup();
    await nl.cleanup();
    assert.equal((await listing(NS.netlink)).trim(), '');
    assert.equal((await listing(NS.cli)).trim(), '');
  });

  it('a transaction the kernel rejects fails whole, names the command, and forces a full sync next', async () => {
    const nl = new NftApplier({ exec: nsExec(NS.netlink), transport: 'netlink', netnsPath: `/run/netns/${NS.netlink}` });
    appliers.push(nl);
    const good = modelOf([sport({ name: 'a', clusterIP: '198.18.2.1', endpoints: [ep('198.19.50.1', 80)] })]);
    await nl.sync(good, NODE);
    const before = await listing(NS.netlink);
    // Someone deletes a chain behind the agent's back: the partial sync's `flush chain` then fails.
    await runOk(['ip', 'netns', 'exec', NS.netlink, 'nft', 'flush table ip portico; delete table ip portico; add table ip portico']);
    const changed = modelOf([sport({ name: 'a', clusterIP: '198.18.2.1', endpoints: [ep('198.19.50.2', 80)] })]);
    await assert.rejects(nl.sync(changed, NODE), (err: unknown) => {
      assert.ok(err instanceof NftApplyError);
      assert.match(err.message, /the kernel rejected the partial transaction: No such file or directory.*: (flush chain|add rule|delete element|add element) ip portico /);
      return true;
    });
    assert.equal((await listing(NS.netlink)).includes('198.19.50.2'), false, 'nothing of the failed transaction is in the kernel');
    const again = await nl.sync(changed, NODE);
    assert.equal(again.kind, 'full');
    assert.equal(again.via, 'netlink');
    assert.match(await listing(NS.netlink), /198\.19\.50\.2 \. 80/);
    assert.notEqual(before, '');
    await nl.cleanup();
  });
});
