/**
 * chrootvm --overlay: how the init builds the writable root (init/overlay-root.ts), the kernel modules
 * that needs, and the disk --overlay-dir keeps.
 *
 * --overlay-dir keeps the upper layer in DIR/upper.ext4, a sparse raw disk image with an ext4
 * filesystem the guest mounts over virtio-blk, rather than sharing DIR itself over virtiofs: overlayfs
 * records whiteouts and opaque directories as trusted.overlay.* xattrs, which only the host's root
 * may write (and the C virtiofsd serves no xattrs without -o xattr), so a shared upper directory
 * could not work rootless. A disk works alike for root and for ordinary users, and keeps the
 * guest's owners, modes and xattrs exactly.
 */
import { existsSync } from 'node:fs';
import { open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { OverlayConfig } from '../../init/cmdline.ts';
import { pipeThrough } from '../../packer/pipe-through.ts';
import type { OverlayOptions } from './chrootvm-args.ts';
import { makeDirectory } from './make-directory.ts';
import { findOnPath, isExecutableFile, processAlive } from './processes.ts';

export const OVERLAY_DISK_NAME = 'upper.ext4';
/** A disk being made, named after the PID of the run making it. */
const TEMPORARY_DISK = /^\.upper\.ext4\.(\d+)$/;
/** How the init finds the disk: its virtio serial (/sys/block/vdX/serial). */
export const OVERLAY_DISK_SERIAL = 'virtinitrd-upper';
/** Sparse: only what the guest writes takes room on the host. */
export const DEFAULT_OVERLAY_DISK_MIB = 8192;

/**
 * Modules an overlay boot adds to the initramfs, loaded only by the boots that use them (a plain
 * boot's initramfs stays as it was). ext4 asks the crypto API for crc32c (its metadata checksums)
 * by name, which no symbol dependency records.
 */
export function overlayModules(overlay: OverlayConfig | undefined): string[] {
  if (overlay === undefined) return [];
  return overlay.upper === 'disk' ? ['overlay', 'virtio_blk', 'ext4', 'crc32c_generic'] : ['overlay'];
}

/** The init's overlay for these options: a tmpfs of --overlay-size (or tmpfs's default), or the disk. */
export function overlayConfig(options: OverlayOptions): OverlayConfig {
  if (options.dir !== undefined) return { upper: 'disk', serial: OVERLAY_DISK_SERIAL };
  return options.sizeMiB === undefined ? { upper: 'tmpfs' } : { upper: 'tmpfs', size: `${options.sizeMiB}m` };
}

const MKFS_PLACES = ['/usr/sbin/mkfs.ext4', '/sbin/mkfs.ext4'];

/** mkfs.ext4 is in /usr/sbin, which an ordinary user's PATH often lacks. */
async function findMkfs(env: NodeJS.ProcessEnv): Promise<string> {
  const onPath = await findOnPath('mkfs.ext4', env);
  if (onPath) return onPath;
  for (const place of MKFS_PLACES) if (await isExecutableFile(place)) return place;
  throw new Error(`mkfs.ext4 not found (on PATH, ${MKFS_PLACES.join(', ')}): install the Debian package e2fsprogs`);
}

/**
 * DIR/upper.ext4, made (with DIR) on first use: a sparse file of `sizeMiB` formatted by mkfs.ext4 under a
 * temporary name, then renamed, so an interrupted run never leaves a half-made disk. An existing disk
 * keeps its size.
 */
export async function prepareOverlayDisk(dir: string, sizeMiB: number | undefined, log: (text: string) => void): Promise<string> {
  await makeDirectory(dir, 0o755);
  const disk = join(dir, OVERLAY_DISK_NAME);
  if (existsSync(disk)) {
    if (!(await stat(disk)).isFile()) throw new Error(`--overlay-dir ${dir}: ${disk} is not a file`);
    log(`overlay disk ${disk}: kept from an earlier run${sizeMiB === undefined ? '' : ' (it keeps its size; --overlay-size applies to a new disk)'}`);
    return disk;
  }
  const size = sizeMiB ?? DEFAULT_OVERLAY_DISK_MIB;
  // A half-made disk of a run that was killed (SIGKILL skips the cleanup below).
  for (const name of await readdir(dir)) {
    const pid = TEMPORARY_DISK.exec(name)?.[1];
    if (pid !== undefined && !processAlive(Number(pid))) await rm(join(dir, name), { force: true });
  }
  const temporary = join(dir, `.${OVERLAY_DISK_NAME}.${process.pid}`);
  try {
    const handle = await open(temporary, 'wx', 0o644);
    await handle.truncate(size * 1024 * 1024).finally(() => handle.close());
    // The root directory is root's (mkfs.ext4 would give it to whoever runs it); the label names it.
    await pipeThrough([await findMkfs(process.env), '-q', '-F', '-L', OVERLAY_DISK_SERIAL, '-E', 'root_owner=0:0', temporary], new Uint8Array());
    await rename(temporary, disk);
  } finally {
    await rm(temporary, { force: true });
  }
  log(`overlay disk ${disk}: made, ${size} MiB (sparse)`);
  return disk;
}
