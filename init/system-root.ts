/**
 * A whole-system initramfs (mkvirtinitrd --rootfs): the system travels inside the initramfs instead
 * of coming over a share. The initramfs itself (rootfs) cannot be pivoted or switched away from, so
 * the system moves onto a tmpfs first; after that the boot goes on as if the tmpfs were a share.
 * Moving, not copying: each file is removed once its copy exists, so memory peaks at one file.
 */
import {
  chmodSync,
  copyFileSync,
  lchownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmdirSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  type Stats,
} from 'node:fs';
import { join } from 'node:path';
import { deviceNumbers } from './device-numbers.ts';
import { initrdPaths } from './paths.ts';
import { debug } from './log.ts';
import { MS, mknod, mount } from './sys/libc.ts';

/**
 * The marker lists the paths the packer added for the init (itself, its libraries, its modules)
 * that the system did not have: those stay behind, so the system is moved as it was given.
 */
export function parseOwnPaths(marker: string): Set<string> {
  return new Set(['/init', initrdPaths.wholeSystemMarker, ...marker.split('\n').filter((line) => line.startsWith('/'))]);
}

class Mover {
  private readonly linked = new Map<number, string>();
  private readonly rootDevice = lstatSync('/').dev;
  private readonly target: string;
  private readonly own: Set<string>;
  constructor(target: string, own: Set<string>) {
    this.target = target;
    this.own = own;
  }

  move(source: string): void {
    if (this.own.has(source)) return;
    const stat = lstatSync(source);
    const destination = join(this.target, source);
    if (stat.isDirectory()) return this.moveDirectory(source, destination, stat);
    if (stat.isFile()) {
      const first = stat.nlink > 1 ? this.linked.get(stat.ino) : undefined;
      if (first) linkSync(first, destination);
      else copyFileSync(source, destination);
      if (stat.nlink > 1 && !first) this.linked.set(stat.ino, destination);
    } else if (stat.isSymbolicLink()) {
      symlinkSync(readlinkSync(source), destination);
    } else {
      const { major, minor } = deviceNumbers(stat.rdev);
      mknod(destination, stat.mode, major, minor);
    }
    this.keepMetadata(destination, stat);
    unlinkSync(source);
  }

  private moveDirectory(source: string, destination: string, stat: Stats): void {
    mkdirSync(destination, { recursive: true });
    // A mount point (/dev, /proc…): the new root gets the empty directory, the mount moves later.
    if (stat.dev === this.rootDevice) {
      for (const name of readdirSync(source)) {
        const child = join(source, name);
        if (child !== initrdPaths.newRoot) this.move(child);
      }
      if (source !== '/' && readdirSync(source).length === 0) rmdirSync(source);
    }
    this.keepMetadata(destination, stat);
  }

  private keepMetadata(path: string, stat: Stats): void {
    lchownSync(path, stat.uid, stat.gid);
    if (!stat.isSymbolicLink()) {
      chmodSync(path, stat.mode & 0o7777);
      utimesSync(path, stat.atime, stat.mtime);
    }
  }
}

export function moveSystemToTmpfs(newRoot: string, writable: boolean): void {
  mkdirSync(newRoot, { recursive: true });
  mount('tmpfs for the system root', 'rootfs', newRoot, 'tmpfs', 0, 'mode=0755');
  new Mover(newRoot, parseOwnPaths(readFileSync(initrdPaths.wholeSystemMarker, 'utf8'))).move('/');
  if (!writable) mount(`remount ${newRoot} read-only`, 'rootfs', newRoot, null, MS.REMOUNT | MS.BIND | MS.RDONLY);
  debug(`system moved from the initramfs to a tmpfs on ${newRoot}${writable ? '' : ' (read-only)'}`);
}
