import { test } from 'node:test';
import assert from 'node:assert/strict';
import { age, formatLabels, humanDuration, joinHostPort } from './printers.js';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

test('humanDuration follows apimachinery duration.HumanDuration', () => {
  const rows: [number, string, string][] = [
    [-5 * S, '<invalid>', 'more than a second in the future'],
    [-1 * S, '0s', 'a second of skew counts as now'],
    [0, '0s', 'now'],
    [5 * S, '5s', 'seconds'],
    [119 * S, '119s', 'seconds up to two minutes'],
    [3 * M + 2 * S, '3m2s', 'minutes and seconds under ten minutes'],
    [5 * M, '5m', 'whole minutes drop the seconds'],
    [15 * M + 30 * S, '15m', 'minutes only from ten minutes'],
    [179 * M, '179m', 'minutes up to three hours'],
    [5 * H, '5h', 'whole hours'],
    [5 * H + 30 * M, '5h30m', 'hours and minutes under eight hours'],
    [20 * H + 5 * M, '20h', 'hours only from eight hours'],
    [2 * D, '2d', 'whole days'],
    [3 * D + 4 * H, '3d4h', 'days and hours under eight days'],
    [100 * D, '100d', 'days only'],
    [2 * 365 * D + 10 * D, '2y10d', 'years and days under eight years'],
    [9 * 365 * D, '9y', 'years only'],
  ];
  for (const [ms, want, why] of rows) assert.equal(humanDuration(ms), want, why);
});

test('age is <unknown> without a usable timestamp', () => {
  const now = new Date('2025-01-01T00:01:00Z');
  assert.equal(age(undefined, now), '<unknown>');
  assert.equal(age('garbage', now), '<unknown>');
  assert.equal(age('2025-01-01T00:00:00Z', now), '60s');
});

test('formatLabels and joinHostPort', () => {
  assert.equal(formatLabels(undefined), '<none>');
  assert.equal(formatLabels({}), '<none>');
  assert.equal(formatLabels({ b: '2', a: '1' }), 'a=1,b=2');
  assert.equal(joinHostPort('10.0.0.1', 80), '10.0.0.1:80');
  assert.equal(joinHostPort('fd00::1', 80), '[fd00::1]:80');
});
