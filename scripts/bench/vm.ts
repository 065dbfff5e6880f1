/**
 * A VM started directly through chrootvm's own VM runner, timed on the host's wall clock, for
 * initrds chrootvm does not build (chrootvm itself is timed by lib/timed-chrootvm.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Status } from '../../init/status-line.ts';
import { Cleanup } from '../lib/cleanup.ts';
import type { Accel } from '../lib/plan.ts';
import { describeExit, lastLines } from '../lib/processes.ts';
import { runVm } from '../lib/vm.ts';

export interface DirectVm {
  /** What chrootvm passes to -kernel: the PVH vmlinux when there is one. */
  kernel: string;
  rootfs: string;
  accel: Accel;
  memoryMiB: number;
  cpus: number;
}

/** Lines of the kernel's console that end a failed boot's message: where the guest got to. */
const KERNEL_LOG_LINES = 20;

export interface DirectBoot {
  seconds: number;
  /** The last status line on ttyS1, if the guest wrote one. */
  status?: Status;
  /** The kernel's console (ttyS2). */
  kernelLog: string;
  /** How qemu ended and why the guest stopped, with the kernel's last lines, for error messages. */
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
    const how = end.stoppedBecause?.timeout
      ? `no power-off within ${timeoutMs / 1000} s`
      : `qemu ${describeExit(end.qemuExit)}, shutdown reason ${end.shutdownReason ?? 'none'}${end.qemuExit.code ? `: ${end.qemuStderr}` : ''}`;
    const kernelTail = lastLines(end.kernelLog, KERNEL_LOG_LINES);
    const ending = kernelTail ? `${how}\nthe kernel's last lines:\n${kernelTail}` : how;
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
