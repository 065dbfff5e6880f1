/**
 * Faults, table by table: each case is an input, the message the user sees (a substring naming the
 * cause) and the exit status; afterwards no qemu, virtiofsd, temp dir (with its sockets) or mount
 * may be left. Cases already covered elsewhere are not repeated:
 * - chrootvm.test.ts: a missing or non-executable COMMAND (127/126), a command killed by SIGTERM,
 *   --timeout (124), SIGINT during boot and SIGTERM while the command runs, a non-kernel --kernel,
 *   a missing ROOTFS or share, bad tags, a bad --memory, --mount-ro and the rootfs refusing writes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, truncate, unlink, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { formatBootParameters, type BootConfig } from '../../init/cmdline.ts';
import type { Status } from '../../init/status-line.ts';
import { canMakePrivateView, findVirtiofsd, inspectVirtiofsd } from '../../scripts/lib/virtiofsd.ts';
import { demoKernel } from '../demo.ts';
import {
  assertNothingLeft,
  bootForStatus,
  CHROOTVM_TMPDIR,
  chrootvm,
  DEMO_ROOTFS,
  leftovers,
  linkedDemoCopy,
  requireDemoRootfs,
  ROOT,
  skipWithoutQemu,
  startChrootvm,
  TEST_TMP,
  VM_TEST_TIMEOUT_MS,
  type Result,
} from './harness.ts';

const vm = { skip: skipWithoutQemu, timeout: VM_TEST_TIMEOUT_MS };
/** The demo kernel is whatever Debian's linux-image-amd64 named when the demo was built. */
const KVER = demoKernel()?.release ?? 'no-demo-kernel';
const DEMO_MODDIR = join(DEMO_ROOTFS, 'lib/modules', KVER);
const MKVIRTINITRD = join(ROOT, 'bin/mkvirtinitrd');
/** Short, so a boot that waits for a share that never comes fails in seconds, not the default 20. */
const SHARE_TIMEOUT_SECONDS = 3;

let fixtures: string;

before(async () => {
  requireDemoRootfs();
  fixtures = await mkdtemp(join(TEST_TMP, 'faults-'));
});

/** The module directory a virtiofs initrd needs, copied (not linked: cases change its files). */
async function copiedModdir(name: string): Promise<string> {
  const moddir = join(fixtures, name, KVER);
  for (const dir of ['kernel/drivers/virtio', 'kernel/fs/fuse']) await cp(join(DEMO_MODDIR, dir), join(moddir, dir), { recursive: true });
  await mkdir(join(moddir, 'kernel/drivers/char'), { recursive: true });
  for (const file of await readdir(join(DEMO_MODDIR, 'kernel/drivers/char'))) {
    if (file.startsWith('virtio_console.ko')) await cp(join(DEMO_MODDIR, 'kernel/drivers/char', file), join(moddir, 'kernel/drivers/char', file));
  }
  for (const file of ['modules.builtin', 'modules.builtin.modinfo']) await cp(join(DEMO_MODDIR, file), join(moddir, file));
  return moddir;
}

function run(command: string, args: readonly string[]): Promise<Result> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr })));
}

// ---------------------------------------------------------------------------------------------
// The kernel command line: qemu and the init, no chrootvm (which never writes a bad line).

const BASE: BootConfig = {
  rootfs: 'rootfs',
  rootfsNamed: true,
  rw: false,
  shares: [],
  initArgs: [],
  debug: false,
  run: false,
  shareTimeoutSeconds: SHARE_TIMEOUT_SECONDS,
};
/** Run mode, for `true`: a line that boots and powers off with status 0 unless a later word breaks it. */
const RUN_TRUE = formatBootParameters({ ...BASE, run: true });
/** Exec mode (osbuild's): init= from the read-only share "faults". */
const execInit = (path: string) => formatBootParameters({ ...BASE, shares: [{ tag: 'faults', readonly: true }], init: path });

interface CmdlineCase {
  name: string;
  cmdline: () => string[];
  /** The status line the init must send: an exit status, or an error whose message contains this. */
  expect: { code: number } | { message: string };
}

const LONG = 'x'.repeat(1500);
const CMDLINE_CASES: CmdlineCase[] = [
  {
    name: 'an unknown tag in rootfs= ends within the share timeout, naming the tag',
    cmdline: () => [...RUN_TRUE, 'rootfs=nosuch'],
    expect: { message: `prepare the root: share "nosuch" did not appear within ${SHARE_TIMEOUT_SECONDS} s: no virtiofs device has tag "nosuch"` },
  },
  { name: 'mount= twice with one tag', cmdline: () => [...RUN_TRUE, 'mount=a', 'mount=a'], expect: { message: 'mount=a: tag "a" is already mounted' } },
  { name: 'empty mount=', cmdline: () => [...RUN_TRUE, 'mount='], expect: { message: 'mount=: a tag cannot be empty' } },
  { name: 'empty rootfs=', cmdline: () => [...RUN_TRUE, 'rootfs='], expect: { message: 'rootfs=: a tag cannot be empty' } },
  { name: 'empty init=', cmdline: () => [...RUN_TRUE, 'init='], expect: { message: 'init= needs a path' } },
  { name: 'a 1500-byte tag', cmdline: () => [...RUN_TRUE, `mount=${LONG}`], expect: { message: `mount=${LONG}: a virtiofs tag is at most 36 bytes` } },
  {
    name: 'garbage and a 1500-byte parameter are ignored: the boot works',
    cmdline: () => [...RUN_TRUE, `virtinitrd.padding=${LONG}`, '%%%', 'a=b=c', 'virtinitrd.bogus', 'ünïcödé=1', 'quote="never closed'],
    expect: { code: 0 },
  },
  {
    name: 'init= missing',
    cmdline: () => execInit('/run/mnt/faults/missing'),
    expect: { message: 'start init: init=/run/mnt/faults/missing: /run/mnt/faults/missing does not exist' },
  },
  {
    name: 'init= not executable',
    cmdline: () => execInit('/run/mnt/faults/plain'),
    expect: { message: 'init=/run/mnt/faults/plain: /run/mnt/faults/plain is not executable (EACCES)' },
  },
  {
    name: 'init= a dangling symlink',
    cmdline: () => execInit('/run/mnt/faults/dangling'),
    expect: { message: 'init=/run/mnt/faults/dangling: /run/mnt/faults/dangling is a dangling symlink' },
  },
  {
    name: "init= a script whose #! interpreter is missing",
    cmdline: () => execInit('/run/mnt/faults/script'),
    expect: { message: 'init=/run/mnt/faults/script: /run/mnt/faults/script exists but its interpreter /no/such/interpreter was not found (ENOENT)' },
  },
];

describe('faults: kernel command line', () => {
  let share: string;
  before(async () => {
    share = join(fixtures, 'init-share');
    await mkdir(share);
    await writeFile(join(share, 'plain'), 'not a program\n', { mode: 0o644 });
    await symlink('/run/mnt/faults/nowhere', join(share, 'dangling'));
    await writeFile(join(share, 'script'), '#!/no/such/interpreter\necho unreachable\n', { mode: 0o755 });
  });

  for (const c of CMDLINE_CASES) {
    test(c.name, vm, async () => {
      const before = leftovers();
      const boot = await bootForStatus({ cmdline: c.cmdline(), shares: { faults: share }, run: ['true'], timeoutMs: 60_000 });
      const detail = `${JSON.stringify(boot.status)}\n${boot.kernelLog.slice(-2000)}`;
      assert.equal(boot.timedOut, false, `no status within 60 s: ${detail}`);
      if ('code' in c.expect) {
        assert.deepEqual(boot.status, { kind: 'exit', code: c.expect.code } satisfies Status, detail);
      } else {
        assert.equal(boot.status?.kind, 'error', detail);
        assert.ok(boot.status.kind === 'error' && boot.status.message.includes(c.expect.message), detail);
      }
      assertNothingLeft(before);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Kernel modules: initrds built by mkvirtinitrd from a changed copy of the demo's module directory.

const VIRTIO_BUILTIN = ['drivers/virtio/virtio', 'drivers/virtio/virtio_ring', 'drivers/virtio/virtio_pci', 'drivers/virtio/virtio_pci_modern_dev', 'drivers/virtio/virtio_pci_legacy_dev', 'fs/fuse/fuse', 'fs/fuse/virtiofs', 'drivers/char/virtio_console'];

interface ModuleCase {
  name: string;
  /** Makes the module directory; returns the mkvirtinitrd arguments before OUTPUT. */
  setup: () => Promise<string[]>;
  status: number;
  message: (args: string[]) => string;
}

const MODULE_CASES: ModuleCase[] = [
  {
    name: 'MODDIR missing',
    setup: async () => [join(fixtures, 'no-such-moddir')],
    status: 1,
    message: ([moddir]) => `module directory ${moddir} does not exist`,
  },
  {
    name: 'a module missing: named, with MODDIR',
    setup: async () => {
      const moddir = await copiedModdir('without-virtiofs');
      await unlink(join(moddir, 'kernel/fs/fuse/virtiofs.ko'));
      return [moddir];
    },
    status: 1,
    message: ([moddir]) => `module virtiofs not found in ${moddir} (neither a .ko file nor in modules.builtin)`,
  },
  {
    // The packer reads every module's ELF sections, so a truncated one is refused before any boot.
    name: 'a truncated module is refused when packing, naming the file',
    setup: async () => {
      const moddir = await copiedModdir('truncated');
      await truncate(join(moddir, 'kernel/fs/fuse/virtiofs.ko'), 4096);
      return [moddir];
    },
    status: 1,
    message: ([moddir]) => `${moddir}/kernel/fs/fuse/virtiofs.ko: truncated ELF`,
  },
];

const SIGNATURE_MARKER = '~Module signature appended~\n';

/** The module without its appended signature (struct module_signature: sig_len is the last 4 bytes, big-endian). */
function unsigned(bytes: Buffer): Buffer {
  const end = bytes.length - SIGNATURE_MARKER.length;
  assert.equal(bytes.toString('latin1', end), SIGNATURE_MARKER, 'the demo kernel signs its modules');
  return bytes.subarray(0, end - 12 - bytes.readUInt32BE(end - 4));
}

/** A different CRC for module_layout in __versions (struct modversion_info: an 8-byte crc, then the name). */
function otherBuild(bytes: Buffer): Buffer {
  const at = bytes.indexOf('\0module_layout\0') + 1;
  assert.ok(at > 8 && bytes.indexOf('\0module_layout\0', at) < 0, 'one __versions entry for module_layout');
  bytes.writeUInt32LE(bytes.readUInt32LE(at - 8) ^ 0xffffffff, at - 8);
  return bytes;
}

/** Rewrites a module (a new inode: the demo's files are never written). */
async function rewrite(path: string, change: (bytes: Buffer) => Buffer): Promise<void> {
  const bytes = change(await readFile(path));
  await unlink(path);
  await writeFile(path, bytes);
}

/** A release of the same length as `release` but another ABI number: the one after it (X.Y.Z-N-flavour → X.Y.Z-(N+1)-flavour). */
function anotherRelease(release: string): string {
  return release.replace(/-(\d+)-/, (_match, abi: string) => `-${String((Number(abi) + 1) % 10 ** abi.length).padStart(abi.length, '0')}-`);
}

/** Replaces `from` by `to`, of the same length, where it first occurs. */
function replaced(bytes: Buffer, from: string, to: string): Buffer {
  assert.equal(to.length, from.length);
  const at = bytes.indexOf(from);
  assert.ok(at >= 0, `no "${from}" in the module`);
  bytes.write(to, at, 'latin1');
  return bytes;
}

/**
 * Modules the packer accepts but the kernel refuses. The boot goes on without them, so the share
 * wait ends it: the message must still name the module and the kernel's errno.
 */
const MODULE_BOOT_CASES: { name: string; change: (module: string) => Promise<void>; errno: string; kernelSays?: RegExp }[] = [
  {
    // Any change to a signed module breaks its signature, which the kernel refuses even unenforced.
    name: 'a corrupt (changed) virtiofs.ko: the boot fails naming it and EKEYREJECTED',
    change: (module) => rewrite(module, (bytes) => replaced(bytes, 'description=Virtio Filesystem', 'description=Virtio Filesystex')),
    errno: 'EKEYREJECTED',
  },
  {
    // With modversions the kernel ignores the release in vermagic and compares symbol CRCs: another
    // build of the kernel differs there first, in module_layout's.
    name: 'virtiofs.ko for another kernel build: the boot fails naming it and ENOEXEC',
    change: (module) => rewrite(module, (bytes) => otherBuild(replaced(unsigned(bytes), `vermagic=${KVER} `, `vermagic=${anotherRelease(KVER)} `))),
    errno: 'ENOEXEC',
    kernelSays: /virtiofs: disagrees about version of symbol module_layout/,
  },
];

describe('faults: kernel modules', () => {
  for (const c of MODULE_CASES) {
    test(c.name, async () => {
      const args = await c.setup();
      const output = join(fixtures, `${c.name.replaceAll(/\W+/g, '-')}.cpio`);
      const result = await run(MKVIRTINITRD, ['--compress', 'none', ...args, output]);
      assert.equal(result.status, c.status, result.stderr);
      assert.ok(result.stderr.includes(c.message(args)), result.stderr);
      assert.deepEqual(readdirSync(fixtures).filter((name) => name.startsWith(output.split('/').pop()!)), [], 'no partial OUTPUT');
    });
  }

  // No Debian 12 kernel builds virtio and virtiofs in, so this one is not booted: --list shows what
  // would be packed, from a modules.builtin that lists them.
  test('virtio built into the kernel: no module is packed, --list says they are built in', async () => {
    const moddir = await copiedModdir('builtin');
    await rm(join(moddir, 'kernel'), { recursive: true });
    await writeFile(join(moddir, 'modules.builtin'), VIRTIO_BUILTIN.map((name) => `kernel/${name}.ko\n`).join(''), { flag: 'a' });
    const result = await run(MKVIRTINITRD, ['--list', moddir]);
    assert.equal(result.status, 0, result.stderr);
    const rows = result.stdout.split('\n').filter((line) => line !== '').map((line) => line.split(/\s{2,}/));
    assert.deepEqual(rows.filter((row) => row[0]!.includes('/modules/')), []);
    // The defaults are virtio_pci, virtiofs and virtio_console; their dependencies are never looked for once built in.
    assert.deepEqual(rows.filter((row) => row[1] === 'builtin').map((row) => row[0]), ['virtio_console', 'virtio_pci', 'virtiofs']);
  });

  for (const c of MODULE_BOOT_CASES) {
    test(c.name, vm, async () => {
      const before = leftovers();
      const moddir = await copiedModdir(c.name.replaceAll(/\W+/g, '-'));
      await c.change(join(moddir, 'kernel/fs/fuse/virtiofs.ko'));
      const initrd = join(fixtures, `${c.name.replaceAll(/\W+/g, '-')}.cpio.lz4`);
      const built = await run(MKVIRTINITRD, ['--compress', 'lz4', moddir, initrd]);
      assert.equal(built.status, 0, built.stderr);
      const boot = await bootForStatus({ cmdline: RUN_TRUE, initrd, run: ['true'], timeoutMs: 60_000 });
      const detail = `${JSON.stringify(boot.status)}\n${boot.kernelLog.slice(-3000)}`;
      assert.equal(boot.status?.kind, 'error', detail);
      const message = boot.status.kind === 'error' ? boot.status.message : '';
      assert.ok(message.startsWith(`prepare the root: share "rootfs" did not appear within ${SHARE_TIMEOUT_SECONDS} s: the virtiofs filesystem is not available`), detail);
      assert.match(message, new RegExp(`; kernel modules that failed to load: \\d+-virtiofs\\.ko \\(${c.errno}\\)$`), detail);
      if (c.kernelSays) assert.match(boot.kernelLog, c.kernelSays, detail);
      assertNothingLeft(before);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// chrootvm: the rootfs, the kernel, the host's tools, the guest.

interface ChrootvmCase {
  name: string;
  /** chrootvm's arguments; may make fixtures first. */
  args: () => Promise<string[]>;
  env?: () => Promise<NodeJS.ProcessEnv>;
  status: number;
  /** Found in stderr, or in stdout where the guest's own words go (an interactive run). */
  message?: RegExp;
  stdout?: string;
}

const KERNEL = `boot/vmlinuz-${KVER}`;

/** A directory whose only programs are the ones bin/chrootvm's shell wrapper runs. */
async function pathWithout(name: string): Promise<string> {
  const dir = join(fixtures, `path-without-${name}`);
  await mkdir(dir);
  for (const tool of ['dirname', 'readlink']) await symlink(join('/usr/bin', tool), join(dir, tool));
  return dir;
}

const CHROOTVM_CASES: ChrootvmCase[] = [
  {
    name: 'a rootfs without /bin/sh and no COMMAND: 127 and a clear message, not a hang',
    args: async () => [await linkedDemoCopy('no-sh', (root) => unlink(join(root, 'bin/sh')))],
    status: 127,
    message: /\/bin\/sh: command not found/,
  },
  {
    name: 'a rootfs that is a file',
    args: async () => {
      await writeFile(join(fixtures, 'rootfs-file'), '');
      return [join(fixtures, 'rootfs-file'), 'true'];
    },
    status: 125,
    message: /ROOTFS \S+\/rootfs-file is not a directory/,
  },
  {
    name: 'an empty rootfs: no kernel',
    args: async () => {
      await mkdir(join(fixtures, 'empty-rootfs'));
      return [join(fixtures, 'empty-rootfs'), 'true'];
    },
    status: 125,
    message: /no kernel found in \S+\/empty-rootfs: looked for usr\/lib\/modules\/\*\/vmlinuz and boot\/vmlinuz-\*$/m,
  },
  {
    name: 'a path with spaces, a comma and non-ASCII, as ROOTFS and as a share, works',
    args: async () => {
      const share = join(fixtures, 'share, with spaces ünïcødé');
      await mkdir(share);
      await writeFile(join(share, 'file'), 'from the share\n');
      return ['--mount-ro', 'w', share, await linkedDemoCopy('root fs, ünïcødé'), 'cat', '/run/mnt/w/file'];
    },
    status: 0,
    stdout: 'from the share\n',
  },
  {
    name: 'the kernel is a directory',
    args: async () => [await linkedDemoCopy('kernel-dir', async (root) => (await unlink(join(root, KERNEL)), await mkdir(join(root, KERNEL)))), 'true'],
    status: 125,
    message: new RegExp(`no kernel found in .*; unusable: ${KERNEL} \\(a directory\\)`),
  },
  {
    name: 'the kernel is a dangling symlink',
    args: async () => [await linkedDemoCopy('kernel-dangling', async (root) => (await unlink(join(root, KERNEL)), await symlink('/nowhere', join(root, KERNEL)))), 'true'],
    status: 125,
    message: new RegExp(`no kernel found in .*; unusable: ${KERNEL} \\(a dangling symlink\\)`),
  },
  {
    name: '--kernel a directory',
    args: async () => ['--kernel', fixtures, DEMO_ROOTFS, 'true'],
    status: 125,
    message: /--kernel \S+: cannot read it \(EISDIR\)/,
  },
  {
    name: 'virtiofsd missing',
    args: async () => [DEMO_ROOTFS, 'true'],
    env: async () => ({ VIRTIOFSD: '/nonexistent' }),
    status: 125,
    message: /VIRTIOFSD=\/nonexistent is not an executable file/,
  },
  {
    name: 'virtiofsd failing: /bin/false',
    args: async () => [DEMO_ROOTFS, 'true'],
    env: async () => ({ VIRTIOFSD: '/bin/false' }),
    status: 125,
    message: /\/bin\/false --help failed \(exit status 1\)/,
  },
  {
    name: 'virtiofsd failing to start a share',
    args: async () => [DEMO_ROOTFS, 'true'],
    env: async () => {
      // Answers --help as the C virtiofsd does, then fails as one would on a bad option.
      const fake = join(fixtures, 'fake-virtiofsd');
      await writeFile(fake, '#!/bin/sh\n[ "$1" = --help ] && { echo "-o source=PATH"; exit 0; }\necho "fuse: unknown option" >&2\nexit 3\n', { mode: 0o755 });
      return { VIRTIOFSD: fake };
    },
    status: 125,
    message: /virtiofsd for "rootfs" \(\S+\) exited before creating its socket \(exit status 3\): fuse: unknown option/,
  },
  {
    name: 'a TMPDIR too long for the unix sockets',
    args: async () => [DEMO_ROOTFS, 'true'],
    env: async () => {
      const deep = join(fixtures, 'a-directory-name-that-leaves-no-room'.repeat(3));
      await mkdir(deep);
      return { TMPDIR: deep };
    },
    status: 125,
    message: /the socket path \S+\/fs0\.sock is \d+ bytes, more than a unix socket takes \(107\): set TMPDIR to a shorter directory/,
  },
  {
    name: 'qemu missing from PATH',
    args: async () => [DEMO_ROOTFS, 'true'],
    env: async () => ({ PATH: await pathWithout('qemu') }),
    status: 125,
    message: /qemu-system-x86_64 not found on PATH \(.*\): install the Debian package qemu-system-x86/,
  },
  {
    name: 'too little --memory',
    args: async () => ['--memory', '128M', DEMO_ROOTFS, 'true'],
    status: 125,
    message: /the guest ran out of memory \(try a larger --memory\)/,
  },
  {
    name: 'the command killed by SIGKILL: 137',
    args: async () => [DEMO_ROOTFS, 'sh', '-c', 'kill -KILL $$'],
    status: 128 + 9,
  },
];

describe('faults: chrootvm', () => {
  for (const c of CHROOTVM_CASES) {
    test(c.name, vm, async () => {
      const before = leftovers();
      const args = await c.args();
      // A hang fails the case instead of the whole run.
      const result = await chrootvm(['--timeout', '60', ...args], { env: await c.env?.() });
      const detail = JSON.stringify(result, null, 1);
      assert.equal(result.status, c.status, detail);
      if (c.message) assert.match(result.stderr + result.stdout, c.message, detail);
      if (c.stdout !== undefined) assert.equal(result.stdout, c.stdout, detail);
      assertNothingLeft(before);
    });
  }
});

describe('faults: while it runs', () => {
  test('a share removed on the host while the command runs: the command fails, chrootvm ends', vm, async () => {
    const before = leftovers();
    const share = join(fixtures, 'vanishing');
    await mkdir(share);
    const running = startChrootvm(
      [
        '--timeout', '60', '--mount', 'w', share, DEMO_ROOTFS,
        'sh', '-c', 'echo > /run/mnt/w/ready; while [ -e /run/mnt/w/ready ]; do sleep 0.2; done; echo after > /run/mnt/w/after',
      ],
    );
    while (!existsSync(join(share, 'ready'))) await sleep(100);
    // chrootvm's sockets and files are its own: the temp dir is private to the user running it.
    const temps = readdirSync(CHROOTVM_TMPDIR);
    assert.equal(temps.length, 1, temps.join(' '));
    assert.equal((await stat(join(CHROOTVM_TMPDIR, temps[0]!))).mode & 0o777, 0o700);
    await rm(share, { recursive: true });
    const result = await running.result;
    assert.equal(result.status, 1, JSON.stringify(result));
    assert.match(result.stderr, /can't create \/run\/mnt\/w\/after/);
    assertNothingLeft(before);
  });

  // SIGINT during boot and SIGTERM while the command runs: chrootvm.test.ts.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    test(`${signal} while chrootvm builds the initrd, before qemu starts: nothing left, no partial cache file`, vm, async () => {
      const before = leftovers();
      const cache = await mkdtemp(join(fixtures, 'cache-'));
      const running = startChrootvm(['--debug', DEMO_ROOTFS, 'true'], { env: { XDG_CACHE_HOME: cache } });
      await running.waitFor('building initrd');
      running.child.kill(signal);
      const result = await running.result;
      assert.equal(result.status, 128 + (signal === 'SIGINT' ? 2 : 15), result.stderr);
      assert.match(result.stderr, new RegExp(`chrootvm: ${signal}, stopping the VM`));
      assert.doesNotMatch(result.stderr, /qemu: /);
      const cached = readdirSync(join(cache, 'virtinitrd'));
      assert.deepEqual(cached.filter((name) => name.includes('.tmp-')), [], cached.join(' '));
      assertNothingLeft(before);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Read-only as a guest root user sees it.

describe('faults: a guest root user against read-only shares', () => {
  test('writes to the read-only rootfs and a --mount-ro share, before and after remount,rw', vm, async () => {
    const before = leftovers();
    // Linked copy: the guest may only add entries here (and must not even do that), never write the demo's inodes.
    const rootfs = await linkedDemoCopy('remount');
    const share = join(fixtures, 'ro-share');
    await mkdir(share);
    await writeFile(join(share, 'kept'), 'original\n');
    const script = [
      'for target in / /run/mnt/ro; do',
      '  if echo x > $target/before 2>/dev/null; then echo "$target written"; else echo "$target refused"; fi',
      '  if mount -o remount,rw $target 2>/dev/null; then echo "$target remounted"; else echo "$target not remounted"; fi',
      '  if echo x > $target/after 2>/dev/null; then echo "$target written after remount"; else echo "$target refused after remount"; fi',
      'done',
      'echo changed > /run/mnt/ro/kept 2>/dev/null',
      'exit 0',
    ].join('\n');
    const result = await chrootvm(['--mount-ro', 'ro', share, rootfs, 'sh', '-c', script]);
    assert.equal(result.status, 0, result.stderr);
    const binary = await findVirtiofsd(process.env);
    const { readonlyOption } = await inspectVirtiofsd(binary);
    // The Rust virtiofsd's --readonly refuses writes itself; a C virtiofsd (Debian 12) run by root
    // serves a read-only bind mount, outside a chroot. Otherwise read-only is only the guest's
    // mount flag, which a guest root user can lift (README, Security).
    const enforced = readonlyOption || (await canMakePrivateView(process.env));
    assert.equal(
      result.stdout,
      enforced
        ? '/ refused\n/ remounted\n/ refused after remount\n/run/mnt/ro refused\n/run/mnt/ro remounted\n/run/mnt/ro refused after remount\n'
        : '/ refused\n/ remounted\n/ written after remount\n/run/mnt/ro refused\n/run/mnt/ro remounted\n/run/mnt/ro written after remount\n',
    );
    assert.equal(existsSync(join(rootfs, 'before')) || existsSync(join(share, 'before')), false);
    assert.deepEqual([existsSync(join(rootfs, 'after')), existsSync(join(share, 'after'))], [!enforced, !enforced]);
    assert.equal(await readFile(join(share, 'kept'), 'utf8'), enforced ? 'original\n' : 'changed\n');
    assertNothingLeft(before);
  });
});
