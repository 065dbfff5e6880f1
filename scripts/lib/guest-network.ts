/**
 * --net: what the guest needs for qemu's user-mode network (plan.ts USER_NETWORK): its kernel
 * modules, and the static setup the init gives the first interface (virtinitrd.net=).
 */
import type { NetConfig } from '../../init/cmdline.ts';
import { USER_NETWORK } from './plan.ts';

/**
 * Loaded only by --net boots (an initramfs of their own; a plain boot's stays as it was):
 * virtio_net (with failover and net_failover, its dependencies) for the interface, and overlay for
 * the overlay of /etc that holds resolv.conf when the root has no file to mount it over.
 */
export const NET_MODULES = ['virtio_net', 'overlay'];

export function userNetworkConfig(): NetConfig {
  const { guest, prefix, gateway, dns, mtu } = USER_NETWORK;
  return { address: guest, prefix, gateway, dns, mtu };
}
