/**
 * The one way the init gives up: say why on the console, sync, tell the host over the status channel,
 * power off. PID 1 exiting would panic the kernel and lose the reason.
 */
import { error } from './log.ts';
import { reportStatus } from './status.ts';
import { messageOf } from './sys/errors.ts';
import { powerOff, sync } from './sys/libc.ts';

export function fatal(step: string, cause: unknown): never {
  const reason = messageOf(cause);
  const message = `${step}: ${reason}`;
  error(message);
  try {
    sync();
    reportStatus({ kind: 'error', message });
  } finally {
    powerOff();
  }
}
