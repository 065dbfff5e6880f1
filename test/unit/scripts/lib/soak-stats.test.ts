import assert from 'node:assert/strict';
import { test } from 'node:test';
import { distribution, formatDistribution, type Distribution } from '../../../../scripts/lib/soak-stats.ts';

const CASES: Array<[string, number[], Distribution | undefined]> = [
  ['no values', [], undefined],
  ['one value is every percentile', [4000], { count: 1, min: 4000, median: 4000, p90: 4000, p99: 4000, max: 4000 }],
  ['unsorted input', [3, 1, 2], { count: 3, min: 1, median: 2, p90: 3, p99: 3, max: 3 }],
  ['even count: the lower middle (nearest rank)', [1, 2, 3, 4], { count: 4, min: 1, median: 2, p90: 4, p99: 4, max: 4 }],
  [
    '1..100',
    Array.from({ length: 100 }, (_, i) => i + 1),
    { count: 100, min: 1, median: 50, p90: 90, p99: 99, max: 100 },
  ],
  [
    '1..10',
    Array.from({ length: 10 }, (_, i) => i + 1),
    { count: 10, min: 1, median: 5, p90: 9, p99: 10, max: 10 },
  ],
];

for (const [name, values, expected] of CASES) {
  test(`distribution: ${name}`, () => {
    assert.deepEqual(distribution(values), expected);
  });
}

test('formatDistribution: seconds with two decimals', () => {
  assert.equal(
    formatDistribution({ count: 30, min: 3512, median: 3980.4, p90: 4400, p99: 5001, max: 5001 }),
    'boot time over 30: min 3.51 s, median 3.98 s, p90 4.40 s, p99 5.00 s, max 5.00 s',
  );
});
