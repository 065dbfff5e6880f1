/**
 * B, the floor: an initramfs whose /init is a busybox shell script doing what the virtinitrd init
 * does for `chrootvm ROOTFS true` — mounts, the same modules in the same order, the virtiofs root,
 * switch_root, the command, the status line on ttyS1, power-off — with no runtime to start.
 */
import type { CpioRecord } from '../../packer/cpio/records.ts';
import { STATUS_PREFIX } from '../../init/status-line.ts';

export interface FloorScriptInput {
  /** Module paths inside the initramfs, in load order. */
  modules: readonly string[];
  rootfsTag: string;
  /** Where the root share is mounted before the switch. */
  newRoot: string;
  /** Shell command run in the new root; its exit status is reported. */
  command: string;
}

const BUSYBOX = '/bin/busybox';
/** The device waits of the virtinitrd init: 10 ms apart, 20 s in all. */
const RETRY_MICROSECONDS = 10_000;
const RETRIES = 2000;

/** The /init script. */
export function floorInitScript(input: FloorScriptInput): string {
  // The command runs inside a single-quoted `sh -c` argument.
  if (input.command.includes("'")) throw new Error(`floor command ${JSON.stringify(input.command)} contains a single quote`);
  // No single quotes: the second stage's copy sits inside one.
  const status = (json: string) => `echo "${STATUS_PREFIX}${json}" >/dev/ttyS1`;
  return [
    `#!${BUSYBOX} sh`,
    'export PATH=/usr/sbin:/usr/bin:/sbin:/bin',
    `${BUSYBOX} mount -t proc proc /proc`,
    `${BUSYBOX} mount -t sysfs sysfs /sys`,
    `${BUSYBOX} mount -t devtmpfs devtmpfs /dev`,
    ...input.modules.map((path) => `${BUSYBOX} insmod ${path}`),
    'n=0',
    `until ${BUSYBOX} mount -t virtiofs -o ro ${input.rootfsTag} ${input.newRoot} 2>/dev/null; do`,
    '  n=$((n + 1))',
    `  if [ "$n" -ge ${RETRIES} ]; then ${status(`{\\"kind\\":\\"error\\",\\"message\\":\\"virtiofs ${input.rootfsTag} did not appear\\"}`)}; ${BUSYBOX} poweroff -f; fi`,
    `  ${BUSYBOX} usleep ${RETRY_MICROSECONDS}`,
    'done',
    ...['/dev', '/proc', '/sys'].map((path) => `${BUSYBOX} mount --move ${path} ${input.newRoot}${path}`),
    // The second stage runs the root's own shell; `poweroff -f` is reboot(RB_POWER_OFF), no init system.
    `exec ${BUSYBOX} switch_root ${input.newRoot} /bin/sh -c '${input.command}; ${status('{\\"kind\\":\\"exit\\",\\"code\\":$?}')}; exec poweroff -f'`,
    '',
  ].join('\n');
}

export interface FloorFiles {
  busybox: Uint8Array;
  script: string;
  /** The module files, at their paths inside the initramfs. */
  modules: readonly { path: string; data: Uint8Array }[];
}

/** The archive's records: busybox, the script as /init, the console device, the modules, the mount points. */
export function floorRecords(files: FloorFiles, newRoot: string): CpioRecord[] {
  const relative = (path: string) => path.replace(/^\/+/, '');
  return [
    { kind: 'file', path: relative(BUSYBOX), data: files.busybox, mode: 0o755 },
    { kind: 'file', path: 'init', data: Buffer.from(files.script), mode: 0o755 },
    // The kernel opens /dev/console for PID 1's stdio before anything mounts devtmpfs.
    { kind: 'device', path: 'dev/console', type: 'char', major: 5, minor: 1, mode: 0o600 },
    ...['proc', 'sys', relative(newRoot)].map((path): CpioRecord => ({ kind: 'dir', path })),
    ...files.modules.map((module): CpioRecord => ({ kind: 'file', path: relative(module.path), data: module.data, mode: 0o644 })),
  ];
}
