/**
 * Leaving the initramfs: move the API filesystems into the new root, make the new root "/", free the
 * initramfs. The initramfs is a rootfs (ramfs/tmpfs) that cannot be unmounted or pivot_root'ed away,
 * so this is switch_root's sequence: MS_MOVE the new root onto "/", chroot, delete the old files.
 */
import { closeSync, constants as fsConstants, existsSync, lstatSync, openSync, readdirSync, rmdirSync, statSync, unlinkSync } from 'node:fs';
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
 * Deletes what the initramfs holds so the kernel can return its pages once PID 1 execs the
 * system's init, staying on the initramfs's own device: nothing mounted is entered. Runs after the
 * switch, through the directory kept open (systemd's switch-root removes the old root the same
 * way, after the move). Run mode keeps the initramfs instead: PID 1 holds nearly all of it mapped
 * (main.ts, keepInitramfs).
 */
export function deleteInitramfs(oldRoot: OldRoot): void {
  const base = `/proc/self/fd/${oldRoot.fd}`;
  const rootDevice = statSync(base).dev;
  const removeChildren = (directory: string): void => {
    for (const name of readdirSync(directory)) remove(join(directory, name));
  };
  const remove = (path: string): void => {
    const info = lstatSync(path);
    if (info.dev !== rootDevice) return;
    if (info.isDirectory()) {
      removeChildren(path);
      rmdirSync(path);
    } else {
      unlinkSync(path);
    }
  };
  try {
    removeChildren(base);
  } finally {
    closeSync(oldRoot.fd);
  }
  debug('initramfs contents deleted');
}

/** Makes `newRoot` "/"; the initramfs is left for deleteInitramfs(), or kept. */
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
