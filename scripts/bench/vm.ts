/**
 * Boots timed on the host's wall clock: chrootvm as a user runs it, and a VM started directly with
 * chrootvm's own pieces (qemuArgv, virtiofsd flags, status and kernel-log ports, QMP, stderr port)
 * for initrds chrootvm does not build.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseStatus, type Status } from '../../init/status-line.ts';
import { DEFAULT_QEMU } from '../lib/accel.ts';
import { projectRoot } from '../lib/artifacts.ts';
import { qemuArgv, type Accel } from '../lib/plan.ts';
import { describeExit, relayToStderr, start, stop, waitForSocket } from '../lib/processes.ts';
import { listenForQmp, shutdownReason } from '../lib/qmp.ts';
import { findVirtiofsd, inspectVirtiofsd, virtiofsdArgv } from '../lib/virtiofsd.ts';

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
 * Boots `initrd` in the VM chrootvm would start for `vm`, with the rootfs as the read-only "rootfs"
 * share. `seconds` runs from starting virtiofsd to qemu's exit, the span chrootvm spends on the same.
 */
export async function bootDirect(vm: DirectVm, initrd: string, cmdline: string, timeoutMs: number): Promise<DirectBoot> {
  const workdir = await mkdtemp(join(tmpdir(), 'bench-'));
  const closers: (() => unknown)[] = [() => rm(workdir, { recursive: true, force: true })];
  try {
    const virtiofsd = await findVirtiofsd(process.env);
    const { flavour, readonlyOption } = await inspectVirtiofsd(virtiofsd);
    const relay = await relayToStderr(join(workdir, 'stderr.sock'));
    closers.unshift(() => relay.close());
    const qmp = await listenForQmp(join(workdir, 'qmp.sock'));
    closers.unshift(() => qmp.close());
    const socket = join(workdir, 'fs0.sock');
    const statusPath = join(workdir, 'status');
    const kernelLogPath = join(workdir, 'kernel.log');
    const argv = qemuArgv({
      qemu: DEFAULT_QEMU,
      kernel: vm.kernel,
      initrd,
      memoryMiB: vm.memoryMiB,
      cpus: vm.cpus,
      accel: vm.accel,
      shares: [{ tag: 'rootfs', socket }],
      cmdline,
      statusPath,
      kernelLogPath,
      stderrSocket: relay.socket,
      qmpSocket: qmp.socket,
      interactive: false,
    });

    const started = performance.now();
    const daemon = start(virtiofsdArgv(flavour, virtiofsd, { socket, dir: vm.rootfs, readonly: true }, readonlyOption).argv, {
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
    });
    closers.unshift(() => stop(daemon));
    await waitForSocket(daemon, socket, `virtiofsd for ${vm.rootfs}`);
    const qemu = start(argv, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    closers.unshift(() => stop(qemu));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      qemu.child.kill('SIGKILL');
    }, timeoutMs);
    const exit = await qemu.exited;
    const seconds = (performance.now() - started) / 1000;
    clearTimeout(timer);
    await relay.drained();
    const reason = shutdownReason(qmp.events());
    const ending = timedOut
      ? `no power-off within ${timeoutMs / 1000} s`
      : `qemu ${describeExit(exit)}, shutdown reason ${reason ?? 'none'}${exit.code ? `: ${qemu.stderr.lastLines()}` : ''}`;
    return {
      seconds,
      status: parseStatus(await readFile(statusPath, 'utf8').catch(() => '')),
      kernelLog: await readFile(kernelLogPath, 'utf8').catch(() => ''),
      ending,
      ...(reason === undefined ? {} : { shutdownReason: reason }),
    };
  } finally {
    for (const close of closers) await close();
  }
}
