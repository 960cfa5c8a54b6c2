import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fieldErrorString } from '../util/errors.js';
import {
  isDNS1035Label,
  isDNS1123Label,
  isDNS1123Subdomain,
  isQualifiedName,
  isValidLabelValue,
  isValidPortName,
  isValidPortNum,
  nameIsDNS1035Label,
  validateAnnotations,
  validateCIDR,
  validateIP,
  validateLabels,
  validateNonSpecialIP,
  validatePortNumOrName,
} from './validation.js';

type Row = [fn: (v: string) => string[], input: string, want: string[], reason: string];

test('name and key validators return kube messages', () => {
  const label1123 =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
  const sub1123 =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
  const label1035 =
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
  const rows: Row[] = [
    [isDNS1123Label, 'my-name', [], 'valid label'],
    [isDNS1123Label, '123-abc', [], 'label may start with a digit'],
    [isDNS1123Label, 'a.b', ['must not contain dots'], 'subdomain but not label'],
    [isDNS1123Label, 'My-Name', [label1123], 'upper case'],
    [isDNS1123Label, 'a'.repeat(64), ['must be no more than 63 characters'], 'too long'],
    [isDNS1123Label, '', [label1123], 'empty'],
    [isDNS1123Subdomain, 'example.com', [], 'valid subdomain'],
    [isDNS1123Subdomain, 'example..com', [sub1123], 'empty label'],
    [isDNS1123Subdomain, `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(62)}`, ['must be no more than 253 characters'], '254 chars'],
    [isDNS1035Label, 'web', [], 'valid 1035'],
    [isDNS1035Label, '1web', [label1035], 'starts with a digit'],
    [isDNS1035Label, 'web-', [label1035], 'ends with a dash'],
    [isQualifiedName, 'example.com/MyName', [], 'prefixed key'],
    [isQualifiedName, 'my.name_x', [], 'plain key with dot and underscore'],
    [isQualifiedName, '/name', ['prefix part must be non-empty'], 'empty prefix'],
    [isQualifiedName, 'Example.com/name', [`prefix part ${sub1123}`], 'upper-case prefix'],
    [isQualifiedName, 'example.com/', ['name part must be non-empty', "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"], 'empty name'],
    [isValidLabelValue, '', [], 'empty value allowed'],
    [isValidLabelValue, 'v1.2_x', [], 'value with dot and underscore'],
    [isValidLabelValue, '-x', ["a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"], 'leading dash'],
    [isValidPortName, 'http', [], 'IANA name'],
    [isValidPortName, 'h2-c', [], 'with a hyphen'],
    [isValidPortName, '-http', ['must not begin or end with a hyphen'], 'leading hyphen'],
    [isValidPortName, '123', ['must contain at least one letter (a-z)'], 'digits only'],
  ];
  for (const [fn, input, want, reason] of rows) assert.deepEqual(fn(input), want, reason);
});

test('generateName prefixes may end in a dash', () => {
  assert.deepEqual(nameIsDNS1035Label('web-', true), [], 'prefix');
  assert.equal(nameIsDNS1035Label('web-', false).length, 1, 'full name');
});

test('port numbers', () => {
  const rows: Array<[unknown, boolean, string]> = [
    [1, true, 'lowest'],
    [65535, true, 'highest'],
    [0, false, 'zero'],
    [65536, false, 'above'],
    [80.5, false, 'fraction'],
    ['80', false, 'string'],
  ];
  for (const [v, ok, reason] of rows) assert.equal(isValidPortNum(v).length === 0, ok, reason);
  assert.deepEqual(isValidPortNum(0), ['must be between 1 and 65535, inclusive']);
});

test('field-error validators', () => {
  const rows: Array<[string[], string[], string]> = [
    [validateIP('10.1.2.3', 'x').map(fieldErrorString), [], 'valid IP'],
    [validateIP('10.1.2', 'x').map(fieldErrorString), ['x: Invalid value: "10.1.2": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'], 'bad IP'],
    [validateCIDR('10.0.0.0/8', 'x').map(fieldErrorString), [], 'valid CIDR'],
    [validateCIDR('10.0.0.0', 'x').map(fieldErrorString), ['x: Invalid value: "10.0.0.0": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'], 'no prefix'],
    [validateNonSpecialIP('::1', 'x').map(fieldErrorString), ['x: Invalid value: "::1": may not be in the loopback range (127.0.0.0/8, ::1/128)'], 'IPv6 loopback'],
    [validateNonSpecialIP('fe80::1', 'x').map(fieldErrorString), ['x: Invalid value: "fe80::1": may not be in the link-local range (169.254.0.0/16, fe80::/10)'], 'IPv6 link-local'],
    [validateNonSpecialIP('239.1.1.1', 'x').map(fieldErrorString), [], 'kube allows global multicast'],
    [validateNonSpecialIP('239.1.1.1', 'x', { noMulticast: true }).length ? ['refused'] : [], ['refused'], 'Portico refuses it when asked'],
    [validatePortNumOrName(8080, 'p').map(fieldErrorString), [], 'number'],
    [validatePortNumOrName('http', 'p').map(fieldErrorString), [], 'name'],
    [validatePortNumOrName(0, 'p').map(fieldErrorString), ['p: Invalid value: 0: must be between 1 and 65535, inclusive'], 'zero'],
    [validateLabels({ 'a/b/c': 'x' }, 'metadata.labels').map((e) => e.field), ['metadata.labels'], 'label errors carry the map path'],
    [validateAnnotations({ 'Example.COM/Key': 'x' }, 'metadata.annotations').map(fieldErrorString), [], 'annotation keys are case-insensitive'],
    [validateAnnotations({ k: 'x'.repeat(262144) }, 'metadata.annotations').map(fieldErrorString), ['metadata.annotations: Too long: may not be more than 262144 bytes'], 'size counts keys and values'],
  ];
  for (const [got, want, reason] of rows) assert.deepEqual(got, want, reason);
});
