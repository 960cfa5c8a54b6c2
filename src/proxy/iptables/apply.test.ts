import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { binaries, IptApplier, IptApplyError, parseVariant, spawnExec, type Exec, type Variant } from './apply.js';
import { FakeIptables } from './fake.js';
import { jumps, parseSave, renderCleanup, type NodeState } from './render.js';
import { isOwnedChain } from './names.js';
import { Tracer } from './trace.js';
import { ep, generatedModel, modelOf, sport } from '../testing.js';

const node: NodeState = { nodeName: 'node-a', nodeIPs: ['198.19.255.1'], nodePortAddresses: [], clusterCIDR: '198.19.0.0/16', masqueradeAll: false };

/** An Exec that answers iptables commands from a fake (ip6 tools missing). */
function fakeExec(fake: FakeIptables, log: string[][], version = 'iptables v1.8.9 (nf_tables)'): Exec {
  return async (argv, stdin) => {
    log.push(argv);
    const cmd = argv[0] ?? '';
    if (cmd.startsWith('ip6tables')) throw new Error(`spawn ${cmd} ENOENT`);
    if (cmd === 'iptables' && argv[1] === '--version') return { code: 0, stdout: version + '\n', stderr: '' };
    if (cmd.endsWith('-save')) return { code: 0, stdout: fake.dump(), stderr: '' };
    if (cmd.endsWith('-restore')) {
      try {
        fake.apply(stdin);
        return { code: 0, stdout: '', stderr: '' };
      } catch (err) {
        return { code: 1, stdout: '', stderr: `iptables-restore: ${String(err)}\n` };
      }
    }
    return { code: 127, stdout: '', stderr: `unexpected ${argv.join(' ')}` };
  };
}

test('applier: variant detection and forcing', async () => {
  const rows: Array<{ why: string; out: string; want: Variant | undefined }> = [
    { why: 'nft-based', out: 'iptables v1.8.9 (nf_tables)', want: 'nft' },
    { why: 'legacy', out: 'iptables v1.8.9 (legacy)', want: 'legacy' },
    { why: 'old iptables without a tag', out: 'iptables v1.6.1', want: undefined },
  ];
  for (const r of rows) assert.equal(parseVariant(r.out), r.want, r.why);
  const log: string[][] = [];
  const detected = new IptApplier({ exec: fakeExec(new FakeIptables(), log, 'iptables v1.8.9 (legacy)') });
  assert.equal(await detected.getVariant(), 'legacy');
  const forced = new IptApplier({ exec: fakeExec(new FakeIptables(), log), variant: 'legacy' });
  await forced.sync(modelOf([]), node);
  assert.ok(!log.slice(1).some((a) => a[1] === '--version'), 'a forced variant is not probed');
  assert.ok(log.some((a) => a[0] === 'iptables-legacy-restore'), 'forced variant used');
  assert.deepEqual(binaries('nft', 'ip6').restore, ['ip6tables-nft-restore', '-w', '--noflush']);
});

test('applier: full first (jumps once), partial next, full again after a failure, cleanup leaves nothing', async () => {
  const fake = new FakeIptables();
  const log: string[][] = [];
  const a = new IptApplier({ exec: fakeExec(fake, log) });
  const m1 = modelOf([sport({ name: 'a', clusterIP: '198.18.0.1', endpoints: [ep('198.19.0.1', 80)] })]);
  assert.equal((await a.sync(m1, node)).kind, 'full');
  const m2 = modelOf([sport({ name: 'a', clusterIP: '198.18.0.1', endpoints: [ep('198.19.0.2', 80)] })]);
  const r2 = await a.sync(m2, node);
  assert.equal(r2.kind, 'partial');
  assert.ok(r2.bytes < 1000, 'partial sync is small');
  // Someone removes our rules behind our back: a partial sync deleting the service fails (its
  // dispatch rule is not there to -D), and the next sync is a full one that repairs everything.
  fake.apply(renderCleanup(fake.dump()));
  await assert.rejects(a.sync(modelOf([], [m2.services.keys().next().value!]), node), IptApplyError);
  const m3 = modelOf([sport({ name: 'a', clusterIP: '198.18.0.1', endpoints: [ep('198.19.0.3', 80)] })]);
  assert.equal((await a.sync(m3, node)).kind, 'full');
  const nat = fake.dump();
  assert.equal(nat.split('\n').filter((l) => / -j PORTICO-SERVICES$/.test(l) && l.startsWith('-A PREROUTING')).length, 1, 'jump installed once over several full syncs');
  const tr = new Tracer(fake);
  assert.equal(tr.trace({ src: '198.19.9.9', dst: '198.18.0.1', proto: 'tcp', dport: 80, isLocalDst: false, hook: 'prerouting' }).endpoint?.ip, '198.19.0.3');
  await a.cleanup();
  for (const t of ['nat', 'filter']) assert.deepEqual(fake.chainNames(t).filter(isOwnedChain), [], t);
  assert.ok(!fake.dump().includes('PORTICO'), 'no jumps left');
});

// ---- against the kernel, inside a fresh network namespace ----

function have(bin: string, flag = '--version'): boolean {
  try {
    execFileSync(bin, [flag], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const root = process.getuid?.() === 0 && have('ip', '-V');
for (const variant of ['legacy', 'nft'] as const) {
  const ok = root && have(`iptables-${variant}-restore`) && have(`iptables-${variant}-save`);
  test(`applier against the kernel (${variant}) in a fresh network namespace`, { skip: !ok && `needs root, ip and iptables-${variant}` }, async () => {
    const ns = `portico-ipt-${randomBytes(4).toString('hex')}`;
    execFileSync('ip', ['netns', 'add', ns]);
    try {
      const exec: Exec = (argv, stdin) => spawnExec(['ip', 'netns', 'exec', ns, ...argv], stdin);
      const a = new IptApplier({ exec, variant });
      const base = generatedModel(200, 5);
      const lb = sport({ name: 'lb', clusterIP: '198.18.200.1', nodePort: 31000, loadBalancerIPs: ['198.19.255.100'], loadBalancerSourceRanges: ['198.19.255.0/28'], externalPolicyLocal: true, healthCheckNodePort: 32000, affinityTimeoutSeconds: 60, endpoints: [ep('198.19.250.1', 80, { nodeName: 'node-a' }), ep('198.19.250.2', 80)] });
      const empty = sport({ name: 'empty', clusterIP: '198.18.200.2', nodePort: 31001 });
      const m1 = modelOf([...base.services.values(), lb, empty]);
      assert.equal((await a.sync(m1, node)).kind, 'full');
      const lb2 = sport({ ...lb, name: 'lb', clusterIP: '198.18.200.1', endpoints: [ep('198.19.250.1', 80, { nodeName: 'node-a' })] });
      const m2 = modelOf([...base.services.values(), lb2], [lb2.key, empty.key]);
      assert.equal((await a.sync(m2, node)).kind, 'partial');

      const saved = await exec(binaries(variant, 'ip').save, '');
      assert.equal(saved.code, 0, saved.stderr);
      assert.ok(!saved.stdout.includes('198.19.250.2'), 'the removed endpoint is gone from the kernel');
      assert.ok(!saved.stdout.includes('default/empty'), 'the removed service is gone from the kernel');
      // What the kernel holds loads into the fake and equals the fake fed the same syncs.
      const kernel = new FakeIptables();
      kernel.apply(saved.stdout);
      const expected = new FakeIptables();
      const mirror = new IptApplier({ exec: fakeExec(expected, []), variant });
      await mirror.sync(m1, node);
      await mirror.sync(m2, node);
      for (const t of ['nat', 'filter']) {
        const shape = (f: FakeIptables) => f.chainNames(t).map((c) => `${c}:${f.getTable(t)!.chains.get(c)!.rules.length}`);
        assert.deepEqual(shape(kernel), shape(expected), `${t}: same chains, same rule counts`);
      }
      const tr = new Tracer(kernel);
      const r = tr.trace({ src: '198.19.9.9', dst: '198.18.200.1', proto: 'tcp', dport: 80, isLocalDst: false, hook: 'prerouting' });
      assert.deepEqual(r.endpoint, { ip: '198.19.250.1', port: 80 }, 'the kernel dump traces to the endpoint');
      const parsed = parseSave(saved.stdout);
      const jumpCount = [...parsed.rules.values()].flat().filter((l) => /^-A (PREROUTING|OUTPUT|POSTROUTING|INPUT|FORWARD) .*-j PORTICO-/.test(l)).length;
      assert.equal(jumpCount, jumps().length);

      // A second full sync (e.g. after a restart) neither duplicates jumps nor leaves old chains.
      const fresh = new IptApplier({ exec, variant });
      await fresh.sync(modelOf([lb2]), node);
      const after = await exec(binaries(variant, 'ip').save, '');
      const p2 = parseSave(after.stdout);
      assert.equal([...p2.rules.values()].flat().filter((l) => /^-A (PREROUTING|OUTPUT|POSTROUTING|INPUT|FORWARD) .*-j PORTICO-/.test(l)).length, jumps().length);
      assert.ok(!after.stdout.includes('default/svc1"'), 'chains of services no longer in the model were deleted');

      await fresh.cleanup();
      const clean = await exec(binaries(variant, 'ip').save, '');
      assert.ok(!clean.stdout.includes('PORTICO'), `cleanup left nothing:\n${clean.stdout}`);
    } finally {
      execFileSync('ip', ['netns', 'del', ns]);
    }
  });
}
