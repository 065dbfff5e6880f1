/**
 * The demo rootfs as tests see it (built by `make demo-rootfs`). Its kernel is whatever
 * linux-image-amd64 pointed at when it was built, so tests read the release instead of naming one.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const DEMO_ROOTFS = resolve(import.meta.dirname, '../.cache/demo/rootfs');

export interface DemoKernel {
  /** boot/vmlinuz-RELEASE */
  image: string;
  release: string;
  /** lib/modules/RELEASE */
  moddir: string;
}

export function demoKernel(): DemoKernel | undefined {
  const boot = join(DEMO_ROOTFS, 'boot');
  const image = existsSync(boot) ? readdirSync(boot).find((name) => name.startsWith('vmlinuz-')) : undefined;
  if (!image) return undefined;
  const release = image.slice('vmlinuz-'.length);
  return { image: join(boot, image), release, moddir: join(DEMO_ROOTFS, 'lib/modules', release) };
}

/** A skip reason for tests that need the demo kernel, or false when it is there. */
export const noDemoKernel: string | false = demoKernel() ? false : `no demo kernel in ${DEMO_ROOTFS}/boot (make demo-rootfs)`;
