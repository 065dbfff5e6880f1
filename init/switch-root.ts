/**
 * Leaving the initramfs: move the API filesystems into the new root, make the new root "/", free the
 * initramfs. The initramfs is a rootfs (ramfs/tmpfs) that cannot be unmounted or pivot_root'ed away,
 * so this is switch_root's sequence: MS_MOVE the new root onto "/", chroot, delete the old files.
 */
import { closeSync, constants as fsConstants, existsSync, openSync } from 'node:fs';
import { lstat, readdir, rmdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { movedMounts } from './mounts.ts';
import { debug, warn } from './log.ts';
import { MS, chroot, mount } from './sys/libc.ts';

/** Without these the new system has no /dev, /proc, /sys or /run: the move must not be skipped. */
const REQUIRED_IN_NEW_ROOT = new Set(['/dev', '/proc', '/sys', '/run']);

export function moveMounts(newRoot: string): void {
  for (const path of movedMounts) {
    const target = join(newRoot, path);
    if (!existsSync(target)) {
      if (REQUIRED_IN_NEW_ROOT.has(path)) throw new Error(`the root filesystem has no ${path} directory to move ${path} onto`);
      warn(`the root filesystem has no ${path} directory; ${path} stays the root filesystem's own`);
      continue;
    }
    mount(`move ${path}`, path, target, null, MS.MOVE);
  }
}

/** The initramfs after the switch: an open directory, its only way in once it is no longer "/". */
export interface OldRoot {
  fd: number;
}

/**
 * Deletes what the initramfs holds so the kernel can return its pages, staying on the initramfs's
 * own device: nothing mounted is entered. Runs after the switch, through the directory kept open,
 * so that its ~45 ms under TCG are not on the way to the command (systemd's switch-root removes
 * the old root the same way, after the move). Asynchronous, on libuv's threads: in run mode it runs
 * beside the command, and PID 1's event loop must stay free to copy the command's output meanwhile.
 * What stays in memory while PID 1 lives on (run mode): the files this process has mapped (the
 * Node runtime in /init, its shared libraries, ffi-rs's native module) — unlinked, but their pages
 * are held until PID 1 exits or execs.
 */
export async function deleteInitramfs(oldRoot: OldRoot): Promise<void> {
  const base = `/proc/self/fd/${oldRoot.fd}`;
  const rootDevice = (await stat(base)).dev;
  const removeChildren = async (directory: string): Promise<void> => {
    for (const name of await readdir(directory)) await remove(join(directory, name));
  };
  const remove = async (path: string): Promise<void> => {
    const info = await lstat(path);
    if (info.dev !== rootDevice) return;
    if (info.isDirectory()) {
      await removeChildren(path);
      await rmdir(path);
    } else {
      await unlink(path);
    }
  };
  try {
    await removeChildren(base);
  } finally {
    closeSync(oldRoot.fd);
  }
  debug('initramfs contents deleted');
}

/** Makes `newRoot` "/"; the initramfs is left for deleteInitramfs(). */
export function switchRoot(newRoot: string): OldRoot {
  moveMounts(newRoot);
  const oldRoot = { fd: openSync('/', fsConstants.O_RDONLY | fsConstants.O_DIRECTORY) };
  process.chdir(newRoot);
  mount(`move ${newRoot} to /`, newRoot, '/', null, MS.MOVE);
  chroot('.');
  process.chdir('/');
  debug('switched root');
  return oldRoot;
}
