import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addrHash, createScheduler, isSchedulerName, parseWeights, SCHEDULER_ANNOTATION, type SchedulerName } from './schedulers.js';

interface T { name: string; weight: number; active: number; inactive: number }

const t = (name: string, weight = 1, active = 0, inactive = 0): T => ({ name, weight, active, inactive });
const ctx = (clientIP = '10.0.0.1', destIP = '198.18.0.1') => ({ clientIP, destIP });

function picks(name: SchedulerName, targets: T[], n: number, c = ctx(), skip?: Set<T>): string[] {
  const s = createScheduler(name, targets, { random: seq([0.1, 0.5, 0.9]) });
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(s.pick(c, skip)?.name ?? '-');
  return out;
}

function seq(xs: number[]): () => number {
  let i = 0;
  return () => xs[i++ % xs.length] as number;
}

function counts(xs: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}

test('annotation name and scheduler names', () => {
  assert.equal(SCHEDULER_ANNOTATION, 'portico.dev/scheduler');
  for (const n of ['rr', 'wrr', 'lc', 'wlc', 'sh', 'dh', 'sed', 'nq', 'random']) assert.ok(isSchedulerName(n), n);
  assert.equal(isSchedulerName('fo'), false);
});

test('each scheduler picks as its definition says', () => {
  const rows: { why: string; name: SchedulerName; targets: T[]; n: number; skip?: string[]; want: string[] }[] = [
    { why: 'rr cycles in order', name: 'rr', targets: [t('a'), t('b'), t('c')], n: 7, want: ['a', 'b', 'c', 'a', 'b', 'c', 'a'] },
    { why: 'rr skips a quiesced (weight 0) endpoint', name: 'rr', targets: [t('a'), t('b', 0), t('c')], n: 4, want: ['a', 'c', 'a', 'c'] },
    { why: 'rr skips endpoints that failed for this connection', name: 'rr', targets: [t('a'), t('b'), t('c')], n: 3, skip: ['a'], want: ['b', 'c', 'b'] },
    { why: 'rr over nothing picks nothing', name: 'rr', targets: [], n: 1, want: ['-'] },
    { why: 'wrr interleaves by weight 4:2:1', name: 'wrr', targets: [t('a', 4), t('b', 2), t('c', 1)], n: 7, want: ['a', 'a', 'a', 'b', 'a', 'b', 'c'] },
    { why: 'wrr with equal weights is rr', name: 'wrr', targets: [t('a', 3), t('b', 3)], n: 4, want: ['a', 'b', 'a', 'b'] },
    { why: 'wrr with all weights 0 picks nothing', name: 'wrr', targets: [t('a', 0)], n: 1, want: ['-'] },
    { why: 'lc picks the least active', name: 'lc', targets: [t('a', 1, 3), t('b', 1, 1), t('c', 1, 2)], n: 1, want: ['b'] },
    { why: 'lc counts an active connection as 256 inactive ones', name: 'lc', targets: [t('a', 1, 1, 0), t('b', 1, 0, 255)], n: 1, want: ['b'] },
    { why: 'lc ignores weights', name: 'lc', targets: [t('a', 100, 2), t('b', 1, 1)], n: 1, want: ['b'] },
    { why: 'lc breaks ties by order', name: 'lc', targets: [t('a', 1, 1), t('b', 1, 1)], n: 1, want: ['a'] },
    { why: 'wlc divides by weight', name: 'wlc', targets: [t('a', 1, 2), t('b', 2, 3)], n: 1, want: ['b'] },
    { why: 'sed counts the incoming job: (C+1)/W', name: 'sed', targets: [t('a', 1, 0), t('b', 3, 1)], n: 1, want: ['b'] },
    { why: 'nq prefers an idle endpoint over sed', name: 'nq', targets: [t('a', 1, 0), t('b', 3, 1)], n: 1, want: ['a'] },
    { why: 'nq falls back to sed when none is idle', name: 'nq', targets: [t('a', 1, 1), t('b', 3, 1)], n: 1, want: ['b'] },
    { why: 'random uses the random source', name: 'random', targets: [t('a'), t('b'), t('c')], n: 3, want: ['a', 'b', 'c'] },
    { why: 'random skips failed endpoints', name: 'random', targets: [t('a'), t('b'), t('c')], n: 2, skip: ['a'], want: ['b', 'c'] },
  ];
  for (const r of rows) {
    const skip = r.skip ? new Set(r.targets.filter((x) => r.skip?.includes(x.name))) : undefined;
    assert.deepEqual(picks(r.name, r.targets, r.n, ctx(), skip), r.want, r.why);
  }
});

test('wrr follows weights over many picks', () => {
  assert.deepEqual(counts(picks('wrr', [t('a', 5), t('b', 3), t('c', 2)], 1000)), { a: 500, b: 300, c: 200 });
});

test('sh keeps a client on one endpoint and spreads clients; dh does the same by destination', () => {
  const targets = [t('a'), t('b'), t('c'), t('d')];
  for (const name of ['sh', 'dh'] as const) {
    const seen = new Set<string>();
    for (let i = 0; i < 64; i++) {
      const addr = `10.1.${i >> 4}.${i}`;
      const c = name === 'sh' ? ctx(addr, '198.18.0.1') : ctx('10.0.0.1', addr);
      const got = picks(name, targets, 5, c);
      assert.equal(new Set(got).size, 1, `${name}: ${addr} always on one endpoint`);
      seen.add(got[0] as string);
      // The other address does not matter.
      const other = name === 'sh' ? ctx(addr, '198.18.9.9') : ctx('10.9.9.9', addr);
      assert.deepEqual(picks(name, targets, 1, other), [got[0]], `${name}: only its own address decides`);
    }
    assert.equal(seen.size, 4, `${name}: 64 addresses reach every endpoint`);
  }
});

test('sh falls back to another endpoint when its own failed, and weights fill the table', () => {
  const targets = [t('a'), t('b')];
  const c = ctx('10.2.3.4');
  const first = picks('sh', targets, 1, c)[0];
  const skip = new Set(targets.filter((x) => x.name === first));
  const second = picks('sh', targets, 1, c, skip)[0];
  assert.notEqual(second, first);
  assert.notEqual(second, '-');
  // Weight 3:1 gives three quarters of the clients to a.
  const w = [t('a', 3), t('b', 1)];
  const got: string[] = [];
  for (let i = 0; i < 4000; i++) got.push(picks('sh', w, 1, ctx(`10.${i >> 8}.${i & 255}.1`))[0] as string);
  const a = counts(got).a ?? 0;
  assert.ok(a > 2600 && a < 3400, `a got ${a} of 4000`);
});

test('addrHash is stable', () => {
  assert.equal(addrHash('10.0.0.1'), addrHash('10.0.0.1'));
  assert.notEqual(addrHash('10.0.0.1'), addrHash('10.0.0.2'));
});

test('parseWeights', () => {
  const rows: { why: string; in: string; want: [string, number][] | undefined }[] = [
    { why: 'ip and ip:port keys', in: '10.0.0.1=3, 10.0.0.2:8080=0', want: [['10.0.0.1', 3], ['10.0.0.2:8080', 0]] },
    { why: 'empty is no weights', in: '', want: [] },
    { why: 'IPv6 with port keeps the colon part in the key', in: '[fd00::1]:80=2', want: [['[fd00::1]:80', 2]] },
    { why: 'missing weight', in: '10.0.0.1', want: undefined },
    { why: 'negative weight', in: '10.0.0.1=-1', want: undefined },
    { why: 'fractional weight', in: '10.0.0.1=1.5', want: undefined },
    { why: 'too large', in: '10.0.0.1=70000', want: undefined },
  ];
  for (const r of rows) {
    const got = parseWeights(r.in);
    assert.deepEqual(got === undefined ? undefined : [...got], r.want, r.why);
  }
});
