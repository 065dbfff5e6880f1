import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mebibytes, renderTable, seconds } from '../../../../scripts/bench/table.ts';

test('renderTable aligns the first column left and the others right', () => {
  const text = renderTable(['variant', 'median', 'min'], [
    ['A chrootvm', '4.01', '3.90'],
    ['B floor', '12.50', '2.00'],
  ]);
  assert.equal(
    text,
    [
      'variant     median   min',
      '----------  ------  ----',
      'A chrootvm    4.01  3.90',
      'B floor      12.50  2.00',
      '',
    ].join('\n'),
  );
});

test('renderTable counts characters, not UTF-16 units, and refuses ragged rows', () => {
  assert.equal(renderTable(['a → b', 'x'], [['c', '1']]), 'a → b  x\n-----  -\nc      1\n');
  assert.throws(() => renderTable(['a', 'b'], [['only']]), { message: 'table row ["only"] has 1 cells, the header 2' });
});

test('number formats', () => {
  assert.deepEqual([seconds(3.14159), seconds(0.005), seconds(-0.02)], ['3.14', '0.01', '-0.02']);
  assert.deepEqual([mebibytes(115737916), mebibytes(1048576)], ['110.4', '1.0']);
});
