// The modules every virtinitrd guest needs to reach its root filesystem.
//   virtio_pci brings virtio_pci_modern_dev, virtio_pci_legacy_dev, virtio and virtio_ring: without it
//     no virtio device appears at all on a q35 machine (osbuild's initrd tool left it out, so its images
//     find no virtiofs device on Debian kernels, where virtio_pci is a module).
//   virtiofs brings fuse.
//   virtio_console: virtio-serial ports, on which chrootvm sends the command to run and carries its
//     stdin, stdout and stderr (a UART is too slow, and the kernel command line too short).
export const DEFAULT_MODULES: readonly string[] = ['virtio_pci', 'virtiofs', 'virtio_console'];
