/** Reading tars (tar-stream) through a chain of decoders, one entry at a time. */
import { open } from 'node:fs/promises';
import type { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import type { LayerCodec } from './media.ts';

export function decoder(codec: LayerCodec): Transform[] {
  switch (codec) {
    case 'none':
      return [];
    case 'gzip':
      return [zlib.createGunzip()];
    case 'zstd':
      return [zlib.createZstdDecompress()];
  }
}

/** The first `length` bytes of a file (fewer if it is shorter). */
export async function readHead(path: string, length = 512): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * Streams `source` through `stages` into a tar parser and calls `handle` for each entry in order;
 * whatever of an entry's data `handle` leaves unread is skipped. Resolves once every stage has
 * seen all of the input (so hashing stages are complete); rejects with the first error anywhere.
 */
export async function forEachTarEntry(source: Readable, stages: readonly Transform[], handle: (entry: tar.Entry) => Promise<void>): Promise<void> {
  const extract = tar.extract();
  const flowing = pipeline([source, ...stages, extract]);
  // Observed below; without this a failure in `handle` would also surface as an unhandled rejection.
  flowing.catch(() => undefined);
  for await (const entry of extract) {
    await handle(entry);
    entry.resume();
  }
  await flowing;
}
