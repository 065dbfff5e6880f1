/**
 * drop-icu-data FILE: rewrites the Node SEA in FILE without the ICU data built into its runtime
 * (packer/elf/icu-data.ts says why and what still works). The Makefile runs it on the init.
 */
import { dropIcuDataFromFile } from './lib/sea-build.ts';

const [path, ...rest] = process.argv.slice(2);
if (!path || rest.length > 0) {
  process.stderr.write('usage: drop-icu-data FILE\n');
  process.exit(2);
}
try {
  const cut = await dropIcuDataFromFile(path);
  process.stdout.write(`${path}: ${cut.symbol} dropped, ${cut.removedBytes} bytes\n`);
} catch (cause) {
  process.stderr.write(`drop-icu-data: ${(cause as Error).message}\n`);
  process.exit(1);
}
