/**
 * The VM's hostname: chosen on the host (chrootvm --hostname, or a default from the rootfs) and
 * passed as virtinitrd.hostname=, else the new root's /etc/hostname, else `localhost`.
 */
import { readFileSync } from 'node:fs';

/** HOST_NAME_MAX on Linux. */
const MAX_BYTES = 64;
const LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** RFC 1123 host names: dot-separated labels of letters, digits and inner hyphens, at most 64 bytes. */
export function isValidHostname(name: string): boolean {
  return name.length > 0 && name.length <= MAX_BYTES && name.split('.').every((label) => LABEL.test(label));
}

/** The first line of an /etc/hostname file, when it is a valid name. */
export function hostnameFromFile(text: string): string | undefined {
  const name = text.split('\n')[0]!.trim();
  return isValidHostname(name) ? name : undefined;
}

export const DEFAULT_HOSTNAME = 'localhost';

/** The guest's name: the one chosen on the host, else the root's own /etc/hostname, else localhost. */
export function chooseGuestHostname(given: string | undefined, etcHostname = '/etc/hostname'): string {
  if (given) return given;
  try {
    return hostnameFromFile(readFileSync(etcHostname, 'utf8')) ?? DEFAULT_HOSTNAME;
  } catch {
    return DEFAULT_HOSTNAME;
  }
}
