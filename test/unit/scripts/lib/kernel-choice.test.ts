import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chooseKernel, type KernelRequest } from '../../../../scripts/lib/kernel-choice.ts';

/** Enough of a bzImage for parseKernelImage: boot flag, "HdrS", and the version string. */
function bzImage(version: string): Buffer {
  const image = Buffer.alloc(0x400);
  image.writeUInt16LE(0xaa55, 0x1fe);
  image.write('HdrS', 0x202, 'latin1');
  image.writeUInt16LE(0x100, 0x20e);
  image.write(`${version} (builder) #1\0`, 0x300, 'latin1');
  return image;
}

/** A rootfs with kernel `kver` in boot/ and, unless `withModules` is false, its module directory. */
function rootfs(base: string, name: string, kver: string | undefined, withModules = true): string {
  const root = join(base, name);
  mkdirSync(join(root, 'boot'), { recursive: true });
  if (kver) {
    writeFileSync(join(root, 'boot', `vmlinuz-${kver}`), bzImage(kver));
    if (withModules) mkdirSync(join(root, 'usr/lib/modules', kver), { recursive: true });
  }
  return root;
}

function withBase(use: (base: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const base = mkdtempSync(join(tmpdir(), 'kernel-choice-'));
    try {
      await use(base);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  };
}

const request = (overrides: Partial<KernelRequest>): KernelRequest => ({ fromImage: false, initrdGiven: false, ...overrides });

test('--kernel, with modules from --kernel-from, else the rootfs', withBase(async (base) => {
  const from = rootfs(base, 'from', '6.9.0-1');
  const root = rootfs(base, 'root', '6.9.0-1');
  const kernel = join(from, 'boot/vmlinuz-6.9.0-1');
  assert.deepEqual(await chooseKernel(request({ kernel, kernelFrom: from, rootfs: root })), {
    kernel, release: '6.9.0-1', moddir: join(from, 'usr/lib/modules/6.9.0-1'), why: '--kernel',
  });
  assert.equal((await chooseKernel(request({ kernel, rootfs: root }))).moddir, join(root, 'usr/lib/modules/6.9.0-1'));
}));

test('--kernel without any modules for it: an error naming where it looked, unless --initrd is given', withBase(async (base) => {
  const bare = rootfs(base, 'bare', undefined);
  const kernel = join(base, 'vmlinuz');
  writeFileSync(kernel, bzImage('7.0.0-test'));
  await assert.rejects(chooseKernel(request({ kernel, rootfs: bare })), {
    message: `--kernel ${kernel} is release 7.0.0-test, but none of ${bare}, / has usr/lib/modules/7.0.0-test or lib/modules/7.0.0-test to build its initrd from (give --kernel-from DIR or --initrd)`,
  });
  assert.equal((await chooseKernel(request({ kernel, rootfs: bare, initrdGiven: true }))).moddir, undefined);
}));

test('--kernel-from, then the rootfs own kernel', withBase(async (base) => {
  const from = rootfs(base, 'from', '6.1.0-5');
  const root = rootfs(base, 'root', '6.1.0-9');
  assert.equal((await chooseKernel(request({ kernelFrom: from, rootfs: root }))).release, '6.1.0-5');
  assert.deepEqual(await chooseKernel(request({ rootfs: root })), {
    kernel: join(root, 'boot/vmlinuz-6.1.0-9'), release: '6.1.0-9', moddir: join(root, 'usr/lib/modules/6.1.0-9'), why: 'the rootfs',
  });
}));

test("a rootfs without a kernel is an error; an image's falls back to the host's kernel", withBase(async (base) => {
  const empty = rootfs(base, 'empty', undefined);
  await assert.rejects(chooseKernel(request({ rootfs: empty })), /^Error: no kernel found in /);
  // This machine's own kernel may or may not be readable: either it is chosen, or the error says so.
  const hostKernel = await chooseKernel(request({ rootfs: empty, fromImage: true })).then(
    (choice) => choice.why,
    (error: Error) => error.message,
  );
  assert.ok(
    hostKernel === `the host's running kernel ${release()}` || hostKernel.startsWith(`no kernel to boot: the image has none, and the host's running kernel ${release()} is not readable`),
    hostKernel,
  );
}));
