/**
 * The status channel: the second serial port (ttyS1), which only the init writes to and which chrootvm
 * reads from its own file. The command's result never travels as console text, which the command
 * itself could forge or garble.
 */
import { openSync, writeSync, closeSync, constants } from 'node:fs';
import { tcdrain } from './sys/libc.ts';
import { formatStatus, type Status } from './status-line.ts';

export const STATUS_DEVICE = '/dev/ttyS1';

/** Keeps one status line well inside the tty's 4 KiB buffer, so a non-blocking write cannot fall short. */
const MAX_MESSAGE = 2000;

/** Returns false when there is no status port (the initrd booted by hand, without chrootvm). */
export function reportStatus(status: Status): boolean {
  let fd: number;
  try {
    // O_NONBLOCK: a serial port without CLOCAL would otherwise wait for a carrier that may never come.
    fd = openSync(STATUS_DEVICE, constants.O_WRONLY | constants.O_NOCTTY | constants.O_NONBLOCK);
  } catch {
    return false;
  }
  try {
    const bounded = status.kind === 'error' ? { ...status, message: status.message.slice(0, MAX_MESSAGE) } : status;
    writeSync(fd, formatStatus(bounded));
    tcdrain(fd, STATUS_DEVICE);
    return true;
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}
