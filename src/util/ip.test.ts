import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cidrAddress,
  cidrContains,
  cidrOffset,
  cidrSize,
  formatCIDR,
  formatIP,
  ipFamilyOf,
  isLinkLocalMulticast,
  isLinkLocalUnicast,
  isLoopback,
  isMulticast,
  isUnspecified,
  parseCIDR,
  parseIP,
  type IP,
} from './ip.js';

test('parseIP and formatIP round-trip to the canonical form', () => {
  const rows: Array<[string, string | null, string]> = [
    ['10.0.0.1', '10.0.0.1', 'plain IPv4'],
    ['010.000.0.1', '10.0.0.1', 'leading zeros read as decimal (ParseIPSloppy)'],
    ['256.0.0.1', null, 'octet above 255'],
    ['1.2.3', null, 'three octets'],
    ['1.2.3.4.5', null, 'five octets'],
    ['1.2.3.', null, 'empty octet'],
    ['', null, 'empty string'],
    ['::1', '::1', 'IPv6 loopback'],
    ['::', '::', 'IPv6 unspecified'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1', 'upper case and long form'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1', 'first of two equal zero runs compressed'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1', 'a single zero group is not compressed'],
    ['::ffff:1.2.3.4', '1.2.3.4', 'IPv4-mapped IPv6 is IPv4'],
    ['64:ff9b::1.2.3.4', '64:ff9b::102:304', 'embedded IPv4 in another prefix stays IPv6'],
    ['1::2::3', null, 'two double colons'],
    ['1:2:3:4:5:6:7:8:9', null, 'nine groups'],
    ['1:2:3:4:5:6:7', null, 'seven groups without ::'],
    ['fe80::1%eth0', null, 'zone refused'],
    ['12345::', null, 'group with five digits'],
    ['g::1', null, 'non-hex digit'],
  ];
  for (const [input, want, reason] of rows) {
    const ip = parseIP(input);
    assert.equal(ip ? formatIP(ip) : null, want, reason);
  }
});

test('ipFamilyOf', () => {
  const rows: Array<[string, 4 | 6 | null, string]> = [
    ['198.18.0.1', 4, 'IPv4'],
    ['fd00::1', 6, 'IPv6'],
    ['::ffff:10.0.0.1', 4, 'mapped counts as IPv4'],
    ['example.com', null, 'a name'],
  ];
  for (const [input, want, reason] of rows) assert.equal(ipFamilyOf(input), want, reason);
});

test('parseCIDR, contains, size and offsets', () => {
  const c = parseCIDR('198.18.0.0/16');
  assert.ok(c);
  assert.equal(formatCIDR(c), '198.18.0.0/16');
  assert.equal(cidrSize(c), 65536n);
  const rows: Array<[string, boolean, string]> = [
    ['198.18.0.1', true, 'inside'],
    ['198.18.255.255', true, 'last address'],
    ['198.19.0.0', false, 'just after'],
    ['::ffff:198.18.0.5', true, 'mapped IPv4 inside'],
    ['fd00::1', false, 'other family'],
    ['nonsense', false, 'not an address'],
  ];
  for (const [ip, want, reason] of rows) assert.equal(cidrContains(c, ip), want, reason);
  assert.equal(formatIP(cidrAddress(c, 10)!), '198.18.0.10');
  assert.equal(cidrAddress(c, 65536), null, 'past the end');
  assert.equal(cidrOffset(c, '198.18.1.0'), 256n);
  assert.equal(cidrOffset(c, '10.0.0.1'), null);
});

test('parseCIDR accepts and refuses', () => {
  const rows: Array<[string, string | null, string]> = [
    ['10.96.0.0/12', '10.96.0.0/12', 'kubeadm default'],
    ['10.96.1.2/12', '10.96.0.0/12', 'host bits cleared in base'],
    ['0.0.0.0/0', '0.0.0.0/0', 'everything'],
    ['fd00:10:96::/112', 'fd00:10:96::/112', 'IPv6'],
    ['2001:db8::/129', null, 'IPv6 prefix too long'],
    ['10.0.0.0/33', null, 'IPv4 prefix too long'],
    ['10.0.0.0', null, 'no prefix'],
    ['10.0.0.0/', null, 'empty prefix'],
    ['10.0.0.0/+8', null, 'signed prefix'],
    ['10.0.0/8', null, 'bad address'],
  ];
  for (const [input, want, reason] of rows) {
    const c = parseCIDR(input);
    assert.equal(c ? formatCIDR(c) : null, want, reason);
  }
  assert.equal(parseCIDR('10.96.1.2/12')!.ip, parseIP('10.96.1.2')!.value, 'keeps the written address');
});

test('special ranges', () => {
  type Pred = (ip: IP) => boolean;
  const rows: Array<[string, Pred, boolean, string]> = [
    ['0.0.0.0', isUnspecified, true, 'IPv4 unspecified'],
    ['::', isUnspecified, true, 'IPv6 unspecified'],
    ['127.1.2.3', isLoopback, true, 'IPv4 loopback /8'],
    ['::1', isLoopback, true, 'IPv6 loopback'],
    ['::2', isLoopback, false, 'not loopback'],
    ['169.254.169.254', isLinkLocalUnicast, true, 'metadata address'],
    ['fe80::1', isLinkLocalUnicast, true, 'IPv6 link-local'],
    ['febf::1', isLinkLocalUnicast, true, 'end of fe80::/10'],
    ['fec0::1', isLinkLocalUnicast, false, 'site-local is not link-local'],
    ['224.0.0.251', isLinkLocalMulticast, true, 'mDNS'],
    ['224.0.1.1', isLinkLocalMulticast, false, 'outside 224.0.0.0/24'],
    ['ff02::1', isLinkLocalMulticast, true, 'all-nodes'],
    ['ff12::1', isLinkLocalMulticast, true, 'transient link-local scope'],
    ['ff05::1', isLinkLocalMulticast, false, 'site scope'],
    ['239.1.1.1', isMulticast, true, 'IPv4 multicast'],
    ['ff05::2', isMulticast, true, 'IPv6 multicast'],
    ['198.18.0.1', isMulticast, false, 'unicast'],
  ];
  for (const [text, pred, want, reason] of rows) assert.equal(pred(parseIP(text)!), want, reason);
});
