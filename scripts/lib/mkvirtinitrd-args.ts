/**
 * mkvirtinitrd's command line, parsed without touching the system. The operands are
 * `[INIT] MODDIR OUTPUT`, which also reads osbuild's `BINARY MODDIR OUTPUT`; with --list OUTPUT may
 * be left out, and any command line that builds also lists once --list is added to it.
 */
import minimist from 'minimist';
import { posix } from 'node:path';
import { codecs, type Codec } from '../../packer/compress.ts';
import { parseEntrypoint } from './image/process-command.ts';
import { pullChoice, type PullChoice } from './image/registry/pull-options.ts';
import { UsageError } from './usage.ts';

/** With --image: --pull and --tls-verify, when given. */
export interface MkvirtinitrdOptions extends PullChoice {
  /** Undefined: the SEA the project builds (build/init). */
  init?: string;
  moddir: string;
  /** Undefined only with --list. */
  output?: string;
  /** Extra modules, as spelled on the command line. */
  modules: string[];
  /** --rootfs DIR / --image PATH: a whole system to pack with the init. */
  system?: { kind: 'rootfs' | 'image'; path: string };
  /** --map-root-user: record the invoking user's files in --rootfs as root's. */
  mapRootUser: boolean;
  /** --entrypoint: with --image, replaces the image's Entrypoint (and drops its Cmd); [] for ''. */
  entrypoint?: string[];
  /** --inject HOSTPATH:GUESTPATH: files added to the system, in order. */
  inject: Injection[];
  compress: Codec;
  list: boolean;
  strict: boolean;
  help: boolean;
  version: boolean;
}

export interface Injection {
  hostPath: string;
  /** Absolute, in the system. */
  guestPath: string;
}

export { UsageError };

// lz4 by default: of the compressed codecs it is the one the kernel unpacks fastest, measured on a
// Node SEA initrd under TCG (BOOT-FACTS): none 1.0–1.3 s, lz4 1.2 s, zstd 2.5 s, gzip 2.7 s,
// xz 9.7 s, and lz4 is less than half the size of none (40 MB against 93.5 MB).
export const DEFAULT_CODEC: Codec = 'lz4';

export const USAGE = `usage: mkvirtinitrd [OPTION]... [INIT] MODDIR OUTPUT
       mkvirtinitrd --list [OPTION]... [INIT] MODDIR [OUTPUT]
Write to OUTPUT an initramfs that boots INIT (default: the init this project builds, build/init)
with the kernel modules from MODDIR (e.g. /usr/lib/modules/$(uname -r)) that mount a virtiofs root,
and the libraries INIT needs. osbuild's form \`mkvirtinitrd [--module NAME]... BINARY MODDIR OUTPUT\`
works as it is.

  --module NAME       also pack kernel module NAME and what it depends on (repeatable;
                      --module=NAME works too; '-' and '_' are the same in NAME)
  --compress CODEC    none, gzip, zstd, lz4 or xz (default ${DEFAULT_CODEC}: of the compressed codecs,
                      the kernel unpacks it fastest)
  --list              print what would go in and why, one line per entry (path, kind, size or
                      target, reason), then the modules built into the kernel; write nothing.
                      Two operands are MODDIR OUTPUT, as without --list.
  --rootfs DIR        also pack the whole system in DIR: booted without a rootfs= share, the
                      init runs that system from the initramfs (moved onto a tmpfs)
  --image PATH        the same with a container image or rootfs tarball (OCI layout, OCI or
                      docker archive, .tar/.tar.gz/.tar.zst); an ordinary user extracts it in a
                      user namespace of its own, so its files keep the image's owners
  --image REFERENCE   the same with an image pulled from a registry: [docker://]REGISTRY/NAME
                      [:TAG|@DIGEST] (not an existing path, not starting with / or .)
  --pull POLICY       missing (default), always or never, as chrootvm's
  --tls-verify=BOOL   false: any certificate, and plain HTTP (default true)
  --map-root-user     with --rootfs: record the files and groups the invoking user owns as root's
                      (a tree a user built as itself; others' owners stay as they are)
  --entrypoint PROG   with --image: PROG (or a JSON list, '["/bin/sh","-c"]') instead of the
                      image's Entrypoint, and not its Cmd
  --inject HOSTPATH:GUESTPATH
                      with --rootfs/--image: add the host file HOSTPATH to the system at GUESTPATH,
                      owned by root, its mode kept (repeatable; replaces a file already there)
  --strict            treat warnings as errors
  -h, --help          show this help
  --version           show the version

SOURCE_DATE_EPOCH (seconds) bounds every mtime in the archive; unset, all mtimes are 0, so the same
inputs give the same bytes. Exit status: 0 done, 1 error (or a warning with --strict), 2 bad usage.
`;

function single(name: string, value: unknown): string | undefined {
  if (Array.isArray(value)) throw new UsageError(`--${name} given more than once`);
  return value as string | undefined;
}

export function parseMkvirtinitrdArgs(argv: readonly string[]): MkvirtinitrdOptions {
  // --tls-verify is a boolean whose value is only ever attached, as podman's: alone it is true, never the next word.
  const words = argv.map((word, i) => (word === '--tls-verify' && !argv.slice(0, i).includes('--') ? '--tls-verify=true' : word));
  const parsed = minimist(words, {
    // '_' keeps operands such as a directory called 6 from turning into numbers.
    string: ['module', 'compress', 'rootfs', 'image', 'entrypoint', 'inject', 'pull', 'tls-verify', '_'],
    boolean: ['list', 'strict', 'help', 'version', 'map-root-user'],
    alias: { h: 'help' },
    unknown: (option) => {
      if (option.startsWith('-')) throw new UsageError(`unknown option ${option}`);
      return true;
    },
  });
  const help = Boolean(parsed.help);
  const version = Boolean(parsed.version);
  const list = Boolean(parsed.list);
  const modules: string[] = [parsed.module ?? []].flat();
  // minimist gives '' for an option that ended the command line or was followed by another option.
  if (modules.includes('')) throw new UsageError('--module needs a NAME');
  const compress = single('compress', parsed.compress) ?? DEFAULT_CODEC;
  if (!(codecs as readonly string[]).includes(compress)) {
    throw new UsageError(`--compress must be one of ${codecs.join(', ')}, not "${compress}"`);
  }
  const rootfs = single('rootfs', parsed.rootfs);
  const image = single('image', parsed.image);
  if (rootfs !== undefined && image !== undefined) throw new UsageError('--rootfs and --image cannot be given together');
  if (rootfs === '' || image === '') throw new UsageError(`--${rootfs === '' ? 'rootfs' : 'image'} needs a PATH`);
  const system = rootfs !== undefined ? { kind: 'rootfs' as const, path: rootfs } : image !== undefined ? { kind: 'image' as const, path: image } : undefined;
  const mapRootUser = Boolean(parsed['map-root-user']);
  if (mapRootUser && system?.kind !== 'rootfs') throw new UsageError('--map-root-user applies to --rootfs DIR only');
  const entrypoint = single('entrypoint', parsed.entrypoint);
  if (entrypoint !== undefined && system?.kind !== 'image') throw new UsageError('--entrypoint applies to --image PATH only');
  const inject = [parsed.inject ?? []].flat().map(parseInjection);
  if (inject.length > 0 && !system) throw new UsageError('--inject applies to --rootfs or --image');
  const operands: string[] = parsed._;
  const pull = pullChoice(single('pull', parsed.pull), single('tls-verify', parsed['tls-verify']), image !== undefined);
  const base = {
    ...pull,
    modules,
    mapRootUser,
    ...(entrypoint === undefined ? {} : { entrypoint: parseEntrypoint(entrypoint) }),
    inject,
    compress: compress as Codec, list, strict: Boolean(parsed.strict), help, version, ...(system ? { system } : {}) };
  if (help || version) return { ...base, moddir: '' };
  switch (operands.length) {
    case 1:
      if (!list) throw new UsageError('MODDIR and OUTPUT are needed (only MODDIR was given)');
      return { ...base, moddir: operands[0]! };
    case 2:
      return { ...base, moddir: operands[0]!, output: operands[1]! };
    case 3:
      return { ...base, init: operands[0]!, moddir: operands[1]!, output: operands[2]! };
    case 0:
      throw new UsageError(list ? 'MODDIR is missing' : 'MODDIR and OUTPUT are missing');
    default:
      throw new UsageError(`too many operands (${operands.length}): expected [INIT] MODDIR OUTPUT`);
  }
}

/** `HOSTPATH:GUESTPATH`, split at the last colon that starts an absolute path (a host path may hold colons). */
export function parseInjection(text: string): Injection {
  const colon = text.lastIndexOf(':/');
  if (colon <= 0) throw new UsageError(`--inject ${text}: expected HOSTPATH:GUESTPATH, GUESTPATH absolute`);
  const guestPath = posix.normalize(text.slice(colon + 1));
  if (guestPath === '/') throw new UsageError(`--inject ${text}: GUESTPATH must name a file, not /`);
  return { hostPath: text.slice(0, colon), guestPath };
}

/**
 * SOURCE_DATE_EPOCH as the newest mtime the archive may carry; 0 when unset or empty. newc stores
 * mtimes as 32-bit unsigned numbers.
 */
export function parseSourceDateEpoch(value: string | undefined): number {
  if (value === undefined || value === '') return 0;
  const seconds = Number(value);
  if (!/^\d+$/.test(value) || seconds > 0xffffffff) {
    throw new UsageError(`SOURCE_DATE_EPOCH must be a whole number of seconds from 0 to 4294967295, not "${value}"`);
  }
  return seconds;
}
