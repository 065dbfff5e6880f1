/**
 * Running one VM: a virtiofsd per share, qemu from the plan, the host ends of the guest's ports
 * (status, kernel log, the command's stderr, QMP), and what the host can trust about how it ended.
 * chrootvm, the benchmark and the tests all boot through here; every process and listener is
 * registered with the caller's cleanup as soon as it exists.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { monotonicMs } from '../../init/clock.ts';
import { PORTS, type PortRole, type RunRequest } from '../../init/control-protocol.ts';
import { parseStatus } from '../../init/status-line.ts';
import { DEFAULT_QEMU } from './accel.ts';
import type { Cleanup } from './cleanup.ts';
import { GuestPorts, portSocketName, type CommandSignals, type CommandStreams } from './guest-ports.ts';
import { cacheDirectory } from './initrd-cache.ts';
import type { RunEnd } from './outcome.ts';
import { qemuArgv, type Accel } from './plan.ts';
import { describeExit, dieWithUsPrefix, findOnPath, start, stop, waitForSocket, type Started } from './processes.ts';
import { listenForQmp, shutdownReason } from './qmp.ts';
import { currentPrivilege } from './user-namespace.ts';
import { canMakePrivateView, findVirtiofsd, rememberedFeatures, virtiofsdArgv } from './virtiofsd.ts';

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
  /** startShares' daemons for `shares`, when the caller started them ahead of the VM; else runVm starts them. */
  sharesStarted?: StartingShares;
  /** Raw disk images, as virtio-blk devices with these serials. */
  disks?: readonly { path: string; serial: string }[];
  /** A pvpanic device: a guest kernel panic is told apart from a reboot (the guest needs pvpanic_pci). */
  panicDevice?: boolean;
  /** A network interface on qemu's user-mode network, with these hostfwd= rules. */
  network?: { hostForwards: string[] };
  cmdline: string;
  /** The console on our terminal (stdin included) instead of a command's output. */
  interactive: boolean;
  /** Where the guest's ttyS0 goes: our stdout, or collected into `console`. */
  console: 'inherit' | 'collect';
  /** Kill the VM after this long. */
  timeoutMs?: number;
  /** Run mode: the command the guest's init runs, where its streams go on the host, and the signals passed on to it. */
  run?: { request: RunRequest; streams: CommandStreams; signals?: CommandSignals };
  /** Show qemu's stderr as it comes. */
  echoQemuStderr?: boolean;
  log?: (text: string) => void;
}

export interface VmEnd extends RunEnd {
  /** The whole kernel console (ttyS2). */
  kernelLog: string;
  /** ttyS0, when collected. */
  console: string;
  /** The command's stdout and stderr, when their streams were 'collect'. */
  output: { stdout: string; stderr: string };
  /** From runVm's start (with the virtiofsds' start, unless they were started ahead) to qemu's exit. */
  seconds: number;
}

/** A unix socket's path fits in sun_path: 108 bytes, the terminating NUL included. */
const SOCKET_PATH_MAX_BYTES = 107;

/**
 * A socket a run listens on or has virtiofsd create, in the workdir. Every name is checked before
 * anything starts (checkSocketPaths), because a path too long fails deep inside qemu or virtiofsd
 * with a message naming neither.
 */
function socketPath(workdir: string, name: string): string {
  const path = join(workdir, name);
  const bytes = Buffer.byteLength(path);
  if (bytes > SOCKET_PATH_MAX_BYTES) {
    throw new Error(`the socket path ${path} is ${bytes} bytes, more than a unix socket takes (${SOCKET_PATH_MAX_BYTES}): set TMPDIR to a shorter directory`);
  }
  return path;
}

const shareSocketName = (index: number) => `fs${index}.sock`;
/** In the cache: what the virtiofsd binary is (its flavour), as long as it is the same file. */
const VIRTIOFSD_MEMO = 'virtiofsd.json';
const QMP_SOCKET = 'qmp.sock';

function checkSocketPaths(spec: VmSpec): void {
  const ports = spec.run ? (Object.keys(PORTS) as PortRole[]).map(portSocketName) : [];
  for (const name of [...spec.shares.map((_, index) => shareSocketName(index)), QMP_SOCKET, ...ports]) socketPath(spec.workdir, name);
}

/** A virtiofsd that dies while qemu runs would hang the guest; one that exits with qemu is normal. */
const DAEMON_EXIT_GRACE_MS = 2000;

export interface StartedShare {
  tag: string;
  daemon: Started;
  socket: string;
}

export interface StartingShares {
  daemons: StartedShare[];
  /** Resolves when every daemon has made its socket; rejects naming the first that could not. */
  ready: Promise<void>;
  /** What the daemons' argv began with so that they die with us (dieWithUsPrefix); qemu's begins with it too. */
  dieWithUs: string[];
}

/**
 * Starts a virtiofsd for each share, all at once, and resolves when they run; `ready` says when
 * they serve. chrootvm calls it as soon as it knows the shares and plans the rest of the VM while
 * the daemons come up.
 */
export async function startShares(workdir: string, shares: readonly VmShare[], cleanup: Cleanup, log?: (text: string) => void): Promise<StartingShares> {
  // Our cleanup stops them on every exit it sees; this covers the one it cannot (SIGKILL).
  const dieWithUs = await dieWithUsPrefix(process.env);
  if (shares.length === 0) return { daemons: [], ready: Promise.resolve(), dieWithUs };
  const virtiofsd = await findVirtiofsd(process.env);
  const { flavour, readonlyOption } = await rememberedFeatures(virtiofsd, join(cacheDirectory(), VIRTIOFSD_MEMO));
  const host = { readonlyOption, privateView: await canMakePrivateView(process.env), userNamespace: currentPrivilege().kind === 'user-namespace' };
  log?.(`virtiofsd ${virtiofsd} (${flavour === 'c' ? 'C' : 'Rust'})`);
  const daemons = shares.map((share, index): StartedShare => {
    const socket = socketPath(workdir, shareSocketName(index));
    const { argv, readonlyEnforced } = virtiofsdArgv(flavour, virtiofsd, { socket, dir: share.path, readonly: share.readonly }, host);
    if (share.readonly) {
      log?.(`share "${share.tag}" read-only, enforced ${readonlyEnforced ? 'on the host (virtiofsd cannot write)' : 'by the guest mount only (a guest root user can remount it writable)'}`);
    }
    const daemon = start([...dieWithUs, ...argv], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    cleanup.add(`virtiofsd for "${share.tag}"`, () => stop(daemon));
    return { tag: share.tag, daemon, socket };
  });
  const ready = Promise.all(daemons.map(({ tag, daemon, socket }, index) => waitForSocket(daemon, socket, `virtiofsd for "${tag}" (${shares[index]!.path})`)));
  return { daemons, ready: ready.then(() => undefined), dieWithUs };
}

export async function runVm(spec: VmSpec, cleanup: Cleanup): Promise<VmEnd> {
  // Checked before any daemon starts, so a missing qemu or a bad TMPDIR costs nothing to clean up.
  checkSocketPaths(spec);
  const qemuBinary = await findOnPath(DEFAULT_QEMU, process.env);
  if (!qemuBinary) throw new Error(`${DEFAULT_QEMU} not found on PATH (${process.env.PATH ?? 'not set'}): install the Debian package qemu-system-x86`);
  const started = monotonicMs();
  const { daemons, ready, dieWithUs } = spec.sharesStarted ?? (await startShares(spec.workdir, spec.shares, cleanup, spec.log));
  await ready;
  const statusPath = join(spec.workdir, 'status');
  const kernelLogPath = join(spec.workdir, 'kernel.log');
  const ports = spec.run ? await GuestPorts.listen((name) => socketPath(spec.workdir, name), spec.run.request, spec.run.streams, spec.run.signals) : undefined;
  if (ports) cleanup.add('guest port sockets', () => ports.close());
  const qmp = await listenForQmp(socketPath(spec.workdir, QMP_SOCKET));
  cleanup.add('QMP listener', () => qmp.close());
  const argv = qemuArgv({
    qemu: qemuBinary,
    kernel: spec.kernel,
    initrd: spec.initrd,
    memoryMiB: spec.memoryMiB,
    cpus: spec.cpus,
    accel: spec.accel,
    shares: daemons.map(({ tag, socket }) => ({ tag, socket })),
    disks: [...(spec.disks ?? [])],
    panicDevice: spec.panicDevice ?? false,
    ...(spec.network ? { network: spec.network } : {}),
    cmdline: spec.cmdline,
    statusPath,
    kernelLogPath,
    ports: ports && Object.entries(ports.sockets).map(([role, socket]) => ({ name: PORTS[role as PortRole], socket })),
    qmpSocket: qmp.socket,
    interactive: spec.interactive,
  });
  spec.log?.(`qemu: ${JSON.stringify(argv)}`);

  // Command mode: qemu gets its own process group, so a ^C reaches chrootvm, which stops it in order.
  // Interactive: qemu must stay in the foreground group to read the terminal.
  const qemu = start([...dieWithUs, ...argv], {
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
  const seconds = (monotonicMs() - started) / 1000;
  clearTimeout(timer);
  await ports?.drained();
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
    output: ports?.collected() ?? { stdout: '', stderr: '' },
    seconds,
    stoppedBecause,
  };
}
