/**
 * How a VM run ends, decided from what the host can trust: the init's status line, qemu's own
 * shutdown reason (QMP), qemu's exit. Console text is never consulted. Pure.
 */
import type { Status } from '../../init/status-line.ts';

export const EXIT_FAILURE = 125;
export const EXIT_TIMEOUT = 124;

export interface RunEnd {
  status: Status | undefined;
  /** QMP SHUTDOWN reason (or 'guest-panic'), if qemu said why it stopped. */
  shutdownReason: string | undefined;
  qemuExit: { code: number | null; signal: NodeJS.Signals | null };
  /** The last lines qemu wrote on its stderr. */
  qemuStderr: string;
  /** The kernel console's last lines, for the message when the guest died. */
  kernelLogTail: string;
  /** chrootvm stopped the VM itself: --timeout, or a virtiofsd that died. */
  stoppedBecause?: { timeout: true; seconds: number } | { timeout: false; reason: string };
}

export interface Outcome {
  exitCode: number;
  /** Said on stderr; none when the command's own status is returned. */
  message?: string;
}

function withKernelLog(message: string, tail: string): string {
  return tail ? `${message}; the kernel's last messages:\n${tail}` : message;
}

export function decideOutcome(end: RunEnd): Outcome {
  if (end.stoppedBecause?.timeout) {
    return { exitCode: EXIT_TIMEOUT, message: `timed out after ${end.stoppedBecause.seconds} s; the VM was stopped` };
  }
  if (end.stoppedBecause) return { exitCode: EXIT_FAILURE, message: end.stoppedBecause.reason };
  switch (end.status?.kind) {
    case 'exit':
      return { exitCode: end.status.code };
    case 'signal':
      return { exitCode: 128 + end.status.signal };
    case 'error':
      return { exitCode: EXIT_FAILURE, message: `the VM failed to boot: ${end.status.message}` };
  }
  switch (end.shutdownReason) {
    // A program in the guest powered it off itself (osbuild's vm.py, `poweroff -f`, sysrq o).
    case 'guest-shutdown':
      return { exitCode: 0 };
    case 'guest-reset': {
      // Unpacking the ~90 MB initramfs is where a small --memory runs out.
      const outOfMemory = /Out of memory|deadlocked on memory|Initramfs unpacking failed/.test(end.kernelLogTail);
      const hint = outOfMemory ? ': the guest ran out of memory (try a larger --memory)' : ' (a kernel panic, or its init died)';
      return { exitCode: EXIT_FAILURE, message: withKernelLog(`the guest reset without reporting a status${hint}`, end.kernelLogTail) };
    }
    case 'guest-panic':
      return { exitCode: EXIT_FAILURE, message: withKernelLog('the guest kernel panicked', end.kernelLogTail) };
  }
  const { code, signal } = end.qemuExit;
  if (signal || code !== 0) {
    return {
      exitCode: EXIT_FAILURE,
      message: `qemu failed (${signal ? `killed by ${signal}` : `exit status ${code}`}): ${end.qemuStderr || 'no message'}`,
    };
  }
  return { exitCode: EXIT_FAILURE, message: withKernelLog('the VM stopped without reporting a status', end.kernelLogTail) };
}

/** systemd-nspawn's status for a container that asked to reboot: a service may restart on it. */
export const EXIT_REBOOT = 133;

/**
 * --boot: the system's own init ran, so a power-off is its normal end and a reset is its reboot (a
 * panic says so through the pvpanic device, as 'guest-panic'). With a command, the command's status
 * is what counts, and a system that stopped without one never ran it.
 */
export function decideBootOutcome(end: RunEnd, withCommand: boolean): Outcome {
  if (end.stoppedBecause?.timeout) {
    return { exitCode: EXIT_TIMEOUT, message: withKernelLog(`timed out after ${end.stoppedBecause.seconds} s; the VM was stopped`, end.kernelLogTail) };
  }
  if (end.status || end.stoppedBecause) return decideOutcome(end);
  const ended = end.shutdownReason === 'guest-shutdown' ? 'powered off' : end.shutdownReason === 'guest-reset' ? 'rebooted' : undefined;
  if (ended && withCommand) return { exitCode: EXIT_FAILURE, message: withKernelLog(`the system ${ended} before it ran the command`, end.kernelLogTail) };
  if (ended === 'powered off') return { exitCode: 0 };
  if (ended === 'rebooted') return { exitCode: EXIT_REBOOT, message: `the guest rebooted (exit status ${EXIT_REBOOT})` };
  return decideOutcome(end);
}

/** Lines that say why a kernel died, wherever they are in the log (a panic's register dump follows them). */
const CAUSE_LINE = /Kernel panic - not syncing|sysrq: (Trigger a crash|Resetting)|Out of memory|BUG: |Oops: |Initramfs unpacking failed/;

/** What to show of the kernel console when the guest died: the lines naming the cause, then the last lines. */
export function kernelLogSummary(log: string, lastCount = 10): string {
  const lines = log.replaceAll('\r', '').trimEnd().split('\n').filter((line) => line !== '');
  const tail = lines.slice(-lastCount);
  const causesBefore = lines.slice(0, -lastCount).filter((line) => CAUSE_LINE.test(line));
  return [...causesBefore, ...(causesBefore.length > 0 ? ['...'] : []), ...tail].join('\n');
}
