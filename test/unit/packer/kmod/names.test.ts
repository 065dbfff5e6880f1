import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonical, isModuleFile, moduleName } from '../../../../packer/kmod/names.ts';

test('moduleName strips directory and suffix and canonicalises', () => {
  const cases = [
    ['virtio_pci.ko.xz', 'virtio_pci'],
    ['virtio_pci.ko', 'virtio_pci'],
    ['kernel/fs/fuse/virtiofs.ko.zst', 'virtiofs'],
    ['/usr/lib/modules/6.1.0-27-amd64/kernel/sound/pci/hda/snd-hda-intel.ko.gz', 'snd_hda_intel'],
    ['kernel/arch/x86/events/amd/amd-uncore.ko', 'amd_uncore'],
  ];
  for (const [file, name] of cases) assert.equal(moduleName(file!), name, file);
});

test('moduleName rejects what is not a module file', () => {
  for (const file of ['virtio_pci', 'virtio_pci.ko.bz2', 'modules.dep', 'kernel/virtio.ko/']) {
    assert.throws(() => moduleName(file), { message: `${file} is not a kernel module file name (.ko, .ko.gz, .ko.xz or .ko.zst)` });
  }
});

test('isModuleFile accepts exactly the four suffixes', () => {
  const cases: Array<[string, boolean]> = [
    ['a.ko', true], ['a.ko.gz', true], ['a.ko.xz', true], ['a.ko.zst', true],
    ['a.ko.bz2', false], ['a.kos', false], ['modules.builtin', false], ['a.ko.xz.sig', false],
  ];
  for (const [file, ok] of cases) assert.equal(isModuleFile(file), ok, file);
});

test('canonical makes - and _ one character', () => {
  const cases = [['virtio-pci', 'virtio_pci'], ['virtio_pci', 'virtio_pci'], ['snd-hda_intel', 'snd_hda_intel'], ['fuse', 'fuse']];
  for (const [name, want] of cases) assert.equal(canonical(name!), want, name);
});
