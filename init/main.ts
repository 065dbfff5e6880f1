/**
 * /init: PID 1 of a VM whose root filesystem comes from the host over virtiofs.
 * The boot is this list of named steps, run in order; a required step that fails ends the boot
 * through fatal(), an optional one is logged and the boot goes on.
 */
import { closeSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { installBootHook } from './boot-hook.ts';
import { parseCmdline, type BootConfig } from './cmdline.ts';
import { openCommandIo, openConsole } from './command-io.ts';
import { decodeRunRequest, type RunRequest } from './control-protocol.ts';
import { ControlPort } from './control.ts';
import { createDeviceNodes } from './devices.ts';
import { fatal } from './fatal.ts';
import { chooseGuestHostname } from './hostname.ts';
import { cleanEnvironment, commandEnvironment, DEFAULT_INIT, execInit, runCommand } from './launch.ts';
import { debug, setVerbose, warn } from './log.ts';
import { loadModules } from './modules.ts';
import { earlyMounts } from './mounts.ts';
import { configureNetwork, provideNameFiles } from './network.ts';
import { mountOverlayRoot } from './overlay-root.ts';
import { initrdPaths } from './paths.ts';
import { findPorts } from './ports.ts';
import { mountShare } from './shares.ts';
import { reportStatus } from './status.ts';
import { errnoOf, messageOf } from './sys/errors.ts';
import { bringInterfaceUp, mount, powerOff, setHostname, setProcessName, sync } from './sys/libc.ts';
import { deleteInitramfs, switchRoot, type OldRoot } from './switch-root.ts';
import { moveSystemToTmpfs } from './system-root.ts';
import { resolveIdentity, type Identity } from './users.ts';

interface Step {
  name: string;
  required: boolean;
  run(): void;
}

let config: BootConfig;
let oldRoot: OldRoot;
/** Run mode: the control port and the command chrootvm sent over it. */
let control: ControlPort | undefined;
/** The command to run: chrootvm's, or the image's process of a whole-system initramfs. */
let request: RunRequest | undefined;
const term = process.env.TERM;
/** Modules that failed to load, as `name (ERRNO)`: the likely cause of a share that never appears. */
let moduleFailures: string[] = [];

const steps: Step[] = [
  { name: 'name the process init', required: false, run: () => setProcessName('init') },
  {
    name: 'mount early filesystems',
    required: true,
    run() {
      process.umask(0);
      for (const entry of earlyMounts) {
        try {
          mkdirSync(entry.target, { recursive: true, mode: entry.mode });
          mount(entry.fstype, entry.fstype, entry.target, entry.fstype, entry.flags, entry.data);
          debug(`mounted ${entry.fstype} on ${entry.target}`);
        } catch (cause) {
          // EBUSY: already mounted (the kernel's own devtmpfs automount, for one).
          if (errnoOf(cause) === 'EBUSY') continue;
          if (entry.required) throw cause;
          warn(`${entry.target}: ${messageOf(cause)}`);
        }
      }
    },
  },
  {
    name: 'read kernel command line',
    required: true,
    run() {
      config = parseCmdline(readFileSync('/proc/cmdline', 'utf8'));
      setVerbose(config.debug);
      debug(`command line: ${JSON.stringify(config)}`);
    },
  },
  { name: 'create device nodes', required: false, run: createDeviceNodes },
  // The device nodes needed the umask cleared; whatever init= and the command create must not get
  // world-writable modes (in a writable share they land on the host). 022 is the kernel's default.
  { name: 'restore the umask', required: true, run: () => process.umask(0o022) },
  // Programs expect 127.0.0.1 and ::1 to answer, network or not.
  { name: 'bring up loopback', required: false, run: () => bringInterfaceUp('lo') },
  {
    name: 'load kernel modules',
    required: false,
    run() {
      moduleFailures = loadModules(initrdPaths.modules).failed.map(({ module, errno }) => `${module} (${errno})`);
    },
  },
  {
    name: 'receive the run request',
    required: true,
    run() {
      if (!config.run) return;
      control = new ControlPort(findPorts(['control']).control);
      request = control.receiveRunRequest();
      debug(`run request: ${describeRequest(request)}`);
    },
  },
  {
    name: "read the image's process",
    required: true,
    run() {
      // init= names what runs instead, as it does for any initramfs.
      if (config.run || config.init !== undefined || !existsSync(initrdPaths.imageProcess)) return;
      request = decodeRunRequest(readFileSync(initrdPaths.imageProcess, 'utf8').trimEnd());
      debug(`the image's process: ${describeRequest(request)}`);
    },
  },
  {
    name: 'prepare the root',
    required: true,
    run() {
      // A whole system in the initramfs is a copy in memory already: an overlay over it is that copy, writable.
      if (!config.rootfsNamed && existsSync(initrdPaths.wholeSystemMarker)) moveSystemToTmpfs(initrdPaths.newRoot, config.rw || config.overlay !== undefined);
      else if (config.overlay) mountOverlayRoot(config.overlay, config.rootfs, initrdPaths.newRoot, shareTimeoutMs());
      else mountShare(config.rootfs, initrdPaths.newRoot, !config.rw, shareTimeoutMs());
    },
  },
  {
    name: 'mount shares',
    required: true,
    run() {
      for (const share of config.shares) mountShare(share.tag, join('/run/mnt', share.tag), share.readonly, shareTimeoutMs());
    },
  },
  {
    name: 'configure the network',
    required: true,
    run() {
      if (!config.net) return;
      configureNetwork(config.net);
      const hostname = chooseGuestHostname(config.hostname, join(initrdPaths.newRoot, 'etc/hostname'));
      provideNameFiles(initrdPaths.newRoot, config.net, hostname, rootIsCopy());
    },
  },
  {
    name: 'prepare the command for the system',
    required: true,
    run() {
      if (!config.boot || !request) return;
      const devices = findPorts(['stdin', 'stdout', 'stderr']);
      const env = commandEnvironment(cleanEnvironment(term), request.env);
      debug(`the system's init starts the command: ${installBootHook(initrdPaths.newRoot, systemInit(), request, env, devices, rootIsCopy())}`);
    },
  },
  {
    name: 'switch root',
    required: true,
    run() {
      oldRoot = switchRoot(initrdPaths.newRoot);
    },
  },
  {
    name: 'set the hostname',
    required: false,
    run() {
      const name = chooseGuestHostname(config.hostname);
      setHostname(name);
      debug(`hostname ${name}`);
    },
  },
];

/** An overlay, or a writable in-memory system, is a copy: files may be written into it. */
function rootIsCopy(): boolean {
  return config.overlay !== undefined || (config.rw && !config.rootfsNamed && existsSync(initrdPaths.wholeSystemMarker));
}

/** What runs as PID 1 after the switch in exec mode and --boot: init= (chrootvm --boot always names it), else DEFAULT_INIT. */
function systemInit(): string {
  return config.init ?? DEFAULT_INIT;
}

function describeRequest(request: RunRequest): string {
  return JSON.stringify({ ...request, argv: request.argv.map(String), env: request.env.map(String), cwd: String(request.cwd) });
}

function shareTimeoutMs(): number | undefined {
  return config.shareTimeoutSeconds === undefined ? undefined : config.shareTimeoutSeconds * 1000;
}

/** The boot goes on past a module that fails (it may not be needed), so a later failure says which did. */
function withModuleFailures(cause: unknown): unknown {
  if (moduleFailures.length === 0) return cause;
  return new Error(`${messageOf(cause)}; kernel modules that failed to load: ${moduleFailures.join(', ')}`);
}

/**
 * PID 1 lives on beside the command and keeps the runtime in /init, its libraries and ffi-rs mapped:
 * deleting them would free none of their pages, and what else the initramfs holds is the kernel
 * modules (under 1 MB for a plain boot). The deletion cost the command ~0.1 s under TCG, for that.
 */
function keepInitramfs(): void {
  closeSync(oldRoot.fd);
}

/**
 * Before the exec of the system's init, which unmaps the runtime: then every page of the
 * initramfs returns. Memory is all it costs if this fails: the boot goes on.
 */
function freeInitramfs(): void {
  try {
    deleteInitramfs(oldRoot);
  } catch (cause) {
    warn(`deleting the initramfs: ${messageOf(cause)}`);
  }
}

/** Who --user names, in the new root's own /etc/passwd and /etc/group. */
function commandIdentity(user: string): Identity {
  const read = (path: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return '';
    }
  };
  try {
    const identity = resolveIdentity(user, read('/etc/passwd'), read('/etc/group'));
    debug(`run as ${JSON.stringify(identity)}`);
    return identity;
  } catch (cause) {
    return fatal('start command', cause);
  }
}

async function boot(): Promise<never> {
  debug('init started');
  for (const step of steps) {
    debug(`step: ${step.name}`);
    try {
      step.run();
    } catch (cause) {
      if (step.required) fatal(step.name, withModuleFailures(cause));
      warn(`${step.name}: ${messageOf(cause)}`);
    }
  }
  const env = cleanEnvironment(term);
  // --boot: the system's init runs the command (boot-hook.ts).
  if (!request || config.boot) {
    freeInitramfs();
    try {
      return execInit(systemInit(), config.initArgs, env);
    } catch (cause) {
      return fatal('start init', cause);
    }
  }
  return runToTheEnd(request, env);
}

/**
 * Runs `request` as PID 1's child until it ends, then powers off: chrootvm's command with its
 * streams on the ports, or an image's process on the console.
 */
async function runToTheEnd(request: RunRequest, env: Record<string, string>): Promise<never> {
  try {
    statSync(request.cwd);
  } catch (cause) {
    fatal('start command', new Error(`working directory ${request.cwd}: ${errnoOf(cause)}`));
  }
  const identity = request.user === undefined ? undefined : commandIdentity(request.user);
  const io = control ? openCommandIo(request) : openConsole();
  const command = runCommand(request, commandEnvironment(identity ? { ...env, HOME: identity.home } : env, request.env), io.stdio, identity);
  io.started();
  control?.listen((signal) => command.signal(signal));
  keepInitramfs();
  const status = await command.ended;
  debug(`command ended: ${JSON.stringify(status)}`);
  const counts = await io.finish();
  if (counts) {
    debug(`output sent: ${JSON.stringify(counts)}`);
    await control!.confirmOutput(counts);
  }
  sync();
  reportStatus(status);
  return powerOff();
}

process.on('uncaughtException', (cause) => fatal('init', cause));
process.on('unhandledRejection', (cause) => fatal('init', cause));
void boot();
