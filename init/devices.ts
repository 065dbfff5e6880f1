/** Device nodes and /dev links that devtmpfs does not provide by itself. */
import { mkdirSync, symlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { deviceLinks, deviceNodes } from './mounts.ts';
import { debug } from './log.ts';
import { errnoOf } from './sys/errors.ts';
import { mknod } from './sys/libc.ts';

const S_IFCHR = 0o020000;

/** Present already (devtmpfs made it, or a driver did) is fine: that node is the right one. */
function tolerateExisting(action: () => void): void {
  try {
    action();
  } catch (cause) {
    if (errnoOf(cause) !== 'EEXIST') throw cause;
  }
}

/** The caller clears the umask first, so the modes in the table are the modes on disk. */
export function createDeviceNodes(): void {
  for (const node of deviceNodes) {
    mkdirSync(dirname(node.path), { recursive: true, mode: 0o755 });
    tolerateExisting(() => mknod(node.path, S_IFCHR | node.mode, node.major, node.minor));
    debug(`device ${node.path} (${node.major}:${node.minor})`);
  }
  for (const link of deviceLinks) tolerateExisting(() => symlinkSync(link.target, link.path));
}
