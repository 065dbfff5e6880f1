/**
 * The init's runtime has no ICU data (packer/elf/icu-data.ts): Intl and the locale-dependent methods
 * throw there. The bundle must not call them.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const BUNDLE = join(import.meta.dirname, '../../../build/init.cjs');
const NEEDS_ICU_DATA = /\bIntl\b|\btoLocale\w*|\blocaleCompare\b/g;

test('the init bundle calls nothing that needs ICU data', () => {
  assert.deepEqual(readFileSync(BUNDLE, 'utf8').match(NEEDS_ICU_DATA) ?? [], [], `${BUNDLE} (make all builds it)`);
});
