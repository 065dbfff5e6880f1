/**
 * Starting the system's program once the root is switched: exec mode replaces PID 1 with init=
 * (osbuild's contract), run mode keeps PID 1 alive as a reaper around chrootvm's command.
 */
import { accessSync, closeSync, constants as fsConstants, lstatSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import type { RunRequest } from './control-protocol.ts';
import { debug, error } from './log.ts';
import type { Status } from './status-line.ts';
import { errnoOf, messageOf } from './sys/errors.ts';
import { dup2, execve, reapExitedChild, resetSignalsForExec, spawn, spawnAsUser } from './sys/libc.ts';
import type { Identity } from './users.ts';

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** What runs when the kernel command line names no init= (and no image's process is packed). */
export const DEFAULT_INIT = '/bin/sh';

/**
 * A fresh environment: the kernel hands PID 1 every unrecognised `key=value` of the command line
 * (ours included) as environment, and none of that belongs to the system we start.
 */
export function cleanEnvironment(term: string | undefined): Record<string, string> {
  return { PATH: DEFAULT_PATH, HOME: '/', TERM: term || 'linux' };
}

/** The `key=value` strings execve and posix_spawn take. */
function environ(env: Record<string, string>): string[] {
  return Object.entries(env).map(([key, value]) => `${key}=${value}`);
}

/** The name of a `NAME=value` entry, as a string that keeps every byte apart. */
function entryName(entry: Buffer): string {
  const equals = entry.indexOf('=');
  return (equals === -1 ? entry : entry.subarray(0, equals)).toString('latin1');
}

/** The command's environment: the clean one, then the request's entries in order, a later entry replacing an earlier one of the same name. */
export function commandEnvironment(clean: Record<string, string>, extra: readonly Buffer[]): Buffer[] {
  const byName = new Map<string, Buffer>();
  for (const entry of [...environ(clean).map((text) => Buffer.from(text)), ...extra]) {
    byName.delete(entryName(entry));
    byName.set(entryName(entry), entry);
  }
  return [...byName.values()];
}

/** A variable's value in an environment list, as text. */
function lookup(env: readonly Buffer[], name: string): string | undefined {
  const entry = env.findLast((candidate) => entryName(candidate) === name);
  return entry?.subarray(name.length + 1).toString();
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
    return execve(path, [path, ...args], environ(env));
  } catch (cause) {
    throw new Error(`init=${path}: ${describeExecFailure(path, errnoOf(cause) ?? String(cause))}`);
  }
}

/**
 * The file execvp would run for `name` (bytes: any name the host sent): a name with a slash is used
 * as it is, any other is looked up in `searchPath`. Without one, the errno execvp would give: EACCES
 * when the only files of that name are not executable, else ENOENT.
 */
export function findProgram(name: Buffer, searchPath: string): { path: Buffer } | { errno: 'ENOENT' | 'EACCES' } {
  if (name.includes('/')) return { path: name };
  let errno: 'ENOENT' | 'EACCES' = 'ENOENT';
  for (const directory of name.length === 0 ? [] : searchPath.split(':')) {
    const candidate = Buffer.concat([Buffer.from(`${directory || '.'}/`), name]);
    try {
      // Most directories on the path lack the name: no error thrown for that (each one costs PID 1 ~5 ms under TCG).
      if (!statSync(candidate, { throwIfNoEntry: false })?.isFile()) continue;
      accessSync(candidate, fsConstants.X_OK);
      return { path: candidate };
    } catch (cause) {
      if (errnoOf(cause) === 'EACCES') errno = 'EACCES';
    }
  }
  return { errno };
}

/** The podman/docker convention for a command that could not be started. */
function statusForSpawnError(errno: string): number {
  return errno === 'ENOENT' ? 127 : 126;
}

export interface RunningCommand {
  /** How the command ended. */
  ended: Promise<Status>;
  /** Sends the command `signal` while it runs (what PID 1 is sent, and what the host forwards). */
  signal(signal: NodeJS.Signals): void;
}

/**
 * Starts the command as our child (it runs when this returns), as `identity` when given. On
 * every SIGCHLD, PID 1 reaps whatever has ended: the command, and the orphans the kernel makes its
 * children.
 */
export function runCommand(request: RunRequest, env: readonly Buffer[], stdio: readonly number[], identity?: Identity): RunningCommand {
  const name = request.argv[0]!;
  const notStarted = (errno: string): RunningCommand => {
    // Said where the command's own errors go, as a shell would, and in the kernel log.
    const message = `${name}: ${errno === 'ENOENT' ? 'command not found' : errno}`;
    writeSync(stdio[2]!, `${message}\n`);
    error(message);
    return { ended: Promise.resolve({ kind: 'exit', code: statusForSpawnError(errno) }), signal: () => {} };
  };
  debug(`run ${JSON.stringify(request.argv.map(String))} in ${request.cwd}`);
  const program = findProgram(name, lookup(env, 'PATH') ?? '');
  if ('errno' in program) return notStarted(program.errno);
  let pid: number;
  try {
    const start = () => spawn(program.path, request.argv, env, request.cwd, stdio);
    pid = identity ? spawnAsUser(identity, start) : start();
  } catch (cause) {
    return notStarted(errnoOf(cause) ?? messageOf(cause));
  }
  let running = true;
  const ended = new Promise<Status>((resolve) => {
    const reapChildren = () => {
      for (let child = reapExitedChild(); child; child = reapExitedChild()) {
        if (child.pid !== pid) {
          debug(`reaped orphan ${child.pid}`);
          continue;
        }
        running = false;
        clearInterval(keepAlive);
        resolve(child.end);
      }
    };
    // Signal listeners do not keep Node's event loop alive: without a timer PID 1 would run out of
    // work and exit (a kernel panic) while its command runs. Reaping on it too covers a command
    // that ended before the SIGCHLD listener was in place.
    const keepAlive = setInterval(reapChildren, 1000);
    process.on('SIGCHLD', reapChildren);
    reapChildren();
  });
  const signal = (name: NodeJS.Signals) => {
    debug(`${name} for the command`);
    if (running) process.kill(pid, name);
  };
  for (const name of ['SIGTERM', 'SIGINT'] as const) process.on(name, () => signal(name));
  return { ended, signal };
}
