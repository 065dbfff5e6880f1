/**
 * Where the host's current directory is inside the guest, when it lies in a share (like vng):
 * a build started from a checkout that is shared runs in that checkout. Pure.
 */
import { relative, isAbsolute, posix } from 'node:path';

export interface ShareLocation {
  hostPath: string;
  guestPath: string;
}

export function guestCwd(hostCwd: string, shares: readonly ShareLocation[]): string {
  let best: { guest: string; depth: number } | undefined;
  for (const share of shares) {
    const inside = relative(share.hostPath, hostCwd);
    // A directory named "..x" inside the share is inside it; only ".." as a whole segment leaves it.
    if (inside === '..' || inside.startsWith('../') || isAbsolute(inside)) continue;
    const depth = share.hostPath.length;
    // The innermost share wins: a share nested in the rootfs shows the files the guest sees there.
    if (!best || depth > best.depth) best = { guest: posix.join(share.guestPath, inside), depth };
  }
  return best?.guest ?? '/';
}
