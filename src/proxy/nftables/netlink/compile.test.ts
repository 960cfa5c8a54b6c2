import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MSG, NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END, NLA_F_NESTED, parseReplies, Writer } from './batch.js';
import { NetlinkCompiler, UnsupportedError } from './compile.js';
import { NftApplier, NftApplyError } from '../apply.js';
import { NetlinkTransactionError } from './socket.js';
import { render } from '../render.js';
import { ep, generatedModel, modelOf, mutate, randomService, rng, sport } from '../../testing.js';
import { parseTransactions, printTransaction } from '../tx.js';
import type { ProxyModel } from '../../model.js';
import type { NodeState } from '../../model.js';
import type { CompiledBatch } from './compile.js';

// A minimal decoder: messages → { type, seq, family, attrs } with nested attributes as trees.
interface Attr { type: number; nested: boolean; data: Buffer; children?: Attr[] }
function attrs(b: Buffer): Attr[] {
  const out: Attr[] = [];
  let p = 0;
  while (p + 4 <= b.length) {
    const len = b.readUInt16LE(p);
    const t = b.readUInt16LE(p + 2);
    assert.ok(len >= 4 && p + len <= b.length, 'attribute length inside its parent');
    const data = b.subarray(p + 4, p + len);
    const nested = (t & NLA_F_NESTED) !== 0;
    out.push({ type: t & 0x3fff, nested, data, ...(nested ? { children: attrs(data) } : {}) });
    p += (len + 3) & ~3;
  }
  assert.equal(p, b.length, 'attributes are 4-byte aligned and fill their parent');
  return out;
}
function messages(bytes: Uint8Array): Array<{ type: number; seq: number; family: number; resId: number; attrs: Attr[] }> {
  const b = Buffer.from(bytes);
  const out = [];
  let p = 0;
  while (p < b.length) {
    const len = b.readUInt32LE(p);
    assert.equal(len % 4, 0);
    out.push({ type: b.readUInt16LE(p + 4), seq: b.readUInt32LE(p + 8), family: b[p + 16]!, resId: b.readUInt16BE(p + 18), attrs: attrs(b.subarray(p + 20, p + len)) });
    p += len;
  }
  assert.equal(p, b.length);
  return out;
}
const str = (a: Attr | undefined) => a?.data.toString('utf8').replace(/\0+$/, '');
const find = (as: Attr[], type: number) => as.find((a) => a.type === type);
/** Expression names of a NEWRULE message, in order. */
const exprNames = (m: { attrs: Attr[] }) => find(m.attrs, 4)!.children!.map((e) => str(find(e.children!, 1)));

const node: NodeState = { nodeName: 'node-a', nodeIPs: ['198.19.255.1'], nodePortAddresses: [], clusterCIDR: '198.19.0.0/16', masqueradeAll: false, serviceCIDRs: ['198.18.0.0/16'] };

test('writer: nested attributes get their lengths, strings are NUL-terminated and padded', () => {
  const w = new Writer(16);
  w.begin(MSG.NEWTABLE, 1, 2);
  w.str(1, 'abcde');
  const n = w.open(2);
  w.u32be(1, 7);
  w.close(n);
  w.end();
  const [m] = messages(w.view());
  assert.equal(m!.type, 0xa00);
  assert.equal(str(m!.attrs[0]), 'abcde');
  assert.equal(m!.attrs[0]!.data.length, 6, 'length counts the NUL, not the padding');
  assert.equal(m!.attrs[1]!.children![0]!.data.readUInt32BE(0), 7);
});

test('compile: a batch is BEGIN, the commands in order with increasing seq, END; subsystem nf_tables', () => {
  const b = new NetlinkCompiler().compile('add table ip portico\ndelete table ip portico\nadd table ip portico\nadd chain ip portico c\n');
  const ms = messages(b.bytes);
  assert.deepEqual(ms.map((m) => m.type), [NFNL_MSG_BATCH_BEGIN, MSG.NEWTABLE, MSG.DELTABLE, MSG.NEWTABLE, MSG.NEWCHAIN, NFNL_MSG_BATCH_END]);
  assert.equal(ms[0]!.resId, 10);
  assert.equal(ms[5]!.resId, 10);
  for (let i = 1; i < ms.length; i++) assert.equal(ms[i]!.seq, ms[i - 1]!.seq + 1);
  assert.equal(ms[1]!.family, 2);
  assert.equal(b.tags.get(ms[4]!.seq), 'add chain ip portico c', 'errors can name the line');
});

test('compile: base chains carry hook, priority, policy and type', () => {
  const b = new NetlinkCompiler().compile('add chain ip portico nat-output { type nat hook output priority -100 ; policy accept ; }\n');
  const m = messages(b.bytes)[1]!;
  const hook = find(m.attrs, 4)!;
  assert.equal(find(hook.children!, 1)!.data.readUInt32BE(0), 3);
  assert.equal(find(hook.children!, 2)!.data.readInt32BE(0), -100);
  assert.equal(find(m.attrs, 5)!.data.readUInt32BE(0), 1);
  assert.equal(str(find(m.attrs, 7)), 'nat');
});

/** Services the random models lack: IPv6 and dual-stack, affinity over 32 endpoints (numgen vmap), several source ranges, SCTP. */
function unusualModel(): ProxyModel {
  const many = Array.from({ length: 40 }, (_, i) => ep(`198.19.9.${i + 1}`, 8080, { nodeName: 'node-a' }));
  return modelOf([
    sport({ name: 'aff', clusterIP: '198.18.1.1', affinityTimeoutSeconds: 30, endpoints: many, nodePort: 30100, loadBalancerIPs: ['198.19.255.200'], loadBalancerSourceRanges: ['10.0.0.0/8', '10.1.0.0/16', '192.168.1.0/24', 'fd00::/64'] }),
    sport({ name: 'ds', clusterIPs: ['198.18.1.2', 'fd01::2'], endpoints: [ep('fd00::1', 80, { nodeName: 'node-a' }), ep('fd00::2', 80), ep('198.19.7.1', 80)], nodePort: 30101, externalPolicyLocal: true, externalIPs: ['fd02::9', '198.19.255.9'], protocol: 'UDP' }),
    sport({ name: 'sc', clusterIPs: ['fd01::3'], protocol: 'SCTP', endpoints: [ep('fd00::5', 9)], affinityTimeoutSeconds: 5 }),
  ]);
}

test('compile: the renderer\'s structures encode to exactly the bytes of their printed text; the text reads back to itself', () => {
  const check = (r: ReturnType<typeof render>, what: string, structured: NetlinkCompiler, fromText: NetlinkCompiler) => {
    assert.equal(parseTransactions(r.text).map(printTransaction).join(''), r.text, `${what}: text reads back to itself`);
    const a = structured.compileTx([r.tx]);
    const b = fromText.compile(r.text);
    assert.ok(Buffer.from(a.bytes).equals(Buffer.from(b.bytes)), `${what}: same batch`);
    structured.commit();
    fromText.commit();
  };
  for (const fam of ['ip', 'ip6'] as const) {
    for (const n of [node, { ...node, nodePortAddresses: ['198.19.255.0/24', 'fd03::/64'], clusterCIDR: 'fd00::/48' }]) {
      check(render(unusualModel(), 'full', n, undefined, fam), `unusual ${fam}`, new NetlinkCompiler(), new NetlinkCompiler());
    }
  }
  for (let seed = 1; seed <= 12; seed++) {
    const r = rng(seed);
    let model = modelOf(Array.from({ length: 30 }, (_, i) => randomService(r, i)));
    const n: NodeState = { ...node, masqueradeAll: seed % 4 === 0, nodePortAddresses: seed % 3 === 0 ? ['198.19.255.0/24'] : [] };
    const structured = new NetlinkCompiler();
    const fromText = new NetlinkCompiler();
    let res = render(model, 'full', n);
    check(res, `seed ${seed} full`, structured, fromText);
    for (let step = 0; step < 5; step++) {
      model = mutate(r, model, 30);
      res = render(model, model.changed, n, res.mirror);
      check(res, `seed ${seed} step ${step}`, structured, fromText);
    }
  }
});

test('compile: a rejected command is named by its printed line', () => {
  const tx = render(modelOf([sport({ name: 'a', endpoints: [ep('198.19.0.1', 80)] })]), 'full', node).tx;
  const b = new NetlinkCompiler().compileTx([tx]);
  const lines = render(modelOf([sport({ name: 'a', endpoints: [ep('198.19.0.1', 80)] })]), 'full', node).text.trim().split('\n');
  // BATCH_BEGIN has seq 1; the commands follow in order, one message each here.
  assert.equal(b.tags.get(2), lines[0]);
  assert.equal(b.tags.get(1 + lines.length), lines[lines.length - 1]);
  assert.equal(b.messages, lines.length);
});

test('compile: rule forms map to the expressions nft uses', () => {
  const rows: Array<[string, string[], string]> = [
    ['ip saddr != 198.19.0.0/16 jump mark-for-masquerade', ['payload', 'cmp', 'immediate'], 'byte-aligned prefix: short load, no bitwise'],
    ['ip saddr != 198.19.0.0/20 jump mark-for-masquerade', ['payload', 'bitwise', 'cmp', 'immediate'], 'other prefixes are masked'],
    ['ip daddr . meta l4proto . th dport vmap @service-ips', ['payload', 'meta', 'payload', 'lookup'], 'concatenation into a verdict map'],
    ['ct state new jump endpoints-check', ['ct', 'bitwise', 'cmp', 'immediate'], 'flag test'],
    ['fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports', ['fib', 'cmp', 'payload', 'cmp', 'meta', 'payload', 'lookup'], 'local destinations'],
    ['meta mark set meta mark | 0x00004000', ['meta', 'bitwise', 'meta'], 'mark set'],
    ['masquerade fully-random', ['masq'], 'masquerade'],
    ['meta l4proto tcp reject with tcp reset', ['meta', 'cmp', 'reject'], 'reset'],
    ['update @aff-x { ip saddr }', ['payload', 'dynset'], 'affinity'],
  ];
  for (const [rule, names, why] of rows) {
    const b = new NetlinkCompiler().compile(`add rule ip portico c ${rule}\n`);
    const rules = messages(b.bytes).filter((m) => m.type === MSG.NEWRULE);
    assert.deepEqual(exprNames(rules[0]!), names, why);
  }
});

test('compile: several source ranges become an anonymous interval set sent before the rule', () => {
  const b = new NetlinkCompiler().compile('add rule ip portico fw ip saddr != { 10.0.0.0/8, 10.1.0.0/16, 192.168.1.0/24 } drop\n');
  const ms = messages(b.bytes).slice(1, -1);
  assert.deepEqual(ms.map((m) => m.type), [MSG.NEWSET, MSG.NEWSETELEM, MSG.NEWRULE]);
  assert.equal(find(ms[0]!.attrs, 3)!.data.readUInt32BE(0), 1 | 2 | 4, 'anonymous, constant, interval');
  const keys = find(ms[1]!.attrs, 3)!.children!.map((e) => find(find(e.children!, 1)!.children!, 1)!.data.toString('hex'));
  // 10.1.0.0/16 lies inside 10.0.0.0/8: merged. Gap from 0 is an interval end too.
  assert.deepEqual(keys, ['00000000', '0a000000', '0b000000', 'c0a80100', 'c0a80200']);
});

test('compile: element lists are split so no attribute passes 64 KiB', () => {
  const c = new NetlinkCompiler();
  const model = generatedModel(3000, 2);
  const b = c.compile(render(model, 'full', node).text);
  const elems = messages(b.bytes).filter((m) => m.type === MSG.NEWSETELEM);
  assert.ok(elems.length > 2);
});

test('compile: set types are remembered once committed, forgotten on reset', () => {
  const c = new NetlinkCompiler();
  const def = 'add table ip portico\nadd map ip portico m { type ipv4_addr . inet_proto . inet_service : verdict ; }\n';
  const el = 'add element ip portico m { 198.18.0.1 . tcp . 80 : goto x }\n';
  c.compile(def);
  assert.throws(() => c.compile(el), UnsupportedError, 'not committed: unknown set');
  c.compile(def);
  c.commit();
  const ms = messages(c.compile(el).bytes);
  const key = find(find(find(ms[1]!.attrs, 3)!.children![0]!.children!, 1)!.children!, 1)!.data;
  assert.equal(key.toString('hex'), 'c6120001' + '06000000' + '00500000', 'components padded to 4 bytes');
  c.reset();
  assert.throws(() => c.compile(el), UnsupportedError);
});

test('compile: syntax outside the renderer subset is unsupported (nft -f gets it)', () => {
  assert.throws(() => new NetlinkCompiler().compile('add rule ip portico c tcp flags syn drop\n'), UnsupportedError);
  assert.throws(() => new NetlinkCompiler().compile('add flowtable ip portico f\n'), UnsupportedError);
});

test('replies: an error with the kernel message is decoded, ACKs have errno 0', () => {
  const b = Buffer.alloc(16 + 4 + 16 + 12);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt16LE(2, 4); // NLMSG_ERROR
  b.writeUInt16LE(0x300, 6); // capped, with TLVs
  b.writeInt32LE(-2, 16);
  b.writeUInt32LE(16, 20);
  b.writeUInt32LE(42, 28); // seq of the request
  b.writeUInt16LE(11, 36);
  b.writeUInt16LE(1, 38);
  b.write('no set\0', 40);
  assert.deepEqual(parseReplies(b), [{ seq: 42, errno: 2, message: 'no set' }]);
});

test('applier over netlink: batches go to the socket; a kernel error fails the sync and the next one is full', async () => {
  const sent: CompiledBatch[] = [];
  let fail = false;
  const socket = {
    transact(b: CompiledBatch) {
      if (fail) throw new NetlinkTransactionError('No such file or directory: flush chain ip portico x', 2, 'flush chain ip portico x');
      sent.push(b);
    },
    close() {},
  };
  const exec = async () => assert.fail('nft -f must not run');
  const a = new NftApplier({ exec, transport: 'netlink', socket });
  const m1 = modelOf([sport({ name: 'a', endpoints: [ep('198.19.0.1', 80)] })]);
  assert.equal((await a.sync(m1, node)).via, 'netlink');
  const m2 = modelOf([sport({ name: 'a', endpoints: [ep('198.19.0.2', 80)] })]);
  fail = true;
  await assert.rejects(a.sync(m2, node), (err: unknown) => err instanceof NftApplyError && /kernel rejected the partial transaction: No such file/.test(err.message));
  fail = false;
  const r = await a.sync(m2, node);
  assert.equal(r.kind, 'full');
  assert.equal(r.via, 'netlink');
  assert.equal(sent.length, 2);
});

test('compile: endpoint maps (typeof userdata, interval start/end elements) and the numgen DNAT rule, as nft sends them', () => {
  const c = new NetlinkCompiler();
  const text = [
    'add table ip portico',
    'add map ip portico endpoints-udp-0 { typeof numgen random mod 65536 : ip daddr . udp dport ; flags interval ; }',
    'add chain ip portico svc-X',
    'add rule ip portico svc-X meta l4proto udp dnat ip to numgen random mod 65536 offset 131072 map @endpoints-udp-0 comment "ns/x"',
    'add element ip portico endpoints-udp-0 { 163840-196607 : 198.19.0.2 . 53, 131072-163839 : 198.19.0.1 . 53 }',
    'delete element ip portico endpoints-udp-0 { 131072-163839 }',
  ].join('\n');
  const ms = messages(c.compile(text).bytes).filter((m) => m.type !== NFNL_MSG_BATCH_BEGIN && m.type !== NFNL_MSG_BATCH_END);
  const set = ms.find((m) => m.type === MSG.NEWSET)!;
  assert.equal(find(set.attrs, 3)!.data.readUInt32BE(), 0x0c, 'flags: map | interval');
  assert.equal(find(set.attrs, 4)!.data.readUInt32BE(), 4, 'key type integer');
  assert.equal(find(set.attrs, 6)!.data.readUInt32BE(), (7 << 6) | 13, 'data type ipv4_addr . inet_service');
  assert.equal(find(set.attrs, 7)!.data.readUInt32BE(), 8, 'data length: two 4-byte registers');
  // nft --debug=mnl for this map: key byte order host, typeof numgen, payload ip daddr, payload udp dport.
  assert.equal(find(set.attrs, 13)!.data.toString('hex'), '000401000000010400000000031a0004170000000112000401000000010400000100020400000000043400040d000000012c0014000407000000010c00040c00000001040c0000000114000407000000010c000406000000010402000000060400000000');
  const rule = ms.find((m) => m.type === MSG.NEWRULE)!;
  assert.deepEqual(exprNames(rule), ['meta', 'cmp', 'numgen', 'byteorder', 'lookup', 'nat']);
  const ng = find(find(rule.attrs, 4)!.children![2]!.children!, 2)!.children!;
  assert.equal(find(ng, 2)!.data.readUInt32BE(), 65536, 'modulus');
  assert.equal(find(ng, 4)!.data.readUInt32BE(), 131072, 'offset');
  // Elements: per range a start key with the data, then the end key (hi + 1, flag INTERVAL_END), big-endian, ascending.
  const elems = (m: (typeof ms)[number]) => find(m.attrs, 3)!.children!.map((e) => {
    const key = find(find(e.children!, 1)!.children!, 1)!.data.readUInt32BE();
    const flags = find(e.children!, 3)?.data.readUInt32BE() ?? 0;
    const data = find(e.children!, 2) ? find(find(e.children!, 2)!.children!, 1)!.data.toString('hex') : '';
    return `${key}${flags ? ' end' : ''}${data ? ` ${data}` : ''}`;
  });
  const add = ms.find((m) => m.type === MSG.NEWSETELEM)!;
  assert.deepEqual(elems(add), ['131072 c613000100350000', '163840 end', '163840 c613000200350000', '196608 end']);
  const del = ms.find((m) => m.type === MSG.DELSETELEM)!;
  assert.deepEqual(elems(del), ['131072', '163840 end']);
});
