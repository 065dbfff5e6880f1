/**
 * Used the way osbuild uses its initrd: its own boot test, and an in-VM build with a read-only
 * rootfs, a read-only tools share and a writable output share.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { CHROOTVM, chrootvm, requireDemoRootfs, skipWithoutQemu, VM_TEST_TIMEOUT_MS, type Result } from './harness.ts';
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

describe('osbuild', () => {
  test("osbuild/initrd's boot test: a bash script on a read-only share prints a marker and powers off through sysrq", vm, async () => {
    await withDirs(['test'], async ({ test: share }) => {
      const script = join(share!, 'init.sh');
      await writeFile(script, '#!/bin/bash\necho "virtinitrd-boot-test-marker"\necho o > /proc/sysrq-trigger\nsleep 10\n');
      await chmod(script, 0o755);
      const result = await underTimeout(60, ['--mount-ro', 'test', share!, requireDemoRootfs(), '/run/mnt/test/init.sh']);
      assert.equal(result.status, 0, result.stderr);
      assert.match(result.stdout, /virtinitrd-boot-test-marker/);
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
