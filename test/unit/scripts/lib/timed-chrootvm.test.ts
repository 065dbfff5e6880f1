import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withTimeout } from '../../../../scripts/lib/timed-chrootvm.ts';

test('withTimeout: --timeout SECONDS first, unless the arguments name one', () => {
  assert.deepEqual(withTimeout(['R', 'true'], 150), ['--timeout', '150', 'R', 'true']);
  assert.deepEqual(withTimeout(['--timeout', '20', '--boot', 'R', 'true'], 150), ['--timeout', '20', '--boot', 'R', 'true']);
});
