/**
 * What the init mounts and creates before anything else, as tables. The boot code walks them; adding a
 * filesystem or a device node is one line here.
 */
import { MS } from './sys/libc.ts';

export interface MountEntry {
  target: string;
  fstype: string;
  flags: number;
  /** fs-specific options; nothing SELinux-only (`seclabel`), which fails on kernels without SELinux. */
  data: string;
  /** A required mount that fails ends the boot; an optional one is logged. */
  required: boolean;
  /** Directory mode when the target has to be created. */
  mode: number;
}

const NOSUID_NODEV_NOEXEC = MS.NOSUID | MS.NODEV | MS.NOEXEC;

/** In dependency order: /dev/pts needs /dev, cgroup2 needs /sys. Flags as systemd mounts them. */
export const earlyMounts: readonly MountEntry[] = [
  { target: '/proc', fstype: 'proc', flags: NOSUID_NODEV_NOEXEC, data: '', required: true, mode: 0o555 },
  { target: '/sys', fstype: 'sysfs', flags: NOSUID_NODEV_NOEXEC, data: '', required: true, mode: 0o555 },
  { target: '/dev', fstype: 'devtmpfs', flags: MS.NOSUID, data: 'mode=0755', required: true, mode: 0o755 },
  { target: '/dev/pts', fstype: 'devpts', flags: MS.NOSUID | MS.NOEXEC, data: 'gid=5,mode=0620,ptmxmode=0666', required: false, mode: 0o755 },
  { target: '/dev/shm', fstype: 'tmpfs', flags: MS.NOSUID | MS.NODEV, data: 'mode=1777', required: false, mode: 0o1777 },
  { target: '/run', fstype: 'tmpfs', flags: MS.NOSUID | MS.NODEV, data: 'mode=0755', required: true, mode: 0o755 },
  { target: '/tmp', fstype: 'tmpfs', flags: MS.NOSUID | MS.NODEV, data: 'mode=1777', required: true, mode: 0o1777 },
  { target: '/sys/fs/cgroup', fstype: 'cgroup2', flags: NOSUID_NODEV_NOEXEC, data: 'nsdelegate', required: false, mode: 0o755 },
];

/** Mounts carried into the new root by MS_MOVE, so the system keeps what the init set up. */
export const movedMounts: readonly string[] = ['/dev', '/proc', '/sys', '/run', '/tmp'];

export interface DeviceNode {
  path: string;
  type: 'char';
  major: number;
  minor: number;
  mode: number;
}

/**
 * Nodes devtmpfs lacks until a driver registers them: a module loaded later (kvm, fuse, loop, tun)
 * would create them, but programs probe the path first.
 */
export const deviceNodes: readonly DeviceNode[] = [
  { path: '/dev/kvm', type: 'char', major: 10, minor: 232, mode: 0o666 },
  { path: '/dev/fuse', type: 'char', major: 10, minor: 229, mode: 0o666 },
  { path: '/dev/loop-control', type: 'char', major: 10, minor: 237, mode: 0o660 },
  { path: '/dev/net/tun', type: 'char', major: 10, minor: 200, mode: 0o666 },
];

export const deviceLinks: readonly { path: string; target: string }[] = [
  { path: '/dev/fd', target: '/proc/self/fd' },
  { path: '/dev/stdin', target: '/proc/self/fd/0' },
  { path: '/dev/stdout', target: '/proc/self/fd/1' },
  { path: '/dev/stderr', target: '/proc/self/fd/2' },
];
