/**
 * Running one VM: a virtiofsd per share, qemu from the plan, the host ends of the guest's ports
 * (status, kernel log, the command's stderr, QMP), and what the host can trust about how it ended.
 * chrootvm, the benchmark and the tests all boot through here; every process and listener is
 * registered with the caller's cleanup as soon as it exists.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseStatus } from '../../init/status-line.ts';
import { DEFAULT_QEMU } from './accel.ts';
import type { Cleanup } from './cleanup.ts';
import type { RunEnd } from './outcome.ts';
import { qemuArgv, type Accel } from './plan.ts';
import { describeExit, findOnPath, relayToStderr, start, stop, waitForSocket, type Started } from './processes.ts';
import { listenForQmp, shutdownReason } from './qmp.ts';
import { findVirtiofsd, inspectVirtiofsd, virtiofsdArgv } from './virtiofsd.ts';

export interface VmShare {
  tag: string;
  path: string;
  readonly: boolean;
}

export interface VmSpec {
  /** The private 0700 directory for sockets and port files. */
  workdir: string;
  kernel: string;
  initrd: string;
  memoryMiB: number;
  cpus: number;
  accel: Accel;
  shares: readonly VmShare[];
  cmdline: string;
  /** The console on our terminal (stdin included) instead of a command's output. */
  interactive: boolean;
  /** Where the guest's ttyS0 goes: our stdout, or collected into `console`. */
  console: 'inherit' | 'collect';
  /** Kill the VM after this long. */
  timeoutMs?: number;
  /** Show qemu's stderr as it comes. */
  echoQemuStderr?: boolean;
  log?: (text: string) => void;
}

export interface VmEnd extends RunEnd {
  /** The whole kernel console (ttyS2). */
  kernelLog: string;
  /** ttyS0, when collected. */
  console: string;
  /** From starting the first virtiofsd to qemu's exit. */
  seconds: number;
}

/** A virtiofsd that dies while qemu runs would hang the guest; one that exits with qemu is normal. */
const DAEMON_EXIT_GRACE_MS = 2000;

async function startDaemons(spec: VmSpec, cleanup: Cleanup): Promise<{ tag: string; daemon: Started; socket: string }[]> {
  const virtiofsd = await findVirtiofsd(process.env);
  const { flavour, readonlyOption } = await inspectVirtiofsd(virtiofsd);
  // Root can give a C virtiofsd a read-only view of a read-only share (see inReadonlyView).
  const canBindReadonly = process.getuid?.() === 0 && (await findOnPath('unshare', process.env)) !== undefined;
  spec.log?.(`virtiofsd ${virtiofsd} (${flavour === 'c' ? 'C' : 'Rust'})`);
  const daemons: { tag: string; daemon: Started; socket: string }[] = [];
  for (const [index, share] of spec.shares.entries()) {
    const socket = join(spec.workdir, `fs${index}.sock`);
    const { argv, readonlyEnforced } = virtiofsdArgv(flavour, virtiofsd, { socket, dir: share.path, readonly: share.readonly }, readonlyOption, canBindReadonly);
    if (share.readonly) {
      spec.log?.(`share "${share.tag}" read-only, enforced ${readonlyEnforced ? 'on the host (virtiofsd cannot write)' : 'by the guest mount only (a guest root user can remount it writable)'}`);
    }
    const daemon = start(argv, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    cleanup.add(`virtiofsd for "${share.tag}"`, () => stop(daemon));
    daemons.push({ tag: share.tag, daemon, socket });
    await waitForSocket(daemon, socket, `virtiofsd for "${share.tag}" (${share.path})`);
  }
  return daemons;
}

export async function runVm(spec: VmSpec, cleanup: Cleanup): Promise<VmEnd> {
  // Checked before any daemon starts, so a missing qemu costs nothing to clean up.
  const qemuBinary = await findOnPath(DEFAULT_QEMU, process.env);
  if (!qemuBinary) throw new Error(`${DEFAULT_QEMU} not found on PATH (${process.env.PATH ?? 'not set'}): install the Debian package qemu-system-x86`);
  const started = performance.now();
  const daemons = await startDaemons(spec, cleanup);
  const statusPath = join(spec.workdir, 'status');
  const kernelLogPath = join(spec.workdir, 'kernel.log');
  const stderrRelay = spec.interactive ? undefined : await relayToStderr(join(spec.workdir, 'stderr.sock'));
  if (stderrRelay) cleanup.add('stderr relay', () => stderrRelay.close());
  const qmp = await listenForQmp(join(spec.workdir, 'qmp.sock'));
  cleanup.add('QMP listener', () => qmp.close());
  const argv = qemuArgv({
    qemu: qemuBinary,
    kernel: spec.kernel,
    initrd: spec.initrd,
    memoryMiB: spec.memoryMiB,
    cpus: spec.cpus,
    accel: spec.accel,
    shares: daemons.map(({ tag, socket }) => ({ tag, socket })),
    cmdline: spec.cmdline,
    statusPath,
    kernelLogPath,
    stderrSocket: stderrRelay?.socket,
    qmpSocket: qmp.socket,
    interactive: spec.interactive,
  });
  spec.log?.(`qemu: ${JSON.stringify(argv)}`);

  // Command mode: qemu gets its own process group, so a ^C reaches chrootvm, which stops it in order.
  // Interactive: qemu must stay in the foreground group to read the terminal.
  const qemu = start(argv, {
    stdio: [spec.interactive ? 'inherit' : 'ignore', spec.console === 'inherit' ? 'inherit' : 'pipe', 'pipe'],
    detached: !spec.interactive,
    echoStderr: spec.echoQemuStderr,
  });
  cleanup.add('qemu', () => stop(qemu));
  let console = '';
  qemu.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (console += chunk));

  let stoppedBecause: RunEnd['stoppedBecause'];
  const timer =
    spec.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          stoppedBecause = { timeout: true, seconds: spec.timeoutMs! / 1000 };
          qemu.child.kill('SIGKILL');
        }, spec.timeoutMs);
  for (const { tag, daemon } of daemons) {
    void daemon.exited.then(async (result) => {
      // Unreferenced: the grace period must not keep the process alive after everything has ended.
      const qemuEnded = await Promise.race([qemu.exited.then(() => true), sleep(DAEMON_EXIT_GRACE_MS, false, { ref: false })]);
      if (qemuEnded || stoppedBecause) return;
      const reason = `virtiofsd for "${tag}" stopped while the VM ran (${describeExit(result)}): ${daemon.stderr.lastLines() || 'no message'}`;
      stoppedBecause = { timeout: false, reason };
      qemu.child.kill('SIGKILL');
    });
  }
  const qemuExit = await qemu.exited;
  const seconds = (performance.now() - started) / 1000;
  clearTimeout(timer);
  await stderrRelay?.drained();
  const kernelLog = (await readFile(kernelLogPath, 'utf8').catch(() => '')).replaceAll('\r', '');
  const reason = shutdownReason(qmp.events());
  spec.log?.(`qemu ${describeExit(qemuExit)}, shutdown reason ${reason ?? 'none'}`);
  return {
    status: parseStatus(await readFile(statusPath, 'utf8').catch(() => '')),
    shutdownReason: reason,
    qemuExit,
    qemuStderr: qemu.stderr.lastLines(),
    kernelLogTail: '',
    kernelLog,
    console,
    seconds,
    stoppedBecause,
  };
}
