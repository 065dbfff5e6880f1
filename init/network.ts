/**
 * The guest's network (chrootvm --net): the first interface besides lo gets the address, netmask,
 * MTU and default route the host's back end provides (static: no DHCP client in the root), and the
 * new root gets an /etc/resolv.conf naming the back end's DNS and an /etc/hosts line for the
 * hostname, without writing into the root, which may be read-only or the host's own tree.
 */
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import type { NetConfig } from './cmdline.ts';
import { debug } from './log.ts';
import { sleepSync } from './sleep.ts';
import { addDefaultRoute, configureInterface, mount, MS } from './sys/libc.ts';

/** The interface appears once virtio_net has probed its device; under TCG that can take a moment. */
const INTERFACE_TIMEOUT_MS = 10_000;
const INTERFACE_POLL_MS = 10;
/** Where the init keeps the files it provides, and the upper layer of /etc when one is needed. */
const NET_RUN_DIRECTORY = '/run/virtinitrd/net';

function firstInterface(): string {
  const deadline = performance.now() + INTERFACE_TIMEOUT_MS;
  for (;;) {
    const name = readdirSync('/sys/class/net').filter((entry) => entry !== 'lo').sort()[0];
    if (name !== undefined) return name;
    if (performance.now() >= deadline) throw new Error(`no network interface appeared within ${INTERFACE_TIMEOUT_MS / 1000} s (module virtio_net not loaded?)`);
    sleepSync(INTERFACE_POLL_MS);
  }
}

export function netmaskOf(prefix: number): string {
  const bits = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return [24, 16, 8, 0].map((shift) => (bits >>> shift) & 0xff).join('.');
}

/** Configures the first interface; returns its name. */
export function configureNetwork(net: NetConfig): string {
  const name = firstInterface();
  configureInterface(name, net.address, netmaskOf(net.prefix), net.mtu);
  addDefaultRoute(net.gateway);
  debug(`network: ${name} ${net.address}/${net.prefix} mtu ${net.mtu}, default via ${net.gateway}, dns ${net.dns}`);
  return name;
}

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
    const ours = join(NET_RUN_DIRECTORY, name);
    mkdirSync(NET_RUN_DIRECTORY, { recursive: true, mode: 0o755 });
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
  const upper = join(NET_RUN_DIRECTORY, 'etc-upper');
  if (existsSync(upper)) return;
  const work = join(NET_RUN_DIRECTORY, 'etc-work');
  mkdirSync(upper, { recursive: true, mode: 0o755 });
  mkdirSync(work, { recursive: true, mode: 0o755 });
  const etc = join(newRoot, 'etc');
  mount(`an overlay of ${etc}`, 'overlay', etc, 'overlay', 0, `lowerdir=${etc},upperdir=${upper},workdir=${work}`);
}

/** The root's /etc/hosts (or localhost lines when it has none), and the hostname at the guest's address. */
export function hostsFile(existing: string | undefined, address: string, hostname: string): string {
  const base = existing ?? '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n';
  return `${base}${base === '' || base.endsWith('\n') ? '' : '\n'}${address}\t${hostname}\n`;
}

/** resolv.conf and hosts for the guest, as provideEtcFile places them. */
export function provideNameFiles(newRoot: string, net: NetConfig, hostname: string, rootIsCopy: boolean): void {
  const resolv = provideEtcFile(newRoot, 'resolv.conf', () => `nameserver ${net.dns}\n`, rootIsCopy);
  const hosts = provideEtcFile(newRoot, 'hosts', (existing) => hostsFile(existing, net.address, hostname), rootIsCopy);
  debug(`network: /etc/resolv.conf ${resolv}, /etc/hosts ${hosts}`);
}
