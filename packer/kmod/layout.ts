// File names for modules inside the initramfs: a numeric prefix makes the byte-sorted directory
// listing the load order, so the init can load them without a dependency file of its own.

const MIN_WIDTH = 3;

/** `['001-virtio_ring.ko', '002-virtio.ko', ...]` for modules already in load order (stored decompressed). */
export function initrdModuleNames(modules: ReadonlyArray<{ name: string }>): string[] {
  const width = Math.max(MIN_WIDTH, String(modules.length).length);
  return modules.map((m, i) => `${String(i + 1).padStart(width, '0')}-${m.name}.ko`);
}
