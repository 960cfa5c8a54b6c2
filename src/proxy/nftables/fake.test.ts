import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeNftables, NftError } from './fake.js';

const BASE = [
  'add table ip portico',
  'add chain ip portico a',
  'add chain ip portico b',
  'add chain ip portico nat-prerouting { type nat hook prerouting priority -100 ; policy accept ; }',
  'add map ip portico m { type ipv4_addr . inet_proto . inet_service : verdict ; }',
  'add set ip portico s { type ipv4_addr ; }',
  'add rule ip portico a goto b',
  'add element ip portico m { 198.18.0.1 . tcp . 80 : goto b }',
].join('\n');

test('fake nftables: rejects what the kernel rejects, atomically', () => {
  const rows: Array<{ why: string; tx: string }> = [
    { why: 'jump to a missing chain', tx: 'add rule ip portico a jump nope' },
    { why: 'goto a base chain', tx: 'add rule ip portico a goto nat-prerouting' },
    { why: 'map element pointing at a missing chain', tx: 'add element ip portico m { 198.18.0.2 . tcp . 80 : goto nope }' },
    { why: 'deleting a chain referenced by a rule', tx: 'delete chain ip portico b' },
    { why: 'deleting a chain referenced by a map element', tx: 'flush chain ip portico a\ndelete chain ip portico b' },
    { why: 'deleting a chain that still has rules', tx: 'delete element ip portico m { 198.18.0.1 . tcp . 80 }\ndelete chain ip portico a' },
    { why: 'deleting a missing element', tx: 'delete element ip portico s { 198.18.0.9 }' },
    { why: 'adding an element again with another value', tx: 'add element ip portico m { 198.18.0.1 . tcp . 80 : drop }' },
    { why: 'rule referencing a missing set', tx: 'add rule ip portico a ip daddr @nope drop' },
    { why: 'deleting a set in use', tx: 'add rule ip portico a ip daddr @s drop\ndelete set ip portico s' },
    { why: 'reject in a prerouting base chain', tx: 'add rule ip portico nat-prerouting reject' },
    { why: 'unknown syntax', tx: 'add rule ip portico a frobnicate' },
    { why: 'missing table', tx: 'add chain ip other x' },
    { why: 'a good command before a bad one changes nothing', tx: 'add chain ip portico c\nadd rule ip portico c jump nope' },
  ];
  for (const r of rows) {
    const f = new FakeNftables();
    f.apply(BASE);
    const before = f.dump();
    assert.throws(() => f.apply(r.tx), NftError, r.why);
    assert.equal(f.dump(), before, `${r.why}: state unchanged`);
  }
});

test('fake nftables: accepts the valid forms and dumps deterministically', () => {
  const f = new FakeNftables();
  f.apply(BASE);
  f.apply([
    'flush chain ip portico a',
    'delete element ip portico m { 198.18.0.1 . tcp . 80 }',
    'delete chain ip portico b',
    'add element ip portico s { 198.18.0.2, 198.18.0.1 }',
    'add element ip portico s { 198.18.0.1 }',
    'add table ip portico',
  ].join('\n'));
  const g = new FakeNftables();
  g.apply(['add table ip portico', 'add set ip portico s { type ipv4_addr ; }', 'add element ip portico s { 198.18.0.1, 198.18.0.2 }',
    'add map ip portico m { type ipv4_addr . inet_proto . inet_service : verdict ; }', 'add chain ip portico a',
    'add chain ip portico nat-prerouting { type nat hook prerouting priority -100 ; policy accept ; }'].join('\n'));
  assert.equal(f.dump(), g.dump(), 'same content, different history: same dump');
  assert.match(f.dump(), /element 198\.18\.0\.1\n\t\telement 198\.18\.0\.2/);
});
