/**
 * What the init's bundle must not use, because of what it would cost PID 1 or could not work there.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const BUNDLE = join(import.meta.dirname, '../../../build/init.cjs');
const bundle = () => readFileSync(BUNDLE, 'utf8');

// The init's runtime has no ICU data (packer/elf/icu-data.ts): Intl and the locale-dependent methods throw there.
test('the init bundle calls nothing that needs ICU data', () => {
  assert.deepEqual(bundle().match(/\bIntl\b|\btoLocale\w*|\blocaleCompare\b/g) ?? [], [], `${BUNDLE} (make all builds it)`);
});

// Its first use loads perf_hooks and the modules behind it on the way to the command (init/clock.ts).
test('the init bundle does not use performance', () => {
  assert.deepEqual(bundle().match(/\bperformance\b|perf_hooks/g) ?? [], [], `${BUNDLE} (make all builds it)`);
});
