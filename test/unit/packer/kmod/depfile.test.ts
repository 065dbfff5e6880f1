import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sectionData } from '../../../../packer/elf/reader.ts';
import { modinfoDepends, parseModinfo, parseModulePaths, parseModulesDep } from '../../../../packer/kmod/depfile.ts';
import { fixtureModdir } from '../../../fixtures/kmod/fixture.ts';

const REPO = new URL('../../../../', import.meta.url).pathname;
const MODDIR = fixtureModdir('ko');
const V = 'kernel/drivers/virtio';

test('parseModulesDep reads the depmod golden file', () => {
  assert.deepEqual(parseModulesDep(readFileSync(join(REPO, 'test/golden/kmod/ko.modules.dep'), 'utf8')), [
    { path: 'kernel/fs/fuse/fuse.ko', deps: [] },
    { path: `${V}/virtio_pci_legacy_dev.ko`, deps: [] },
    { path: `${V}/virtio_ring.ko`, deps: [] },
    { path: 'kernel/drivers/char/virtio_console.ko', deps: [`${V}/virtio.ko`, `${V}/virtio_ring.ko`] },
    { path: `${V}/virtio_pci.ko`, deps: [`${V}/virtio_pci_legacy_dev.ko`, `${V}/virtio_pci_modern_dev.ko`, `${V}/virtio.ko`, `${V}/virtio_ring.ko`] },
    { path: 'kernel/fs/fuse/virtiofs.ko', deps: ['kernel/fs/fuse/fuse.ko', `${V}/virtio.ko`, `${V}/virtio_ring.ko`] },
    { path: `${V}/virtio.ko`, deps: [`${V}/virtio_ring.ko`] },
    { path: `${V}/virtio_pci_modern_dev.ko`, deps: [] },
  ]);
});

test('parseModulesDep: blank lines, extra spaces, malformed lines', () => {
  assert.deepEqual(parseModulesDep('\na.ko:  b.ko   c.ko \n\nb.ko:\n'), [
    { path: 'a.ko', deps: ['b.ko', 'c.ko'] },
    { path: 'b.ko', deps: [] },
  ]);
  assert.throws(() => parseModulesDep('a.ko: b.ko\nb.ko c.ko\n'), { message: 'modules.dep line 2 has no "path:" prefix: "b.ko c.ko"' });
  assert.throws(() => parseModulesDep(': b.ko\n'), { message: 'modules.dep line 1 has no "path:" prefix: ": b.ko"' });
});

test('parseModulePaths lists the paths of modules.builtin and modules.order', () => {
  assert.deepEqual(parseModulePaths('kernel/fs/binfmt_script.ko\n\nkernel/arch/x86/events/amd/amd-uncore.ko\n'), [
    'kernel/fs/binfmt_script.ko',
    'kernel/arch/x86/events/amd/amd-uncore.ko',
  ]);
  const real = parseModulePaths(readFileSync(join(MODDIR, 'modules.builtin'), 'utf8'));
  assert.equal(real.length, Number(execFileSync('wc', ['-l', join(MODDIR, 'modules.builtin')]).toString().split(' ')[0]));
});

test('parseModinfo splits NUL-separated key=value with padding', () => {
  const bytes = Buffer.from('license=GPL\0\0\0\0depends=fuse,virtio\0name=virtiofs\0flag\0alias=a=b\0\0');
  assert.deepEqual(parseModinfo(bytes), [
    ['license', 'GPL'],
    ['depends', 'fuse,virtio'],
    ['name', 'virtiofs'],
    ['flag', ''],
    ['alias', 'a=b'],
  ]);
});

test('modinfoDepends canonicalises and handles an empty list', () => {
  const cases: Array<[Array<[string, string]>, string[]]> = [
    [[['depends', '']], []],
    [[['name', 'x']], []],
    [[['depends', 'virtio-ring,fuse']], ['virtio_ring', 'fuse']],
  ];
  for (const [modinfo, deps] of cases) assert.deepEqual(modinfoDepends(modinfo), deps);
});

// kmod's modinfo is the reference reader of the same section.
for (const module of ['virtio', 'virtio_ring', 'virtio_pci', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev']) {
  test(`modinfoDepends of ${module}.ko equals modinfo -F depends`, () => {
    const path = join(MODDIR, V, `${module}.ko`);
    const expected = execFileSync('modinfo', ['-F', 'depends', path]).toString().trim();
    const modinfo = parseModinfo(sectionData(readFileSync(path), path, '.modinfo')!);
    assert.deepEqual(modinfoDepends(modinfo), expected === '' ? [] : expected.split(','));
    assert.deepEqual(modinfo.filter(([k]) => k === 'name'), [['name', module]]);
  });
}
