/** Child processes of chrootvm: started, watched, and stopped without leaving any behind. */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { constants, existsSync, readFileSync } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** The last `count` lines of `text`, for an error message. */
export function lastLines(text: string, count: number): string {
  return text.trim().split('\n').slice(-count).join('\n');
}

/** The tail of a child's stderr, kept for error messages. */
export class OutputTail {
  private text = '';
  private static readonly LIMIT = 16 * 1024;
  append(chunk: Buffer | string): void {
    this.text = (this.text + chunk.toString()).slice(-OutputTail.LIMIT);
  }
  lastLines(count = 5): string {
    return lastLines(this.text, count);
  }
}

export interface Started {
  child: ChildProcess;
  stderr: OutputTail;
  /** Resolves when the process has exited, with its status or signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function start(argv: readonly string[], options: SpawnOptions & { echoStderr?: boolean }): Started {
  const child = spawn(argv[0]!, argv.slice(1), options);
  const stderr = new OutputTail();
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr.append(chunk);
    if (options.echoStderr) process.stderr.write(chunk);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (cause: NodeJS.ErrnoException) => {
      stderr.append(`${argv[0]}: ${cause.code === 'ENOENT' ? 'not found' : cause.message}`);
      resolve({ code: 127, signal: null });
    });
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  return { child, stderr, exited };
}

/** Whether `pid` is a process that still runs: a zombie (ended, not yet reaped) is not. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (cause) {
    // EPERM: the process exists but belongs to someone else.
    if ((cause as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    // The state follows the parenthesised name, which may itself hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/**
 * What to put before a child's argv so that it dies with us even when we are killed with SIGKILL
 * and no cleanup runs: util-linux's setpriv sets PR_SET_PDEATHSIG, which lasts across the exec.
 * The signal comes when the thread that spawned the child ends: Node spawns from its main thread,
 * which ends with the process. Empty when setpriv is missing.
 */
export async function dieWithUsPrefix(env: NodeJS.ProcessEnv): Promise<string[]> {
  const setpriv = await findOnPath('setpriv', env);
  return setpriv ? [setpriv, '--pdeathsig', 'KILL', '--'] : [];
}

/** SIGTERM, then SIGKILL if the process is still there after `graceMs`; resolves once it is gone. */
export async function stop(process: Started, graceMs = 2000): Promise<void> {
  if (process.child.exitCode !== null || process.child.signalCode !== null || process.child.pid === undefined) return;
  process.child.kill('SIGTERM');
  const gone = await Promise.race([process.exited.then(() => true), sleep(graceMs, false, { ref: false })]);
  if (!gone) {
    process.child.kill('SIGKILL');
    await process.exited;
  }
}

/** Waits for a daemon's socket to appear; fails early, with its stderr, if the daemon exits instead. */
export async function waitForSocket(daemon: Started, socket: string, what: string, timeoutMs = 10_000): Promise<void> {
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void daemon.exited.then((result) => (exit = result));
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(socket)) {
    if (exit) throw new Error(`${what} exited before creating its socket (${describeExit(exit)}): ${daemon.stderr.lastLines() || 'no message'}`);
    if (Date.now() > deadline) throw new Error(`${what} did not create ${socket} within ${timeoutMs / 1000} s`);
    await sleep(10);
  }
}

export function describeExit(result: { code: number | null; signal: NodeJS.Signals | null }): string {
  return result.signal ? `killed by ${result.signal}` : `exit status ${result.code}`;
}

export async function isExecutableFile(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** `name` as the shell would find it on PATH, or undefined. */
export async function findOnPath(name: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  // An empty PATH entry would mean the current directory: not a place to pick a program that runs as root from.
  for (const directory of (env.PATH ?? '').split(delimiter).filter((entry) => entry !== '')) {
    if (await isExecutableFile(join(directory, name))) return join(directory, name);
  }
  return undefined;
}
