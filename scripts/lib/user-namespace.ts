/**
 * Rootless use. An ordinary user runs chrootvm as root of a user namespace of its own, entered by
 * bin/user-namespace.sh before Node starts (so the command's words pass on byte for byte): uid and
 * gid 0 there are the user's own, 1-65535 the user's first subordinate range. This module tells
 * which of the three cases we are in, describes the mapping for --debug, and, when an ordinary
 * user is outside such a namespace, names what the host lacks and the exact fix.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { findOnPath } from './processes.ts';

/**
 * Set in the environment of a command that asks its launcher to enter the user namespace (only
 * chrootvm always does): seen again outside one, it means the namespace could not be made.
 */
export const ENTER_USER_NAMESPACE = 'VIRTINITRD_USER_NAMESPACE';

/** One line of /proc/PID/uid_map or gid_map: `count` ids from `inside` are `outside` in the parent namespace. */
export interface IdRange {
  inside: number;
  outside: number;
  count: number;
}

export function parseIdMap(text: string): IdRange[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [inside, outside, count] = line.trim().split(/\s+/).map(Number);
      return { inside: inside!, outside: outside!, count: count! };
    });
}

/** The initial user namespace maps every id (2^32 - 1 of them) onto itself. */
const isIdentity = (map: readonly IdRange[]) => map.length === 1 && map[0]!.inside === 0 && map[0]!.outside === 0 && map[0]!.count === 0xffffffff;

/** "0 → 1001, 1-65535 → 100000-165534": what each id range inside is on the host. */
export function describeIdMap(map: readonly IdRange[]): string {
  const span = (start: number, count: number) => (count === 1 ? `${start}` : `${start}-${start + count - 1}`);
  return map.map(({ inside, outside, count }) => `${span(inside, count)} → ${span(outside, count)}`).join(', ');
}

export type Privilege =
  | { kind: 'root' }
  /** Root of a user namespace: root's powers over the user's own files and namespaces, nothing more. */
  | { kind: 'user-namespace'; uids: IdRange[]; gids: IdRange[] }
  | { kind: 'user'; uid: number };

let privilege: Privilege | undefined;

/** Read once: a process's ids and namespace do not change under it. */
export function currentPrivilege(): Privilege {
  privilege ??= readPrivilege();
  return privilege;
}

function readPrivilege(): Privilege {
  const uid = process.getuid?.() ?? 0;
  if (uid !== 0) return { kind: 'user', uid };
  const uids = parseIdMap(readFileSync('/proc/self/uid_map', 'utf8'));
  if (isIdentity(uids)) return { kind: 'root' };
  return { kind: 'user-namespace', uids, gids: parseIdMap(readFileSync('/proc/self/gid_map', 'utf8')) };
}

export function describePrivilege(privilege: Privilege): string {
  switch (privilege.kind) {
    case 'root':
      return 'running as root';
    case 'user':
      return `running as uid ${privilege.uid}, outside a user namespace`;
    case 'user-namespace':
      return `running as root of a user namespace: uids ${describeIdMap(privilege.uids)}; gids ${describeIdMap(privilege.gids)}`;
  }
}

/** What the host offers for rootless use, read by gatherRootlessFacts; rootlessProblem judges it. */
export interface RootlessFacts {
  user: string;
  uid: number;
  /** newuidmap and newgidmap are on PATH (Debian's uidmap). */
  idMapTools: boolean;
  /** The contents of /etc/subuid and /etc/subgid ('' when missing). */
  subuid: string;
  subgid: string;
  /** These sysctls, when the kernel has them. */
  maxUserNamespaces?: number;
  unprivilegedUsernsClone?: number;
  apparmorRestrictsUserns?: number;
  /** Our root is not the root of our mount namespace: the kernel refuses new user namespaces in a chroot. */
  chrooted: boolean;
  /** What `unshare --map-root-user --map-auto true` said. */
  unshareError: string;
}

/** The ranges /etc/subuid or /etc/subgid gives `user` (lines NAME:START:COUNT or UID:START:COUNT). */
export function subordinateRanges(text: string, user: string, uid: number): { start: number; count: number }[] {
  return text
    .split('\n')
    .map((line) => line.trim().split(':'))
    .filter((fields) => fields.length === 3 && (fields[0] === user || fields[0] === String(uid)))
    .map(([, start, count]) => ({ start: Number(start), count: Number(count) }));
}

/** A range of 65536 ids above every range either file gives anyone, as useradd would choose one. */
export function freeSubordinateRange(subuid: string, subgid: string): { start: number; end: number } {
  const RANGE = 65536;
  let start = 100000;
  for (const line of `${subuid}\n${subgid}`.split('\n')) {
    const [, first, count] = line.trim().split(':');
    if (first !== undefined && count !== undefined) start = Math.max(start, Number(first) + Number(count));
  }
  return { start, end: start + RANGE - 1 };
}

/** The kernel facts that refuse every ordinary user a user namespace, and the fix; undefined when none does. */
export function userNamespacesRefused(facts: Pick<RootlessFacts, 'chrooted' | 'maxUserNamespaces' | 'unprivilegedUsernsClone' | 'apparmorRestrictsUserns'>): string | undefined {
  if (facts.chrooted) return 'the kernel creates no user namespaces inside a chroot: run it outside the chroot, or as root';
  if (facts.maxUserNamespaces === 0) return 'user namespaces are disabled (user.max_user_namespaces = 0): as root, run sysctl -w user.max_user_namespaces=15000';
  if (facts.unprivilegedUsernsClone === 0) {
    return 'unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0): as root, run sysctl -w kernel.unprivileged_userns_clone=1';
  }
  if (facts.apparmorRestrictsUserns === 1) {
    return 'AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1): as root, run sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or give unshare an AppArmor profile that allows userns';
  }
  return undefined;
}

/** Why an ordinary user's namespace cannot be made, and the fix, as one message. */
export function rootlessProblem(facts: RootlessFacts): string {
  const why = (() => {
    if (!facts.idMapTools) return 'newuidmap and newgidmap are not installed: install the Debian package uidmap (as root: apt-get install uidmap)';
    const missing = [
      ...(subordinateRanges(facts.subuid, facts.user, facts.uid).length === 0 ? ['/etc/subuid'] : []),
      ...(subordinateRanges(facts.subgid, facts.user, facts.uid).length === 0 ? ['/etc/subgid'] : []),
    ];
    if (missing.length > 0) {
      const { start, end } = freeSubordinateRange(facts.subuid, facts.subgid);
      return `${facts.user} has no subordinate ids in ${missing.join(' and ')}: as root, run usermod --add-subuids ${start}-${end} --add-subgids ${start}-${end} ${facts.user}`;
    }
    return userNamespacesRefused(facts) ?? `unshare --map-root-user --map-auto failed: ${facts.unshareError || 'no message'}`;
  })();
  return `as an ordinary user (${facts.user}) this runs in a user namespace of its own, which cannot be made here: ${why}`;
}

const readNumber = (path: string) => readFile(path, 'utf8').then((text) => Number(text.trim()), () => undefined);

function unshareError(): Promise<string> {
  return new Promise((resolve) => {
    execFile('unshare', ['--map-root-user', '--map-auto', 'true'], (error, _stdout, stderr) => resolve(error ? `${stderr}`.trim() || error.message : ''));
  });
}

export async function gatherRootlessFacts(env: NodeJS.ProcessEnv): Promise<RootlessFacts> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  return {
    user: userInfo().username,
    uid: process.getuid?.() ?? 0,
    idMapTools: (await findOnPath('newuidmap', env)) !== undefined && (await findOnPath('newgidmap', env)) !== undefined,
    subuid: await readFile('/etc/subuid', 'utf8').catch(() => ''),
    subgid: await readFile('/etc/subgid', 'utf8').catch(() => ''),
    maxUserNamespaces: await readNumber('/proc/sys/user/max_user_namespaces'),
    unprivilegedUsernsClone: await readNumber('/proc/sys/kernel/unprivileged_userns_clone'),
    apparmorRestrictsUserns: await readNumber('/proc/sys/kernel/apparmor_restrict_unprivileged_userns'),
    chrooted: !rootIsMountPoint(mountinfo),
    unshareError: await unshareError(),
  };
}

/** Whether our root directory is the root of a mount (the fifth field of a mountinfo line is its mount point). */
export function rootIsMountPoint(mountinfo: string): boolean {
  return mountinfo.split('\n').some((line) => line.split(' ')[4] === '/');
}
