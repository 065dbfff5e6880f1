/**
 * chrootvm's command line, parsed without touching the system: chroot's shape
 * (`chrootvm [OPTION]... ROOTFS [COMMAND [ARG]...]`), so options stop at ROOTFS and everything
 * after it belongs to the command. With --image there is no ROOTFS operand.
 */
import minimist from 'minimist';
import { isValidHostname } from '../../init/hostname.ts';
import type { AccelRequest } from './accel.ts';
import { parseEntrypoint } from './image/process-command.ts';
import { parseMemory, parseSize } from './plan.ts';
import { pullChoice, type PullChoice } from './image/registry/pull-options.ts';
import { parsePublishSpec, type PublishSpec } from './publish.ts';
import { UsageError } from './usage.ts';

export interface HostShare {
  tag: string;
  path: string;
  readonly: boolean;
}

/**
 * An -e/--env or --env-file, in command-line order. `word` and `offset` say where its text starts in
 * our arguments, so that the bytes the user gave can be taken from there (raw-arguments.ts).
 */
export interface EnvOption {
  kind: 'env' | 'env-file';
  text: string;
  word: number;
  offset: number;
}

/** With --image: --pull and --tls-verify, when given. */
export interface ChrootvmOptions extends PullChoice {
  /** The ROOTFS operand; absent with --image, or with a whole-system --initrd. */
  rootfs?: string;
  command: string[];
  /** --image: a container image or rootfs tarball (a path, or a registry reference) to boot instead of a directory. */
  image?: string;
  /** --entrypoint: replaces the image's Entrypoint (and drops its Cmd); [] for `--entrypoint ''`. */
  entrypoint?: string[];
  /** --kernel-from: a rootfs whose kernel and modules to boot. */
  kernelFrom?: string;
  shares: HostShare[];
  /** --rw: ROOTFS itself writable (with --image the parser turns it into `overlay`). */
  rw: boolean;
  /** --overlay/--overlay-dir (and --image --rw): a writable root whose changes never reach the tree. */
  overlay?: OverlayOptions;
  /**
   * --boot[=PATH]: the tree's own init (PATH, else the first of BOOT_INITS it has) runs as PID 1;
   * a COMMAND then runs once the system is up. Implies --overlay unless --rw or an overlay is given.
   */
  boot?: { init?: string };
  /** --net[=MODE] (-p implies user): the guest's network. */
  net: NetMode;
  /** -p/--publish, in order. */
  publish: PublishSpec[];
  /** --publish-file: where the published ports are written as JSON once chosen. */
  publishFile?: string;
  kernel?: string;
  initrd?: string;
  memoryMiB: number;
  cpus: number;
  accel: AccelRequest;
  timeoutSeconds?: number;
  /** -e/--env and --env-file, in order: later entries win. */
  env: EnvOption[];
  /** -u/--user: `USER[:GROUP]` of the rootfs to run the command as. */
  user?: string;
  /** -w/--workdir: the guest directory the command starts in. */
  workdir?: string;
  /** --hostname: the guest's name (default: the rootfs's /etc/hostname, else its name, else localhost). */
  hostname?: string;
  debug: boolean;
  help: boolean;
  version: boolean;
}

/** --overlay-size in MiB (default: tmpfs's half of guest memory, or a disk's default size); --overlay-dir for an upper layer the host keeps. */
export interface OverlayOptions {
  sizeMiB?: number;
  dir?: string;
}

export type NetMode = 'none' | 'user';

export { UsageError };

export const USAGE = `usage: chrootvm [OPTION]... ROOTFS [--] [COMMAND [ARG]...]
       chrootvm [OPTION]... --image PATH|REFERENCE [--] [ARG]...
       chrootvm [OPTION]... --initrd FILE [--] [COMMAND [ARG]...]   (a whole-system initrd)
Boot ROOTFS (a directory) in a VM with its own kernel and run COMMAND there, or an interactive
shell without one; an image runs its own process (Entrypoint, then the ARGs or its Cmd). Exits
with COMMAND's status, or 125: bad usage, or the VM or chrootvm failed; 126/127: COMMAND could not
be run / was not found; 128+N: COMMAND died of signal N; 124: --timeout expired. SIGTERM, SIGINT
and SIGHUP are passed on to COMMAND; 10 s later (or at a second one) the VM is stopped.

  --mount TAG PATH      share host directory PATH writable at /run/mnt/TAG
  --mount-ro TAG PATH   share host directory PATH read-only at /run/mnt/TAG
  --rw                  make ROOTFS writable (read-only by default); with --image, --overlay: the
                        image's tree is never written, and writes are bounded by guest memory
  --overlay             a writable root whose every change is gone when the VM ends: an overlayfs
                        over the read-only ROOTFS, its upper layer in guest memory (what
                        systemd-nspawn calls --volatile=overlay)
  --overlay-size SIZE   the upper layer's size, e.g. 256M, 2G (default: half the guest memory; for
                        --overlay-dir, the disk made on its first use: 8G, sparse); writes past it
                        fail with ENOSPC
  --overlay-dir DIR     keep the upper layer between runs, in DIR/upper.ext4 (an ext4 disk image
                        the guest mounts; DIR is made when missing); ROOTFS is still never written
  --boot[=PATH]         boot ROOTFS's own init (PATH, else /sbin/init, /etc/init or /bin/init) as
                        PID 1, with the console on the terminal, under --overlay unless --rw is
                        given; exits 0 when the guest powers off, 133 when it reboots. With
                        COMMAND: the system boots, then runs COMMAND (a systemd unit after
                        multi-user.target, or an inittab entry) with its streams and status
                        coming back as without --boot, then powers off. Unlike systemd-nspawn -b,
                        the words after ROOTFS are this check, not arguments for the init
  --net[=MODE]          the network: user (qemu's user-mode network: no root, no host setup; the
                        guest is 10.0.2.15/24, the host's loopback is the gateway 10.0.2.2, DNS
                        10.0.2.3) or none (the default: only lo)
  -p, --publish [HOSTIP:][HOSTPORT:]GUESTPORT[/tcp|/udp]
                        make a guest port reachable on the host (repeatable; implies --net). HOSTIP
                        defaults to 127.0.0.1, not podman's 0.0.0.0: give 0.0.0.0 to publish to the
                        network. Without HOSTPORT (or 0) a free port is chosen and said on stderr
  --publish-file FILE   write the published ports as JSON (protocol, hostIp, hostPort, guestPort)
                        before the VM starts
  --image PATH          boot a container image or rootfs tarball instead of ROOTFS: an OCI layout
                        directory, an OCI or docker archive, or a .tar/.tar.gz/.tar.zst rootfs
                        (extracted once, cached by digest). Its config's Env comes before -e,
                        its WorkingDir and User apply unless -w/-u are given
  --image REFERENCE     the same with an image pulled from a registry, [docker://]REGISTRY/NAME
                        [:TAG|@DIGEST] (anything that is not an existing path and does not start
                        with / or .); a short NAME[:TAG] is on docker.io
  --pull POLICY         missing (default: pull only what was never pulled), always (ask the
                        registry what the tag names now), never (the cache only)
  --tls-verify=BOOL     false: accept any certificate, and plain HTTP (default true: HTTPS with a
                        verified certificate, plain HTTP only for a registry on 127.0.0.0/8)
  --entrypoint PROG     with --image: run PROG (or a JSON list, '["/bin/sh","-c"]') instead of
                        the image's Entrypoint, and not its Cmd; '' runs the ARGs alone
  --kernel PATH         kernel image (default: ROOTFS's usr/lib/modules/KVER/vmlinuz or boot/vmlinuz-KVER)
  --kernel-from DIR     boot the kernel and modules of the rootfs DIR
  --initrd PATH         initramfs to boot (default: built for the kernel's modules, cached); without
                        ROOTFS, a whole-system initrd (mkvirtinitrd --rootfs) is the root itself
  --memory SIZE         guest memory, e.g. 512M, 2G (default 1G)
  --cpus N              guest CPUs (default 2)
  --accel auto|kvm|tcg  accelerator (default auto: KVM when a probe shows it works, else TCG)
  --timeout SECONDS     kill the VM and exit 124 after SECONDS
  -e, --env KEY=VALUE   set KEY in the command's environment; --env KEY takes our value of KEY
                        (left unset when we have none); repeatable, later ones win
  --env-file FILE       KEY=VALUE lines (or KEY, as --env KEY); blank lines and # comments skipped
  -u, --user USER[:GROUP]  run the command as USER (a name or a number) of ROOTFS's /etc/passwd,
                        with its supplementary groups and HOME (unknown: 125)
  -w, --workdir DIR     start the command in the guest directory DIR (absolute; default: the
                        current directory's place in the guest when it lies in a share, else /)
  --hostname NAME       the guest's hostname (default: ROOTFS's /etc/hostname, else the name of
                        ROOTFS or the image when it is a valid hostname, else localhost)
  --debug               show the kernel's and the init's messages
  -h, --help            show this help
  --version             show the version

Without --kernel or --kernel-from, an image or a whole-system initrd boots the rootfs's own
kernel if it has one, else the host's running kernel when its image and modules are readable.
An ordinary user's chrootvm runs as root of a user namespace of its own (the user's files are
root's in the guest; it needs the user's subordinate ids and the package uidmap): see the README.
`;

const VALUE_OPTIONS = [
  '--kernel', '--kernel-from', '--image', '--initrd', '--memory', '--cpus', '--accel', '--timeout', '--hostname', '--workdir', '--user',
  '--overlay-size', '--overlay-dir', '--publish-file', '--entrypoint', '--pull',
];
/** Short spellings of value options. */
const SHORT_OPTIONS: Record<string, string> = { '-w': '--workdir', '-u': '--user', '-p': '--publish' };
const NET_MODES: readonly NetMode[] = ['user', 'none'];
/** Repeatable options whose values keep their order and their bytes. */
const ENV_OPTIONS: Record<string, EnvOption['kind']> = { '-e': 'env', '--env': 'env', '--env-file': 'env-file' };
const TWO_VALUE_OPTIONS = { '--mount': false, '--mount-ro': true } as const;

function isTwoValueOption(word: string): word is keyof typeof TWO_VALUE_OPTIONS {
  return Object.hasOwn(TWO_VALUE_OPTIONS, word);
}

function positiveNumber(name: string, value: unknown, integer: boolean): number {
  const text = String(value);
  const number = Number(text);
  // Plain decimals only: Number() would also take "1e1", "0x2" and "".
  const pattern = integer ? /^\d+$/ : /^\d+(\.\d+)?$/;
  if (!pattern.test(text) || number <= 0) {
    throw new UsageError(`--${name} needs a positive ${integer ? 'integer' : 'number'}, not "${text}"`);
  }
  return number;
}

/** The longest a timer can wait (2^31 - 1 ms), in whole seconds: about 24.8 days. */
export const MAX_TIMEOUT_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

function timeoutSeconds(value: unknown): number {
  const seconds = positiveNumber('timeout', value, false);
  if (seconds > MAX_TIMEOUT_SECONDS) throw new UsageError(`--timeout can be at most ${MAX_TIMEOUT_SECONDS} seconds (about 24 days), not "${String(value)}"`);
  return seconds;
}

function overlayOptions(parsed: minimist.ParsedArgs, rw: boolean, image: boolean): OverlayOptions | undefined {
  const dir: string | undefined = parsed['overlay-dir'];
  const size: string | undefined = parsed['overlay-size'];
  const asked = Boolean(parsed.overlay) || dir !== undefined;
  if (dir === '') throw new UsageError('--overlay-dir needs a DIR');
  if (asked && rw) throw new UsageError('--overlay and --rw cannot be given together: --rw writes ROOTFS itself, --overlay never does');
  if (size !== undefined && !asked && !(image && rw)) throw new UsageError('--overlay-size applies to --overlay, --overlay-dir or --image --rw');
  if (!asked && !(image && rw)) return undefined;
  let sizeMiB: number | undefined;
  try {
    sizeMiB = size === undefined ? undefined : parseSize(size, '--overlay-size');
  } catch (cause) {
    throw new UsageError((cause as Error).message);
  }
  return { ...(sizeMiB === undefined ? {} : { sizeMiB }), ...(dir === undefined ? {} : { dir }) };
}

export function parseChrootvmArgs(argv: readonly string[]): ChrootvmOptions {
  // minimist has no notion of an option taking two values: take --mount TAG PATH out first.
  const shares: HostShare[] = [];
  const env: EnvOption[] = [];
  const publish: PublishSpec[] = [];
  // --net and --boot take their value only attached (--net=none): a separate word is ROOTFS.
  let net: NetMode | undefined;
  let boot: ChrootvmOptions['boot'];
  let tlsVerify: string | undefined;
  const rest: string[] = [];
  let index = 0;
  for (; index < argv.length; index++) {
    const word = SHORT_OPTIONS[argv[index]!] ?? argv[index]!;
    const [name, attached] = word.startsWith('--') && word.includes('=') ? [word.slice(0, word.indexOf('=')), true] : [word, false];
    const envKind = ENV_OPTIONS[name];
    if (envKind) {
      if (attached) {
        env.push({ kind: envKind, text: word.slice(name.length + 1), word: index, offset: Buffer.byteLength(name) + 1 });
      } else {
        if (index + 1 >= argv.length) throw new UsageError(`${name} needs a value`);
        env.push({ kind: envKind, text: argv[++index]!, word: index, offset: 0 });
      }
      if (envKind === 'env' && env.at(-1)!.text.startsWith('=')) throw new UsageError(`${name} ${env.at(-1)!.text}: the variable has no name`);
      if (env.at(-1)!.text === '') throw new UsageError(`${name} needs a value`);
    } else if (name === '--boot') {
      const init = attached ? word.slice(name.length + 1) : undefined;
      if (init !== undefined && !init.startsWith('/')) throw new UsageError(`--boot=${init}: PATH must be absolute in ROOTFS`);
      boot = init === undefined ? {} : { init };
    } else if (name === '--net') {
      const mode = attached ? word.slice(name.length + 1) : 'user';
      if (!(NET_MODES as readonly string[]).includes(mode)) throw new UsageError(`--net=${mode}: MODE must be user or none`);
      net = mode as NetMode;
    } else if (name === '--tls-verify') {
      // A boolean's value only attached (--tls-verify=false), as podman takes it: a separate word is ROOTFS.
      tlsVerify = attached ? word.slice(name.length + 1) : '';
    } else if (name === '--publish') {
      const spec = attached ? word.slice(name.length + 1) : argv[++index];
      if (spec === undefined || spec === '') throw new UsageError('-p/--publish needs a SPEC: [HOSTIP:][HOSTPORT:]GUESTPORT[/tcp|/udp]');
      publish.push(parsePublishSpec(spec, publish));
    } else if (isTwoValueOption(word)) {
      const tag = argv[index + 1];
      const path = argv[index + 2];
      if (tag === undefined || path === undefined) throw new UsageError(`${word} needs TAG and PATH`);
      shares.push({ tag, path, readonly: TWO_VALUE_OPTIONS[word] });
      index += 2;
    } else if (word === '--' || !word.startsWith('-')) {
      break;
    } else {
      rest.push(word);
      if (VALUE_OPTIONS.includes(word)) rest.push(argv[++index] ?? '');
    }
  }
  const parsed = minimist(rest, {
    string: VALUE_OPTIONS.map((option) => option.slice(2)),
    boolean: ['rw', 'overlay', 'debug', 'help', 'version'],
    alias: { h: 'help' },
    unknown: (option) => {
      if (option.startsWith('-')) throw new UsageError(`unknown option ${option}`);
      return true;
    },
  });
  // minimist gathers a repeated option into an array; the last one wins, as with getopt-style tools.
  for (const [name, value] of Object.entries(parsed)) if (name !== '_' && Array.isArray(value)) parsed[name] = value.at(-1);
  const positional = argv.slice(index);
  if (positional[0] === '--') positional.shift();
  const help = Boolean(parsed.help);
  const version = Boolean(parsed.version);
  const image: string | undefined = parsed.image || undefined;
  const rootfs = image ? undefined : positional[0];
  const afterRootfs = image ? positional : positional.slice(1);
  if (!rootfs && !image && !parsed.initrd && !help && !version) throw new UsageError('ROOTFS is missing (or give --image PATH)');
  const command = afterRootfs[0] === '--' ? afterRootfs.slice(1) : afterRootfs;

  const accel = parsed.accel ?? 'auto';
  if (!['auto', 'kvm', 'tcg'].includes(accel)) throw new UsageError(`--accel must be auto, kvm or tcg, not "${accel}"`);
  const workdir: string | undefined = parsed.workdir;
  if (workdir !== undefined && !workdir.startsWith('/')) throw new UsageError(`--workdir must be an absolute guest path, not "${workdir}"`);
  const hostname: string | undefined = parsed.hostname;
  if (hostname !== undefined && !isValidHostname(hostname)) {
    throw new UsageError(`--hostname must be a valid hostname (letters, digits, inner hyphens, dot-separated, at most 64), not "${hostname}"`);
  }
  let memoryMiB: number;
  try {
    memoryMiB = parseMemory(parsed.memory ?? '1G');
  } catch (cause) {
    throw new UsageError(`--memory: ${(cause as Error).message}`);
  }
  const entrypoint: string | undefined = parsed.entrypoint;
  if (entrypoint !== undefined && !image) throw new UsageError('--entrypoint applies to --image: a ROOTFS has no entrypoint');
  const rw = Boolean(parsed.rw);
  if (boot && entrypoint !== undefined) throw new UsageError("--entrypoint does not apply to --boot: the system's own init runs");
  if (boot && !rootfs && !image) throw new UsageError('--boot needs ROOTFS or --image: a whole-system --initrd boots its own init= already');
  // A booting system writes (/var, /etc/machine-id): by default into an overlay, never into the tree.
  const overlay = overlayOptions(parsed, rw, image !== undefined) ?? (boot && !rw ? {} : undefined);
  if (publish.length > 0 && net === 'none') throw new UsageError('--publish needs the network: it cannot go with --net=none');
  const publishFile: string | undefined = parsed['publish-file'];
  const pull = pullChoice(parsed.pull, tlsVerify, image !== undefined);
  if (publishFile !== undefined && publish.length === 0) throw new UsageError('--publish-file needs at least one -p/--publish');
  return {
    rootfs,
    command,
    image,
    ...(boot ? { boot } : {}),
    ...pull,
    ...(entrypoint === undefined ? {} : { entrypoint: parseEntrypoint(entrypoint) }),
    kernelFrom: parsed['kernel-from'] || undefined,
    shares,
    // --image --rw is an overlay: the cached tree is never written.
    rw: rw && image === undefined,
    ...(overlay ? { overlay } : {}),
    net: net ?? (publish.length > 0 ? 'user' : 'none'),
    publish,
    ...(publishFile ? { publishFile } : {}),
    kernel: parsed.kernel || undefined,
    initrd: parsed.initrd || undefined,
    memoryMiB,
    cpus: parsed.cpus === undefined ? 2 : positiveNumber('cpus', parsed.cpus, true),
    accel: accel as AccelRequest,
    timeoutSeconds: parsed.timeout === undefined ? undefined : timeoutSeconds(parsed.timeout),
    env,
    user: parsed.user || undefined,
    workdir,
    hostname,
    debug: Boolean(parsed.debug),
    help,
    version,
  };
}
