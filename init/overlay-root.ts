/**
 * A writable root whose changes never reach the root share (chrootvm --overlay): an overlayfs whose
 * lower layer is the root share, mounted read-only, and whose upper layer is a tmpfs in guest
 * memory or the ext4 filesystem of a virtio disk the host keeps (--overlay-dir). Both live under
 * /run/virtinitrd, which moves into the new root with /run: the guest sees its pristine root and
 * its changes there.
 */
import { chmodSync, chownSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { monotonicMs } from './clock.ts';
import type { OverlayConfig } from './cmdline.ts';
import { debug } from './log.ts';
import { mountShare } from './shares.ts';
import { sleepSync } from './sleep.ts';
import { SyscallError } from './sys/errors.ts';
import { mount } from './sys/libc.ts';

export const overlayPaths = {
  /** The root share, read-only. */
  lower: '/run/virtinitrd/lower',
  /** The upper layer's filesystem; the overlay's upper and work directories are in it. */
  layer: '/run/virtinitrd/overlay',
} as const;

/** A virtio disk appears in /sys/block once virtio_blk has probed it; under TCG that can take a moment. */
const DISK_TIMEOUT_MS = 10_000;
const DISK_POLL_MS = 10;

/** The block device whose virtio serial is `serial`, waiting for it to appear. */
function findDisk(serial: string): string {
  const deadline = monotonicMs() + DISK_TIMEOUT_MS;
  for (;;) {
    for (const name of readdirSync('/sys/block')) {
      const found = (() => {
        try {
          return readFileSync(`/sys/block/${name}/serial`, 'utf8').trim() === serial;
        } catch {
          return false;
        }
      })();
      if (found) return `/dev/${name}`;
    }
    if (monotonicMs() >= deadline) {
      throw new Error(`no virtio disk with serial "${serial}" appeared within ${DISK_TIMEOUT_MS / 1000} s (module virtio_blk not loaded?)`);
    }
    sleepSync(DISK_POLL_MS);
  }
}

/** mount(), with what a missing filesystem module means for this boot. */
function mountNeedingModule(what: string, source: string, target: string, fstype: string, data: string, module: string): void {
  try {
    mount(what, source, target, fstype, 0, data);
  } catch (cause) {
    if (cause instanceof SyscallError && cause.code === 'ENODEV') {
      throw new Error(`${what}: the kernel has no ${fstype} filesystem: this initramfs lacks the module ${module} (mkvirtinitrd --module ${module})`);
    }
    throw cause;
  }
}

export function mountOverlayRoot(overlay: OverlayConfig, rootTag: string, newRoot: string, shareTimeoutMs: number | undefined): void {
  mountShare(rootTag, overlayPaths.lower, true, shareTimeoutMs);
  mkdirSync(overlayPaths.layer, { recursive: true, mode: 0o755 });
  if (overlay.upper === 'tmpfs') {
    const data = overlay.size === undefined ? 'mode=0755' : `mode=0755,size=${overlay.size}`;
    mount('the overlay\'s tmpfs', 'overlay-upper', overlayPaths.layer, 'tmpfs', 0, data);
  } else {
    const disk = findDisk(overlay.serial);
    mountNeedingModule(`the overlay disk ${disk}`, disk, overlayPaths.layer, 'ext4', '', 'ext4');
  }
  const upper = `${overlayPaths.layer}/upper`;
  const work = `${overlayPaths.layer}/work`;
  // A kept disk has them from an earlier boot.
  mkdirSync(upper, { recursive: true });
  mkdirSync(work, { recursive: true });
  // The merged root shows the upper directory's owner and mode: make them the tree's own.
  const root = statSync(overlayPaths.lower);
  chownSync(upper, root.uid, root.gid);
  chmodSync(upper, root.mode & 0o7777);
  mkdirSync(newRoot, { recursive: true });
  mountNeedingModule('the overlay root', 'overlay', newRoot, 'overlay', `lowerdir=${overlayPaths.lower},upperdir=${upper},workdir=${work}`, 'overlay');
  debug(`overlay root on ${newRoot}: lower ${overlayPaths.lower} (read-only), upper ${upper} (${overlay.upper === 'tmpfs' ? `tmpfs${overlay.size ? ` size=${overlay.size}` : ''}` : `disk ${overlay.serial}`})`);
}
