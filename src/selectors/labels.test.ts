import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestError } from '../util/errors.js';
import { everything, nothing, parseLabelSelector, selectorFromLabelSelector, selectorFromMap, selectorFromRequirements } from './labels.js';

describe('parseLabelSelector matching', () => {
  const pod = { app: 'web', tier: 'frontend', 'example.com/ver': '3' };
  const rows: Array<[string, Record<string, string> | undefined, boolean, string]> = [
    ['', pod, true, 'empty selector matches everything'],
    ['app=web', pod, true, 'equals'],
    ['app==web', pod, true, 'double equals'],
    ['app=db', pod, false, 'equals with other value'],
    ['app!=db', pod, true, 'not equals, other value'],
    ['app!=web', pod, false, 'not equals, same value'],
    ['missing!=x', pod, true, 'not equals matches an absent key'],
    ['app in (db,web)', pod, true, 'in'],
    ['app in (db)', pod, false, 'in, no value matches'],
    ['app notin (db)', pod, true, 'notin'],
    ['missing notin (x)', pod, true, 'notin matches an absent key'],
    ['app', pod, true, 'exists'],
    ['missing', pod, false, 'exists, absent'],
    ['!missing', pod, true, 'does not exist'],
    ['!app', pod, false, 'does not exist, present'],
    ['app=web,tier=frontend', pod, true, 'AND of two'],
    ['app=web,tier=backend', pod, false, 'AND with one failing'],
    ['  app  =  web ,  tier in ( frontend , x )  ', pod, true, 'whitespace tolerant'],
    ['example.com/ver>2', pod, true, 'gt'],
    ['example.com/ver<3', pod, false, 'lt'],
    ['app=web', undefined, false, 'no labels at all'],
    ['!app', undefined, true, 'does not exist on no labels'],
    ['constructor', {}, false, 'inherited names are not labels'],
    ['x in (in,notin)', { x: 'in' }, true, 'keywords are values in value position'],
    ['x=', { x: '' }, true, 'empty value'],
    ['x in (,a)', { x: '' }, true, 'empty member of a set'],
  ];
  for (const [sel, labels, want, why] of rows) {
    it(why, () => assert.equal(parseLabelSelector(sel).matches(labels), want, sel));
  }
});

describe('parseLabelSelector string form', () => {
  const rows: Array<[string, string, string]> = [
    ['b=2,a=1', 'a=1,b=2', 'requirements sorted by key'],
    ['x in (c,a,b)', 'x in (a,b,c)', 'set values sorted'],
    ['x in (a,a)', 'x in (a)', 'set values de-duplicated'],
    ['!x, y', '!x,y', 'exists and does not exist'],
    ['x==1,y!=2', 'x==1,y!=2', 'operators kept'],
    ['x notin ( a )', 'x notin (a)', 'notin'],
  ];
  for (const [sel, want, why] of rows) {
    it(why, () => assert.equal(parseLabelSelector(sel).toString(), want));
  }
});

describe('parseLabelSelector errors (kube-apiserver wording)', () => {
  const keyMsg =
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
  const rows: Array<[string, string, string]> = [
    ['app:web', `unable to parse requirement: <nil>: Invalid value: "app:web": ${keyMsg}`, 'invalid key character'],
    [
      'app=-web',
      "unable to parse requirement: values[0][app]: Invalid value: \"-web\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
      'invalid value',
    ],
    ['a,', "found '', expected: identifier after ','", 'trailing comma'],
    [',a', "found ',', expected: !, identifier, or 'end of string'", 'leading comma'],
    ['a b', "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt", 'no operator between key and value'],
    ['a in b', "unable to parse requirement: found 'b' expected: '('", 'set without parentheses'],
    ['a in (b', "unable to parse requirement: found '', expected: ',' or ')'", 'unclosed set'],
    ['a=b=c', "found '=', expected: ',' or 'end of string'", 'two operators'],
    ['!a=b', "found '=', expected: ',' or 'end of string'", 'does-not-exist with a value'],
    ['a=(', "unable to parse requirement: found '(', expected: identifier", 'value is a symbol'],
    ['a>b', "unable to parse requirement: values[0]: Invalid value: \"b\": for 'Gt', 'Lt' operators, the value must be an integer", 'gt needs an integer'],
    ['a/b/c=d', "unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')", 'two slashes in a key'],
    ['/a', 'unable to parse requirement: <nil>: Invalid value: "/a": prefix part must be non-empty', 'empty prefix'],
    [`${'k'.repeat(64)}`, `unable to parse requirement: <nil>: Invalid value: "${'k'.repeat(64)}": name part must be no more than 63 characters`, 'key too long'],
  ];
  for (const [sel, msg, why] of rows) {
    it(why, () => {
      assert.throws(() => parseLabelSelector(sel), (e: unknown) => {
        assert.ok(e instanceof BadRequestError);
        assert.equal(e.code, 400);
        assert.equal(e.message, msg);
        return true;
      });
    });
  }
});

describe('selectorFromMap', () => {
  it('matches when every pair matches', () => {
    const s = selectorFromMap({ app: 'web', tier: 'fe' });
    assert.equal(s.matches({ app: 'web', tier: 'fe', extra: 'x' }), true);
    assert.equal(s.matches({ app: 'web' }), false);
    assert.equal(s.toString(), 'app=web,tier=fe');
  });
  it('empty and absent maps select everything', () => {
    assert.equal(selectorFromMap({}).empty(), true);
    assert.equal(selectorFromMap(undefined).matches({ a: 'b' }), true);
  });
  it('reports an exact match for index lookups', () => {
    assert.equal(selectorFromMap({ app: 'web' }).requiresExactMatch('app'), 'web');
    assert.equal(selectorFromMap({ app: 'web' }).requiresExactMatch('tier'), undefined);
  });
});

describe('selectorFromLabelSelector', () => {
  it('null selects nothing, {} selects everything', () => {
    assert.equal(selectorFromLabelSelector(null).matches({}), false);
    assert.equal(selectorFromLabelSelector(undefined).empty(), false);
    assert.equal(selectorFromLabelSelector({}).matches({ a: 'b' }), true);
  });
  it('combines matchLabels and matchExpressions', () => {
    const s = selectorFromLabelSelector({
      matchLabels: { app: 'web' },
      matchExpressions: [
        { key: 'tier', operator: 'In', values: ['fe', 'be'] },
        { key: 'canary', operator: 'DoesNotExist' },
        { key: 'zone', operator: 'Exists' },
        { key: 'env', operator: 'NotIn', values: ['dev'] },
      ],
    });
    assert.equal(s.matches({ app: 'web', tier: 'be', zone: 'a' }), true);
    assert.equal(s.matches({ app: 'web', tier: 'be', zone: 'a', canary: '1' }), false);
    assert.equal(s.matches({ app: 'web', tier: 'be', zone: 'a', env: 'dev' }), false);
    assert.equal(s.matches({ app: 'web', tier: 'be' }), false);
    assert.equal(s.toString(), 'app=web,!canary,env notin (dev),tier in (be,fe),zone');
  });
  const bad: Array<[Parameters<typeof selectorFromLabelSelector>[0], RegExp, string]> = [
    [{ matchExpressions: [{ key: 'a', operator: 'Equals', values: ['x'] }] }, /^"Equals" is not a valid label selector operator$/, 'unknown operator'],
    [{ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }, /values set can't be empty/, 'In without values'],
    [{ matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] }, /values set must be empty for exists/, 'Exists with values'],
    [{ matchLabels: { 'bad key': 'x' } }, /^key: Invalid value: "bad key": name part must consist/, 'invalid key in matchLabels'],
  ];
  for (const [ls, re, why] of bad) {
    it(`rejects: ${why}`, () => assert.throws(() => selectorFromLabelSelector(ls), (e: unknown) => e instanceof BadRequestError && re.test(e.message)));
  }
});

describe('everything, nothing and requirements', () => {
  it('everything is empty and matches; nothing is not empty and never matches', () => {
    assert.equal(everything().empty(), true);
    assert.equal(everything().matches(undefined), true);
    assert.equal(nothing().empty(), false);
    assert.equal(nothing().matches({ a: 'b' }), false);
  });
  it('selectorFromRequirements validates', () => {
    assert.equal(selectorFromRequirements([{ key: 'a', operator: 'in', values: ['x', 'y'] }]).matches({ a: 'y' }), true);
    assert.throws(() => selectorFromRequirements([{ key: 'a', operator: '=', values: ['x', 'y'] }]), /exact-match compatibility requires one single value/);
  });
});
