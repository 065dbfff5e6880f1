/**
 * chrootvm's command line, parsed without touching the system: chroot's shape
 * (`chrootvm [OPTION]... ROOTFS [COMMAND [ARG]...]`), so options stop at ROOTFS and everything
 * after it belongs to the command. With --image there is no ROOTFS operand.
 */
import minimist from 'minimist';
import { isValidHostname } from '../../init/hostname.ts';
import type { AccelRequest } from './accel.ts';
import { parseMemory } from './plan.ts';
import { UsageError } from './usage.ts';

export interface HostShare {
  tag: string;
  path: string;
  readonly: boolean;
}

export interface ChrootvmOptions {
  /** The ROOTFS operand; absent with --image, or with a whole-system --initrd. */
  rootfs?: string;
  command: string[];
  /** --image: a container image or rootfs tarball to boot instead of a directory. */
  image?: string;
  /** --kernel-from: a rootfs whose kernel and modules to boot. */
  kernelFrom?: string;
  shares: HostShare[];
  rw: boolean;
  kernel?: string;
  initrd?: string;
  memoryMiB: number;
  cpus: number;
  accel: AccelRequest;
  timeoutSeconds?: number;
  /** --hostname: the guest's name (default: the rootfs's /etc/hostname, else its name, else localhost). */
  hostname?: string;
  debug: boolean;
  help: boolean;
  version: boolean;
}

export { UsageError };

export const USAGE = `usage: chrootvm [OPTION]... ROOTFS [--] [COMMAND [ARG]...]
       chrootvm [OPTION]... --image PATH [--] [COMMAND [ARG]...]
       chrootvm [OPTION]... --initrd FILE [--] [COMMAND [ARG]...]   (a whole-system initrd)
Boot ROOTFS (a directory) in a VM with its own kernel and run COMMAND there, or an interactive
shell without one. Exits with COMMAND's status, or 125: bad usage, or the VM or chrootvm failed;
126/127: COMMAND could not be run / was not found; 128+N: COMMAND died of signal N; 124: --timeout
expired.

  --mount TAG PATH      share host directory PATH writable at /run/mnt/TAG
  --mount-ro TAG PATH   share host directory PATH read-only at /run/mnt/TAG
  --rw                  make ROOTFS writable (read-only by default; with --image, a private copy)
  --image PATH          boot a container image or rootfs tarball instead of ROOTFS: an OCI layout
                        directory, an OCI or docker archive, or a .tar/.tar.gz/.tar.zst rootfs
                        (extracted once, cached by digest)
  --kernel PATH         kernel image (default: ROOTFS's usr/lib/modules/KVER/vmlinuz or boot/vmlinuz-KVER)
  --kernel-from DIR     boot the kernel and modules of the rootfs DIR
  --initrd PATH         initramfs to boot (default: built for the kernel's modules, cached); without
                        ROOTFS, a whole-system initrd (mkvirtinitrd --rootfs) is the root itself
  --memory SIZE         guest memory, e.g. 512M, 2G (default 1G)
  --cpus N              guest CPUs (default 2)
  --accel auto|kvm|tcg  accelerator (default auto: KVM when a probe shows it works, else TCG)
  --timeout SECONDS     kill the VM and exit 124 after SECONDS
  --hostname NAME       the guest's hostname (default: ROOTFS's /etc/hostname, else the name of
                        ROOTFS or the image when it is a valid hostname, else localhost)
  --debug               show the kernel's and the init's messages
  -h, --help            show this help
  --version             show the version

Without --kernel or --kernel-from, an image or a whole-system initrd boots the rootfs's own
kernel if it has one, else the host's running kernel when its image and modules are readable.
`;

const VALUE_OPTIONS = ['--kernel', '--kernel-from', '--image', '--initrd', '--memory', '--cpus', '--accel', '--timeout', '--hostname'];
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

export function parseChrootvmArgs(argv: readonly string[]): ChrootvmOptions {
  // minimist has no notion of an option taking two values: take --mount TAG PATH out first.
  const shares: HostShare[] = [];
  const rest: string[] = [];
  let index = 0;
  for (; index < argv.length; index++) {
    const word = argv[index]!;
    if (isTwoValueOption(word)) {
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
    boolean: ['rw', 'debug', 'help', 'version'],
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
  return {
    rootfs,
    command,
    image,
    kernelFrom: parsed['kernel-from'] || undefined,
    shares,
    rw: Boolean(parsed.rw),
    kernel: parsed.kernel || undefined,
    initrd: parsed.initrd || undefined,
    memoryMiB,
    cpus: parsed.cpus === undefined ? 2 : positiveNumber('cpus', parsed.cpus, true),
    accel: accel as AccelRequest,
    timeoutSeconds: parsed.timeout === undefined ? undefined : positiveNumber('timeout', parsed.timeout, false),
    hostname,
    debug: Boolean(parsed.debug),
    help,
    version,
  };
}
