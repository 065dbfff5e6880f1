/**
 * Writes a file so that readers see the old file or the whole new one, never a half-written one:
 * a temporary file beside it, then rename. The temporary file is removed on failure and when the
 * process exits midway (the CLIs turn SIGINT/SIGTERM into an exit).
 */
import { rename, rm, writeFile } from 'node:fs/promises';
import { rmSync } from 'node:fs';

export async function writeFileAtomic(path: string, data: Uint8Array, mode = 0o644): Promise<void> {
  // Loaded on first use: a run that writes nothing starts without node:crypto.
  const { randomBytes } = await import('node:crypto');
  const temporary = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const removeOnSignal = () => rmSync(temporary, { force: true });
  process.once('exit', removeOnSignal);
  try {
    await writeFile(temporary, data, { mode, flag: 'wx' });
    await rename(temporary, path);
  } catch (cause) {
    await rm(temporary, { force: true });
    throw cause;
  } finally {
    process.removeListener('exit', removeOnSignal);
  }
}
