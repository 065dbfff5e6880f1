/**
 * chrootvm: boot a directory in a VM with its own kernel and run a command there, like chroot.
 * Plan first (kernel, initrd, shares, qemu argv), then run it, then turn the guest's status line
 * into our exit status. Every resource is registered with the cleanup as soon as it exists.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { join, resolve } from 'node:path';
import { formatBootParameters, tagProblem, type BootConfig } from '../init/cmdline.ts';
import { parseStatus } from '../init/status-line.ts';
import { chooseAccel, DEFAULT_QEMU } from './lib/accel.ts';
import { builtFfiModule, builtInit } from './lib/artifacts.ts';
import { parseChrootvmArgs, USAGE, UsageError, type ChrootvmOptions, type HostShare } from './lib/chrootvm-args.ts';
import { Cleanup } from './lib/cleanup.ts';
import { guestCwd } from './lib/guest-cwd.ts';
import { cacheDirectory, cachedInitrd } from './lib/initrd-cache.ts';
import { chooseKernel } from './lib/kernel-choice.ts';
import { resolveImage } from './lib/image/resolve-image.ts';
import { decideOutcome, EXIT_FAILURE, kernelLogSummary, type RunEnd } from './lib/outcome.ts';
import { qemuArgv } from './lib/plan.ts';
import { listenForQmp, shutdownReason } from './lib/qmp.ts';
import { extractVmlinux } from './lib/vmlinux.ts';
import { describeExit, relayToStderr, start, stop, waitForSocket, type Started } from './lib/processes.ts';
import { findVirtiofsd, inspectVirtiofsd, virtiofsdArgv } from './lib/virtiofsd.ts';
import { usageErrorText } from './lib/usage.ts';

const ROOTFS_TAG = 'rootfs';
const DAEMON_EXIT_GRACE_MS = 2000;

class ChrootvmError extends Error {}

function fail(message: string): never {
  throw new ChrootvmError(message);
}

async function requireDirectory(path: string, what: string): Promise<string> {
  const absolute = resolve(path);
  const info = await stat(absolute).catch(() => fail(`${what} ${path} does not exist`));
  if (!info.isDirectory()) fail(`${what} ${path} is not a directory`);
  return absolute;
}

async function checkShares(shares: readonly HostShare[]): Promise<HostShare[]> {
  const seen = new Set([ROOTFS_TAG]);
  const checked: HostShare[] = [];
  for (const share of shares) {
    const option = share.readonly ? '--mount-ro' : '--mount';
    const problem = tagProblem(share.tag) ?? (seen.has(share.tag) ? `tag "${share.tag}" is already used` : undefined);
    if (problem) fail(`${option} ${share.tag} ${share.path}: ${problem}`);
    seen.add(share.tag);
    checked.push({ ...share, path: await requireDirectory(share.path, `${option} ${share.tag}: PATH`) });
  }
  return checked;
}

/**
 * The directory shared as the guest's root: ROOTFS, or an image extracted into the cache (copied
 * into the private temp dir for --rw, so no run writes the cached tree), or none when a
 * whole-system --initrd is booted (its first operand is then not a directory but the command).
 */
async function chooseRootfs(
  options: ChrootvmOptions,
  workdir: string,
  log: (text: string) => void,
): Promise<{ rootfs: string | undefined; command: string[] }> {
  const command = options.command;
  if (options.image) {
    const image = await resolveImage(options.image, { log }).catch((cause: Error) => fail(`--image ${options.image}: ${cause.message}`));
    for (const warning of image.warnings) process.stderr.write(`chrootvm: --image ${options.image}: ${warning}\n`);
    if (!options.rw) return { rootfs: image.rootfs, command };
    const copy = join(workdir, 'rootfs');
    execFileSync('cp', ['-a', '--reflink=auto', '--', image.rootfs, copy]);
    return { rootfs: copy, command };
  }
  if (options.rootfs === undefined) return { rootfs: undefined, command };
  if (options.initrd && !(await stat(options.rootfs).then((info) => info.isDirectory(), () => false))) {
    return { rootfs: undefined, command: [options.rootfs, ...command] };
  }
  return { rootfs: await requireDirectory(options.rootfs, 'ROOTFS'), command };
}

function saveTerminal(): string | undefined {
  if (!process.stdin.isTTY) return undefined;
  try {
    return execFileSync('stty', ['-g'], { stdio: ['inherit', 'pipe', 'ignore'], encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

function restoreTerminal(saved: string): void {
  execFileSync('stty', [saved], { stdio: ['inherit', 'ignore', 'ignore'] });
}

async function runVm(options: ChrootvmOptions, cleanup: Cleanup): Promise<number> {
  const log = (text: string) => {
    if (options.debug) process.stderr.write(`chrootvm: ${text}\n`);
  };
  const workdir = await mkdtemp(join(tmpdir(), 'chrootvm-'));
  cleanup.add(`temporary directory ${workdir}`, () => rm(workdir, { recursive: true, force: true }));
  const shares = await checkShares(options.shares);
  const { rootfs, command } = await chooseRootfs(options, workdir, log);
  const kernel = await chooseKernel({
    kernel: options.kernel,
    kernelFrom: options.kernelFrom,
    rootfs,
    fromImage: options.image !== undefined,
    initrdGiven: options.initrd !== undefined,
  }).catch((cause: Error) => fail(cause.message));
  if (kernel.note) process.stderr.write(`chrootvm: ${kernel.note}\n`);
  log(`kernel ${kernel.kernel} (${kernel.release}), from ${kernel.why}`);
  // Both cost time only on a first run; the vmlinux lets qemu skip the kernel's own decompressor
  // (PVH entry), which under TCG is a large part of a boot.
  const [initrd, pvh] = await Promise.all([
    options.initrd
      ? resolve(options.initrd)
      : cachedInitrd({ init: builtInit, ffiModule: builtFfiModule, moddir: kernel.moddir!, extraModules: [] }, 'lz4', log).catch(
          (cause: Error) => fail(`building the initrd: ${cause.message}`),
        ),
    extractVmlinux(kernel.kernel, cacheDirectory()),
  ]);
  log(`PVH: ${pvh.reason}`);
  const accel = await chooseAccel(options.accel);
  log(`accelerator ${accel.accel}: ${accel.reason}`);

  const virtiofsd = await findVirtiofsd(process.env);
  const { flavour, readonlyOption } = await inspectVirtiofsd(virtiofsd);
  // Root can give a C virtiofsd a read-only view of a read-only share (see inReadonlyView).
  const isRoot = process.getuid?.() === 0;
  log(`virtiofsd ${virtiofsd} (${flavour === 'c' ? 'C' : 'Rust'})`);
  const exported = [...(rootfs ? [{ tag: ROOTFS_TAG, path: rootfs, readonly: !options.rw }] : []), ...shares];
  const daemons: { tag: string; daemon: Started }[] = [];
  for (const [index, share] of exported.entries()) {
    const socket = join(workdir, `fs${index}.sock`);
    const { argv, readonlyEnforced } = virtiofsdArgv(flavour, virtiofsd, { socket, dir: share.path, readonly: share.readonly }, readonlyOption, isRoot);
    if (share.readonly) {
      log(`share "${share.tag}" read-only, enforced ${readonlyEnforced ? 'on the host (virtiofsd cannot write)' : 'by the guest mount only (a guest root user can remount it writable)'}`);
    }
    const daemon = start(argv, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    cleanup.add(`virtiofsd for "${share.tag}"`, () => stop(daemon));
    daemons.push({ tag: share.tag, daemon });
    await waitForSocket(daemon, socket, `virtiofsd for "${share.tag}" (${share.path})`);
  }

  const interactive = command.length === 0;
  const boot: BootConfig = {
    rootfs: ROOTFS_TAG,
    // No rootfs share: the whole-system initrd is the root.
    rootfsNamed: rootfs !== undefined,
    rw: options.rw,
    shares: shares.map(({ tag, readonly }) => ({ tag, readonly })),
    init: '/bin/sh',
    initArgs: [],
    debug: options.debug,
    run: {
      argv: interactive ? ['/bin/sh'] : command,
      cwd: guestCwd(process.cwd(), [
        ...(rootfs ? [{ hostPath: rootfs, guestPath: '/' }] : []),
        ...shares.map((share) => ({ hostPath: share.path, guestPath: `/run/mnt/${share.tag}` })),
      ]),
      interactive,
      // Interactive: all on the terminal. Command mode: stderr on its own port, to our stderr.
      stdio: interactive ? ['/dev/ttyS0', '/dev/ttyS0', '/dev/ttyS0'] : ['/dev/ttyS0', '/dev/ttyS0', '/dev/ttyS3'],
      ...(interactive && process.stdout.isTTY ? { size: { rows: process.stdout.rows, columns: process.stdout.columns } } : {}),
    },
  };
  // The kernel's console is ttyS2, a file read back when the VM fails, so kernel messages never
  // land in the command's output; --debug puts it on ttyS0 to show it live instead (a second
  // console= on the same 8250 driver is not enabled by the kernel).
  const kernelParameters = [options.debug ? 'console=ttyS0' : 'console=ttyS2', 'panic=-1'];
  if (interactive && process.env.TERM) kernelParameters.push(`TERM=${process.env.TERM}`);
  const statusPath = join(workdir, 'status');
  const kernelLogPath = join(workdir, 'kernel.log');
  const stderrRelay = await relayToStderr(join(workdir, 'stderr.sock'));
  cleanup.add('stderr relay', () => stderrRelay.close());
  const qmp = await listenForQmp(join(workdir, 'qmp.sock'));
  cleanup.add('QMP listener', () => qmp.close());
  const argv = qemuArgv({
    qemu: DEFAULT_QEMU,
    kernel: pvh.path ?? kernel.kernel,
    initrd,
    memoryMiB: options.memoryMiB,
    cpus: options.cpus,
    accel: accel.accel,
    shares: exported.map((share, index) => ({ tag: share.tag, socket: join(workdir, `fs${index}.sock`) })),
    cmdline: [...kernelParameters, ...formatBootParameters(boot)].join(' '),
    statusPath,
    kernelLogPath,
    stderrSocket: interactive ? undefined : stderrRelay.socket,
    qmpSocket: qmp.socket,
    interactive,
  });
  log(`qemu: ${JSON.stringify(argv)}`);

  const terminal = interactive ? saveTerminal() : undefined;
  if (terminal) cleanup.add('terminal settings', () => restoreTerminal(terminal));
  // Command mode: qemu gets its own process group, so a ^C reaches chrootvm, which stops it in order.
  // Interactive: qemu must stay in the foreground group to read the terminal.
  const qemu = start(argv, {
    stdio: [interactive ? 'inherit' : 'ignore', 'inherit', 'pipe'],
    detached: !interactive,
    echoStderr: options.debug,
  });
  cleanup.add('qemu', () => stop(qemu));

  let stoppedBecause: RunEnd['stoppedBecause'];
  const timer =
    options.timeoutSeconds === undefined
      ? undefined
      : setTimeout(() => {
          stoppedBecause = { timeout: true, seconds: options.timeoutSeconds! };
          qemu.child.kill('SIGKILL');
        }, options.timeoutSeconds * 1000);
  for (const { tag, daemon } of daemons) {
    void daemon.exited.then(async (result) => {
      // A virtiofsd also exits when qemu closes its socket at power-off; only one that goes
      // while qemu keeps running is a failure (the guest's file accesses would hang). The timer is
      // unreferenced: a grace period must not keep chrootvm alive after everything has ended.
      const qemuEnded = await Promise.race([qemu.exited.then(() => true), sleep(DAEMON_EXIT_GRACE_MS, false, { ref: false })]);
      if (qemuEnded || stoppedBecause) return;
      const reason = `virtiofsd for "${tag}" stopped while the VM ran (${describeExit(result)}): ${daemon.stderr.lastLines() || 'no message'}`;
      stoppedBecause = { timeout: false, reason };
      qemu.child.kill('SIGKILL');
    });
  }
  const qemuExit = await qemu.exited;
  clearTimeout(timer);
  await stderrRelay.drained();

  const outcome = decideOutcome({
    status: parseStatus(await readFile(statusPath, 'utf8').catch(() => '')),
    shutdownReason: shutdownReason(qmp.events()),
    qemuExit,
    qemuStderr: qemu.stderr.lastLines(),
    kernelLogTail: kernelLogSummary(await readFile(kernelLogPath, 'utf8').catch(() => '')),
    stoppedBecause,
  });
  log(`qemu ${describeExit(qemuExit)}, shutdown reason ${shutdownReason(qmp.events()) ?? 'none'}`);
  if (outcome.message) process.stderr.write(`chrootvm: ${outcome.message}\n`);
  return outcome.exitCode;
}

async function main(argv: string[]): Promise<number> {
  let options: ChrootvmOptions;
  try {
    options = parseChrootvmArgs(argv);
  } catch (cause) {
    if (!(cause instanceof UsageError)) throw cause;
    process.stderr.write(usageErrorText('chrootvm', cause));
    return EXIT_FAILURE;
  }
  if (options.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const cleanup = new Cleanup();
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`chrootvm: ${signal}, stopping the VM\n`);
      void cleanup.run().then(() => process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1)));
    });
  }
  try {
    return await runVm(options, cleanup);
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause);
    process.stderr.write(`chrootvm: ${message}\n`);
    if (!(cause instanceof ChrootvmError) && options.debug && cause instanceof Error) process.stderr.write(`${cause.stack}\n`);
    return EXIT_FAILURE;
  } finally {
    await cleanup.run();
  }
}

process.exitCode = await main(process.argv.slice(2));
