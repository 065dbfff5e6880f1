import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findKernels, pickKernel, resolveInRoot } from '../../../../scripts/lib/kernels.ts';

const FIXTURES = fileURLToPath(new URL('../../../fixtures/kernels/', import.meta.url));
const root = (name: string): string => `${FIXTURES}${name}`;

test('findKernels: every candidate of the fedora tree, newest first, one per version', async () => {
  const r = root('fedora');
  assert.deepEqual(await findKernels(r), [
    {
      kernel: `${r}/usr/lib/modules/6.8.9-300.fc40.x86_64/vmlinuz`, version: '6.8.9-300.fc40.x86_64',
      moddir: `${r}/usr/lib/modules/6.8.9-300.fc40.x86_64`, found: 'usr/lib/modules/6.8.9-300.fc40.x86_64/vmlinuz',
    },
    {
      kernel: `${r}/usr/lib/modules/6.8.5-301.fc40.x86_64/vmlinuz`, version: '6.8.5-301.fc40.x86_64',
      moddir: `${r}/usr/lib/modules/6.8.5-301.fc40.x86_64`, found: 'usr/lib/modules/6.8.5-301.fc40.x86_64/vmlinuz',
    },
    {
      kernel: `${r}/boot/vmlinuz-0-rescue-0123456789abcdef`, version: '0-rescue-0123456789abcdef',
      moddir: null, found: 'boot/vmlinuz-0-rescue-0123456789abcdef',
    },
  ]);
});

const PICKS: Array<[string, (r: string) => Awaited<ReturnType<typeof pickKernel>>]> = [
  ['debian-split', (r) => ({
    kernel: `${r}/boot/vmlinuz-6.1.0-27-amd64`, version: '6.1.0-27-amd64', moddir: `${r}/lib/modules/6.1.0-27-amd64`,
    note: 'using kernel 6.1.0-27-amd64 from boot/vmlinuz-6.1.0-27-amd64; skipped boot/vmlinuz-6.1.0-9-amd64 (older)',
  })],
  ['debian-merged', (r) => ({
    kernel: `${r}/boot/vmlinuz-6.10.0-1-amd64`, version: '6.10.0-1-amd64', moddir: `${r}/usr/lib/modules/6.10.0-1-amd64`,
    note: 'using kernel 6.10.0-1-amd64 from boot/vmlinuz-6.10.0-1-amd64; skipped boot/vmlinuz-6.9.0-1-amd64 (older)',
  })],
  ['fedora', (r) => ({
    kernel: `${r}/usr/lib/modules/6.8.9-300.fc40.x86_64/vmlinuz`, version: '6.8.9-300.fc40.x86_64',
    moddir: `${r}/usr/lib/modules/6.8.9-300.fc40.x86_64`,
    note: 'using kernel 6.8.9-300.fc40.x86_64 from usr/lib/modules/6.8.9-300.fc40.x86_64/vmlinuz; skipped '
      + 'usr/lib/modules/6.8.5-301.fc40.x86_64/vmlinuz (older), boot/vmlinuz-0-rescue-0123456789abcdef (no module directory)',
  })],
  // The link's absolute target exists only inside the tree: found there, and
  // the kernel path handed to qemu is the resolved one.
  ['absolute-links', (r) => ({
    kernel: `${r}/usr/share/virtinitrd-fixture/vmlinuz`, version: '6.1.0-27-amd64', moddir: `${r}/usr/lib/modules/6.1.0-27-amd64`,
  })],
];

for (const [name, expected] of PICKS) {
  test(`pickKernel(${name})`, async () => {
    assert.deepEqual(await pickKernel(root(name)), expected(root(name)));
  });
}

test('pickKernel: no kernel names the rootfs and both places', async () => {
  await assert.rejects(pickKernel(root('empty')), {
    message: `no kernel found in ${root('empty')}: looked for usr/lib/modules/*/vmlinuz and boot/vmlinuz-*`,
  });
});

test('pickKernel: a kernel without modules is an error naming it and the places looked at', async () => {
  await assert.rejects(pickKernel(root('no-moddir')), {
    message: `no kernel in ${root('no-moddir')} has its modules: found boot/vmlinuz-6.1.0-27-amd64, `
      + 'but none of usr/lib/modules/VERSION, lib/modules/VERSION',
  });
});

test('pickKernel: entries named like a kernel that are not one are named with why', async () => {
  const r = await mkdtemp(join(tmpdir(), 'kernels-test-'));
  try {
    await mkdir(join(r, 'boot/vmlinuz-6.1.0-1-amd64'), { recursive: true });
    await symlink('/boot/nowhere', join(r, 'boot/vmlinuz-6.1.0-2-amd64'));
    await mkdir(join(r, 'usr/lib/modules/6.1.0-3-amd64/vmlinuz'), { recursive: true });
    // A module directory without a vmlinuz is not a kernel anybody would expect: not named.
    await mkdir(join(r, 'usr/lib/modules/6.1.0-4-amd64'), { recursive: true });
    await assert.rejects(pickKernel(r), {
      message: `no kernel found in ${r}: looked for usr/lib/modules/*/vmlinuz and boot/vmlinuz-*; unusable: `
        + 'usr/lib/modules/6.1.0-3-amd64/vmlinuz (a directory), boot/vmlinuz-6.1.0-1-amd64 (a directory), boot/vmlinuz-6.1.0-2-amd64 (a dangling symlink)',
    });
  } finally {
    await rm(r, { recursive: true, force: true });
  }
});

test('pickKernel: a rootfs that does not exist has no kernel', async () => {
  await assert.rejects(pickKernel(root('missing')), { message: /^no kernel found in .*missing: looked for/ });
});

const RESOLVE: Array<[string, string, string | null]> = [
  ['absolute-links', 'lib/modules/6.1.0-27-amd64', 'usr/lib/modules/6.1.0-27-amd64'],
  ['absolute-links', 'boot/escape', 'usr/share/virtinitrd-fixture/vmlinuz'],
  ['absolute-links', 'boot/../../../usr/lib', 'usr/lib'],
  ['absolute-links', 'lib/modules/6.9', null],
  ['absolute-links', 'usr/share/virtinitrd-fixture/vmlinuz/x', null],
  ['debian-merged', 'lib/modules/6.9.0-1-amd64/.gitkeep', 'usr/lib/modules/6.9.0-1-amd64/.gitkeep'],
  ['debian-merged', 'boot/vmlinuz', 'boot/vmlinuz-6.10.0-1-amd64'],
];

for (const [tree, rel, expected] of RESOLVE) {
  test(`resolveInRoot(${tree}, ${rel})`, async () => {
    const r = root(tree);
    assert.equal(await resolveInRoot(r, rel), expected === null ? null : `${r}/${expected}`);
  });
}

test('resolveInRoot: a symlink loop is an error, not a hang', async () => {
  const r = root('absolute-links');
  await assert.rejects(resolveInRoot(r, 'loop/x'), { message: `loop/x in ${r}: more than 40 symlinks (a loop?)` });
});
