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

/**
 * Without a status port (the initrd booted by hand, without chrootvm) the same line goes to the
 * console, for whoever booted it.
 */
export function reportStatus(status: Status): void {
  let fd: number;
  try {
    // O_NONBLOCK: a serial port without CLOCAL would otherwise wait for a carrier that may never come.
    fd = openSync(STATUS_DEVICE, constants.O_WRONLY | constants.O_NOCTTY | constants.O_NONBLOCK);
  } catch {
    try {
      writeSync(2, formatStatus(status));
    } catch {
      // No console either.
    }
    return;
  }
  try {
    const bounded = status.kind === 'error' ? { ...status, message: status.message.slice(0, MAX_MESSAGE) } : status;
    writeSync(fd, formatStatus(bounded));
    tcdrain(fd, STATUS_DEVICE);
  } catch {
    // The host reads what it can; a failure here cannot be reported anywhere else.
  } finally {
    closeSync(fd);
  }
}
