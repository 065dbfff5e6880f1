/**
 * The guest's hostname when --hostname is not given: the rootfs's own /etc/hostname, else the name
 * the user gave the tree (the ROOTFS directory, the image file without its extensions, or the last
 * component of an image reference without its tag or digest) when it is a valid hostname. Undefined leaves the choice to the init (its /etc/hostname, else localhost).
 */
import { lstat, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { hostnameFromFile, isValidHostname } from '../../init/hostname.ts';

export async function defaultHostname(rootfs: string | undefined, givenName: string | undefined): Promise<string | undefined> {
  if (rootfs) {
    // A symlink may point anywhere on the host: the guest resolves it in its own root instead.
    const etcHostname = join(rootfs, 'etc/hostname');
    const isFile = await lstat(etcHostname).then((info) => info.isFile(), () => false);
    const fromFile = isFile ? hostnameFromFile(await readFile(etcHostname, 'utf8').catch(() => '')) : undefined;
    if (fromFile) return fromFile;
  }
  const name = givenName === undefined ? '' : basename(givenName.replace(/\/+$/, '')).split(/[.:@]/)[0]!;
  return isValidHostname(name) ? name : undefined;
}
