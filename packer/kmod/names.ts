// Module names as the kernel knows them: the file name without directory and suffix, with '-'
// and '_' treated as the same character (kmod normalises both to '_').

const MODULE_SUFFIX = /\.ko(\.(gz|xz|zst))?$/;

/** The one spelling of a module name: `virtio-pci` and `virtio_pci` are the same module. */
export function canonical(name: string): string {
  return name.replaceAll('-', '_');
}

/** The canonical module name of a module file or path: `kernel/drivers/virtio/virtio_pci.ko.xz` -> `virtio_pci`. */
export function moduleName(fileName: string): string {
  const base = fileName.slice(fileName.lastIndexOf('/') + 1);
  if (!MODULE_SUFFIX.test(base)) throw new Error(`${fileName} is not a kernel module file name (.ko, .ko.gz, .ko.xz or .ko.zst)`);
  return canonical(base.replace(MODULE_SUFFIX, ''));
}

/** Whether a file name has one of the module suffixes. */
export function isModuleFile(fileName: string): boolean {
  return MODULE_SUFFIX.test(fileName);
}
