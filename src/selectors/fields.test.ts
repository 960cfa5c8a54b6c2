import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestError } from '../util/errors.js';
import { checkSupportedFields, escapeFieldValue, fieldEquals, parseFieldSelector } from './fields.js';

const obj: Record<string, string> = { 'metadata.name': 'web', 'metadata.namespace': 'default', 'spec.nodeName': 'a,b=c' };
const get = (f: string): string | undefined => obj[f];

describe('parseFieldSelector matching', () => {
  const rows: Array<[string, boolean, string]> = [
    ['', true, 'empty selects everything'],
    ['metadata.name=web', true, 'equals'],
    ['metadata.name==web', true, 'double equals'],
    ['metadata.name!=web', false, 'not equals, same value'],
    ['metadata.namespace!=kube-system', true, 'not equals, other value'],
    ['metadata.name=web,metadata.namespace=default', true, 'AND of two'],
    ['metadata.name=web,metadata.namespace=other', false, 'AND with one failing'],
    ['spec.nodeName=a\\,b\\=c', true, 'escaped comma and equals in the value'],
    ['status.podIP=', true, 'absent field equals the empty string'],
    ['status.podIP!=', false, 'absent field is not different from empty'],
  ];
  for (const [sel, want, why] of rows) {
    it(why, () => assert.equal(parseFieldSelector(sel).matches(get), want, sel));
  }
});

describe('parseFieldSelector string form and fields', () => {
  it('sorts terms, normalises == to = and re-escapes values', () => {
    const s = parseFieldSelector('spec.nodeName==a\\,b,metadata.name!=x');
    assert.equal(s.toString(), 'metadata.name!=x,spec.nodeName=a\\,b');
    assert.deepEqual(s.fields(), ['metadata.name', 'spec.nodeName']);
  });
  it('reports exact matches for index lookups', () => {
    assert.equal(parseFieldSelector('metadata.name=web').requiresExactMatch('metadata.name'), 'web');
    assert.equal(parseFieldSelector('metadata.name!=web').requiresExactMatch('metadata.name'), undefined);
    assert.equal(fieldEquals('metadata.name', 'x').toString(), 'metadata.name=x');
  });
  it('escapes values', () => assert.equal(escapeFieldValue('a\\b,c=d'), 'a\\\\b\\,c\\=d'));
});

describe('parseFieldSelector errors (kube-apiserver wording)', () => {
  const rows: Array<[string, string, string]> = [
    ['metadata.name', "invalid selector: 'metadata.name'; can't understand 'metadata.name'", 'no operator'],
    ['a=b,c', "invalid selector: 'a=b,c'; can't understand 'c'", 'one term without operator'],
    ['a=b\\x', 'invalid field selector: invalid escape sequence: \\x', 'unknown escape'],
    ['a=b\\', 'invalid field selector: invalid escape sequence: \\', 'trailing backslash'],
    ['a==b=c', 'invalid field selector: unescaped character in value: 61', 'unescaped equals in the value'],
  ];
  for (const [sel, msg, why] of rows) {
    it(why, () => assert.throws(() => parseFieldSelector(sel), (e: unknown) => e instanceof BadRequestError && e.message === msg));
  }
});

describe('checkSupportedFields', () => {
  const supported = ['metadata.name', 'metadata.namespace'];
  it('accepts supported fields', () => assert.doesNotThrow(() => checkSupportedFields(parseFieldSelector('metadata.name=x'), supported)));
  it('rejects others with the kube message', () => {
    assert.throws(
      () => checkSupportedFields(parseFieldSelector('spec.foo=x'), supported),
      (e: unknown) => e instanceof BadRequestError && e.message === '"spec.foo" is not a known field selector: only "metadata.name", "metadata.namespace"',
    );
  });
});
