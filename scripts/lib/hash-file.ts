/** A file's hash, read as a stream so that a multi-gigabyte layer or a 100 MB init is never held whole. */
import { createReadStream } from 'node:fs';

export async function hashFile(path: string, algorithm: string): Promise<{ hex: string; bytes: number }> {
  // Loaded on first use: a run whose files are all remembered hashes nothing and starts without it.
  const { createHash } = await import('node:crypto');
  const hash = createHash(algorithm);
  let bytes = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { hex: hash.digest('hex'), bytes };
}
