/**
 * The init as PID 1, seen from inside the VM: the system it leaves behind (mounts, device nodes,
 * environment), how it runs the command (argv, signals, orphans, status) and how it execs init=.
 * Each boot prints many facts under `=== NAME` headings, and several subtests check them.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { formatBootParameters } from '../../init/cmdline.ts';
import { deviceLinks, deviceNodes, earlyMounts } from '../../init/mounts.ts';
import { initrdPaths } from '../../init/paths.ts';
import { MS } from '../../init/sys/libc.ts';
import { bootForStatus, chrootvm, linkedDemoCopy, requireDemoRootfs, skipWithoutQemu, VM_TEST_TIMEOUT_MS } from './harness.ts';

const vm = { skip: skipWithoutQemu, timeout: VM_TEST_TIMEOUT_MS };

/** The guest's stdout split at its `=== NAME` lines: NAME -> the lines that followed. */
function sections(stdout: string): Record<string, string[]> {
  const found: Record<string, string[]> = {};
  let current: string[] | undefined;
  for (const line of stdout.split('\n')) {
    const heading = /^=== (.+)$/.exec(line);
    if (heading) found[heading[1]!] = current = [];
    else current?.push(line);
  }
  for (const lines of Object.values(found)) while (lines.at(-1) === '') lines.pop();
  return found;
}

function section(all: Record<string, string[]>, name: string): string[] {
  const lines = all[name];
  assert.ok(lines, `the guest printed no "=== ${name}" section`);
  return lines;
}

const FLAG_OPTIONS = [
  ['nosuid', MS.NOSUID],
  ['nodev', MS.NODEV],
  ['noexec', MS.NOEXEC],
] as const;

/** tmpfs and devtmpfs (shmem) show mode= only when it differs from their default 1777. */
const SHMEM = new Set(['tmpfs', 'devtmpfs']);

/** The table's data options as /proc/mounts shows them: modes in octal without the leading 0. */
function shownDataOptions(fstype: string, data: string): string[] {
  return data
    .split(',')
    .filter((option) => option !== '')
    .map((option) => option.replace(/^(\w*mode)=0+(?=\d)/, '$1='))
    .filter((option) => !(SHMEM.has(fstype) && option === 'mode=1777'));
}

/** The directory mode a shmem mount's root gets from its mode= option (1777 without one). */
function shmemRootMode(data: string): string {
  return /(?:^|,)mode=0*(\d+)/.exec(data)?.[1] ?? '1777';
}

const shmemMounts = earlyMounts.filter((entry) => SHMEM.has(entry.fstype));

const SYSTEM_SCRIPT = [
  'section() { echo "=== $1"; }',
  'section mounts; cat /proc/mounts',
  `section shmem-modes; stat -c '%n %a' ${shmemMounts.map((entry) => entry.target).join(' ')}`,
  `section devices; stat -c '%n|%F|%t:%T|%a' ${deviceNodes.map((node) => node.path).join(' ')}`,
  `section links; for link in ${deviceLinks.map((link) => link.path).join(' ')}; do echo "$link -> $(readlink $link)"; done`,
  'section env; env | sort',
  // Moving the shell itself into a new cgroup is what a container runtime or systemd does first.
  'section cgroup; cat /proc/self/cgroup; mkdir /sys/fs/cgroup/t && echo $$ > /sys/fs/cgroup/t/cgroup.procs && cat /proc/self/cgroup',
  "section pid1; cat /proc/1/comm; readlink /proc/1/exe; tr '\\0' '\\n' < /proc/1/cmdline",
  // Column 6 on is the mapped file's path, with " (deleted)" once it is unlinked.
  "section pid1-files; awk '{ $1 = $2 = $3 = $4 = $5 = \"\"; sub(/^ +/, \"\"); if ($0 ~ /^\\//) print }' /proc/1/maps | sort -u",
].join('\n');

describe('init: the system it leaves to the command', () => {
  test('boots and runs a command that reports what it sees', vm, async (t) => {
    const boot = await chrootvm([requireDemoRootfs(), 'sh', '-c', SYSTEM_SCRIPT]);
    assert.equal(boot.status, 0, boot.stderr);
    assert.equal(boot.stderr, '');
    const facts = sections(boot.stdout);

    await t.test('exactly the early mounts and the root are mounted', () => {
      const targets = section(facts, 'mounts').map((line) => line.split(' ')[1]);
      assert.deepEqual(targets.sort(), ['/', ...earlyMounts.map((entry) => entry.target)].sort());
    });

    await t.test('each early mount has the fstype, flags and options of the table', () => {
      const byTarget = new Map(section(facts, 'mounts').map((line) => [line.split(' ')[1], line.split(' ')] as const));
      for (const entry of earlyMounts) {
        const [, , fstype, optionText] = byTarget.get(entry.target) ?? [];
        assert.equal(fstype, entry.fstype, entry.target);
        const options = optionText!.split(',');
        assert.equal(options[0], 'rw', `${entry.target}: ${optionText}`);
        for (const [option, flag] of FLAG_OPTIONS) {
          assert.equal(options.includes(option), (entry.flags & flag) !== 0, `${entry.target} ${option}: ${optionText}`);
        }
        for (const option of shownDataOptions(entry.fstype, entry.data)) {
          assert.ok(options.includes(option), `${entry.target} lacks ${option}: ${optionText}`);
        }
      }
      // Spelled out once: what a pty-allocating program (sshd, script, podman) depends on.
      assert.match(byTarget.get('/dev/pts')![3]!, /(^|,)ptmxmode=666(,|$)/);
    });

    await t.test('tmpfs roots have the mode of their mode= option', () => {
      assert.deepEqual(
        section(facts, 'shmem-modes'),
        shmemMounts.map((entry) => `${entry.target} ${shmemRootMode(entry.data)}`),
      );
    });

    await t.test('the root is the virtiofs share "rootfs", read-only', () => {
      const root = section(facts, 'mounts').find((line) => line.split(' ')[1] === '/');
      assert.match(root ?? '', /^rootfs \/ virtiofs ro(,|\s)/);
    });

    await t.test('cgroup2 is usable: the command starts in the root cgroup and can move into a new one', () => {
      assert.deepEqual(section(facts, 'cgroup'), ['0::/', '0::/t']);
    });

    await t.test('the device nodes of the table are there, with their numbers and modes', () => {
      assert.deepEqual(
        section(facts, 'devices'),
        deviceNodes.map((node) => `${node.path}|character special file|${node.major.toString(16)}:${node.minor.toString(16)}|${node.mode.toString(8)}`),
      );
    });

    await t.test('/dev/fd and the stdio links point into /proc/self', () => {
      assert.deepEqual(section(facts, 'links'), deviceLinks.map((link) => `${link.path} -> ${link.target}`));
    });

    await t.test('the environment is PATH, HOME and TERM only (PWD and SHLVL are the shell\'s own)', () => {
      const env = section(facts, 'env');
      assert.deepEqual(env, [
        'HOME=/',
        'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        'PWD=/',
        'SHLVL=1',
        'TERM=linux',
      ]);
      // The kernel hands PID 1 its unknown key=value parameters as environment; none may reach the command.
      for (const line of env) assert.doesNotMatch(line, /^(rootfs|virtinitrd\.run|panic|console)=/);
    });

    await t.test('PID 1 is the init from the initramfs, and calls itself init', () => {
      assert.deepEqual(section(facts, 'pid1'), ['init', '/init', '/init']);
    });

    // Deleting them would free nothing while PID 1 maps them (--boot, which execs, frees them: boot.test.ts).
    await t.test('the initramfs stays while the command runs: PID 1 maps the init, ffi-rs and libraries from it', () => {
      const files = section(facts, 'pid1-files');
      assert.ok(files.includes('/init'), files.join('\n'));
      assert.ok(files.includes(initrdPaths.ffiModule), files.join('\n'));
      assert.deepEqual(files.filter((file) => file.endsWith(' (deleted)')), []);
    });
  });
});

describe('init: a plain boot says nothing it should not', () => {
  // A warning here is a build or packing defect that costs every boot: a code cache V8 rejected
  // (init/sea-main.ts), a module that failed to load, a mount that went wrong.
  test('--debug shows the init\'s steps and not one warning or error', vm, async () => {
    const result = await chrootvm(['--debug', requireDemoRootfs(), 'true']);
    assert.equal(result.status, 0, result.stderr);
    const output = result.stdout + result.stderr;
    assert.match(output, /init: step: switch root/);
    assert.deepEqual(output.split('\n').filter((line) => /init: (warning|error):/.test(line)), []);
  });
});

const ARGS = ['a b', '', 'é', 'l1\nl2', '"quoted" \'too\''];

const COMMAND_SCRIPT = [
  'printf \'$0=[%s]\\n\' "$0"',
  'for a; do printf "[%s]\\n" "$a"; done',
  'echo "=== parent"; grep PPid /proc/$$/status',
  // A child of the shell: busybox ash ignores SIGQUIT itself but gives its children the dispositions
  // it was started with, which are the init's doing.
  "echo '=== signals'; grep -E '^Sig(Blk|Ign)' /proc/self/status",
  '(yes; echo "yes=$?" > /tmp/yes-status) | head -n 1; cat /tmp/yes-status',
  // Each subshell exits at once and leaves its sleep to PID 1; they die while the command still runs.
  "echo '=== orphans'; for i in 1 2 3; do (sleep 2 & echo $! >> /tmp/orphans); done",
  'for o in $(cat /tmp/orphans); do grep PPid /proc/$o/status; done',
  'sleep 5',
  'for o in $(cat /tmp/orphans); do if [ -e /proc/$o ]; then echo "$o: $(cut -d " " -f 3 /proc/$o/stat)"; else echo gone; fi; done',
  "ps -o stat | grep -c '^Z'",
  'kill -KILL $$',
].join('\n');

describe('init: running the command', () => {
  test('runs the command as its child, with its argv intact, default signals, orphans reaped, and 128+N for a signal', vm, async (t) => {
    const result = await chrootvm([requireDemoRootfs(), 'sh', '-c', COMMAND_SCRIPT, 'x', ...ARGS]);
    const facts = sections(`=== argv\n${result.stdout}`);

    await t.test('killed by SIGKILL: exit status 137', () => {
      assert.equal(result.status, 128 + 9, result.stderr);
    });

    await t.test('spaces, quotes, empty arguments, non-ASCII and newlines reach it unchanged', () => {
      assert.equal(section(facts, 'argv').join('\n'), ['$0=[x]', ...ARGS.map((arg) => `[${arg}]`)].join('\n'));
    });

    await t.test('its parent is PID 1', () => {
      assert.deepEqual(section(facts, 'parent'), ['PPid:\t1']);
    });

    await t.test('no signal is blocked or ignored, so SIGPIPE ends a writer (141 = 128+13)', () => {
      assert.deepEqual(section(facts, 'signals'), ['SigBlk:\t0000000000000000', 'SigIgn:\t0000000000000000', 'y', 'yes=141']);
    });

    await t.test('orphans are adopted by PID 1 and reaped: no zombie while the command still runs', () => {
      assert.deepEqual(section(facts, 'orphans'), ['PPid:\t1', 'PPid:\t1', 'PPid:\t1', 'gone', 'gone', 'gone', '0']);
    });
  });

  test('--rw: the root is writable and a file written in the guest is in the host directory', vm, async () => {
    // The guest writes only a new file, so the demo rootfs's own (linked) files stay untouched.
    const rootfs = await linkedDemoCopy('rw');
    const result = await chrootvm(['--rw', rootfs, 'sh', '-c', 'grep " / " /proc/mounts; echo "from the guest" > /written-in-guest']);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^rootfs \/ virtiofs rw(,|\s)/);
    assert.equal(await readFile(join(rootfs, 'written-in-guest'), 'utf8'), 'from the guest\n');
    assert.equal(existsSync(join(requireDemoRootfs(), 'written-in-guest')), false);
  });
});

describe('init: exec mode (init=, as osbuild boots it)', () => {
  // No double quotes: the kernel command line has no way to carry them.
  const script = [
    'echo argv0=$0 argc=$# args=$*',
    'echo pid=$$',
    'echo env: $(env | sort)',
    "tr '\\0' '\\n' < /proc/1/cmdline | sed 's/^/cmdline: /'",
    'echo o > /proc/sysrq-trigger',
    'sleep 10',
  ].join('; ');
  const initArgs = ['-c', script, 'name0', 'one', 'two words'];

  test('replaces PID 1 with init= and its arguments, in a clean environment', vm, async () => {
    const boot = await bootForStatus({
      cmdline: formatBootParameters({
        rootfs: 'rootfs',
        rootfsNamed: true,
        rw: false,
        shares: [],
        // Not the default /bin/sh, which formatBootParameters leaves out: init= itself is under test.
        init: '/bin/ash',
        initArgs,
        debug: false,
        run: false,
      }),
      timeoutMs: VM_TEST_TIMEOUT_MS / 2,
    });
    // The console is the kernel's (ttyS2 here): the exec'd shell writes there, amid the kernel's messages.
    const log = boot.kernelLog;
    assert.equal(boot.timedOut, false, log);
    // Only run mode reports a status: here the init is gone, replaced by init=.
    assert.equal(boot.status, undefined, log);
    const lines = log.split('\n');
    const said = (prefix: string) => lines.filter((line) => line.startsWith(prefix));
    assert.deepEqual(said('argv0='), ['argv0=name0 argc=2 args=one two words']);
    assert.deepEqual(said('pid='), ['pid=1']);
    assert.deepEqual(said('env: '), ['env: HOME=/ PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin PWD=/ SHLVL=1 TERM=linux']);
    assert.deepEqual(said('cmdline: '), ['/bin/ash', ...initArgs].map((arg) => `cmdline: ${arg}`));
    // Powered off by the script, not a panic after PID 1 ended.
    assert.match(log, /sysrq: Power Off/);
    assert.doesNotMatch(log, /Kernel panic/);
  });
});

describe('init: signals to PID 1 in run mode', () => {
  test('SIGTERM and SIGINT sent to PID 1 are forwarded to the command', vm, async () => {
    // The command signals PID 1, which passes each signal on to it; its traps say what arrived.
    const script = [
      'trap "echo got TERM" TERM',
      'trap "echo got INT; exit 9" INT',
      'kill -TERM 1; sleep 1',
      'kill -INT 1; sleep 5 & wait',
      'echo "not reached"',
    ].join('\n');
    const result = await chrootvm([requireDemoRootfs(), 'sh', '-c', script]);
    assert.equal(result.status, 9, result.stderr);
    assert.equal(result.stdout, 'got TERM\ngot INT\n');
  });
});
