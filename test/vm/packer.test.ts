/**
 * Initrds packed from compressed kernel modules (.ko.xz, .ko.zst, .ko.gz, as Fedora, Arch and others
 * ship them), booted. The packer undoes the module compression on the host and packs plain .ko
 * files, so the guest sees the same bytes whatever the module codec was: a boot per module codec
 * would add nothing in the guest. Instead each boot mixes all three (every decoder runs in every
 * boot) and the codecs rotate between boots, so each module goes through two different decoders.
 * The kernel checks the modules' signatures, so a decoder that is a byte off fails the boot. The
 * two boots also vary the initrd's own codec (zstd, gzip; chrootvm's default lz4 is booted by every
 * other VM test, and xz takes most of a minute to pack).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { chrootvm, requireDemoRootfs, ROOT, skipWithoutQemu, VM_TEST_TIMEOUT_MS } from './harness.ts';
import { demoKernel } from '../demo.ts';

const vm = { skip: skipWithoutQemu, timeout: VM_TEST_TIMEOUT_MS };
const MKVIRTINITRD = join(ROOT, 'bin/mkvirtinitrd');
const run = promisify(execFile);

/**
 * What is copied from the demo's module directory: every module in the virtio and fuse directories,
 * not only the needed ones, and virtio_console (its directory holds every character device driver).
 */
const MODULE_DIRS: ReadonlyArray<{ dir: string; only?: string }> = [
  { dir: 'kernel/drivers/virtio' },
  { dir: 'kernel/fs/fuse' },
  { dir: 'kernel/drivers/char', only: 'virtio_console.ko' },
];

/** What chrootvm needs from the demo kernel: the defaults virtio_pci, virtiofs and virtio_console, and their dependencies. */
const EXPECTED_MODULES = ['fuse', 'virtio', 'virtio_console', 'virtio_pci', 'virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_ring', 'virtiofs'];

/** Each tool compresses FILE.ko in place into FILE.ko.SUFFIX, as the distributions' kernel packages do. */
const MODULE_CODECS = [
  // The kernel's own xz decoder (CONFIG_MODULE_COMPRESS_XZ) checks crc32 or nothing.
  { suffix: 'xz', argv: ['xz', '--check=crc32'] },
  { suffix: 'zst', argv: ['zstd', '-q', '--rm'] },
  { suffix: 'gz', argv: ['gzip', '-n'] },
] as const;

const BOOTS = [
  { initrdCodec: 'zstd', rotation: 0 },
  { initrdCodec: 'gzip', rotation: 1 },
] as const;

/** The paths MODULE_DIRS selects in the demo's module directory `demo`, relative to it. */
async function copiedModules(demo: string): Promise<string[]> {
  const modules: string[] = [];
  for (const { dir, only } of MODULE_DIRS) {
    for (const name of (await readdir(join(demo, dir))).filter((file) => (only ? file === only : file.endsWith('.ko')))) modules.push(join(dir, name));
  }
  return modules;
}

/**
 * A module directory for the demo kernel's release under `base`: modules.builtin* and MODULE_DIRS'
 * modules, the i-th module (in path order) compressed with MODULE_CODECS[(i + rotation) % 3].
 * Returns it with the codec suffix of each module, by name.
 */
async function compressedModdir(base: string, rotation: number): Promise<{ moddir: string; suffixOf: Map<string, string> }> {
  const { moddir: demo, release } = demoKernel()!;
  const moddir = join(base, release);
  const modules = await copiedModules(demo);
  for (const { dir } of MODULE_DIRS) await mkdir(join(moddir, dir), { recursive: true });
  for (const file of (await readdir(demo)).filter((name) => name.startsWith('modules.builtin'))) await copyFile(join(demo, file), join(moddir, file));
  const suffixOf = new Map<string, string>();
  for (const [index, module] of modules.sort().entries()) {
    const codec = MODULE_CODECS[(index + rotation) % MODULE_CODECS.length]!;
    await copyFile(join(demo, module), join(moddir, module));
    const [command, ...args] = codec.argv;
    await run(command, [...args, join(moddir, module)]);
    suffixOf.set(module.split('/').pop()!.slice(0, -'.ko'.length), codec.suffix);
  }
  return { moddir, suffixOf };
}

/** `modinfo -F depends` of the demo's uncompressed modules: name -> the modules it needs. */
async function dependencies(): Promise<Map<string, string[]>> {
  const demo = demoKernel()!.moddir;
  const found = new Map<string, string[]>();
  for (const module of await copiedModules(demo)) {
    const { stdout } = await run('modinfo', ['-F', 'depends', join(demo, module)]);
    found.set(module.split('/').pop()!.slice(0, -'.ko'.length), stdout.trim().split(',').filter((name) => name !== ''));
  }
  return found;
}

describe('an initrd built from compressed modules', () => {
  for (const { initrdCodec, rotation } of BOOTS) {
    test(`boots: .ko.xz, .ko.zst and .ko.gz modules (rotation ${rotation}) in a ${initrdCodec} initrd`, vm, async () => {
      const rootfs = requireDemoRootfs();
      const base = await mkdtemp(join(tmpdir(), 'virtinitrd-packer-test-'));
      try {
        const { moddir, suffixOf } = await compressedModdir(base, rotation);
        // The fixture is what it claims: the packed modules come in all three codecs.
        assert.deepEqual(new Set(EXPECTED_MODULES.map((name) => suffixOf.get(name))), new Set(MODULE_CODECS.map((codec) => codec.suffix)));

        // --list: the modules, decompressed to NNN-name.ko, each after what it depends on.
        const list = await run(MKVIRTINITRD, ['--list', moddir]);
        const packed = list.stdout.split('\n').map((line) => /^\/usr\/lib\/modules\/(\d{3})-(\S+)\.ko\s/.exec(line)).filter((match) => match !== null);
        assert.deepEqual(packed.map((match) => Number(match[1])), EXPECTED_MODULES.map((_, index) => index + 1), list.stdout);
        const order = packed.map((match) => match[2]!);
        assert.deepEqual([...order].sort(), EXPECTED_MODULES, list.stdout);
        const depends = await dependencies();
        for (const [position, name] of order.entries()) {
          for (const needed of depends.get(name)!) {
            assert.ok(order.indexOf(needed) >= 0 && order.indexOf(needed) < position, `${name} needs ${needed}, listed after it:\n${list.stdout}`);
          }
        }

        const initrd = join(base, `initrd.cpio.${initrdCodec}`);
        await run(MKVIRTINITRD, ['--compress', initrdCodec, moddir, initrd]);
        const result = await chrootvm(['--timeout', '120', '--initrd', initrd, rootfs, 'sh', '-c', 'cat /proc/modules; exit 3']);
        const detail = JSON.stringify(result, null, 1);
        assert.equal(result.status, 3, detail);
        assert.deepEqual(result.stdout.split('\n').filter((line) => line !== '').map((line) => line.split(' ')[0]).sort(), EXPECTED_MODULES, detail);
      } finally {
        await rm(base, { recursive: true, force: true });
      }
    });
  }
});
