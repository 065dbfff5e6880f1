import { test } from 'node:test';
import assert from 'node:assert/strict';
import { smallestPassing, steps } from '../../../../scripts/bench/bisect.ts';

test('steps', async (t) => {
  const cases = [
    { args: [160, 512, 16], first: 160, last: 512, length: 23 },
    { args: [160, 200, 16], first: 160, last: 192, length: 3 },
    { args: [5, 5, 1], first: 5, last: 5, length: 1 },
  ];
  for (const c of cases) {
    await t.test(c.args.join(' '), () => {
      const [from, to, step] = c.args as [number, number, number];
      const values = steps(from, to, step);
      assert.deepEqual([values[0], values.at(-1), values.length], [c.first, c.last, c.length]);
    });
  }
  assert.deepEqual(steps(160, 208, 16), [160, 176, 192, 208]);
  assert.throws(() => steps(10, 5, 1), { message: 'steps(10, 5, 1): need step > 0 and to ≥ from' });
  assert.throws(() => steps(1, 5, 0), { message: /need step > 0/ });
});

test('smallestPassing: the threshold and the probes that found it', async (t) => {
  const candidates = [160, 176, 192, 208, 224, 240, 256];
  const cases = [
    {
      threshold: 208,
      smallest: 208,
      probes: [
        { value: 208, passed: true },
        { value: 176, passed: false },
        { value: 192, passed: false },
      ],
    },
    {
      threshold: 100,
      smallest: 160,
      probes: [
        { value: 208, passed: true },
        { value: 176, passed: true },
        { value: 160, passed: true },
      ],
    },
    {
      threshold: 256,
      smallest: 256,
      probes: [
        { value: 208, passed: false },
        { value: 240, passed: false },
        { value: 256, passed: true },
      ],
    },
    {
      threshold: 1000,
      smallest: undefined,
      probes: [
        { value: 208, passed: false },
        { value: 240, passed: false },
        { value: 256, passed: false },
      ],
    },
  ];
  for (const c of cases) {
    await t.test(`boots from ${c.threshold}`, async () => {
      const found = await smallestPassing(candidates, async (value) => value >= c.threshold);
      assert.deepEqual(found, c.smallest === undefined ? { probes: c.probes } : { smallest: c.smallest, probes: c.probes });
    });
  }
});
