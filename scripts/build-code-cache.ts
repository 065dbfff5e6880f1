/**
 * Writes the V8 code cache of the init's bundle with every function compiled (init/code-cache.ts).
 * Run on the pinned runtime the init is built from, with --random-seed=N: V8 takes its string hash
 * seed from it, and the seed shapes the cache's bytes (the flag hash a cache carries leaves it out,
 * so the init, started without it, accepts the cache).
 *
 *   node --random-seed=1 scripts/build-code-cache.ts BUNDLE OUTPUT
 */
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { Script } from 'node:vm';
import { BUNDLE_FILENAME, wrapBundle } from '../init/code-cache.ts';
import { writeFileAtomic } from './lib/atomic-write.ts';

const [bundle, output] = process.argv.slice(2);
if (!bundle || !output || process.argv.length !== 4) {
  process.stderr.write('usage: node --random-seed=N scripts/build-code-cache.ts BUNDLE OUTPUT\n');
  process.exit(2);
}
if (!process.execArgv.some((option) => /^--random-seed=[1-9]/.test(option))) {
  process.stderr.write('build-code-cache: run with --random-seed=N (N > 0): without it the cache differs from build to build\n');
  process.exit(2);
}
// Eager compilation for this one script only: the flags are back to the defaults before the cache
// is made, since a cache carries the hash of the flags it was made under and the init runs with the defaults.
setFlagsFromString('--no-lazy');
const script = new Script(wrapBundle(readFileSync(bundle, 'utf8')), { filename: BUNDLE_FILENAME });
setFlagsFromString('--lazy');
await writeFileAtomic(output, script.createCachedData());
