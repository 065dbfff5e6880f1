/**
 * Where things live inside the initramfs. The packer puts files at these paths and the init reads them
 * there, so both import this one table.
 */
export const initrdPaths = {
  /** ffi-rs's native module, loaded with process.dlopen (its own loader cannot be bundled). */
  ffiModule: '/usr/lib/virtinitrd/ffi-rs.node',
  /** Kernel modules, named NNN-name.ko so that byte order is dependency order. */
  modules: '/usr/lib/modules',
  /**
   * Present in a whole-system initramfs (mkvirtinitrd --rootfs): the system is in the initramfs
   * itself. It lists the paths that belong to the init, not to the system.
   */
  wholeSystemMarker: '/usr/lib/virtinitrd/whole-system',
  /**
   * In a whole-system initramfs made from an image (mkvirtinitrd --image): the image's process as
   * a run request line (control-protocol.ts), run when the kernel command line names no init=.
   */
  imageProcess: '/usr/lib/virtinitrd/image-process',
  /** Where the root share is mounted before the switch. */
  newRoot: '/sysroot',
} as const;
