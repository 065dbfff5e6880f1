/**
 * `bin/chrootvm ARGS…` as a measured child process, for the benchmark and the soak: wall time from
 * spawn to exit, its output, and whether it had to be stopped for taking too long.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from './artifacts.ts';

const CHROOTVM = join(projectRoot, 'bin/chrootvm');
/**
 * After the limit chrootvm gets SIGINT twice: the first goes on to the command, the second stops
 * the VM at once and cleans up. SIGKILL, which would leave the VM's processes and files behind, only
 * if chrootvm is still there after that.
 */
const SECOND_SIGNAL_MS = 1_000;
const KILL_GRACE_MS = 10_000;

export interface ChrootvmRun {
  seconds: number;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** It was still running after the limit and was stopped. */
  timedOut: boolean;
}

/** `input`, when given, is chrootvm's stdin (else /dev/null). */
export function runChrootvm(args: readonly string[], timeoutMs: number, input?: Buffer): Promise<ChrootvmRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(CHROOTVM, args, { stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
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
    }, timeoutMs);
    let seconds = 0;
    child.once('error', reject);
    child.once('exit', () => (seconds = (performance.now() - started) / 1000));
    child.once('close', (exitCode, signal) => {
      clearTimeout(timer);
      resolve({ seconds, exitCode, signal, stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString(), timedOut });
    });
  });
}
