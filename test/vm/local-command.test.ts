/**
 * chrootvm as a local command: what `CMD` would do with stdin, argv bytes, pipes and exit status,
 * `chrootvm ROOTFS CMD` does. Most cases are the bash lines a user would type ($CHROOTVM, $ROOTFS).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { processAlive } from '../../scripts/lib/processes.ts';
import { CHROOTVM_TMPDIR, chrootvm, requireDemoRootfs, shell, skipWithoutQemu, startChrootvm, TEST_TMP, VM_TEST_TIMEOUT_MS } from './harness.ts';

const vm = { skip: skipWithoutQemu, timeout: VM_TEST_TIMEOUT_MS };

const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

describe('stdin is ours', () => {
  test('echo hi | chrootvm R cat', vm, async () => {
    const result = await shell('echo hi | "$CHROOTVM" "$ROOTFS" cat').result;
    assert.deepEqual({ status: result.status, stdout: result.stdout }, { status: 0, stdout: 'hi\n' }, result.stderr);
  });

  test('chrootvm R cat < /dev/null: EOF at once', vm, async () => {
    const result = await shell('"$CHROOTVM" "$ROOTFS" cat < /dev/null; echo "status $?"').result;
    assert.equal(result.stdout, 'status 0\n', result.stderr);
  });

  test('chrootvm R sh -s ARGS < script.sh', vm, async () => {
    const script = join(await mkdtemp(join(TEST_TMP, 'script-')), 'script.sh');
    await writeFile(script, 'echo "args: $*"\necho "pid 1 is $(cat /proc/1/comm)"\nexit 3\n');
    const result = await shell(`"$CHROOTVM" "$ROOTFS" sh -s one "two words" < '${script}'`).result;
    assert.deepEqual({ status: result.status, stdout: result.stdout }, { status: 3, stdout: 'args: one two words\npid 1 is init\n' }, result.stderr);
  });

  test('100 MB streamed through stdin: the guest hashes what the host sent, chrootvm stays small', vm, async () => {
    const run = startChrootvm([requireDemoRootfs(), 'sha256sum'], { stdin: 'pipe' });
    const hash = createHash('sha256');
    let peakKiB = 0;
    const sample = setInterval(() => {
      try {
        const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${run.child.pid}/status`, 'utf8'))?.[1];
        peakKiB = Math.max(peakKiB, Number(hwm ?? 0));
      } catch {
        // Ended.
      }
    }, 100);
    const chunk = randomBytes(1 << 20);
    for (let sent = 0; sent < 100; sent++) {
      hash.update(chunk);
      // Backpressure: buffering all of it here would hide chrootvm buffering it.
      if (!run.child.stdin!.write(chunk)) await new Promise((resolve) => run.child.stdin!.once('drain', resolve));
    }
    run.child.stdin!.end();
    const result = await run.result;
    clearInterval(sample);
    assert.deepEqual({ status: result.status, stdout: result.stdout }, { status: 0, stdout: `${hash.digest('hex')}  -\n` }, result.stderr);
    // Node alone takes ~60 MiB; holding the 100 MB would take more than twice that.
    assert.ok(peakKiB > 0 && peakKiB < 160 * 1024, `chrootvm's peak RSS ${peakKiB} KiB`);
  });

  test('yes | chrootvm R true: ends, though stdin never does', vm, async () => {
    const result = await shell('yes | "$CHROOTVM" "$ROOTFS" true; echo "status $?"').result;
    assert.equal(result.stdout, 'status 0\n', result.stderr);
  });

  test('a command that never reads stdin is not held up by a stdin that stays open', vm, async () => {
    const run = startChrootvm([requireDemoRootfs(), 'echo', 'done'], { stdin: 'pipe' });
    // stdin stays open, with nothing written, until chrootvm has ended.
    const result = await run.result;
    run.child.stdin!.end();
    assert.deepEqual({ status: result.status, stdout: result.stdout }, { status: 0, stdout: 'done\n' }, result.stderr);
  });
});

describe('argv arrives byte for byte, off the kernel command line', () => {
  test('a 1.5 KB script as sh -c "$script"', vm, async () => {
    const lines = Array.from({ length: 60 }, (_, index) => `echo "line ${String(index).padStart(2, '0')} of a long script"`);
    const script = lines.join('\n');
    assert.ok(script.length > 1500);
    const result = await chrootvm([requireDemoRootfs(), 'sh', '-c', script]);
    assert.equal(result.stdout, lines.map((_, index) => `line ${String(index).padStart(2, '0')} of a long script\n`).join(''), result.stderr);
  });

  // The last: more than 1 MiB in all.
  for (const [count, length] of [[300, 8], [1000, 8], [10_000, 110]] as const) {
    test(`${count} arguments of ${length} bytes (${((count * length) / 1024).toFixed(0)} KiB)`, vm, async () => {
      const words = Array.from({ length: count }, (_, index) => `${index}`.padStart(length, '-'));
      const result = await chrootvm([requireDemoRootfs(), 'sh', '-c', 'echo "$#"; printf "%s\\n" "$@" | sha256sum', 'sh', ...words]);
      assert.equal(result.stdout, `${count}\n${sha256(words.map((word) => `${word}\n`).join(''))}  -\n`, result.stderr);
      assert.equal(result.status, 0);
    });
  }

  test('an argument holding the bytes \\xff\\xfe arrives as those bytes', vm, async () => {
    const result = await shell(`"$CHROOTVM" "$ROOTFS" sh -c 'printf %s "$1" | od -An -tx1' sh "$(printf '\\377\\376')"`).result;
    assert.equal(result.stdout.trim(), 'ff fe', result.stderr);
  });

  test("past the guest's exec limit (a host with a larger stack limit): 125 naming the size, before any VM starts", vm, async () => {
    // 30 arguments of 100,000 bytes: more than the 2 MiB an 8 MiB stack allows, fine under `ulimit -s unlimited`.
    const result = await shell('ulimit -s unlimited; exec "$CHROOTVM" "$ROOTFS" true $(for i in $(seq 30); do head -c 100000 /dev/zero | tr "\\0" x; echo; done)').result;
    assert.equal(result.status, 125, result.stderr);
    assert.match(result.stderr, /^chrootvm: the command's 31 arguments and 0 environment entries take 3000\d+ bytes; the guest's execve takes at most \d+\n$/);
  });
});

describe('output is ours: pipes close like pipes', () => {
  test('chrootvm R yes | head -1: ends with 141, as yes would', vm, async () => {
    const result = await shell('"$CHROOTVM" "$ROOTFS" yes | head -1; echo "status ${PIPESTATUS[0]}"').result;
    assert.equal(result.stdout, 'y\nstatus 141\n', result.stderr);
  });

  test("a command that handles EPIPE itself: its own status, its own message", vm, async () => {
    const script = 'trap "" PIPE; while echo y; do :; done 2>/dev/null; echo "write failed" >&2; exit 7';
    const result = await shell(`"$CHROOTVM" "$ROOTFS" sh -c '${script}' | head -1; echo "status \${PIPESTATUS[0]}"`).result;
    assert.equal(result.stdout, 'y\nstatus 7\n');
    assert.equal(result.stderr, 'write failed\n');
  });

  test('stdout and stderr stay apart, each in order', vm, async () => {
    const result = await chrootvm([requireDemoRootfs(), 'sh', '-c', 'i=0; while [ $i -lt 2000 ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done']);
    const expect = (name: string) => Array.from({ length: 2000 }, (_, index) => `${name} ${index}\n`).join('');
    // The end of stderr is where chrootvm says why a run failed (a hung boot: the kernel's last lines).
    assert.equal(result.stdout, expect('out'), result.stderr.slice(-4000));
    assert.equal(result.stderr, expect('err'));
  });

  test('4 MB of binary output, byte for byte', vm, async () => {
    const share = await mkdtemp(join(TEST_TMP, 'binary-'));
    const data = randomBytes(4 << 20);
    await writeFile(join(share, 'data'), data);
    const result = await shell(`"$CHROOTVM" --mount-ro data '${share}' "$ROOTFS" cat /run/mnt/data/data | sha256sum`).result;
    assert.equal(result.stdout, `${sha256(data)}  -\n`, result.stderr);
  });
});

describe('nothing outlives chrootvm', () => {
  test('kill -9 of chrootvm: its qemu and virtiofsd end, and the next run removes its temp dir', vm, async () => {
    const run = startChrootvm([requireDemoRootfs(), 'sh', '-c', 'echo ready; sleep 1000']);
    await run.waitFor('ready');
    const pid = run.child.pid!;
    const children = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry) && parentOf(Number(entry)) === pid).map(Number);
    assert.ok(children.length >= 2, `qemu and a virtiofsd are children of chrootvm: ${children.join(' ')}`);
    const [workdir] = readdirSync(CHROOTVM_TMPDIR).filter((name) => name.startsWith(`chrootvm-${pid}-`));
    assert.ok(workdir, `chrootvm-${pid}-* in ${CHROOTVM_TMPDIR}`);
    run.child.kill('SIGKILL');
    await run.result;
    for (let waited = 0; children.some(processAlive) && waited < 10_000; waited += 50) await sleep(50);
    assert.deepEqual(children.filter(processAlive), [], 'processes chrootvm started still run after it was killed');
    assert.equal(existsSync(join(CHROOTVM_TMPDIR, workdir)), true, 'nobody removed it yet');
    const next = await chrootvm([requireDemoRootfs(), 'true']);
    assert.equal(next.status, 0, next.stderr);
    assert.equal(existsSync(join(CHROOTVM_TMPDIR, workdir)), false, 'the next run removes a dead run\'s temp dir');
  });
});

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}
