/**
 * Builds a Node single executable application (lib/sea-build.ts).
 *
 *   node scripts/build-sea.ts MAIN.cjs OUTPUT
 */
import { resolve } from 'node:path';
import { buildSea } from './lib/sea-build.ts';

const [main, output] = process.argv.slice(2);
if (main === undefined || output === undefined || process.argv.length !== 4) {
  process.stderr.write('usage: build-sea.ts MAIN.cjs OUTPUT\n');
  process.exit(2);
}
await buildSea(resolve(main), resolve(output)).catch((cause: Error) => {
  process.stderr.write(`build-sea: ${cause.message}\n`);
  process.exitCode = 1;
});
