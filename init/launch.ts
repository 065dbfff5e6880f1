/**
 * Starting the system's program once the root is switched: exec mode replaces PID 1 with init=
 * (osbuild's contract), run mode keeps PID 1 alive as a reaper around chrootvm's command.
 */
import { closeSync, constants as fsConstants, lstatSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type { RunRequest } from './cmdline.ts';
import { debug, error } from './log.ts';
import type { Status } from './status-line.ts';
import { errnoOf } from './sys/errors.ts';
import {
  disableOutputProcessing,
  dup2,
  execve,
  peekExitedChild,
  reap,
  resetSignalsForExec,
  setWindowSize,
  takeControllingTerminal,
} from './sys/libc.ts';

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * A fresh environment: the kernel hands PID 1 every unrecognised `key=value` of the command line
 * (ours included) as environment, and none of that belongs to the system we start.
 */
export function cleanEnvironment(term: string | undefined): Record<string, string> {
  return { PATH: DEFAULT_PATH, HOME: '/', TERM: term || 'linux' };
}

/** Node opens its stdio close-on-exec; the program we exec needs the console on 0, 1 and 2. */
function consoleOnStdio(): void {
  const console = openSync('/dev/console', fsConstants.O_RDWR | fsConstants.O_NOCTTY);
  for (const fd of [0, 1, 2]) dup2(console, fd);
  if (console > 2) closeSync(console);
}

/** Why execve of `path` failed, in words that point at the fix. */
export function describeExecFailure(path: string, errno: string): string {
  let lstatOk = false;
  try {
    lstatOk = lstatSync(path) !== undefined;
    statSync(path);
  } catch {
    return lstatOk ? `${path} is a dangling symlink` : `${path} does not exist`;
  }
  if (errno === 'EACCES') return `${path} is not executable (EACCES)`;
  if (errno === 'ENOENT') {
    const interpreter = interpreterOf(path);
    return `${path} exists but its interpreter${interpreter ? ` ${interpreter}` : ''} was not found (ENOENT)`;
  }
  if (errno === 'ENOEXEC') return `${path} is not a program this kernel can run (ENOEXEC)`;
  return `cannot execute ${path}: ${errno}`;
}

/** The `#!` interpreter of a script, if it is one. */
function interpreterOf(path: string): string | undefined {
  const head = Buffer.alloc(256);
  const fd = openSync(path, 'r');
  try {
    const length = readSync(fd, head, 0, head.length, 0);
    const text = head.subarray(0, length).toString('utf8');
    return text.startsWith('#!') ? text.slice(2).split('\n')[0]!.trim().split(/\s+/)[0] : undefined;
  } finally {
    closeSync(fd);
  }
}

export function execInit(path: string, args: readonly string[], env: Record<string, string>): never {
  consoleOnStdio();
  resetSignalsForExec();
  debug(`exec ${path} ${args.join(' ')}`);
  try {
    return execve(path, [path, ...args], Object.entries(env).map(([key, value]) => `${key}=${value}`));
  } catch (cause) {
    throw new Error(`init=${path}: ${describeExecFailure(path, errnoOf(cause) ?? String(cause))}`);
  }
}

/** The podman/docker convention for a command that could not be started. */
function statusForSpawnError(errno: string | undefined): number {
  return errno === 'ENOENT' ? 127 : 126;
}

/**
 * Runs the command as our child and resolves with how it ended. While it runs, PID 1 also reaps
 * orphans: it peeks at exited children with WNOWAIT and reaps only those Node did not start, so
 * Node still collects its own child's status.
 */
export function runCommand(request: RunRequest, env: Record<string, string>): Promise<Status> {
  // Loaded here, not at the top: node:child_process pulls in net, stream and dgram, ~0.1 s of
  // module loading under TCG that exec mode (init=) never needs.
  const { spawn } = process.getBuiltinModule('node:child_process');
  const opened = new Map<string, number>();
  const stdio = request.stdio.map((path) => {
    let fd = opened.get(path);
    if (fd === undefined) {
      fd = openSync(path, fsConstants.O_RDWR | fsConstants.O_NOCTTY);
      if (request.interactive) {
        takeControllingTerminal(fd, path);
        if (request.size) setWindowSize(fd, path, request.size.rows, request.size.columns);
      } else {
        disableOutputProcessing(fd, path);
      }
      opened.set(path, fd);
    }
    return fd;
  });
  return new Promise((resolve) => {
    debug(`run ${JSON.stringify(request.argv)} in ${request.cwd} with stdio ${request.stdio.join(' ')}`);
    const child = spawn(request.argv[0]!, request.argv.slice(1), { cwd: request.cwd, env, stdio });
    const reapOrphans = () => {
      for (;;) {
        const pid = peekExitedChild();
        if (pid === 0 || pid === child.pid) return;
        reap(pid);
        debug(`reaped orphan ${pid}`);
      }
    };
    const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
    process.on('SIGCHLD', reapOrphans);
    process.on('SIGTERM', forward('SIGTERM'));
    process.on('SIGINT', forward('SIGINT'));
    child.on('error', (cause) => {
      const errno = errnoOf(cause);
      // Said where the command's own errors go, as a shell would, and in the kernel log.
      const message = `${request.argv[0]}: ${errno === 'ENOENT' ? 'command not found' : errno ?? cause.message}`;
      writeSync(stdio[2]!, `${message}\n`);
      error(message);
      resolve({ kind: 'exit', code: statusForSpawnError(errno) });
    });
    child.on('exit', (code, signal) => {
      reapOrphans();
      resolve(signal ? { kind: 'signal', signal: osConstants.signals[signal] } : { kind: 'exit', code: code ?? 0 });
    });
  });
}
