/**
 * Files the init puts into the new root's /etc (resolv.conf and hosts for --net, inittab for
 * --boot) without writing the root itself, which may be read-only or the host's own tree.
 */
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { mount, MS } from './sys/libc.ts';

/** Where the init keeps the files it provides, and the upper layer of /etc when one is needed. */
const ETC_RUN_DIRECTORY = '/run/virtinitrd/etc';

/** What `path` (absolute, inside `root`) names after symlinks, as a path inside `root`; the last hop may be missing. */
export function resolveInRoot(root: string, path: string): string {
  let current = path;
  for (let hops = 0; hops < 40; hops++) {
    let info;
    try {
      info = lstatSync(join(root, current));
    } catch {
      return current;
    }
    if (!info.isSymbolicLink()) return current;
    current = posix.resolve(posix.dirname(current), readlinkSync(join(root, current)));
  }
  throw new Error(`${path}: too many levels of symbolic links in the new root`);
}

export type Provided = 'in /run' | 'bind-mounted' | 'written' | 'in an overlay of /etc' | 'not provided: a read-only root without /etc';

/**
 * Makes `/etc/NAME` in the new root read `content(existing)`, given what it reads now (undefined
 * when missing), never writing the root itself:
 * - a symlink into /run (systemd-resolved's stub): the file is made there, in our own /run;
 * - an existing file: our file is bind-mounted over it;
 * - missing (or a dangling symlink): written into a root that is a writable copy anyway
 *   (`rootIsCopy`: an overlay, or a writable in-memory system), else into an overlay of /etc whose
 *   upper layer is in /run;
 * - a read-only root without /etc at all (a `scratch` image): nowhere to put it without writing the
 *   root, and the program in such a root seldom reads it.
 */
export function provideEtcFile(newRoot: string, name: string, content: (existing: string | undefined) => string, rootIsCopy: boolean): Provided {
  const target = resolveInRoot(newRoot, `/etc/${name}`);
  if (target === '/run' || target.startsWith('/run/')) {
    mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
    writeFileSync(target, content(undefined), { mode: 0o644 });
    return 'in /run';
  }
  const hostPath = join(newRoot, target);
  if (existsSync(hostPath) && lstatSync(hostPath).isFile()) {
    const ours = join(ETC_RUN_DIRECTORY, name);
    mkdirSync(ETC_RUN_DIRECTORY, { recursive: true, mode: 0o755 });
    writeFileSync(ours, content(readFileSync(hostPath, 'utf8')), { mode: 0o644 });
    mount(`${ours} over /etc/${name}`, ours, hostPath, null, MS.BIND);
    return 'bind-mounted';
  }
  const etc = join(newRoot, resolveInRoot(newRoot, '/etc'));
  if (!existsSync(etc)) {
    if (!rootIsCopy) return 'not provided: a read-only root without /etc';
    mkdirSync(etc, { mode: 0o755 });
  }
  if (!rootIsCopy) overlayEtc(newRoot);
  const etcPath = join(newRoot, 'etc', name);
  rmSync(etcPath, { force: true });
  writeFileSync(etcPath, content(undefined), { mode: 0o644 });
  return rootIsCopy ? 'written' : 'in an overlay of /etc';
}

/** An overlay over the new root's /etc (once), its upper layer in our /run: the root's own /etc is never written. */
function overlayEtc(newRoot: string): void {
  const upper = join(ETC_RUN_DIRECTORY, 'etc-upper');
  if (existsSync(upper)) return;
  const work = join(ETC_RUN_DIRECTORY, 'etc-work');
  mkdirSync(upper, { recursive: true, mode: 0o755 });
  mkdirSync(work, { recursive: true, mode: 0o755 });
  const etc = join(newRoot, 'etc');
  mount(`an overlay of ${etc}`, 'overlay', etc, 'overlay', 0, `lowerdir=${etc},upperdir=${upper},workdir=${work}`);
}
