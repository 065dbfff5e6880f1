/**
 * Boots timed on the host's wall clock: chrootvm as a user runs it, and a VM started directly
 * through chrootvm's own VM runner for initrds chrootvm does not build.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Status } from '../../init/status-line.ts';
import { projectRoot } from '../lib/artifacts.ts';
import { Cleanup } from '../lib/cleanup.ts';
import type { Accel } from '../lib/plan.ts';
import { describeExit } from '../lib/processes.ts';
import { runVm } from '../lib/vm.ts';

const CHROOTVM = join(projectRoot, 'bin/chrootvm');

export interface ChrootvmRun {
  seconds: number;
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

/** `bin/chrootvm ARGS…`, killed after `timeoutMs`; `seconds` runs from the spawn to the exit. */
export function runChrootvm(args: readonly string[], timeoutMs: number): Promise<ChrootvmRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(CHROOTVM, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    // SIGINT lets chrootvm stop its qemu and virtiofsd; SIGKILL would leave them running.
    const timer = setTimeout(() => child.kill('SIGINT'), timeoutMs);
    let seconds = 0;
    child.once('error', reject);
    child.once('exit', () => (seconds = (performance.now() - started) / 1000));
    child.once('close', (exitCode) => {
      clearTimeout(timer);
      resolve({ seconds, exitCode, stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString() });
    });
  });
}

export interface DirectVm {
  /** What chrootvm passes to -kernel: the PVH vmlinux when there is one. */
  kernel: string;
  rootfs: string;
  accel: Accel;
  memoryMiB: number;
  cpus: number;
}

export interface DirectBoot {
  seconds: number;
  /** The last status line on ttyS1, if the guest wrote one. */
  status?: Status;
  /** The kernel's console (ttyS2). */
  kernelLog: string;
  /** How qemu ended and why the guest stopped, for error messages. */
  ending: string;
  /** qemu's SHUTDOWN reason: "guest-shutdown" for a power-off. */
  shutdownReason?: string;
}

/**
 * Boots `initrd` in the VM chrootvm would start for `vm` (lib/vm.ts, the same code), with the rootfs
 * as the read-only "rootfs" share. `seconds` runs from starting virtiofsd to qemu's exit, the span
 * chrootvm spends on the same.
 */
export async function bootDirect(vm: DirectVm, initrd: string, cmdline: string, timeoutMs: number): Promise<DirectBoot> {
  const workdir = await mkdtemp(join(tmpdir(), 'bench-'));
  const cleanup = new Cleanup();
  try {
    const end = await runVm(
      {
        workdir,
        kernel: vm.kernel,
        initrd,
        memoryMiB: vm.memoryMiB,
        cpus: vm.cpus,
        accel: vm.accel,
        shares: [{ tag: 'rootfs', path: vm.rootfs, readonly: true }],
        cmdline,
        interactive: false,
        console: 'collect',
        timeoutMs,
      },
      cleanup,
    );
    const ending = end.stoppedBecause?.timeout
      ? `no power-off within ${timeoutMs / 1000} s`
      : `qemu ${describeExit(end.qemuExit)}, shutdown reason ${end.shutdownReason ?? 'none'}${end.qemuExit.code ? `: ${end.qemuStderr}` : ''}`;
    return {
      seconds: end.seconds,
      status: end.status,
      kernelLog: end.kernelLog,
      ending,
      ...(end.shutdownReason === undefined ? {} : { shutdownReason: end.shutdownReason }),
    };
  } finally {
    await cleanup.run();
    await rm(workdir, { recursive: true, force: true });
  }
}
