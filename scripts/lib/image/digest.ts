/**
 * Content digests: every blob is checked against the digest that names it before its contents
 * reach the cache. The digest is also used to build file names (`blobs/sha256/HEX`), so its form
 * is checked strictly: `sha256:../../x` must never become a path.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

const HEX_LENGTH = { sha256: 64, sha512: 128 } as const;
export type DigestAlgorithm = keyof typeof HEX_LENGTH;

export interface Digest {
  algorithm: DigestAlgorithm;
  hex: string;
}

export function parseDigest(digest: unknown, where: string): Digest {
  const match = typeof digest === 'string' ? /^(sha256|sha512):([0-9a-f]+)$/.exec(digest) : null;
  const algorithm = match?.[1] as DigestAlgorithm | undefined;
  if (!match || !algorithm || match[2]?.length !== HEX_LENGTH[algorithm]) {
    throw new Error(`${where}: "${String(digest)}" is not a sha256 or sha512 digest`);
  }
  return { algorithm, hex: match[2] };
}

export function formatDigest({ algorithm, hex }: Digest): string {
  return `${algorithm}:${hex}`;
}

export function digestOf(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

export class DigestMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DigestMismatchError';
  }
}

/** Throws unless `actual` (and `size`, when the descriptor gives one) match what named the blob. */
export function checkDigest(what: string, expected: string, actual: string, file: string, size?: { expected: number; actual: number }): void {
  if (actual !== expected) {
    throw new DigestMismatchError(`${what} ${expected} (${file}) has digest ${actual}: the blob is corrupted or was changed`);
  }
  if (size && size.expected !== size.actual) {
    throw new DigestMismatchError(`${what} ${expected} (${file}) is ${size.actual} bytes, its descriptor says ${size.expected}`);
  }
}

/** Passes bytes through unchanged while hashing and counting them. */
export class HashTap extends Transform {
  readonly algorithm: DigestAlgorithm;
  readonly hash: Hash;
  bytes = 0;

  constructor(algorithm: DigestAlgorithm) {
    super();
    this.algorithm = algorithm;
    this.hash = createHash(algorithm);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }

  /** The digest of everything that passed; call once, after the stream ended. */
  digest(): string {
    return `${this.algorithm}:${this.hash.digest('hex')}`;
  }
}
