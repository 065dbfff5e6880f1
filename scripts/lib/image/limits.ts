/**
 * Bounds on what one image may write, so a hostile or broken archive (a decompression bomb, a
 * million empty files, a 1 MB file name) fails with a message instead of filling the disk.
 */
export interface Limits {
  /** Sum of the sizes of all regular files, over all layers. */
  maxBytes: number;
  /** Tar entries, over all layers (whiteouts and directories count too). */
  maxEntries: number;
  /** Bytes in one entry name or hard-link target. */
  maxPathLength: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = {
  maxBytes: 16 * 2 ** 30,
  maxEntries: 1_000_000,
  // PATH_MAX: longer names cannot be opened by the guest anyway.
  maxPathLength: 4096,
};

export class ImageLimitError extends Error {
  readonly limit: keyof Limits;

  constructor(limit: keyof Limits, message: string) {
    super(message);
    this.name = 'ImageLimitError';
    this.limit = limit;
  }
}

export function limitExceeded(limit: keyof Limits, value: number, where: string, what: string): ImageLimitError {
  return new ImageLimitError(limit, `${where}: ${what} exceeds the ${limit} limit of ${value}; raise it with the ${limit} option`);
}

/** Counts entries and file bytes across all layers of one extraction. */
export class Budget {
  readonly limits: Readonly<Limits>;
  readonly where: string;
  bytes = 0;
  entries = 0;

  constructor(limits: Readonly<Limits>, where: string) {
    this.limits = limits;
    this.where = where;
  }

  entry(name: string): void {
    this.entries += 1;
    if (this.entries > this.limits.maxEntries) {
      throw limitExceeded('maxEntries', this.limits.maxEntries, this.where, `entry ${this.entries} ("${name}")`);
    }
  }

  data(size: number, name: string): void {
    this.bytes += size;
    if (this.bytes > this.limits.maxBytes) {
      throw limitExceeded('maxBytes', this.limits.maxBytes, this.where, `the total file size (${this.bytes} bytes at "${name}")`);
    }
  }
}
