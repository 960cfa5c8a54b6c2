import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CLASS_IN, RCODE, TYPE, WireError, Writer, buildQuery, decodeMessage, encodeMessage, formatIPv6, parseIPv6, parseQuery,
  readName, reverseName, type Message,
} from './wire.js';

function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

// A query header: id 0x1234, RD, counts given.
function header(qd: number, an = 0, ns = 0, ar = 0, flags = 0x0100): string {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(0x1234, 0);
  h.writeUInt16BE(flags, 2);
  h.writeUInt16BE(qd, 4);
  h.writeUInt16BE(an, 6);
  h.writeUInt16BE(ns, 8);
  h.writeUInt16BE(ar, 10);
  return h.toString('hex');
}
const Q_WEB = '03776562 00 0001 0001'; // web. A IN
const OPT = (size: number, version = 0, rdata = ''): string => {
  const rd = hex(rdata);
  const b = Buffer.alloc(11);
  b.writeUInt16BE(TYPE.OPT, 1);
  b.writeUInt16BE(size, 3);
  b[6] = version;
  b.writeUInt16BE(rd.length, 9);
  return b.toString('hex') + rd.toString('hex');
};

describe('parseQuery', () => {
  // [reason, packet hex, expected: 'drop' | rcode | {qname, qtype, udpSize}]
  const rows: Array<[string, string, 'drop' | number | { qname: string; qtype: number; udpSize: number; edns: boolean }]> = [
    ['empty packet is dropped', '', 'drop'],
    ['truncated header is dropped', '1234 0100 0001', 'drop'],
    ['a response is dropped', header(1, 0, 0, 0, 0x8000) + Q_WEB, 'drop'],
    ['plain query parses', header(1) + Q_WEB, { qname: 'web', qtype: 1, udpSize: 512, edns: false }],
    ['uppercase is lowered in the key', header(1) + '03574542 00 0001 0001', { qname: 'web', qtype: 1, udpSize: 512, edns: false }],
    ['EDNS buffer size is read', header(1, 0, 0, 1) + Q_WEB + OPT(4096), { qname: 'web', qtype: 1, udpSize: 4096, edns: true }],
    ['EDNS buffer below 512 counts as 512', header(1, 0, 0, 1) + Q_WEB + OPT(100), { qname: 'web', qtype: 1, udpSize: 512, edns: true }],
    ['EDNS with a well-formed option', header(1, 0, 0, 1) + Q_WEB + OPT(1232, 0, '000a 0008 0102030405060708'), { qname: 'web', qtype: 1, udpSize: 1232, edns: true }],
    ['no question is FORMERR', header(0), RCODE.FORMERR],
    ['two questions is FORMERR', header(2) + Q_WEB + Q_WEB, RCODE.FORMERR],
    ['non-QUERY opcode is NOTIMP', header(1, 0, 0, 0, 0x2800) + Q_WEB, RCODE.NOTIMP],
    ['question name past the end is FORMERR', header(1) + '0377', RCODE.FORMERR],
    ['label longer than 63 is FORMERR', header(1) + '40' + '61'.repeat(64) + '00 0001 0001', RCODE.FORMERR],
    ['compression pointer in the question is FORMERR', header(1) + 'c00c 0001 0001', RCODE.FORMERR],
    ['missing type/class is FORMERR', header(1) + '03776562 00 00', RCODE.FORMERR],
    ['name over 255 octets is FORMERR', header(1) + ('3f' + '61'.repeat(63)).repeat(5) + '00 0001 0001', RCODE.FORMERR],
    ['huge additional count is FORMERR', header(1, 0, 0, 65535) + Q_WEB, RCODE.FORMERR],
    ['two OPT records is FORMERR', header(1, 0, 0, 2) + Q_WEB + OPT(1232) + OPT(1232), RCODE.FORMERR],
    ['OPT owner not root is FORMERR', header(1, 0, 0, 1) + Q_WEB + '01 61' + OPT(1232).slice(2), RCODE.FORMERR],
    ['OPT option running past its rdata is FORMERR', header(1, 0, 0, 1) + Q_WEB + OPT(1232, 0, '000a 0010 0102'), RCODE.FORMERR],
    ['OPT rdata past the end is FORMERR', header(1, 0, 0, 1) + Q_WEB + OPT(1232).slice(0, -4) + '0010', RCODE.FORMERR],
    ['EDNS version 1 is BADVERS', header(1, 0, 0, 1) + Q_WEB + OPT(1232, 1), RCODE.BADVERS],
    ['forward pointer in an answer record is FORMERR', header(1, 1) + Q_WEB + 'c040 0001 0001 00000000 0000', RCODE.FORMERR],
    ['self pointer loop in an answer record is FORMERR', header(1, 1) + Q_WEB + 'c015 0001 0001 00000000 0000', RCODE.FORMERR],
  ];
  for (const [reason, packet, want] of rows) {
    it(reason, () => {
      const r = parseQuery(hex(packet));
      if (want === 'drop') {
        assert.ok(!r.ok && r.drop, JSON.stringify(r));
      } else if (typeof want === 'number') {
        assert.ok(!r.ok && !r.drop, JSON.stringify(r));
        if (!r.ok && !r.drop) {
          assert.equal(r.rcode, want, r.reason);
          assert.equal(r.id, 0x1234);
        }
      } else {
        assert.ok(r.ok, JSON.stringify(r));
        if (r.ok) assert.deepEqual({ qname: r.query.qname, qtype: r.query.qtype, udpSize: r.query.udpSize, edns: r.query.edns }, want);
      }
    });
  }
});

describe('readName', () => {
  // [reason, message hex, offset, expected name or error]
  const rows: Array<[string, string, number, string | typeof WireError]> = [
    ['plain name', '03 777777 07 6578616d706c65 03 636f6d 00', 0, 'www.example.com'],
    ['root', '00', 0, ''],
    ['backward pointer', '07 6578616d706c65 00 03 777777 c000', 9, 'www.example'],
    ['pointer to itself loops', 'c000', 0, WireError],
    ['forward pointer', 'c002 00', 0, WireError],
    ['two pointers forming a loop', '01 61 c004 01 62 c000', 4, WireError],
    ['reserved label type 0x40', '41 00', 0, WireError],
    ['label past the end', '05 6161', 0, WireError],
    ['dot inside a label is escaped', '03 612e62 00', 0, 'a\\046b'],
  ];
  for (const [reason, msg, off, want] of rows) {
    it(reason, () => {
      if (typeof want === 'string') assert.equal(readName(hex(msg), off).name, want);
      else assert.throws(() => readName(hex(msg), off), want);
    });
  }
});

describe('encode/decode round trip with compression', () => {
  it('compresses repeated suffixes and decodes every record type back', () => {
    const msg: Message = {
      id: 9, flags: 0x8400, rcode: 0,
      questions: [{ name: 'web.default.svc.cluster.local', type: TYPE.SRV, class: CLASS_IN }],
      answers: [
        { name: 'web.default.svc.cluster.local', type: TYPE.SRV, class: CLASS_IN, ttl: 30, data: { priority: 0, weight: 100, port: 80, target: 'web.default.svc.cluster.local' } },
        { name: 'web.default.svc.cluster.local', type: TYPE.A, class: CLASS_IN, ttl: 30, data: '198.18.0.10' },
        { name: 'web.default.svc.cluster.local', type: TYPE.AAAA, class: CLASS_IN, ttl: 30, data: 'fd00::10' },
        { name: 'x.cluster.local', type: TYPE.CNAME, class: CLASS_IN, ttl: 5, data: 'web.default.svc.cluster.local' },
        { name: 'cluster.local', type: TYPE.TXT, class: CLASS_IN, ttl: 5, data: ['1.1.0', ''] },
        { name: 'cluster.local', type: TYPE.MX, class: CLASS_IN, ttl: 5, data: { preference: 10, exchange: 'mx.cluster.local' } },
      ],
      authority: [{ name: 'cluster.local', type: TYPE.SOA, class: CLASS_IN, ttl: 30, data: { mname: 'ns.dns.cluster.local', rname: 'hostmaster.cluster.local', serial: 1, refresh: 7200, retry: 1800, expire: 86400, minimum: 30 } }],
      additional: [],
      edns: { udpSize: 1232, version: 0, dnssecOk: true, extendedRcode: 0 },
    };
    const wire = encodeMessage(msg);
    const back = decodeMessage(wire);
    assert.deepEqual(back, msg);
    // 'web.default.svc.cluster.local' appears 5 times but is spelt once (SRV targets stay uncompressed: twice).
    assert.equal(wire.toString('latin1').split('\x07default').length - 1, 2);
  });

  it('Writer seeds the question name so answers point at offset 12', () => {
    const w = new Writer(12 + 5 + 4);
    w.seedName('web', 12);
    w.name('web');
    assert.deepEqual([...w.result()], [0xc0, 0x0c]);
  });
});

describe('addresses', () => {
  const rows: Array<[string, string, string]> = [
    ['compressed zeros', 'fd00::10', 'fd00::10'],
    ['full form', '2001:db8:0:0:0:0:0:1', '2001:db8::1'],
    ['embedded IPv4', '::ffff:198.18.0.1', '::ffff:c612:1'],
    ['all zeros', '::', '::'],
    ['single zero group is not compressed', '1:0:2:3:4:5:6:7', '1:0:2:3:4:5:6:7'],
  ];
  for (const [reason, input, want] of rows) it(`IPv6 round trip: ${reason}`, () => assert.equal(formatIPv6(parseIPv6(input)), want));

  it('rejects a bad IPv6 address', () => assert.throws(() => parseIPv6('1::2::3'), WireError));

  const rev: Array<[string, string, string]> = [
    ['IPv4 reversed octets', '198.18.0.10', '10.0.18.198.in-addr.arpa'],
    ['IPv6 nibbles', '2001:db8::1', '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa'],
  ];
  for (const [reason, ip, want] of rev) it(`reverse name: ${reason}`, () => assert.equal(reverseName(ip), want));
});

describe('parser fuzz (bounded)', () => {
  it('never throws out of parseQuery and only WireError out of decodeMessage on 50,000 random and mutated packets', () => {
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const seeds = [buildQuery(1, 'web.default.svc.cluster.local', TYPE.A), buildQuery(2, 'x.example', TYPE.SRV)];
    let formerr = 0;
    for (let i = 0; i < 50000; i++) {
      let p: Buffer;
      if (i % 2 === 0) {
        p = Buffer.alloc(rnd(80));
        for (let j = 0; j < p.length; j++) p[j] = rnd(256);
      } else {
        p = Buffer.from(seeds[i % seeds.length]!);
        for (let k = rnd(4) + 1; k > 0; k--) p[rnd(p.length)] = rnd(256);
        if (rnd(4) === 0) p = p.subarray(0, rnd(p.length));
      }
      const r = parseQuery(p);
      if (!r.ok && !r.drop && r.rcode === RCODE.FORMERR) formerr++;
      try {
        decodeMessage(p);
      } catch (e) {
        assert.ok(e instanceof WireError, String(e));
      }
    }
    assert.ok(formerr > 0, 'some packets must be rejected as FORMERR');
  });
});
