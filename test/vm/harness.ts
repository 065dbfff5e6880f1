/**
 * Booting VMs from tests: run chrootvm (or qemu) as a process and collect what came back. VM tests
 * skip only when qemu itself is missing, and say so; a missing demo rootfs is a failure (make test
 * builds it).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');
export const CHROOTVM = join(ROOT, 'bin/chrootvm');
export const DEMO_ROOTFS = join(ROOT, '.cache/demo/rootfs');

export const skipWithoutQemu: string | false = spawnSync('qemu-system-x86_64', ['--version']).error
  ? 'qemu-system-x86_64 is not installed: VM tests cannot boot anything'
  : false;

/** Generous: a TCG boot takes seconds, and CI machines are slower and noisier than ours. */
export const VM_TEST_TIMEOUT_MS = 180_000;

export function requireDemoRootfs(): string {
  if (!existsSync(join(DEMO_ROOTFS, 'bin/busybox'))) {
    throw new Error(`${DEMO_ROOTFS} is missing: run \`make demo-rootfs\` (make test does)`);
  }
  return DEMO_ROOTFS;
}

export interface Result {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Running {
  child: ChildProcess;
  result: Promise<Result>;
  /** Resolves once `text` has appeared on stderr (or stdout). */
  waitFor(text: string): Promise<void>;
}

export function startChrootvm(args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Running {
  const child = spawn(CHROOTVM, args, { cwd: options.cwd ?? ROOT, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  const check = () => {
    for (const waiter of [...waiters]) {
      if (stdout.includes(waiter.text) || stderr.includes(waiter.text)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  };
  child.stdout.on('data', (chunk: Buffer) => ((stdout += chunk.toString()), check()));
  child.stderr.on('data', (chunk: Buffer) => ((stderr += chunk.toString()), check()));
  const result = new Promise<Result>((resolveResult) =>
    child.on('close', (status, signal) => resolveResult({ status, signal, stdout, stderr })),
  );
  return {
    child,
    result,
    waitFor: (text) =>
      new Promise<void>((resolveWait, reject) => {
        waiters.push({ text, resolve: resolveWait });
        check();
        void result.then((r) => reject(new Error(`chrootvm ended before "${text}" appeared: ${JSON.stringify(r)}`)));
      }),
  };
}

export function chrootvm(args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Result> {
  return startChrootvm(args, options).result;
}

/** chrootvm's private temp dirs that exist now: a test compares before and after. */
export function chrootvmTempDirs(): string[] {
  return readdirSync(tmpdir()).filter((name) => name.startsWith('chrootvm-'));
}

/** chrootvm's private temp dirs all start with this; its qemu and virtiofsd name paths inside them. */
export const CHROOTVM_TEMP_PREFIX = join(tmpdir(), 'chrootvm-');

/** qemu and virtiofsd processes whose command line mentions `marker` (e.g. CHROOTVM_TEMP_PREFIX). */
export function processesMentioning(marker: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmdline.includes(marker) && /qemu|virtiofsd/.test(cmdline)) found.push(`${pid}: ${cmdline}`);
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}
