// virtiofsd comes in two flavours with different command lines: QEMU's C
// daemon (Debian 12: /usr/lib/qemu/virtiofsd, FUSE-style `-o` options, no
// read-only mode) and the Rust rewrite (gitlab.com/virtio-fs/virtiofsd, long
// options; `--readonly` only in newer releases). The flavour is read from
// the binary's own --help rather than guessed from its path.

import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { writeFileAtomic } from './atomic-write.ts';
import { identityOf, sameIdentity, type FileIdentity } from './file-identity.ts';
import { findOnPath, isExecutableFile } from './processes.ts';
import { currentPrivilege, rootIsMountPoint } from './user-namespace.ts';

export type Flavour = 'rust' | 'c';

export interface VirtiofsdShare {
  socket: string;
  dir: string;
  readonly: boolean;
}

export interface VirtiofsdFeatures {
  flavour: Flavour;
  /** The binary offers `--readonly` (host-side enforcement). */
  readonlyOption: boolean;
}

const FIXED_PATHS = ['/usr/libexec/virtiofsd', '/usr/lib/qemu/virtiofsd'];

/** $VIRTIOFSD, else `virtiofsd` on PATH, else the distributions' fixed places. */
export async function findVirtiofsd(env: NodeJS.ProcessEnv, fixedPaths: string[] = FIXED_PATHS): Promise<string> {
  const chosen = env.VIRTIOFSD;
  if (chosen !== undefined && chosen !== '') {
    if (await isExecutableFile(chosen)) return chosen;
    throw new Error(`VIRTIOFSD=${chosen} is not an executable file`);
  }
  const onPath = await findOnPath('virtiofsd', env);
  if (onPath) return onPath;
  for (const candidate of fixedPaths) {
    if (await isExecutableFile(candidate)) return candidate;
  }
  throw new Error(
    `virtiofsd not found: tried $VIRTIOFSD (not set), virtiofsd on PATH (${env.PATH ?? 'not set'}), ${fixedPaths.join(', ')}. `
    + 'Debian 12 ships it as /usr/lib/qemu/virtiofsd in qemu-system-common (installed with qemu-system-x86); '
    + 'later Debian releases in the package virtiofsd. Or set VIRTIOFSD to its path.',
  );
}

/** Which virtiofsd printed this --help text. */
export function detectFlavour(helpText: string): Flavour {
  if (helpText.includes('--shared-dir')) return 'rust';
  if (helpText.includes('-o source=')) return 'c';
  throw new Error('cannot tell which virtiofsd this is: its --help mentions neither --shared-dir (Rust virtiofsd) nor -o source= (C virtiofsd)');
}

/** Whether this --help text offers `--readonly` (Rust virtiofsd, newer releases). */
export function helpHasReadonly(helpText: string): boolean {
  return /^\s*--readonly\b/m.test(helpText);
}

/** Runs `binary --help` and reads its flavour and features from it. */
export function inspectVirtiofsd(binary: string): Promise<VirtiofsdFeatures> {
  return new Promise((resolve, reject) => {
    execFile(binary, ['--help'], { timeout: 5000 }, (err, stdout, stderr) => {
      if (err) {
        // execFile's error: `code` is the exit status, or an errno name when it could not run at all.
        const how = typeof err.code === 'number' ? `exit status ${err.code}` : err.signal ? `killed by ${err.signal}` : String(err.code ?? err.message);
        reject(new Error(`${binary} --help failed (${how}): ${`${stderr}`.trim().split('\n').slice(-3).join(' ') || 'no message'}`));
        return;
      }
      const help = `${stdout}${stderr}`;
      try {
        resolve({ flavour: detectFlavour(help), readonlyOption: helpHasReadonly(help) });
      } catch (e) {
        reject(new Error(`${binary}: ${(e as Error).message}`));
      }
    });
  });
}

/** What inspectVirtiofsd said about a binary, valid while it keeps its identity. */
interface KnownFeatures extends VirtiofsdFeatures, FileIdentity {
  binary: string;
}

/**
 * inspectVirtiofsd, remembered in `memoFile`: `--help` is a process start on every run otherwise.
 * An upgraded binary has another inode or mtime, and is asked again.
 */
export async function rememberedFeatures(binary: string, memoFile: string): Promise<VirtiofsdFeatures> {
  const identity = identityOf(await stat(binary));
  const known = await readFile(memoFile, 'utf8').then((text) => JSON.parse(text) as KnownFeatures, () => undefined);
  if (known?.binary === binary && sameIdentity(known, identity)) return { flavour: known.flavour, readonlyOption: known.readonlyOption };
  const features = await inspectVirtiofsd(binary);
  const record: KnownFeatures = { binary, ...identity, ...features };
  // A memo that cannot be written (no cache directory yet) costs the next run one --help, nothing more.
  await writeFileAtomic(memoFile, Buffer.from(JSON.stringify(record))).catch(() => undefined);
  return features;
}

// Cache policy per share. A read-only share (the default rootfs) is a tree the
// guest only reads and the session treats as fixed: `always` lets the guest
// keep metadata and pages without revalidating them, which is where a boot's
// many small lookups get fast. A writable share is one the host may touch at
// the same time (a build or source tree): `auto` revalidates after a short
// timeout so each side sees the other's changes.
const cacheFor = (share: VirtiofsdShare): 'always' | 'auto' => (share.readonly ? 'always' : 'auto');

// The C daemon parses -o values FUSE-style: a comma separates options, a
// backslash escapes the next character.
const fuseOptValue = (value: string): string => value.replace(/[\\,]/g, '\\$&');

/**
 * Whether a daemon can have a mount namespace of its own (inPrivateView): as root or as root of
 * our user namespace, with util-linux's unshare, and a root directory that is a mount point. Inside
 * a chroot it is not, so `unshare --propagation private` fails (EINVAL), and a mount without
 * private propagation would appear in the host's mount table too.
 */
export async function canMakePrivateView(env: NodeJS.ProcessEnv): Promise<boolean> {
  if (currentPrivilege().kind === 'user' || (await findOnPath('unshare', env)) === undefined) return false;
  return rootIsMountPoint(await readFile('/proc/self/mountinfo', 'utf8'));
}

export interface PrivateView {
  /** A read-only bind mount of this directory over itself: the host kernel then refuses every write through it, whatever the guest remounts. */
  readonlyDir?: string;
  /**
   * The daemon runs as root of a user namespace (rootless use). The C virtiofsd keeps a pid file in
   * /var/run/virtiofsd, which only the host's root may create, so it gets a tmpfs of its own at
   * /var/run; and the flags of the mount under the shared directory (nosuid, nodev, noexec, atime)
   * are locked, so the read-only remount must repeat them or be refused.
   */
  userNamespace: boolean;
}

/** Runs a daemon in a private mount namespace set up as `view` says; the host's own mount table is untouched. */
export function inPrivateView(view: PrivateView, argv: readonly string[]): string[] {
  const readonlyBind = view.userNamespace
    ? ['mount --bind -- "$1" "$1"', 'flags=$(findmnt -rno VFS-OPTIONS --mountpoint "$1" | tail -n 1)', 'mount -o "remount,bind,${flags#rw,},ro" -- "$1" "$1"']
    : // One process: mount binds, then remounts read-only itself.
      ['mount --bind -o ro -- "$1" "$1"'];
  const steps = [
    ...(view.userNamespace ? ['mount -t tmpfs -o mode=0755 virtiofsd-run /var/run', 'mkdir /var/run/virtiofsd'] : []),
    ...(view.readonlyDir !== undefined ? readonlyBind : []),
  ];
  return [
    'unshare', '--mount', '--propagation', 'private', '--',
    'sh', '-c', [...steps, 'shift', 'exec "$@"'].join(' && '),
    'virtiofsd-view', view.readonlyDir ?? '', ...argv,
  ];
}

/** What the host lets a virtiofsd do, beyond its flavour. */
export interface DaemonHost {
  /** The binary offers `--readonly` (host-side enforcement). */
  readonlyOption: boolean;
  /** canMakePrivateView. */
  privateView: boolean;
  /** We run as root of a user namespace (rootless use). */
  userNamespace: boolean;
}

/**
 * The command line of one virtiofsd serving one share. `readonlyEnforced` is
 * true when the host refuses writes (virtiofsd's own --readonly, or a read-only
 * bind mount in a private view); otherwise a read-only share relies on the
 * guest mounting it read-only.
 */
export function virtiofsdArgv(
  flavour: Flavour,
  binary: string,
  share: VirtiofsdShare,
  host: DaemonHost = { readonlyOption: flavour === 'rust', privateView: false, userNamespace: false },
): { argv: string[]; readonlyEnforced: boolean } {
  const cache = cacheFor(share);
  // sandbox=chroot: confines the daemon to the shared directory without
  // creating namespaces, which containers and some CI hosts forbid.
  if (flavour === 'c') {
    const argv = [
      binary, `--socket-path=${share.socket}`, '-o', `source=${fuseOptValue(share.dir)}`,
      '-o', 'sandbox=chroot', '-o', `cache=${cache}`, '-o', 'log_level=err',
    ];
    // The C virtiofsd has no read-only mode of its own.
    const readonlyEnforced = share.readonly && host.privateView;
    const view: PrivateView = { ...(readonlyEnforced ? { readonlyDir: share.dir } : {}), userNamespace: host.userNamespace };
    return { argv: readonlyEnforced || view.userNamespace ? inPrivateView(view, argv) : argv, readonlyEnforced };
  }
  const readonlyEnforced = share.readonly && host.readonlyOption;
  return {
    argv: [
      binary, '--socket-path', share.socket, '--shared-dir', share.dir,
      '--cache', cache, '--sandbox', 'chroot', '--log-level', 'error',
      ...(readonlyEnforced ? ['--readonly'] : []),
    ],
    readonlyEnforced,
  };
}
