// Kernel modules as plain ELF, whatever compression the distribution ships them with
// (Debian: none; Fedora/Arch: .ko.xz or .ko.zst; some: .ko.gz).
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { gunzip, zstdDecompress } from 'node:zlib';

type Decoder = (bytes: Buffer, path: string) => Promise<Buffer>;

// Node's zlib has no xz; the xz tool is on every system that ships .ko.xz modules.
function unxz(bytes: Buffer, path: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('xz', ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    // xz exits early on corrupt input; its status says why, not the broken pipe.
    child.stdin.on('error', () => {});
    child.on('error', (e: NodeJS.ErrnoException) => {
      reject(
        e.code === 'ENOENT'
          ? new Error(`cannot decompress ${path}: the xz tool is not installed (Debian package xz-utils)`)
          : new Error(`cannot decompress ${path}: running xz failed: ${e.message}`),
      );
    });
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new Error(`cannot decompress ${path}: xz -dc exited with status ${code}: ${Buffer.concat(err).toString().trim()}`));
    });
    child.stdin.end(bytes);
  });
}

function viaZlib(decode: (bytes: Buffer) => Promise<Buffer>, format: string): Decoder {
  return async (bytes, path) => {
    try {
      return await decode(bytes);
    } catch (e) {
      throw new Error(`cannot decompress ${path} (${format}): ${(e as Error).message}`);
    }
  };
}

const DECODERS: ReadonlyArray<{ suffix: string; decode: Decoder }> = [
  { suffix: '.ko', decode: async (bytes) => bytes },
  { suffix: '.ko.gz', decode: viaZlib(promisify(gunzip), 'gzip') },
  { suffix: '.ko.zst', decode: viaZlib(promisify(zstdDecompress), 'zstd') },
  { suffix: '.ko.xz', decode: unxz },
];

/** The uncompressed ELF image of the module file at `path` (.ko, .ko.gz, .ko.xz or .ko.zst). */
export async function readModule(path: string): Promise<Buffer> {
  const decoder = DECODERS.find((d) => path.endsWith(d.suffix));
  if (!decoder) throw new Error(`${path} is not a kernel module file (.ko, .ko.gz, .ko.xz or .ko.zst)`);
  return decoder.decode(await readFile(path), path);
}
