/**
 * Where the command's stdin, stdout and stderr go in run mode.
 *
 * Interactive (chrootvm without a COMMAND): all three are the console, ttyS0, as the controlling
 * terminal of PID 1's session, so the shell has job control. Otherwise the virtio-serial ports:
 * stdin is the stdin port itself (a read sees EOF once chrootvm has closed it and the data is
 * read, as with a pipe), stdout and stderr are pipes PID 1 copies to their ports (relay.ts).
 */
import { closeSync, constants, openSync } from 'node:fs';
import type { OutputCounts, RunRequest } from './control-protocol.ts';
import { findPorts } from './ports.ts';
import { OutputRelay } from './relay.ts';
import { setWindowSize, takeControllingTerminal } from './sys/libc.ts';

const CONSOLE_TTY = '/dev/ttyS0';

export interface CommandIo {
  stdio: [number, number, number];
  /** The command runs: PID 1 lets go of what only the command should hold. */
  started(): void;
  /** The command has ended: resolves once its output is on the ports, with the bytes each took. */
  finish(): Promise<OutputCounts | undefined>;
}

export function openCommandIo(request: RunRequest): CommandIo {
  return request.interactive ? openTerminal(request) : openPorts();
}

/**
 * An image's process booted without chrootvm (mkvirtinitrd --image): its stdio is the console, as
 * a container's is its terminal, and there are no ports to report to.
 */
export function openConsole(): CommandIo {
  const fd = openSync('/dev/console', constants.O_RDWR | constants.O_NOCTTY);
  return { stdio: [fd, fd, fd], started: () => closeSync(fd), finish: async () => undefined };
}

function openTerminal(request: RunRequest): CommandIo {
  const fd = openSync(CONSOLE_TTY, constants.O_RDWR | constants.O_NOCTTY);
  takeControllingTerminal(fd, CONSOLE_TTY);
  if (request.size) setWindowSize(fd, CONSOLE_TTY, request.size.rows, request.size.columns);
  return { stdio: [fd, fd, fd], started: () => {}, finish: async () => undefined };
}

function openPorts(): CommandIo {
  const devices = findPorts(['stdin', 'stdout', 'stderr']);
  const stdin = openSync(devices.stdin, constants.O_RDONLY | constants.O_NOCTTY);
  const output = (device: string) => openSync(device, constants.O_WRONLY | constants.O_NOCTTY | constants.O_NONBLOCK);
  const relay = new OutputRelay({ stdout: output(devices.stdout), stderr: output(devices.stderr) });
  return {
    stdio: [stdin, relay.childEnds.stdout, relay.childEnds.stderr],
    started() {
      closeSync(stdin);
      relay.closeChildEnds();
    },
    finish: () => relay.finish(),
  };
}
