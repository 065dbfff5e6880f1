import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSea } from '../../../../scripts/lib/sea-build.ts';

// What the runtime does without its ICU data: what ICU's code carries works, what needs the data throws.
const ICU_PROBES = [
  "'ÄÖ'.toLowerCase()",
  "'e\\u0301'.normalize().length",
  "/\\p{Lu}/u.test('Ä')",
  "new URL('http://bücher.example/').host",
  '(1234.5).toLocaleString()',
  "'a'.localeCompare('b')",
];
const PROBE_SCRIPT = [
  "const probe = (code) => { try { return String(eval(code)); } catch (error) { return 'throws: ' + error.message; } };",
  "process.stdout.write('sea ' + require('node:sea').isSea() + ' ' + JSON.stringify(process.argv.slice(2)) + '\\n');",
  `for (const code of ${JSON.stringify(ICU_PROBES)}) process.stdout.write(code + ' -> ' + probe(code) + '\\n');`,
  '',
].join('\n');

test('buildSea: the stripped runtime without its ICU data runs the script, the same bytes every build', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sea-build-'));
  try {
    const script = join(dir, 'main.cjs');
    writeFileSync(script, PROBE_SCRIPT);
    const first = await buildSea(script, join(dir, 'first'));
    await buildSea(script, join(dir, 'second'));
    assert.deepEqual(execFileSync(join(dir, 'first'), ['a b', 'c'], { encoding: 'utf8' }).split('\n'), [
      'sea true ["a b","c"]',
      "'ÄÖ'.toLowerCase() -> äö",
      "'e\\u0301'.normalize().length -> 1",
      "/\\p{Lu}/u.test('Ä') -> true",
      "new URL('http://bücher.example/').host -> xn--bcher-kva.example",
      '(1234.5).toLocaleString() -> throws: Internal error. Icu error.',
      "'a'.localeCompare('b') -> throws: Internal error. Icu error.",
      '',
    ]);
    // The ICU data is ~33 MB; the blob and what --build-sea pads the file with, a few hundred KB.
    const size = statSync(join(dir, 'first')).size;
    assert.ok(first.icuDataBytes > 30_000_000, `only ${first.icuDataBytes} bytes of ICU data dropped`);
    assert.ok(size < first.strippedRuntimeBytes - first.icuDataBytes + 1_000_000, `the SEA is ${size} bytes, the runtime ${first.strippedRuntimeBytes} with ${first.icuDataBytes} of ICU data`);
    assert.ok(readFileSync(join(dir, 'first')).equals(readFileSync(join(dir, 'second'))), 'two builds differ');
    assert.deepEqual(readdirSync(dir).sort(), ['first', 'main.cjs', 'second']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
