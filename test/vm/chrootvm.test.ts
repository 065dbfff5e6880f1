/**
 * chrootvm end to end on the demo rootfs: output, exit status, shares. Each test boots a VM.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  assertNothingLeft,
  chrootvm,
  chrootvmOnTerminal,
  leftovers,
  requireDemoRootfs,
  ROOT,
  skipWithoutQemu,
  startChrootvm,
  VM_TEST_TIMEOUT_MS,
} from './harness.ts';
import { demoKernel } from '../demo.ts';

const vm = { skip: skipWithoutQemu, timeout: VM_TEST_TIMEOUT_MS };

async function withHostDir<T>(use: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'virtinitrd-vm-test-'));
  try {
    return await use(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('chrootvm', () => {
  test("the command's stdout and stderr reach ours, unchanged and apart, with no kernel messages", vm, async () => {
    const rootfs = requireDemoRootfs();
    const result = await chrootvm([rootfs, 'sh', '-c', 'echo "out: $(uname -r)"; printf "a\\tb\\n\\n"; echo err >&2']);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, `out: ${demoKernel()!.release}\na\tb\n\n`);
    assert.equal(result.stderr, 'err\n');
  });

  test("exits with the command's status", vm, async () => {
    const result = await chrootvm([requireDemoRootfs(), 'sh', '-c', 'exit 7']);
    assert.equal(result.status, 7, result.stderr);
  });

  test('a command that is not there exits 127 and one that cannot run exits 126', vm, async () => {
    const rootfs = requireDemoRootfs();
    const missing = await chrootvm([rootfs, '/no/such/command']);
    assert.equal(missing.status, 127, missing.stderr);
    assert.match(missing.stderr, /\/no\/such\/command/);
    const notExecutable = await chrootvm([rootfs, '/etc/passwd']);
    assert.equal(notExecutable.status, 126, notExecutable.stderr);
  });

  test('a command killed by a signal gives 128+N', vm, async () => {
    const result = await chrootvm([requireDemoRootfs(), 'sh', '-c', 'kill -TERM $$']);
    assert.equal(result.status, 128 + 15, result.stderr);
  });

  test('a --mount share is writable and what the guest wrote is on the host', vm, async () => {
    await withHostDir(async (dir) => {
      await writeFile(join(dir, 'input'), 'from the host\n');
      const result = await chrootvm(['--mount', 'out', dir, requireDemoRootfs(), 'sh', '-c', 'cat /run/mnt/out/input; echo "from the guest" > /run/mnt/out/output']);
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stdout, 'from the host\n');
      assert.equal(await readFile(join(dir, 'output'), 'utf8'), 'from the guest\n');
    });
  });

  test('a --mount-ro share cannot be written, and the host directory is unchanged', vm, async () => {
    await withHostDir(async (dir) => {
      await writeFile(join(dir, 'kept'), 'original\n');
      const result = await chrootvm([
        '--mount-ro', 'ro', dir, requireDemoRootfs(),
        'sh', '-c', 'cat /run/mnt/ro/kept; echo changed > /run/mnt/ro/kept; echo new > /run/mnt/ro/new',
      ]);
      assert.notEqual(result.status, 0);
      assert.equal(result.stdout, 'original\n');
      assert.match(result.stderr, /Read-only file system/);
      assert.equal(await readFile(join(dir, 'kept'), 'utf8'), 'original\n');
      assert.deepEqual(await readdir(dir), ['kept']);
    });
  });

  test('the rootfs is read-only unless --rw', vm, async () => {
    const result = await chrootvm([requireDemoRootfs(), 'sh', '-c', 'touch /etc/should-not-exist']);
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /Read-only file system/);
  });

  test('the guest starts in the host directory when it lies in a share', vm, async () => {
    await withHostDir(async (dir) => {
      const result = await chrootvm(['--mount', 'work', dir, requireDemoRootfs(), 'pwd'], { cwd: dir });
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stdout, '/run/mnt/work\n');
    });
  });

  test('--timeout stops a command that never ends, exits 124 and leaves nothing behind', vm, async () => {
    const before = leftovers();
    const result = await chrootvm(['--timeout', '20', requireDemoRootfs(), 'sleep', '1000']);
    assert.equal(result.status, 124, result.stderr);
    assert.match(result.stderr, /timed out after 20 s/);
    assertNothingLeft(before);
  });

  test('without a command: an interactive shell on the terminal, with job control and our exit status', vm, async () => {
    const { status, output } = await chrootvmOnTerminal([requireDemoRootfs()], 'tty; echo "marker-$((6 * 7))"; exit 5\r');
    assert.equal(status, 5, output);
    assert.match(output, /\/dev\/ttyS0/);
    assert.match(output, /marker-42/);
    assert.doesNotMatch(output, /job control turned off/);
  });

  // As with a local command: chrootvm's signals reach the command, whose status comes back.
  test('SIGINT while the guest boots reaches the command once it starts: it dies of it, nothing left', vm, async () => {
    const before = leftovers();
    // --debug shows the kernel's log, so the test can wait for the boot.
    const running = startChrootvm(['--debug', requireDemoRootfs(), 'sleep', '1000']);
    await running.waitFor('Run /init');
    running.child.kill('SIGINT');
    const result = await running.result;
    assert.equal(result.status, 130, result.stderr);
    assert.match(result.stderr, /chrootvm: SIGINT, passed on to the command/);
    assert.doesNotMatch(result.stderr, /stopping the VM/);
    assertNothingLeft(before);
  });

  test('SIGTERM while the command runs: its own handler decides the status', vm, async () => {
    const running = startChrootvm([requireDemoRootfs(), 'sh', '-c', 'trap "echo caught TERM; exit 7" TERM; echo ready; while :; do sleep 1; done']);
    await running.waitFor('ready');
    running.child.kill('SIGTERM');
    const result = await running.result;
    assert.equal(result.status, 7, result.stderr);
    assert.equal(result.stdout, 'ready\ncaught TERM\n');
    assert.equal(result.stderr, '');
  });

  test('a command that ignores SIGTERM: the VM is stopped 10 s later and chrootvm exits 143, nothing left', vm, async () => {
    const before = leftovers();
    const running = startChrootvm([requireDemoRootfs(), 'sh', '-c', 'trap "" TERM; echo ready; sleep 1000']);
    await running.waitFor('ready');
    running.child.kill('SIGTERM');
    const result = await running.result;
    assert.equal(result.status, 143, result.stderr);
    assert.equal(result.stderr, 'chrootvm: SIGTERM: the command has not ended 10 s after it, stopping the VM\n');
    assertNothingLeft(before);
  });

  test('a second signal stops the VM at once', vm, async () => {
    const before = leftovers();
    // --debug says when the first one has been passed on: two signals sent at once arrive in number order.
    const running = startChrootvm(['--debug', requireDemoRootfs(), 'sh', '-c', 'trap "" TERM; echo ready; sleep 1000']);
    await running.waitFor('ready');
    running.child.kill('SIGTERM');
    await running.waitFor('SIGTERM, passed on to the command');
    running.child.kill('SIGINT');
    const result = await running.result;
    assert.equal(result.status, 130, result.stderr);
    assert.match(result.stderr, /chrootvm: SIGINT after SIGTERM, stopping the VM\n/);
    assertNothingLeft(before);
  });

  test('two runs at once on the same rootfs do not collide', vm, async () => {
    const rootfs = requireDemoRootfs();
    const [first, second] = await Promise.all([
      chrootvm([rootfs, 'sh', '-c', 'echo first; exit 3']),
      chrootvm([rootfs, 'sh', '-c', 'echo second; exit 4']),
    ]);
    assert.deepEqual([first.status, first.stdout, second.status, second.stdout], [3, 'first\n', 4, 'second\n']);
  });

  test('errors before anything starts name the thing, exit 125, and leave nothing behind', vm, async () => {
    const before = leftovers();
    const rootfs = requireDemoRootfs();
    const cases: [string[], RegExp][] = [
      [['/no/such/rootfs', 'true'], /ROOTFS \/no\/such\/rootfs does not exist/],
      [['--mount', 'x', '/no/such/dir', rootfs, 'true'], /--mount x: PATH \/no\/such\/dir does not exist/],
      [['--mount', 'a/b', '/tmp', rootfs, 'true'], /--mount a\/b \/tmp: a tag cannot contain "\/"/],
      [['--mount', 'rootfs', '/tmp', rootfs, 'true'], /tag "rootfs" is already used/],
      [['--kernel', '/etc/passwd', rootfs, 'true'], /\/etc\/passwd is not an x86 Linux kernel image/],
      [['--memory', 'lots', rootfs, 'true'], /--memory: memory size "lots"/],
      [['--bogus', rootfs, 'true'], /^chrootvm: unknown option --bogus\n\(chrootvm --help for usage\)\n$/],
    ];
    for (const [args, message] of cases) {
      const result = await chrootvm(args);
      assert.equal(result.status, 125, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message);
    }
    assertNothingLeft(before);
  });

  test('--version: the package version on stdout, exit 0', async () => {
    const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.deepEqual(await chrootvm(['--version']), { status: 0, signal: null, stdout: `chrootvm (virtinitrd) ${version}\n`, stderr: '' });
  });
});
