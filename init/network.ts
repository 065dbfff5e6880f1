/**
 * The guest's network (chrootvm --net): the first interface besides lo gets the address, netmask,
 * MTU and default route the host's back end provides (static: no DHCP client in the root), and the
 * new root gets an /etc/resolv.conf naming the back end's DNS and an /etc/hosts line for the
 * hostname, without writing into the root, which may be read-only or the host's own tree.
 */
import { readdirSync } from 'node:fs';
import { monotonicMs } from './clock.ts';
import type { NetConfig } from './cmdline.ts';
import { provideEtcFile } from './etc-files.ts';
import { debug } from './log.ts';
import { sleepSync } from './sleep.ts';
import { addDefaultRoute, configureInterface } from './sys/libc.ts';

/** The interface appears once virtio_net has probed its device; under TCG that can take a moment. */
const INTERFACE_TIMEOUT_MS = 10_000;
const INTERFACE_POLL_MS = 10;

function firstInterface(): string {
  const deadline = monotonicMs() + INTERFACE_TIMEOUT_MS;
  for (;;) {
    const name = readdirSync('/sys/class/net').filter((entry) => entry !== 'lo').sort()[0];
    if (name !== undefined) return name;
    if (monotonicMs() >= deadline) throw new Error(`no network interface appeared within ${INTERFACE_TIMEOUT_MS / 1000} s (module virtio_net not loaded?)`);
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
