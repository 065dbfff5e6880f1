// The qemu command line as data: built first, compared by golden tests, then
// executed by the runner.

export type Accel = 'kvm' | 'tcg';

export interface Share {
  tag: string;
  socket: string;
}

/**
 * qemu's user-mode network (slirp), spelled out: the guest at 10.0.2.15/24, the host (its own
 * loopback included) at the gateway 10.0.2.2, and a DNS forwarder at 10.0.2.3. The init sets the
 * guest up statically with these (no DHCP client needed in the root).
 */
export const USER_NETWORK = { net: '10.0.2.0/24', guest: '10.0.2.15', prefix: 24, gateway: '10.0.2.2', dns: '10.0.2.3', mtu: 1500 } as const;

export interface VmPlanInput {
  qemu: string;
  kernel: string;
  initrd: string;
  memoryMiB: number;
  cpus: number;
  accel: Accel;
  /** One vhost-user-fs-pci device per share, in this order. */
  shares: Share[];
  /** Raw disk images as virtio-blk devices, told apart in the guest by their serial. */
  disks?: { path: string; serial: string }[];
  /** A virtio-net device on qemu's user-mode network, with these hostfwd= rules. */
  network?: { hostForwards: string[] };
  /** A pvpanic device (--boot): QMP then tells a kernel panic from the system's own reboot. */
  panicDevice?: boolean;
  /** Full kernel command line, already formatted. */
  cmdline: string;
  /** Host file that receives the guest's status port (second serial port, ttyS1). */
  statusPath: string;
  /** Host file that receives the kernel's console (third serial port, ttyS2). */
  kernelLogPath: string;
  /** Run mode: virtio-serial ports by name, each on a unix socket chrootvm listens on. */
  ports?: { name: string; socket: string }[];
  /** A unix socket chrootvm listens on for qemu's QMP events (why the VM stopped). */
  qmpSocket?: string;
  /** Shell on the terminal (true) or a command whose output is the console (false). */
  interactive: boolean;
}

// KVM passes the host CPU through; under TCG `max` enables every feature qemu
// can emulate, which the guest kernel (built for the host) may expect; `qemu64`
// was measured 0.6 s slower (Node starts 1 s slower without the newer features).
// Except ERMS and FSRM: with them the kernel's memcpy and glibc's large copies use
// `rep movsb`, which TCG runs one byte per helper iteration; without them they copy
// in words. Measured: initramfs unpack 0.63 -> 0.36 s, boot 0.36 s shorter. Hiding
// a CPUID feature is safe: software only uses what CPUID reports.
const CPU_MODEL: Record<Accel, string> = { kvm: 'host', tcg: 'max,erms=off,fsrm=off' };

/**
 * Kernel parameters for a fast boot, put before the caller's command line so that the caller's own
 * choices (the last occurrence wins) still take effect.
 * - initcall_blacklist=crypto_kdf108_init: that initcall only self-tests the SP800-108 KDF, and its
 *   hmac(sha256) lookup asks for a module, which makes the kernel wait for the whole initramfs to
 *   unpack (the module helper waits for the rootfs) before any later initcall runs: ~0.4 s under
 *   TCG. The KDF itself stays in the kernel.
 * - cryptomgr.notests: the other boot-time crypto self-tests (~0.15 s under TCG), the upstream
 *   default (CONFIG_CRYPTO_MANAGER_DISABLE_TESTS); ignored in FIPS mode, which always tests.
 * - rootfstype=ramfs: without root= the initramfs is a tmpfs capped at half the RAM, and the
 *   unpacked initramfs (~87 MiB, mostly the Node runtime) fits that cap only with twice its size
 *   and more; ramfs has no cap, so 224M boots.
 */
const KERNEL_PARAMETERS = ['initcall_blacklist=crypto_kdf108_init', 'cryptomgr.notests', 'rootfstype=ramfs'];
/**
 * - tsc=reliable: TCG's CPU model says AMD, and the kernel assumes the TSCs of a multi-CPU AMD
 *   machine are out of step, falling back to the HPET, a device read on every clock_gettime.
 *   qemu's TCG TSC is one host clock read under a lock for all vCPUs, so it is monotonic across
 *   them. Not under KVM, where the kernel picks kvm-clock itself.
 * - init_on_alloc=0: Debian's kernels zero every page and slab object as it is allocated
 *   (CONFIG_INIT_ON_ALLOC_DEFAULT_ON, a hardening default the upstream kernel leaves off). Under TCG
 *   that costs our init ~0.1 s between /init and power-off; under KVM it is cheap, and the
 *   distribution's default stays.
 */
const ACCEL_KERNEL_PARAMETERS: Record<Accel, string[]> = { kvm: [], tcg: ['tsc=reliable', 'init_on_alloc=0'] };

// qemu splits option values on ','; a literal comma is written twice.
const optValue = (value: string): string => value.replaceAll(',', ',,');

export function qemuArgv(input: VmPlanInput): string[] {
  const size = `${input.memoryMiB}M`;
  return [
    input.qemu,
    '-nodefaults', '-no-user-config', '-display', 'none',
    // With the kernel's panic=-1 a guest panic ends qemu instead of rebooting.
    '-no-reboot',
    // virtiofs needs guest RAM the virtiofsd processes can map: a shared memfd
    // backend, which q35 takes as its main memory.
    '-machine', 'q35,memory-backend=mem',
    '-accel', input.accel, '-cpu', CPU_MODEL[input.accel],
    '-m', size, '-smp', String(input.cpus),
    '-object', `memory-backend-memfd,id=mem,size=${size},share=on`,
    '-kernel', input.kernel, '-initrd', input.initrd,
    '-append', [...KERNEL_PARAMETERS, ...ACCEL_KERNEL_PARAMETERS[input.accel], input.cmdline].join(' '),
    // ttyS0. Interactive: ^C and ^Z go to the guest's shell, not to qemu.
    // Command mode: ^C stops the VM, as it would stop the command under chroot.
    '-chardev', `stdio,id=console,signal=${input.interactive ? 'off' : 'on'}`,
    '-serial', 'chardev:console',
    // ttyS1: only the init writes here (the command's exit status), so the
    // result never mixes with console text.
    '-chardev', `file,id=status,path=${optValue(input.statusPath)}`,
    '-serial', 'chardev:status',
    // ttyS2: the kernel's console, kept for the error message when the guest fails.
    '-chardev', `file,id=kernel-log,path=${optValue(input.kernelLogPath)}`,
    '-serial', 'chardev:kernel-log',
    // QMP: qemu's SHUTDOWN event tells a guest power-off from a reset or panic.
    ...(input.qmpSocket ? ['-chardev', `socket,id=qmp,path=${optValue(input.qmpSocket)}`, '-mon', 'chardev=qmp,mode=control'] : []),
    // Run mode: the run request and the command's streams, on virtio-serial ports (a UART moves
    // ~0.26 MB/s under TCG). qemu connects to chrootvm's sockets as it starts.
    ...(input.ports?.length ? ['-device', 'virtio-serial-pci,id=ports'] : []),
    ...(input.ports ?? []).flatMap((port, i) => [
      '-chardev', `socket,id=port${i},path=${optValue(port.socket)}`,
      '-device', `virtserialport,bus=ports.0,chardev=port${i},name=${optValue(port.name)}`,
    ]),
    ...input.shares.flatMap((share, i) => [
      '-chardev', `socket,id=fs${i},path=${optValue(share.socket)}`,
      '-device', `vhost-user-fs-pci,queue-size=1024,chardev=fs${i},tag=${optValue(share.tag)}`,
    ]),
    ...(input.network
      ? [
          '-netdev',
          [
            'user', 'id=net0', `net=${USER_NETWORK.net}`, `host=${USER_NETWORK.gateway}`, `dns=${USER_NETWORK.dns}`, `dhcpstart=${USER_NETWORK.guest}`,
            ...input.network.hostForwards.map((rule) => `hostfwd=${optValue(rule)}`),
          ].join(','),
          '-device', 'virtio-net-pci,netdev=net0',
        ]
      : []),
    ...(input.panicDevice ? ['-device', 'pvpanic-pci'] : []),
    // qemu locks an image it opens: a second VM on the same disk stops at once, naming it.
    ...(input.disks ?? []).flatMap((disk, i) => [
      '-drive', `file=${optValue(disk.path)},format=raw,if=none,id=disk${i}`,
      '-device', `virtio-blk-pci,drive=disk${i},serial=${optValue(disk.serial)}`,
    ]),
  ];
}

// Below this the initramfs (the init alone is ~84 MB unpacked) does not fit.
const MIN_MEMORY_MIB = 128;
const UNIT_MIB: Record<string, number> = { '': 1, m: 1, mib: 1, g: 1024, gib: 1024 };

/** '512M', '1G', '1024' (MiB) -> MiB; `what` names the size in the message. */
export function parseSize(text: string, what = 'size'): number {
  const m = /^(\d+)([a-z]*)$/i.exec(text.trim());
  const unit = m ? UNIT_MIB[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined || Number(m[1]) === 0) {
    throw new Error(`${what} "${text}": expected a whole number of MiB with an optional M or G suffix, e.g. 512M, 1G, 1024`);
  }
  return Number(m[1]) * unit;
}

/** '512M', '1G', '1024' (MiB) -> MiB, at least what the VM needs. */
export function parseMemory(text: string): number {
  const mib = parseSize(text, 'memory size');
  if (mib < MIN_MEMORY_MIB) {
    throw new Error(`memory size "${text}" is ${mib} MiB: the VM needs at least ${MIN_MEMORY_MIB}M`);
  }
  return mib;
}
