/**
 * Used the way osbuild uses its initrd: its own boot test, osbuild's own qemu command line with its
 * init script on a share (no chrootvm), and an in-VM build with a read-only rootfs, a read-only tools
 * share and a writable output share.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { earlyMounts, movedMounts } from '../../init/mounts.ts';
import { MS } from '../../init/sys/libc.ts';
import { bootForStatus, CHROOTVM, chrootvm, requireDemoRootfs, skipWithoutQemu, VM_TEST_TIMEOUT_MS, type Result } from './harness.ts';
import { demoKernel } from '../demo.ts';

const vm = { skip: skipWithoutQemu, timeout: VM_TEST_TIMEOUT_MS };

async function withDirs<T>(names: string[], use: (dirs: Record<string, string>) => Promise<T>): Promise<T> {
  const base = await mkdtemp(join(tmpdir(), 'virtinitrd-osbuild-test-'));
  try {
    const dirs: Record<string, string> = {};
    for (const name of names) await mkdir((dirs[name] = join(base, name)));
    return await use(dirs);
  } finally {
    await rm(base, { recursive: true, force: true });
  }
}

/** coreutils' timeout, as osbuild/initrd's CI wraps its boot test: a hang fails instead of blocking. */
function underTimeout(seconds: number, args: string[]): Promise<Result> {
  const child = spawn('timeout', [`${seconds}s`, CHROOTVM, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve) => child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr })));
}

/**
 * osbuild's qemu command line (osbuild/buildroot VM stage), word for word but for console=ttyS0:
 * bootForStatus's console=ttyS2 takes its place, so the kernel log is kept and /dev/console is ttyS2.
 * selinux=1 stays although the demo kernel may not enable SELinux: the boot must not care.
 */
const OSBUILD_CMDLINE = ['quiet', 'selinux=1', 'enforcing=0', 'rootfstype=virtiofs', 'root=rootfs', 'ro', 'mount=mnt0', 'init=/run/mnt/mnt0/osbuild/vm.py'];
const VM_PY = '/run/mnt/mnt0/osbuild/vm.py';

/** What osbuild's init script looks at, under `=== NAME` headings; written to the share, then to stdout. */
const VM_PY_SCRIPT = [
  '#!/bin/sh',
  'seen=/run/mnt/mnt0/osbuild/seen',
  '{',
  '  echo "=== pid"; echo "$$"',
  '  echo "=== argv"; echo "$0"; for arg in "$@"; do echo "$arg"; done',
  '  echo "=== mounts"; cat /proc/mounts',
  '  echo "=== cmdline"; cat /proc/cmdline',
  '} > "$seen"',
  'cat "$seen"',
  // sysrq powers off without syncing: the record must reach the host first.
  'sync',
  'echo o > /proc/sysrq-trigger',
  // PID 1 must outlive the power-off work, or its exit panics the kernel.
  'sleep 60',
  '',
].join('\n');

const MS_FLAG = { nosuid: MS.NOSUID, nodev: MS.NODEV, noexec: MS.NOEXEC } as const;
const FLAG_OPTIONS = Object.keys(MS_FLAG) as (keyof typeof MS_FLAG)[];

/** `=== NAME` sections: NAME -> the lines that followed. */
function sections(text: string): Record<string, string[]> {
  const found: Record<string, string[]> = {};
  let current: string[] | undefined;
  for (const line of text.split('\n')) {
    const heading = /^=== (.+)$/.exec(line);
    if (heading) found[heading[1]!] = current = [];
    else if (line !== '') current?.push(line);
  }
  return found;
}

describe('osbuild', () => {
  test("osbuild/initrd's boot test: a bash script on a read-only share prints a marker and powers off through sysrq", vm, async () => {
    await withDirs(['test'], async ({ test: share }) => {
      const script = join(share!, 'init.sh');
      // The pause lets PID 1 copy the marker to the host first: the power-off does not wait (README).
      await writeFile(script, '#!/bin/bash\necho "virtinitrd-boot-test-marker"\nsleep 0.5\necho o > /proc/sysrq-trigger\nsleep 10\n');
      await chmod(script, 0o755);
      const result = await underTimeout(60, ['--mount-ro', 'test', share!, requireDemoRootfs(), '/run/mnt/test/init.sh']);
      assert.equal(result.status, 0, result.stderr);
      assert.match(result.stdout, /virtinitrd-boot-test-marker/);
    });
  });

  test("boots our initrd with qemu directly (no chrootvm) using osbuild's command line and an init script on mnt0, and checks what that script saw (mounts, argv, PID 1)", vm, async () => {
    await withDirs(['mnt0'], async ({ mnt0 }) => {
      await mkdir(join(mnt0!, 'osbuild'));
      await writeFile(join(mnt0!, 'osbuild/vm.py'), VM_PY_SCRIPT, { mode: 0o755 });
      const boot = await bootForStatus({ cmdline: OSBUILD_CMDLINE, shares: { mnt0: mnt0! }, writable: ['mnt0'], timeoutMs: 90_000 });
      const detail = `${JSON.stringify(boot.status)}\n${boot.kernelLog.slice(-3000)}`;
      assert.equal(boot.timedOut, false, detail);
      // Exec mode: the script replaced the init, so nothing ever writes a status line.
      assert.equal(boot.status, undefined, detail);
      assert.match(boot.kernelLog, /reboot: Power down/, detail);
      assert.doesNotMatch(boot.kernelLog, /Kernel panic/, detail);

      const recorded = await readFile(join(mnt0!, 'osbuild/seen'), 'utf8');
      // The script's stdout is /dev/console (ttyS2 here). Under quiet, and with an init silent on
      // success, nothing comes before it; after it the power-off (a virtiofs request cut off by the
      // power-off may be logged in between).
      const kernelLines = boot.kernelLog.replaceAll(/^\[ *\d+\.\d+\] /gm, '');
      assert.ok(kernelLines.startsWith(recorded), `the console does not start with the record:\n${detail}`);
      const after = kernelLines.slice(recorded.length).split('\n').filter((line) => line !== '' && !line.startsWith('virtio-fs: '));
      assert.deepEqual(after, ['sysrq: Power Off', 'reboot: Power down'], detail);

      const seen = sections(recorded);
      assert.deepEqual(seen.pid, ['1'], 'init= runs as PID 1');
      assert.deepEqual(seen.argv, [VM_PY], '$0 is the init= path, and no arguments');
      // Exactly osbuild's words, after the boot-speed parameters the plan puts first (later ones win).
      assert.equal(seen.cmdline?.length, 1);
      assert.ok(seen.cmdline![0]!.endsWith(['console=ttyS2', 'panic=-1', ...OSBUILD_CMDLINE].join(' ')), seen.cmdline![0]);

      const mounts = seen.mounts!.map((line) => line.split(' '));
      // Every early mount survived switch_root (the init's moves), plus the two shares: none missing, none extra.
      assert.deepEqual(
        mounts.map(([source, target, fstype]) => `${source} ${target} ${fstype}`).sort(),
        [...earlyMounts.map((entry) => `${entry.fstype} ${entry.target} ${entry.fstype}`), 'rootfs / virtiofs', 'mnt0 /run/mnt/mnt0 virtiofs'].sort(),
      );
      const options = new Map(mounts.map(([, target, , list]) => [target!, list!.split(',')]));
      assert.equal(options.get('/')![0], 'ro', 'no rw on the command line: the root is read-only');
      assert.equal(options.get('/run/mnt/mnt0')![0], 'rw', 'mount= is writable');
      for (const target of movedMounts) {
        const entry = earlyMounts.find((mount) => mount.target === target)!;
        const shown = options.get(target)!;
        assert.deepEqual(
          { rw: shown[0], flags: FLAG_OPTIONS.filter((option) => shown.includes(option)) },
          { rw: 'rw', flags: FLAG_OPTIONS.filter((option) => entry.flags & MS_FLAG[option]) },
          target,
        );
      }
    });
  });

  test('an in-VM build: read-only rootfs and tools, writable output, the artifact lands on the host', vm, async () => {
    await withDirs(['tools', 'output'], async ({ tools, output }) => {
      await writeFile(
        join(tools!, 'build.sh'),
        [
          '#!/bin/sh',
          'set -e',
          'out=/run/mnt/output',
          // The inputs stay read-only: a build step that writes there must fail.
          'if touch /run/mnt/tools/x 2>/dev/null || touch /usr/x 2>/dev/null; then echo "inputs are writable" >&2; exit 9; fi',
          'mkdir -p "$out/image"',
          'printf "kernel %s\\n" "$(uname -r)" > "$out/image/manifest"',
          'tar -C /etc -cf "$out/image/etc.tar" passwd group',
          'echo built',
          '',
        ].join('\n'),
      );
      await chmod(join(tools!, 'build.sh'), 0o755);
      const result = await chrootvm(['--mount-ro', 'tools', tools!, '--mount', 'output', output!, requireDemoRootfs(), '/run/mnt/tools/build.sh']);
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stdout, 'built\n');
      assert.equal(await readFile(join(output!, 'image/manifest'), 'utf8'), `kernel ${demoKernel()!.release}\n`);
      assert.deepEqual((await readdir(join(output!, 'image'))).sort(), ['etc.tar', 'manifest']);
    });
  });

  test("a failing build script's status comes back", vm, async () => {
    await withDirs(['tools'], async ({ tools }) => {
      await writeFile(join(tools!, 'build.sh'), '#!/bin/sh\necho "compiling" \necho "error: missing dependency" >&2\nexit 42\n');
      await chmod(join(tools!, 'build.sh'), 0o755);
      const result = await chrootvm(['--mount-ro', 'tools', tools!, requireDemoRootfs(), '/run/mnt/tools/build.sh']);
      assert.equal(result.status, 42);
      assert.equal(result.stdout, 'compiling\n');
      assert.equal(result.stderr, 'error: missing dependency\n');
    });
  });
});
