import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Budget, DEFAULT_LIMITS, ImageLimitError } from '../../../../../scripts/lib/image/limits.ts';

test('the defaults: 16 GiB, a million entries, PATH_MAX', () => {
  assert.deepEqual(DEFAULT_LIMITS, { maxBytes: 17179869184, maxEntries: 1000000, maxPathLength: 4096 });
});

test('a budget allows up to each limit and fails one past it', () => {
  const budget = new Budget({ maxBytes: 10, maxEntries: 2, maxPathLength: 100 }, 'img.tar');
  budget.entry('a');
  budget.entry('b');
  budget.data(4, 'a');
  budget.data(6, 'b');
  assert.deepEqual([budget.entries, budget.bytes], [2, 10]);
  assert.throws(() => budget.entry('c'), (error: Error) => error instanceof ImageLimitError && error.limit === 'maxEntries'
    && error.message === 'img.tar: entry 3 ("c") exceeds the maxEntries limit of 2; raise it with the maxEntries option');
  assert.throws(() => budget.data(1, 'c'), (error: Error) => error instanceof ImageLimitError && error.limit === 'maxBytes'
    && error.message === 'img.tar: the total file size (11 bytes at "c") exceeds the maxBytes limit of 10; raise it with the maxBytes option');
});
