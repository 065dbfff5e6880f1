/**
 * Reading an x86 bzImage's setup header (Documentation/arch/x86/boot.rst): enough to tell a kernel
 * from any other file and to learn its release, which names its module directory. Pure.
 */

const HEADER_MAGIC_OFFSET = 0x202; // "HdrS"
const VERSION_POINTER_OFFSET = 0x20e; // kernel_version: offset of the version string, minus 0x200
const BOOT_FLAG_OFFSET = 0x1fe; // 0xAA55

export interface KernelImage {
  /** The release (`uname -r`), e.g. 6.1.0-27-amd64. */
  release: string;
  /** The whole version string, e.g. "6.1.0-27-amd64 (debian-kernel@lists.debian.org) #1 SMP ...". */
  version: string;
}

/** The boot sector's 0xAA55 and the setup header's "HdrS": what makes a file a bzImage. */
export function hasSetupHeader(bytes: Buffer): boolean {
  return (
    bytes.length >= 0x260 &&
    bytes.readUInt16LE(BOOT_FLAG_OFFSET) === 0xaa55 &&
    bytes.toString('latin1', HEADER_MAGIC_OFFSET, HEADER_MAGIC_OFFSET + 4) === 'HdrS'
  );
}

export function parseKernelImage(bytes: Buffer, name: string): KernelImage {
  const notKernel = (why: string) => new Error(`${name} is not an x86 Linux kernel image (${why})`);
  if (bytes.length < 0x260) throw notKernel('too short');
  if (!hasSetupHeader(bytes)) throw notKernel('no bzImage setup header');
  const versionOffset = bytes.readUInt16LE(VERSION_POINTER_OFFSET) + 0x200;
  const end = bytes.indexOf(0, versionOffset);
  if (versionOffset >= bytes.length || end < 0) throw notKernel('no version string');
  const version = bytes.toString('latin1', versionOffset, end);
  const release = version.split(' ')[0] ?? '';
  if (!release) throw notKernel('empty version string');
  return { release, version };
}
