/**
 * Booting VMs from tests: run chrootvm (or qemu) as a process and collect what came back. VM tests
 * skip only when qemu itself is missing, and say so; a missing demo rootfs is a failure (make test
 * builds it).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Status } from '../../init/status-line.ts';
import { chooseAccel } from '../../scripts/lib/accel.ts';
import { builtFfiModule, builtInit } from '../../scripts/lib/artifacts.ts';
import { Cleanup } from '../../scripts/lib/cleanup.ts';
import { cacheDirectory, cachedInitrd } from '../../scripts/lib/initrd-cache.ts';
import { pickKernel } from '../../scripts/lib/kernels.ts';
import { runVm } from '../../scripts/lib/vm.ts';
import { extractVmlinux } from '../../scripts/lib/vmlinux.ts';
import { DEMO_ROOTFS } from '../demo.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
export const CHROOTVM = join(ROOT, 'bin/chrootvm');

export { DEMO_ROOTFS };

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
  // Decoded by a stream decoder: a character split across two reads must not become two U+FFFDs.
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => ((stdout += chunk), check()));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => ((stderr += chunk), check()));
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

export interface StatusBoot {
  /** The kernel command line after console= and panic=: formatBootParameters' words, raw words, or both. */
  cmdline: readonly string[];
  /** Served as the tag "rootfs" (default: the demo rootfs). */
  rootfs?: string;
  /** More shares, tag to host directory. */
  shares?: Readonly<Record<string, string>>;
  /** Tags of `shares` served writable (for mount=, which the guest mounts read-write); the rest read-only. */
  writable?: readonly string[];
  /** Another initrd than the one chrootvm would build for the rootfs's kernel. */
  initrd?: string;
  /** qemu is killed after this long: a guest that never powers off must not hang the test run. */
  timeoutMs: number;
}

export interface StatusBootResult {
  /** What the init reported on ttyS1, as chrootvm reads it. */
  status: Status | undefined;
  /** The kernel's console (ttyS2). */
  kernelLog: string;
  /** ttyS0: what the guest's programs wrote. */
  console: string;
  timedOut: boolean;
  seconds: number;
}

/** Temp dirs of bootForStatus; its qemu and virtiofsd name paths inside them. */
export const STATUS_BOOT_PREFIX = join(tmpdir(), 'virtinitrd-status-boot-');

/**
 * Boots the init with qemu and one virtiofsd per share, as chrootvm would but with any kernel command
 * line, and reads back the status line: for the faults chrootvm itself never lets through.
 */
export async function bootForStatus(boot: StatusBoot): Promise<StatusBootResult> {
  const rootfs = boot.rootfs ?? requireDemoRootfs();
  const { kernel, moddir } = await pickKernel(rootfs);
  const [initrd, pvh, accel] = await Promise.all([
    boot.initrd ?? cachedInitrd({ init: builtInit, ffiModule: builtFfiModule, moddir, extraModules: [] }, 'lz4', () => {}),
    extractVmlinux(kernel, cacheDirectory()),
    chooseAccel('auto'),
  ]);
  const workdir = await mkdtemp(STATUS_BOOT_PREFIX);
  const cleanup = new Cleanup();
  try {
    const end = await runVm(
      {
        workdir,
        kernel: pvh.path ?? kernel,
        initrd,
        memoryMiB: 512,
        cpus: 1,
        accel: accel.accel,
        shares: Object.entries({ ...boot.shares, rootfs }).map(([tag, path]) => ({ tag, path, readonly: !boot.writable?.includes(tag) })),
        cmdline: ['console=ttyS2', 'panic=-1', ...boot.cmdline].join(' '),
        interactive: false,
        console: 'collect',
        timeoutMs: boot.timeoutMs,
      },
      cleanup,
    );
    return { status: end.status, kernelLog: end.kernelLog, console: end.console, timedOut: end.stoppedBecause?.timeout === true, seconds: end.seconds };
  } finally {
    await cleanup.run();
    await rm(workdir, { recursive: true, force: true });
  }
}
