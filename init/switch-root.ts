/**
 * Leaving the initramfs: move the API filesystems into the new root, free the initramfs, make the new
 * root "/". The initramfs is a rootfs (ramfs/tmpfs) that cannot be unmounted or pivot_root'ed away,
 * so this is busybox switch_root's sequence: delete its files, MS_MOVE the new root onto "/", chroot.
 */
import { existsSync, lstatSync, readdirSync, rmdirSync, statSync, unlinkSync } from 'node:fs';
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

/**
 * Deletes the initramfs contents so the kernel can return their pages, staying on the initramfs's own
 * device: the new root and anything else mounted below "/" is never entered.
 * What stays in memory after this while PID 1 lives on (run mode): the files this process has mapped
 * (the Node runtime in /init, its shared libraries, ffi-rs's native module) — unlinked, but their
 * pages are held until PID 1 exits or execs.
 */
export function deleteInitramfs(keep: string): void {
  const rootDevice = statSync('/').dev;
  const remove = (path: string): void => {
    const stat = lstatSync(path);
    if (stat.dev !== rootDevice) return;
    if (stat.isDirectory()) {
      for (const name of readdirSync(path)) remove(join(path, name));
      if (path !== '/') rmdirSync(path);
    } else {
      unlinkSync(path);
    }
  };
  for (const name of readdirSync('/')) {
    const path = join('/', name);
    if (path !== keep) remove(path);
  }
  debug('initramfs contents deleted');
}

export function switchRoot(newRoot: string): void {
  moveMounts(newRoot);
  deleteInitramfs(newRoot);
  process.chdir(newRoot);
  mount(`move ${newRoot} to /`, newRoot, '/', null, MS.MOVE);
  chroot('.');
  process.chdir('/');
  debug('switched root');
}
