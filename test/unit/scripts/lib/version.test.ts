import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareVersions } from '../../../../scripts/lib/version.ts';

// [a, b, sign of compareVersions(a, b)]
const PAIRS: Array<[string, string, -1 | 0 | 1]> = [
  ['6.1.0-27-amd64', '6.1.0-9-amd64', 1],
  ['6.10', '6.9', 1],
  ['6.9', '6.10', -1],
  ['5.15.0-100-generic', '5.15.0-99-generic', 1],
  ['6.1.0-27-amd64', '6.1.0-27-amd64', 0],
  ['6.1.0-27-amd64', '6.1.0-27-cloud-amd64', -1],
  ['1.0~rc1', '1.0', -1],
  ['1.0', '1.0a', -1],
  ['1.0a', '1.0+1', -1],
  ['1.0.1', '1.01', -1],
  ['1', '1.0', -1],
  ['', '1', -1],
  ['1', 'a', -1],
  ['1.01', '1.1', -1],
  ['99999999999999999999', '100000000000000000000', -1],
];

for (const [a, b, sign] of PAIRS) {
  test(`compareVersions(${JSON.stringify(a)}, ${JSON.stringify(b)}) is ${sign}`, () => {
    assert.equal(Math.sign(compareVersions(a, b)), sign);
    assert.equal(Math.sign(compareVersions(b, a)), -sign || 0);
  });
}

// The expected order is GNU coreutils 9.1 `sort -V` run on the same lines.
test('sorting a shuffled list gives the order of sort -V', () => {
  const sortV = [
    '', '1', '1.0~rc1', '1.0', '1.0a', '1.0+1', '1.0-1', '1.0.1', '1.01', '1.1',
    '5.15.0-99-generic', '5.15.0-100-generic', '6.1.0-9-amd64', '6.1.0-27-amd64',
    '6.1.0-27-cloud-amd64', '6.9', '6.10', 'a',
  ];
  const shuffled = [...sortV].reverse();
  [shuffled[3], shuffled[11]] = [shuffled[11], shuffled[3]];
  assert.deepEqual(shuffled.sort(compareVersions), sortV);
});
