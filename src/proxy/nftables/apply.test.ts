import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { NftApplier, NftApplyError, spawnExec, type Exec } from './apply.js';
import { FakeNftables } from './fake.js';
import type { NodeState } from './render.js';
import { ep, generatedModel, modelOf, sport } from '../testing.js';

const node: NodeState = { nodeName: 'node-a', nodeIPs: ['198.19.255.1'], nodePortAddresses: [], clusterCIDR: '198.19.0.0/16', masqueradeAll: false, serviceCIDRs: ['198.18.0.0/16'] };

function fakeExec(fake: FakeNftables, log: string[]): Exec {
  return async (argv, stdin) => {
    log.push(stdin);
    assert.deepEqual(argv, ['nft', '-f', '-']);
    try {
      fake.apply(stdin);
      return { code: 0, stdout: '', stderr: '' };
    } catch (err) {
      return { code: 1, stdout: '', stderr: String(err) };
    }
  };
}

test('applier: full first, partial next, full again after a failure', async () => {
  const fake = new FakeNftables();
  const log: string[] = [];
  const a = new NftApplier({ exec: fakeExec(fake, log) });
  const m1 = modelOf([sport({ name: 'a', endpoints: [ep('198.19.0.1', 80)] })]);
  assert.equal((await a.sync(m1, node)).kind, 'full');
  const m2 = modelOf([sport({ name: 'a', endpoints: [ep('198.19.0.2', 80)] })]);
  const r2 = await a.sync(m2, node);
  assert.equal(r2.kind, 'partial');
  assert.ok(!log[1]!.includes('delete table'), 'partial sync does not rebuild the table');
  fake.apply('add table ip portico\ndelete table ip portico');
  const m3 = modelOf([sport({ name: 'a', endpoints: [ep('198.19.0.3', 80)] })]);
  await assert.rejects(a.sync(m3, node), NftApplyError, 'the kernel lost the table: partial fails');
  assert.equal((await a.sync(m3, node)).kind, 'full', 'then a full sync repairs it');
  await a.cleanup();
  assert.deepEqual(fake.tableNames(), []);
});

function haveKernel(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('nft', ['--version'], { stdio: 'ignore' });
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('applier against the kernel in a fresh network namespace', { skip: !haveKernel() && 'needs root, nft and ip' }, async () => {
  const ns = `portico-t-${randomBytes(4).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    const exec: Exec = (argv, stdin) => spawnExec(['ip', 'netns', 'exec', ns, ...argv], stdin);
    const a = new NftApplier({ exec });
    const base = generatedModel(200, 5);
    const extra = sport({ name: 'lb', clusterIP: '198.18.200.1', nodePort: 31000, loadBalancerIPs: ['198.19.255.100'], loadBalancerSourceRanges: ['198.19.255.0/28'], externalPolicyLocal: true, affinityTimeoutSeconds: 60, endpoints: [ep('198.19.250.1', 80, { nodeName: 'node-a' }), ep('198.19.250.2', 80)] });
    const m1 = modelOf([...base.services.values(), extra]);
    assert.equal((await a.sync(m1, node)).kind, 'full');
    const changed = sport({ ...extra, name: 'lb', clusterIP: '198.18.200.1', endpoints: [ep('198.19.250.1', 80, { nodeName: 'node-a' })] });
    const m2 = modelOf([...base.services.values(), changed], [changed.key]);
    const r = await a.sync(m2, node);
    assert.equal(r.kind, 'partial');
    const listed = await spawnExec(['ip', 'netns', 'exec', ns, 'nft', 'list', 'table', 'ip', 'portico'], '');
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /chain svc-[A-Z2-7]{8}-default\/lb\/tcp\/80 \{/);
    assert.ok(!listed.stdout.includes('198.19.250.2'), 'removed endpoint is gone from the kernel');
    const check = await spawnExec(['ip', 'netns', 'exec', ns, 'nft', '-c', '-f', '-'], listed.stdout);
    assert.equal(check.code, 0, `listing parses back: ${check.stderr}`);
    await a.cleanup();
    const after = await spawnExec(['ip', 'netns', 'exec', ns, 'nft', 'list', 'tables'], '');
    assert.ok(!after.stdout.includes('portico'), 'cleanup removed the table');
  } finally {
    execFileSync('ip', ['netns', 'del', ns]);
  }
});
