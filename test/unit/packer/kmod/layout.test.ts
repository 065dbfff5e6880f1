import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initrdModuleNames } from '../../../../packer/kmod/layout.ts';

const named = (names: string[]) => names.map((name) => ({ name }));

test('initrdModuleNames numbers modules in load order', () => {
  assert.deepEqual(initrdModuleNames([]), []);
  assert.deepEqual(initrdModuleNames(named(['virtio_ring', 'virtio', 'virtio_pci'])), ['001-virtio_ring.ko', '002-virtio.ko', '003-virtio_pci.ko']);
});

test('a byte sort of the names is the load order, also past 999 modules', () => {
  for (const count of [9, 10, 999, 1000, 12345]) {
    // Names in reverse alphabetical order, so sorting by name alone would reverse them.
    const modules = named(Array.from({ length: count }, (_, i) => `m${String(count - i).padStart(6, '0')}`));
    const names = initrdModuleNames(modules);
    assert.deepEqual([...names].sort(), names, `${count} modules`);
    assert.equal(names[0], `${'1'.padStart(Math.max(3, String(count).length), '0')}-${modules[0]!.name}.ko`);
  }
});
