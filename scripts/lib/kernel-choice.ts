/**
 * Which kernel chrootvm boots and where the modules for its initrd come from: --kernel, else
 * --kernel-from DIR, else the rootfs's own kernel, else (a container image or a whole-system
 * initrd, which rarely carry one) the host's running kernel when its image and modules are readable.
 */
import { access, readFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { release as hostRelease } from 'node:os';
import { resolve } from 'node:path';
import { parseKernelImage } from './kernel-image.ts';
import { MODDIR_PLACES, moddirFor, pickKernel } from './kernels.ts';

export interface KernelRequest {
  /** --kernel */
  kernel?: string;
  /** --kernel-from: a rootfs whose kernel and modules to use */
  kernelFrom?: string;
  /** The rootfs being booted (a directory, or an extracted image), if any. */
  rootfs?: string;
  /** Whether the rootfs came from an image: then a rootfs without a kernel falls back to the host's. */
  fromImage: boolean;
  /** --initrd given: no modules are needed. */
  initrdGiven: boolean;
}

export interface KernelChoice {
  kernel: string;
  release: string;
  /** Modules for the initrd; absent only when --initrd was given. */
  moddir?: string;
  /** Which rule chose it, for --debug. */
  why: string;
  /** Said on stderr: e.g. older kernels passed over. */
  note?: string;
}

async function releaseOf(kernel: string, what: string): Promise<string> {
  const bytes = await readFile(kernel).catch((cause: NodeJS.ErrnoException) => {
    throw new Error(`${what}: cannot read it (${cause.code})`);
  });
  return parseKernelImage(bytes, what).release;
}

/** The first of these roots that holds modules for `release`. */
async function modulesFor(release: string, roots: readonly string[]): Promise<string | undefined> {
  for (const root of roots) {
    const moddir = await moddirFor(root, release);
    if (moddir) return moddir;
  }
  return undefined;
}

export async function chooseKernel(request: KernelRequest): Promise<KernelChoice> {
  if (request.kernel) {
    const kernel = resolve(request.kernel);
    const release = await releaseOf(kernel, `--kernel ${request.kernel}`);
    const roots = [request.kernelFrom, request.rootfs, '/'].filter((root): root is string => root !== undefined);
    const moddir = await modulesFor(release, roots);
    if (!moddir && !request.initrdGiven) {
      const places = MODDIR_PLACES.map((place) => `${place}/${release}`).join(' or ');
      throw new Error(`--kernel ${request.kernel} is release ${release}, but none of ${roots.join(', ')} has ${places} to build its initrd from (give --kernel-from DIR or --initrd)`);
    }
    return { kernel, release, moddir, why: '--kernel' };
  }
  if (request.kernelFrom) {
    return fromRootfs(resolve(request.kernelFrom), `--kernel-from ${request.kernelFrom}`);
  }
  if (request.rootfs) {
    try {
      return await fromRootfs(request.rootfs, 'the rootfs');
    } catch (cause) {
      if (!request.fromImage) throw cause;
    }
  }
  return hostKernel();
}

async function fromRootfs(rootfs: string, why: string): Promise<KernelChoice> {
  const found = await pickKernel(rootfs);
  return { kernel: found.kernel, release: found.version, moddir: found.moddir, why, ...(found.note ? { note: found.note } : {}) };
}

/** Where distributions keep the running kernel's image. */
const HOST_KERNEL_PLACES = (release: string) => [`/boot/vmlinuz-${release}`, `/usr/lib/modules/${release}/vmlinuz`];

async function hostKernel(): Promise<KernelChoice> {
  const release = hostRelease();
  for (const kernel of HOST_KERNEL_PLACES(release)) {
    if (!(await access(kernel, constants.R_OK).then(() => true, () => false))) continue;
    const moddir = await modulesFor(release, ['/']);
    if (!moddir) break;
    return { kernel, release, moddir, why: `the host's running kernel ${release}` };
  }
  throw new Error(
    `no kernel to boot: the image has none, and the host's running kernel ${release} is not readable with its modules (looked at ${HOST_KERNEL_PLACES(release).join(', ')} and /lib/modules/${release}); give --kernel PATH or --kernel-from DIR`,
  );
}
