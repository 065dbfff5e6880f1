/**
 * `bin/chrootvm ARGS…` as a measured child process, for the benchmark and the soak: wall time from
 * spawn to exit, its output, and whether it had to be stopped for taking too long.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from './artifacts.ts';

const CHROOTVM = join(projectRoot, 'bin/chrootvm');
/**
 * chrootvm's own --timeout is the limit: it stops the VM, exits 124 and shows the kernel's last
 * messages, which say where a hung boot stopped. Should chrootvm itself not end, it gets SIGINT
 * twice this long after the limit (the first goes on to the command, the second stops the VM at
 * once and cleans up), and SIGKILL, which would leave the VM's processes and files behind, only
 * if it is still there after that.
 */
const BACKSTOP_MS = 15_000;
const SECOND_SIGNAL_MS = 1_000;
const KILL_GRACE_MS = 10_000;
const CHROOTVM_TIMED_OUT = /^chrootvm: timed out after /m;

export interface ChrootvmRun {
  seconds: number;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** It was still running after the limit and was stopped (by its own --timeout, or by us). */
  timedOut: boolean;
}

/** chrootvm's ARGS with `--timeout SECONDS` first, unless they name a --timeout of their own. */
export function withTimeout(args: readonly string[], seconds: number): string[] {
  return args.includes('--timeout') ? [...args] : ['--timeout', String(seconds), ...args];
}

/** `input`, when given, is chrootvm's stdin (else /dev/null). */
export function runChrootvm(args: readonly string[], timeoutMs: number, input?: Buffer): Promise<ChrootvmRun> {
  const limited = withTimeout(args, Math.ceil(timeoutMs / 1000));
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(CHROOTVM, limited, { stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    child.stdin?.end(input);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGINT');
      setTimeout(() => child.kill('SIGINT'), SECOND_SIGNAL_MS).unref();
      setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS).unref();
    }, timeoutMs + BACKSTOP_MS);
    let seconds = 0;
    child.once('error', reject);
    child.once('exit', () => (seconds = (performance.now() - started) / 1000));
    child.once('close', (exitCode, signal) => {
      clearTimeout(timer);
      const errors = Buffer.concat(stderr).toString();
      timedOut ||= exitCode === 124 && CHROOTVM_TIMED_OUT.test(errors);
      resolve({ seconds, exitCode, signal, stdout: Buffer.concat(stdout).toString(), stderr: errors, timedOut });
    });
  });
}
