/**
 * chrootvm: boot a directory in a VM with its own kernel and run a command there, like chroot.
 * Choose (rootfs, kernel, initrd, shares, boot parameters), run the VM (lib/vm.ts), then turn how
 * it ended into our exit status (lib/outcome.ts). Every resource is registered with the cleanup as soon as it exists.
 */
import { execFileSync } from 'node:child_process';
import { realpath, stat } from 'node:fs/promises';
import { constants, tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { formatBootParameters, tagProblem, type BootConfig, type OverlayConfig } from '../init/cmdline.ts';
import { execLimitProblem, FORWARDED_SIGNALS, type ForwardedSignal, type RunRequest } from '../init/control-protocol.ts';
import { messageOf } from '../init/sys/errors.ts';
import { chooseAccel } from './lib/accel.ts';
import { builtFfiModule, builtInit } from './lib/artifacts.ts';
import { writeFileAtomic } from './lib/atomic-write.ts';
import { parseChrootvmArgs, USAGE, UsageError, type ChrootvmOptions, type HostShare, type OverlayOptions } from './lib/chrootvm-args.ts';
import { Cleanup } from './lib/cleanup.ts';
import { guestCwd } from './lib/guest-cwd.ts';
import { guestEnvironment } from './lib/guest-env.ts';
import { CommandSignals } from './lib/guest-ports.ts';
import { NET_MODULES, userNetworkConfig } from './lib/guest-network.ts';
import { defaultHostname } from './lib/guest-hostname.ts';
import type { ImageProcess } from './lib/image/manifest.ts';
import { imageCommand, isBareShell } from './lib/image/process-command.ts';
import { cacheDirectory, cachedInitrd, CHROOTVM_CODEC } from './lib/initrd-cache.ts';
import { chooseKernel } from './lib/kernel-choice.ts';
import { resolveInRoot } from './lib/kernels.ts';
import { decideBootOutcome, decideOutcome, EXIT_FAILURE, kernelLogSummary } from './lib/outcome.ts';
import { OVERLAY_DISK_SERIAL, overlayConfig, overlayModules, prepareOverlayDisk } from './lib/overlay.ts';
import { versionLine } from './lib/package-version.ts';
import { choosePorts, hostForward, publishFileText, type Published } from './lib/publish.ts';
import { argumentBytes } from './lib/raw-arguments.ts';
import { removeTree } from './lib/remove-tree.ts';
import { makeRunDirectory } from './lib/run-directory.ts';
import { usageErrorText } from './lib/usage.ts';
import { currentPrivilege, describePrivilege, gatherRootlessFacts, rootlessProblem } from './lib/user-namespace.ts';
import { runVm, startShares } from './lib/vm.ts';
import { extractVmlinux } from './lib/vmlinux.ts';

const ROOTFS_TAG = 'rootfs';

class ChrootvmError extends Error {}

/** The signal that is stopping us, once one has come. */
let stoppedBy: NodeJS.Signals | undefined;
/** Where signals go while the VM runs: to the command, as a local command would get them. */
let commandSignals: CommandSignals | undefined;
/** The signal passed on to the command, once one has been. */
let forwarded: ForwardedSignal | undefined;
/** How long a command may take to end after a forwarded signal before its VM is stopped (podman stop's default). */
const SIGNAL_GRACE_SECONDS = 10;

function fail(message: string): never {
  throw new ChrootvmError(message);
}

/** The directory `path` names, symlinks resolved: virtiofsd shares a real directory, and the cwd mapping compares real paths. */
async function requireDirectory(path: string, what: string): Promise<string> {
  const absolute = resolve(path);
  const info = await stat(absolute).catch(() => fail(`${what} ${path} does not exist`));
  if (!info.isDirectory()) fail(`${what} ${path} is not a directory`);
  return realpath(absolute);
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
 * The directory shared as the guest's root: ROOTFS, or an image extracted into the cache (never
 * written: --image --rw is an overlay), or none when a whole-system --initrd is booted (its first
 * operand is then not a directory but the command).
 */
async function chooseRootfs(
  options: ChrootvmOptions,
  log: (text: string) => void,
): Promise<{ rootfs: string | undefined; command: string[]; imageProcess?: ImageProcess }> {
  const command = options.command;
  if (options.image) {
    // Loaded only for an image: the registry client and tar reader are most of chrootvm's modules.
    const { openImage } = await import('./lib/image/open-image.ts');
    const image = await openImage(options.image, { pull: options.pull, tlsVerify: options.tlsVerify, program: 'chrootvm', log }).catch((cause: Error) => fail(`--image ${options.image}: ${cause.message}`));
    for (const warning of image.warnings) process.stderr.write(`chrootvm: --image ${options.image}: ${warning}\n`);
    if (image.process.exposedPorts.length > 0) log(`the image exposes ${image.process.exposedPorts.join(', ')} (publish them with -p)`);
    return { rootfs: image.rootfs, command, imageProcess: image.process };
  }
  if (options.rootfs === undefined) return { rootfs: undefined, command };
  if (options.initrd && !(await stat(options.rootfs).then((info) => info.isDirectory(), () => false))) {
    return { rootfs: undefined, command: [options.rootfs, ...command] };
  }
  return { rootfs: await requireDirectory(options.rootfs, 'ROOTFS'), command };
}

/**
 * The init's overlay, and the disk --overlay-dir keeps. A whole-system initrd's root is a copy in
 * memory already: --overlay makes it writable, and there is nothing for a disk to keep.
 */
async function chooseOverlay(
  options: OverlayOptions,
  rootfs: string | undefined,
  log: (text: string) => void,
): Promise<{ config: OverlayConfig; disk?: string }> {
  if (options.dir !== undefined) {
    if (!rootfs) fail(`--overlay-dir ${options.dir}: a whole-system initrd's root is in memory already; --overlay makes it writable`);
    const disk = await prepareOverlayDisk(resolve(options.dir), options.sizeMiB, log).catch((cause: Error) => fail(`--overlay-dir ${options.dir}: ${cause.message}`));
    return { config: overlayConfig(options), disk };
  }
  const config = overlayConfig(options);
  log(`overlay: the upper layer in guest memory (${config.upper === 'tmpfs' && config.size ? `${options.sizeMiB} MiB` : 'half the guest memory'})`);
  return { config };
}

/**
 * The host ports for -p, checked or chosen before anything boots; the chosen ones are said on
 * stderr, and all of them written to --publish-file.
 */
async function publishPorts(options: ChrootvmOptions): Promise<Published[]> {
  const published = await choosePorts(options.publish).catch((cause: Error) => fail(cause.message));
  for (const port of published) {
    if (port.hostPort === 0) process.stderr.write(`chrootvm: -p ${port.text}: guest port ${port.guestPort}/${port.protocol} is published on ${port.hostIp}:${port.boundPort}\n`);
  }
  if (options.publishFile) {
    await writeFileAtomic(options.publishFile, Buffer.from(publishFileText(published))).catch((cause: Error) => fail(`--publish-file ${options.publishFile}: ${cause.message}`));
  }
  return published;
}

/**
 * The modules the asked-for features add to the initramfs, in a stable order (the initramfs is
 * cached by them). --boot's pvpanic_pci tells a panic from the system's own reboot.
 */
function extraModules(overlay: OverlayConfig | undefined, net: boolean, boot: boolean): string[] {
  return [...new Set([...overlayModules(overlay), ...(net ? NET_MODULES : []), ...(boot ? ['pvpanic_pci'] : [])])].sort();
}

/** The kernel's own order for an init (init/main.c): what --boot runs without a PATH. */
const SYSTEM_INITS = ['/sbin/init', '/etc/init', '/bin/init'];

/** The tree's init --boot runs: PATH, else the first of SYSTEM_INITS the tree has (symlinks followed inside it). */
async function chooseSystemInit(rootfs: string, asked: string | undefined): Promise<string> {
  for (const path of asked === undefined ? SYSTEM_INITS : [asked]) if (await resolveInRoot(rootfs, path)) return path;
  return fail(asked === undefined ? `--boot: ${rootfs} has none of ${SYSTEM_INITS.join(', ')}; name its init with --boot=PATH` : `--boot=${asked}: ${rootfs} has no ${asked}`);
}

/**
 * What the guest runs and how: the command's words as the user gave them (an image's process
 * composed from its config), its environment, directory and user, and whether it gets the
 * terminal. `command` is the tail of our arguments, whose bytes are taken from `argvBytes`.
 */
function commandRequest(
  options: ChrootvmOptions,
  argvBytes: readonly Buffer[],
  command: readonly string[],
  imageProcess: ImageProcess | undefined,
  where: { rootfs: string | undefined; shares: readonly HostShare[]; bootConsole: boolean },
  log: (text: string) => void,
): RunRequest {
  const commandWords = argvBytes.slice(argvBytes.length - command.length);
  const argv = imageProcess ? imageCommand(imageProcess, commandWords, options.entrypoint) : commandWords;
  if (imageProcess && argv.length > 0) log(`the image's process: ${JSON.stringify(argv.map(String))}`);
  // Nothing to run is the interactive shell; so is an image's bare shell on a terminal (podman run -it).
  const interactive =
    where.bootConsole || argv.length === 0 || (imageProcess !== undefined && command.length === 0 && isBareShell(argv) && process.stdin.isTTY === true);
  const user = options.user ?? (imageProcess?.user || undefined);
  return {
    argv: argv.length > 0 ? argv : [Buffer.from('/bin/sh')],
    env: [
      ...(interactive && process.env.TERM ? [Buffer.from(`TERM=${process.env.TERM}`)] : []),
      ...(imageProcess?.env ?? []).map((entry) => Buffer.from(entry)),
      ...guestEnvironment(options.env, (option) => argvBytes[option.word]!.subarray(option.offset), process.env),
    ],
    cwd: Buffer.from(
      options.workdir ??
        (imageProcess?.workingDir ||
          guestCwd(process.cwd(), [
            ...(where.rootfs ? [{ hostPath: where.rootfs, guestPath: '/' }] : []),
            ...where.shares.map((share) => ({ hostPath: share.path, guestPath: `/run/mnt/${share.tag}` })),
          ])),
    ),
    interactive,
    ...(user ? { user } : {}),
    ...(interactive && process.stdout.isTTY ? { size: { rows: process.stdout.rows, columns: process.stdout.columns } } : {}),
  };
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

/**
 * `argvBytes` are our arguments as bytes (any bytes, not only UTF-8): the command's words and the
 * -e values reach the guest as the user gave them.
 */
async function runChrootvm(options: ChrootvmOptions, argvBytes: readonly Buffer[], cleanup: Cleanup): Promise<number> {
  const log = (text: string) => {
    if (options.debug) process.stderr.write(`chrootvm: ${text}\n`);
  };
  // Before anything is built: an ordinary user outside a namespace of its own cannot run virtiofsd.
  const privilege = currentPrivilege();
  if (privilege.kind === 'user') fail(rootlessProblem(await gatherRootlessFacts(process.env)));
  log(describePrivilege(privilege));
  const workdir = await makeRunDirectory(tmpdir(), 'chrootvm');
  cleanup.add(`temporary directory ${workdir}`, () => removeTree(workdir));
  const shares = await checkShares(options.shares);
  const { rootfs, command, imageProcess } = await chooseRootfs(options, log);
  if (rootfs) log(`sharing ${rootfs} as the root${options.overlay ? ', under an overlay' : ''}`);
  const vmShares = [...(rootfs ? [{ tag: ROOTFS_TAG, path: rootfs, readonly: !options.rw }] : []), ...shares];
  // The virtiofsds start now and come up while the rest is planned (~20 ms of a run's start). runVm
  // waits until they serve; a failure before that is its to report, or goes with the cleanup.
  const sharesStarted = await startShares(workdir, vmShares, cleanup, log);
  sharesStarted.ready.catch(() => undefined);
  const overlay = options.overlay && (await chooseOverlay(options.overlay, rootfs, log));
  const published = options.net === 'user' ? await publishPorts(options) : undefined;
  for (const share of shares) log(`sharing ${share.path} at /run/mnt/${share.tag}${share.readonly ? ' (read-only)' : ''}`);
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
      : cachedInitrd({ init: builtInit, ffiModule: builtFfiModule, moddir: kernel.moddir!, extraModules: extraModules(overlay?.config, published !== undefined, options.boot !== undefined) }, CHROOTVM_CODEC, log).catch(
          (cause: Error) => fail(`building the initrd: ${cause.message}`),
        ),
    extractVmlinux(kernel.kernel, cacheDirectory()),
  ]);
  log(`PVH: ${pvh.reason}`);
  const accel = await chooseAccel(options.accel);
  log(`accelerator ${accel.accel}: ${accel.reason}`);

  // --boot: the tree's own init is PID 1 (an image's process is not run); without a command, the
  // system's console is the terminal and there is nothing to send over the ports.
  const systemInit = options.boot && (await chooseSystemInit(rootfs!, options.boot.init));
  const bootConsole = options.boot !== undefined && command.length === 0;
  if (systemInit) log(`booting ${systemInit} of the tree${bootConsole ? '' : ', which runs the command once the system is up'}`);
  // An image's process and its settings, unless the tree's own init runs (--boot).
  const request = commandRequest(options, argvBytes, command, options.boot ? undefined : imageProcess, { rootfs, shares, bootConsole }, log);
  const interactive = request.interactive;
  const tooBig = execLimitProblem(request);
  if (tooBig) fail(tooBig);
  const boot: BootConfig = {
    rootfs: ROOTFS_TAG,
    // No rootfs share: the whole-system initrd is the root.
    rootfsNamed: rootfs !== undefined,
    rw: options.rw,
    shares: shares.map(({ tag, readonly }) => ({ tag, readonly })),
    initArgs: [],
    debug: options.debug,
    hostname: options.hostname ?? (await defaultHostname(rootfs, options.image ?? (rootfs ? options.rootfs : undefined))),
    run: !bootConsole,
    ...(systemInit ? { init: systemInit, ...(bootConsole ? {} : { boot: true }) } : {}),
    ...(overlay ? { overlay: overlay.config } : {}),
    ...(published ? { net: userNetworkConfig() } : {}),
  };
  // The kernel's console is ttyS2, a file read back when the VM fails, so kernel messages never
  // land in the command's output; --debug puts it on ttyS0 to show it live instead (a second
  // console= on the same 8250 driver is not enabled by the kernel). A booted system's console
  // without a command is the terminal, as on a real machine.
  const kernelParameters = [options.debug || bootConsole ? 'console=ttyS0' : 'console=ttyS2', 'panic=-1'];
  commandSignals = new CommandSignals();
  const terminal = interactive ? saveTerminal() : undefined;
  if (terminal) cleanup.add('terminal settings', () => restoreTerminal(terminal));
  const end = await runVm(
    {
      workdir,
      kernel: pvh.path ?? kernel.kernel,
      initrd,
      memoryMiB: options.memoryMiB,
      cpus: options.cpus,
      accel: accel.accel,
      shares: vmShares,
      sharesStarted,
      disks: overlay?.disk ? [{ path: overlay.disk, serial: OVERLAY_DISK_SERIAL }] : [],
      ...(published ? { network: { hostForwards: published.map(hostForward) } } : {}),
      panicDevice: options.boot !== undefined,
      cmdline: [...kernelParameters, ...formatBootParameters(boot)].join(' '),
      interactive,
      console: 'inherit',
      ...(bootConsole
        ? {}
        : {
            run: {
              request,
              signals: commandSignals,
              // Interactive: the terminal is qemu's (ttyS0); our stdin must stay unread.
              streams: { ...(interactive ? {} : { stdin: process.stdin }), stdout: process.stdout, stderr: process.stderr },
            },
          }),
      timeoutMs: options.timeoutSeconds === undefined ? undefined : options.timeoutSeconds * 1000,
      echoQemuStderr: options.debug,
      log,
    },
    cleanup,
  );
  // Stopped by our own signal: the handler has said so, and how the VM ended says nothing more.
  if (stoppedBy) return EXIT_FAILURE;
  const ending = { ...end, kernelLogTail: kernelLogSummary(end.kernelLog) };
  const outcome = options.boot ? decideBootOutcome(ending, !bootConsole) : decideOutcome(ending);
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
  if (options.version) {
    process.stdout.write(versionLine('chrootvm'));
    return 0;
  }
  const cleanup = new Cleanup();
  const stop = (signal: ForwardedSignal, why: string) => {
    if (stoppedBy) return;
    stoppedBy = signal;
    process.stderr.write(`chrootvm: ${why}, stopping the VM\n`);
    void cleanup.run().then(() => process.exit(128 + constants.signals[signal]));
  };
  for (const signal of FORWARDED_SIGNALS) {
    process.on(signal, () => {
      if (forwarded) return stop(signal, `${signal} after ${forwarded}`);
      // Before the VM runs there is no command to pass it to.
      if (!commandSignals) return stop(signal, signal);
      forwarded = signal;
      if (options.debug) process.stderr.write(`chrootvm: ${signal}, passed on to the command\n`);
      commandSignals.send(signal);
      setTimeout(() => stop(signal, `${signal}: the command has not ended ${SIGNAL_GRACE_SECONDS} s after it`), SIGNAL_GRACE_SECONDS * 1000).unref();
    });
  }
  try {
    return await runChrootvm(options, argumentBytes(argv), cleanup);
  } catch (cause) {
    const message = messageOf(cause);
    process.stderr.write(`chrootvm: ${message}\n`);
    if (!(cause instanceof ChrootvmError) && options.debug && cause instanceof Error) process.stderr.write(`${cause.stack}\n`);
    return EXIT_FAILURE;
  } finally {
    await cleanup.run();
  }
}

process.exitCode = await main(process.argv.slice(2));
