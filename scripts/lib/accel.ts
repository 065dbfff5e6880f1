// Choosing between KVM and TCG. /dev/kvm existing is not enough: on hosts
// whose KVM cannot run a normal guest (nested setups such as kvm-pvm) qemu
// starts, runs real-mode code, and then hangs as soon as the guest enters
// protected mode — exactly where a Linux boot hangs. So the probe boots a
// tiny firmware that walks the same path Linux's boot does (real mode ->
// protected mode -> paging -> 64-bit long mode) and reports from long mode
// through isa-debug-exit.

import { spawn } from 'node:child_process';
import { access, constants, mkdtemp, readFile, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-write.ts';
import { cacheDirectory } from './initrd-cache.ts';
import { makeDirectory } from './make-directory.ts';
import type { Accel } from './plan.ts';
import { findOnPath, isExecutableFile } from './processes.ts';

export type AccelRequest = 'auto' | Accel;

export interface ProbeResult {
  ok: boolean;
  reason: string;
}

export const DEFAULT_QEMU = 'qemu-system-x86_64';

const BIOS_SIZE = 0x10000;
// The last 64 KiB of the firmware also appear at 0xF0000 (the ISA BIOS
// window); the code runs there so that one identity-mapped 2 MiB page covers it.
const BIOS_BASE = 0xf0000;
const RESET_VECTOR = 0xfff0;
const DEBUG_EXIT_PORT = 0xf4;
const PROBE_VALUE = 0x2a;
/** isa-debug-exit turns a write of v into qemu's exit status (v << 1) | 1. */
export const PROBE_EXIT_STATUS = (PROBE_VALUE << 1) | 1;
const PROBE_TIMEOUT_MS = 3000;

const le32 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24];

// Offsets inside the image of the code's labels and tables.
const START32 = 0x18;
const START64 = 0x6f;
const GDT = 0x78;
const GDTR = 0x98;

const CODE: number[] = [
  // 0x00 .code16
  0xfa, //                                      cli
  0x2e, 0x66, 0x0f, 0x01, 0x16, GDTR, 0x00, //  lgdtl %cs:GDTR
  0x0f, 0x20, 0xc0, //                          mov %cr0, %eax
  0x0c, 0x01, //                                or $1, %al          (PE)
  0x0f, 0x22, 0xc0, //                          mov %eax, %cr0
  0x66, 0xea, ...le32(BIOS_BASE + START32), 0x08, 0x00, // ljmpl $0x08, $start32
  // 0x18 .code32
  0x66, 0xb8, 0x10, 0x00, //                    mov $0x10, %ax
  0x8e, 0xd8, 0x8e, 0xc0, 0x8e, 0xd0, //        mov %ax, %ds / %es / %ss
  // Page tables in low RAM (fresh guest RAM is zero): PML4 at 0x1000 ->
  // PDPT at 0x2000 -> PD at 0x3000 whose entry 0 maps 0-2 MiB (PS bit).
  0xc7, 0x05, ...le32(0x1000), ...le32(0x2003), // movl $0x2003, 0x1000
  0xc7, 0x05, ...le32(0x2000), ...le32(0x3003), // movl $0x3003, 0x2000
  0xc7, 0x05, ...le32(0x3000), ...le32(0x83), //   movl $0x83, 0x3000
  0x0f, 0x20, 0xe0, //                          mov %cr4, %eax
  0x0c, 0x20, //                                or $0x20, %al       (PAE)
  0x0f, 0x22, 0xe0, //                          mov %eax, %cr4
  0xb8, ...le32(0x1000), //                     mov $0x1000, %eax
  0x0f, 0x22, 0xd8, //                          mov %eax, %cr3
  0xb9, ...le32(0xc0000080), //                 mov $EFER, %ecx
  0x0f, 0x32, //                                rdmsr
  0x66, 0x0d, 0x00, 0x01, //                    or $0x100, %ax      (LME)
  0x0f, 0x30, //                                wrmsr
  0x0f, 0x20, 0xc0, //                          mov %cr0, %eax
  0x0d, ...le32(0x80000000), //                 or $0x80000000, %eax (PG)
  0x0f, 0x22, 0xc0, //                          mov %eax, %cr0
  0xea, ...le32(BIOS_BASE + START64), 0x18, 0x00, // ljmp $0x18, $start64
  // 0x6f .code64
  0xb0, PROBE_VALUE, //                         mov $0x2a, %al
  0xe6, DEBUG_EXIT_PORT, //                     out %al, $0xf4
  0xf4, //                                      hlt  (an NMI could wake it:
  0xeb, 0xfd, //                                jmp hlt   so halt again)
];

const GDT_ENTRIES: number[][] = [
  [0, 0],
  [0x0000ffff, 0x00cf9a00], // 0x08: 32-bit code, flat 4 GiB
  [0x0000ffff, 0x00cf9200], // 0x10: data, flat 4 GiB
  [0x0000ffff, 0x00af9a00], // 0x18: 64-bit code (L bit)
];

/** The probe firmware: 64 KiB whose reset vector leads to an `out` from 64-bit mode. */
export function buildProbeBios(): Uint8Array {
  const image = new Uint8Array(BIOS_SIZE);
  image.set(CODE, 0);
  image.set(GDT_ENTRIES.flatMap(([lo, hi]) => [...le32(lo), ...le32(hi)]), GDT);
  image.set([GDT_ENTRIES.length * 8 - 1, 0x00, ...le32(BIOS_BASE + GDT)], GDTR);
  // The CPU starts 16 bytes below 4 GiB, in the top copy of the image;
  // ljmp $0xf000, $0x0000 moves it to the copy at 0xF0000 the code is built for.
  image.set([0xea, 0x00, 0x00, 0x00, 0xf0], RESET_VECTOR);
  return image;
}

/** qemu's stderr opens with warnings (e.g. CPUID features the host lacks); the error comes after them. */
function firstError(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  return lines.find((l) => !/warning:/i.test(l)) ?? lines[0] ?? '(no message)';
}

export function probeArgv(qemu: string, accel: Accel, biosPath: string): string[] {
  return [
    qemu, '-accel', accel, '-machine', 'pc', '-nodefaults', '-display', 'none', '-no-user-config',
    '-bios', biosPath, '-device', `isa-debug-exit,iobase=${DEBUG_EXIT_PORT},iosize=0x04`,
  ];
}

/** Boots the probe firmware with `accel`; ok when the guest reached 64-bit mode within `timeoutMs`. */
export async function runProbeGuest(qemu: string, accel: Accel, timeoutMs = PROBE_TIMEOUT_MS): Promise<ProbeResult> {
  const dir = await mkdtemp(join(tmpdir(), 'virtinitrd-probe-'));
  try {
    const bios = join(dir, 'probe.bin');
    await writeFile(bios, buildProbeBios());
    const [cmd, ...args] = probeArgv(qemu, accel, bios);
    return await new Promise<ProbeResult>((resolve) => {
      const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      let timedOut = false;
      child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
      const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutMs);
      child.on('error', (err) => {
        clearTimeout(timer);
        resolve({ ok: false, reason: `cannot run ${qemu}: ${err.message}` });
      });
      child.on('close', (status) => {
        clearTimeout(timer);
        if (timedOut) resolve({ ok: false, reason: `guest did not run within ${timeoutMs / 1000} s under ${accel}` });
        else if (status === PROBE_EXIT_STATUS) resolve({ ok: true, reason: `a ${accel} guest ran to 64-bit mode` });
        else resolve({ ok: false, reason: `qemu refused ${accel} (exit status ${status}): ${firstError(stderr)}` });
      });
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const KVM_DEVICE = '/dev/kvm';

/** Why this user cannot open the KVM device, or undefined when it can. */
async function kvmDeviceProblem(device: string): Promise<string | undefined> {
  try {
    await access(device, constants.R_OK | constants.W_OK);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `no ${device}`;
    if (code === 'EACCES') return `permission denied on ${device} (join the kvm group)`;
    return `${device}: ${code}`;
  }
}

/** Whether KVM can run a guest on this host, by running one. */
export async function probeKvm(qemu: string = DEFAULT_QEMU): Promise<ProbeResult> {
  const problem = await kvmDeviceProblem(KVM_DEVICE);
  if (problem) return { ok: false, reason: problem };
  return runProbeGuest(qemu, 'kvm');
}

/**
 * What the probe guest's answer depends on. Whether KVM can run a guest only changes with the host
 * kernel (a reboot: new boot id), qemu, or the probe itself; the device's presence and permissions
 * are checked on every call instead, since loading kvm_intel or joining the kvm group needs no reboot.
 */
export interface ProbeCacheKey {
  bootId: string;
  qemu: { path: string; size: number; mtimeMs: number };
  /** sha256 of the probe firmware, its command line and its timeout. */
  probe: string;
}

const CACHE_FILE = 'kvm-probe.json';
const BOOT_ID = '/proc/sys/kernel/random/boot_id';

/** The cached answer in `text` (the cache file) if it was recorded under `key`; anything else is a miss. */
export function readProbeCache(text: string, key: ProbeCacheKey): ProbeResult | undefined {
  let stored: unknown;
  try {
    stored = JSON.parse(text);
  } catch {
    return undefined;
  }
  const { key: storedKey, result } = (stored ?? {}) as { key?: unknown; result?: Partial<ProbeResult> };
  if (JSON.stringify(storedKey) !== JSON.stringify(key)) return undefined;
  if (typeof result?.ok !== 'boolean' || typeof result.reason !== 'string') return undefined;
  return { ok: result.ok, reason: result.reason };
}

export function formatProbeCache(key: ProbeCacheKey, result: ProbeResult): string {
  return `${JSON.stringify({ key, result: { ok: result.ok, reason: result.reason } }, null, 2)}\n`;
}

/** The executable qemu names: itself when it has a slash, else the first on PATH; symlinks resolved. */
async function resolveCommand(command: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const found = command.includes('/') ? ((await isExecutableFile(command)) ? command : undefined) : await findOnPath(command, env);
  return found === undefined ? undefined : realpath(found);
}

/** The cache key for probing with `qemu`, or undefined when one of its parts cannot be read (no caching then). */
export async function probeCacheKey(qemu: string, bootIdPath = BOOT_ID, env: NodeJS.ProcessEnv = process.env): Promise<ProbeCacheKey | undefined> {
  const path = await resolveCommand(qemu, env);
  const bootId = await readFile(bootIdPath, 'utf8').then((text) => text.trim(), () => '');
  if (!path || !bootId) return undefined;
  const { size, mtimeMs } = await stat(path);
  // Loaded where a hash is made (here, only where /dev/kvm is): a run on TCG starts without it.
  const { createHash } = await import('node:crypto');
  const probe = createHash('sha256')
    .update(buildProbeBios())
    .update(JSON.stringify({ argv: probeArgv('QEMU', 'kvm', 'BIOS'), timeoutMs: PROBE_TIMEOUT_MS }))
    .digest('hex');
  return { bootId, qemu: { path, size, mtimeMs }, probe };
}

export interface CachedProbeOptions {
  device?: string;
  bootIdPath?: string;
}

/**
 * probeKvm with the probe guest's answer kept in `cacheDir` until the host reboots or qemu changes, so
 * only the first `--accel auto` of a boot waits for it. A corrupt or unreadable cache file is a miss
 * and is rewritten; a cache that cannot be written costs only the next probe.
 */
export async function cachedProbeKvm(qemu: string, cacheDir: string, options: CachedProbeOptions = {}): Promise<ProbeResult> {
  const problem = await kvmDeviceProblem(options.device ?? KVM_DEVICE);
  if (problem) return { ok: false, reason: problem };
  const key = await probeCacheKey(qemu, options.bootIdPath);
  if (!key) return runProbeGuest(qemu, 'kvm');
  const file = join(cacheDir, CACHE_FILE);
  const cached = readProbeCache(await readFile(file, 'utf8').catch(() => ''), key);
  if (cached) return { ok: cached.ok, reason: `${cached.reason} (cached)` };
  const result = await runProbeGuest(qemu, 'kvm');
  await makeDirectory(cacheDir, 0o700)
    .then(() => writeFileAtomic(file, Buffer.from(formatProbeCache(key, result))))
    .catch(() => undefined);
  return result;
}

export async function chooseAccel(
  requested: AccelRequest,
  probe: () => Promise<ProbeResult> = () => cachedProbeKvm(DEFAULT_QEMU, cacheDirectory()),
): Promise<{ accel: Accel; reason: string }> {
  if (requested === 'tcg') return { accel: 'tcg', reason: 'TCG requested' };
  const kvm = await probe();
  if (kvm.ok) return { accel: 'kvm', reason: `KVM works: ${kvm.reason}` };
  if (requested === 'kvm') throw new Error(`--accel kvm: KVM is not usable here: ${kvm.reason}`);
  return { accel: 'tcg', reason: `KVM is not usable (${kvm.reason}); using TCG` };
}
