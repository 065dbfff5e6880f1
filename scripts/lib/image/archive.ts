/**
 * Reading image archives (a tar of an OCI layout, or `docker save` output): tars cannot be read
 * out of order, and an archive's layers come in any order (sorted by digest, or by layer id), so
 * a first pass keeps the small metadata files and hashes the whole file, and a second pass, only
 * when the tree is not cached yet, copies the wanted layers out to files.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { HashTap } from './digest.ts';
import type { Budget } from './limits.ts';
import type { LayerCodec } from './media.ts';
import { decoder, forEachTarEntry } from './tar-read.ts';

/** Metadata files worth keeping from the first pass: JSON documents, by name and size. */
const METADATA_NAMES = [/^oci-layout$/, /^index\.json$/, /^manifest\.json$/, /^blobs\/sha(256|512)\/[0-9a-f]+$/, /^[0-9a-f]{64}\.json$/];
const METADATA_MAX_BYTES = 4 * 2 ** 20;
// Layer blobs can be small too; past this much, stop keeping (a needed document is then reported missing).
const METADATA_TOTAL_BYTES = 64 * 2 ** 20;

/** A member name as a key: `./blobs//sha256/x` and `/blobs/sha256/x` are `blobs/sha256/x`. */
export function memberName(name: string): string {
  return name.split('/').filter((part) => part !== '' && part !== '.').join('/');
}

export function isMetadataName(name: string): boolean {
  return METADATA_NAMES.some((pattern) => pattern.test(name));
}

export interface ArchiveScan {
  /** sha256 of the archive file as stored. */
  sha256: string;
  /** Small metadata members by member name. */
  files: Map<string, Buffer>;
  /** Every regular-file member name. */
  members: Set<string>;
}

export async function scanArchive(path: string, codec: LayerCodec): Promise<ArchiveScan> {
  const raw = new HashTap('sha256');
  const files = new Map<string, Buffer>();
  const members = new Set<string>();
  let kept = 0;
  await forEachTarEntry(createReadStream(path), [raw, ...decoder(codec)], async (entry) => {
    if (entry.header.type !== 'file' && entry.header.type !== 'contiguous-file') return;
    const name = memberName(entry.header.name);
    members.add(name);
    const size = entry.header.size ?? 0;
    if (!isMetadataName(name) || size > METADATA_MAX_BYTES || kept + size > METADATA_TOTAL_BYTES) return;
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    files.set(name, Buffer.concat(chunks));
    kept += size;
  });
  return { sha256: raw.digest(), files, members };
}

/** Copies the members named in `wanted` (member name → destination file) out of the archive. */
export async function stageMembers(path: string, codec: LayerCodec, wanted: ReadonlyMap<string, string>, budget: Budget): Promise<void> {
  const missing = new Set(wanted.keys());
  await forEachTarEntry(createReadStream(path), decoder(codec), async (entry) => {
    const name = memberName(entry.header.name);
    const destination = wanted.get(name);
    if (destination === undefined || !missing.has(name)) return;
    budget.data(entry.header.size ?? 0, `${path}: ${name}`);
    const handle = await open(destination, 'wx', 0o600);
    try {
      for await (const chunk of entry) await handle.write(chunk as Buffer);
    } finally {
      await handle.close();
    }
    missing.delete(name);
  });
  if (missing.size > 0) throw new Error(`${path} has no member ${[...missing].join(', ')}`);
}
