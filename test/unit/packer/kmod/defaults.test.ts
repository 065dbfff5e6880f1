import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DEFAULT_MODULES } from '../../../../packer/kmod/defaults.ts';
import { resolveModules } from '../../../../packer/kmod/resolve.ts';
import { fixtureModdir } from '../../../fixtures/kmod/fixture.ts';

const MODDIR = fixtureModdir('ko');

test('the default modules bring up virtio PCI devices, virtiofs and virtio-serial ports on a Debian kernel', async () => {
  const resolved = await resolveModules(MODDIR, [...DEFAULT_MODULES]);
  assert.deepEqual(
    resolved.modules.map((m) => m.name),
    ['fuse', 'virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_ring', 'virtio', 'virtio_console', 'virtio_pci', 'virtiofs'],
  );
  assert.equal(resolved.modules.at(-1)!.path, join(MODDIR, 'kernel/fs/fuse/virtiofs.ko'));
});
