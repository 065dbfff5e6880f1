import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summarize, typicalIndex } from '../../../../scripts/bench/stats.ts';

test('summarize', async (t) => {
  const cases = [
    { samples: [3], expected: { median: 3, min: 3, max: 3, count: 1 } },
    { samples: [5, 1, 3], expected: { median: 3, min: 1, max: 5, count: 3 } },
    { samples: [4, 1, 2, 10], expected: { median: 3, min: 1, max: 10, count: 4 } },
    { samples: [2, 2, 9, 2, 2], expected: { median: 2, min: 2, max: 9, count: 5 } },
  ];
  for (const c of cases) await t.test(c.samples.join(' '), () => assert.deepEqual(summarize(c.samples), c.expected));
  await t.test('no samples', () => assert.throws(() => summarize([]), { message: 'summarize: no samples' }));
});

test('typicalIndex: the sample nearest the median, the first on a tie', () => {
  assert.equal(typicalIndex([9, 1, 5]), 2);
  assert.equal(typicalIndex([1, 2, 4, 10]), 1); // median 3: 2 and 4 tie, 2 comes first
  assert.equal(typicalIndex([7]), 0);
});
