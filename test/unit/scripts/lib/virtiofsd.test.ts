import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  canMakePrivateView,
  detectFlavour, findVirtiofsd, helpHasReadonly, inPrivateView, inspectVirtiofsd, rememberedFeatures, virtiofsdArgv,
} from '../../../../scripts/lib/virtiofsd.ts';

const FIXTURES = new URL('../../../fixtures/virtiofsd/', import.meta.url);
const C_HELP = await readFile(new URL('c-qemu-7.2-help.txt', FIXTURES), 'utf8');
const RUST_HELP = await readFile(new URL('rust-help.txt', FIXTURES), 'utf8');
const OLD_RUST_HELP = RUST_HELP.replace(/^ *--readonly\n.*\n/m, '');
const C_BINARY = '/usr/lib/qemu/virtiofsd';

async function withTemp(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'virtiofsd-test-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function script(path: string, text: string, mode = 0o755): Promise<string> {
  await writeFile(path, `#!/bin/sh\n${text}\n`);
  await chmod(path, mode);
  return path;
}

test('the derived old-Rust help really lacks --readonly', () => {
  assert.notEqual(OLD_RUST_HELP, RUST_HELP);
  assert.ok(OLD_RUST_HELP.includes('--log-level'));
});

const FLAVOURS: Array<[string, string, 'rust' | 'c', boolean]> = [
  ['C virtiofsd of qemu 7.2', C_HELP, 'c', false],
  ['Rust virtiofsd', RUST_HELP, 'rust', true],
  ['older Rust virtiofsd', OLD_RUST_HELP, 'rust', false],
];
for (const [name, help, flavour, readonly] of FLAVOURS) {
  test(`detectFlavour / helpHasReadonly: ${name}`, () => {
    assert.equal(detectFlavour(help), flavour);
    assert.equal(helpHasReadonly(help), readonly);
  });
}

test('detectFlavour: unknown help text is an error saying what was looked for', () => {
  assert.throws(() => detectFlavour('usage: something else\n'), {
    message: 'cannot tell which virtiofsd this is: its --help mentions neither --shared-dir (Rust virtiofsd) nor -o source= (C virtiofsd)',
  });
});

const RO = { socket: '/run/vm/rootfs.sock', dir: '/srv/root', readonly: true };
const RW = { socket: '/run/vm/data.sock', dir: '/home/u/data', readonly: false };
const C_AS_ROOT = { readonlyOption: false, privateView: true, userNamespace: false };
const C_ROOTLESS = { readonlyOption: false, privateView: true, userNamespace: true };

const ARGVS: Array<[string, ReturnType<typeof virtiofsdArgv>, ReturnType<typeof virtiofsdArgv>]> = [
  ['C, read-only share', virtiofsdArgv('c', C_BINARY, RO), {
    argv: [C_BINARY, '--socket-path=/run/vm/rootfs.sock', '-o', 'source=/srv/root', '-o', 'sandbox=chroot',
      '-o', 'cache=always', '-o', 'log_level=err'],
    readonlyEnforced: false,
  }],
  ['C, read-only share, run by root: a read-only bind mount in its own mount namespace', virtiofsdArgv('c', C_BINARY, RO, C_AS_ROOT), {
    argv: ['unshare', '--mount', '--propagation', 'private', '--',
      'sh', '-c', 'mount --bind -o ro -- "$1" "$1" && shift && exec "$@"', 'virtiofsd-view', '/srv/root',
      C_BINARY, '--socket-path=/run/vm/rootfs.sock', '-o', 'source=/srv/root', '-o', 'sandbox=chroot',
      '-o', 'cache=always', '-o', 'log_level=err'],
    readonlyEnforced: true,
  }],
  ['C, read-only share, rootless: its own /var/run as well', virtiofsdArgv('c', C_BINARY, RO, C_ROOTLESS), {
    argv: ['unshare', '--mount', '--propagation', 'private', '--',
      'sh', '-c', 'mount -t tmpfs -o mode=0755 virtiofsd-run /var/run && mkdir /var/run/virtiofsd && mount --bind -- "$1" "$1" && flags=$(findmnt -rno VFS-OPTIONS --mountpoint "$1" | tail -n 1) && mount -o "remount,bind,${flags#rw,},ro" -- "$1" "$1" && shift && exec "$@"',
      'virtiofsd-view', '/srv/root',
      C_BINARY, '--socket-path=/run/vm/rootfs.sock', '-o', 'source=/srv/root', '-o', 'sandbox=chroot',
      '-o', 'cache=always', '-o', 'log_level=err'],
    readonlyEnforced: true,
  }],
  ['C, writable share, rootless: only its own /var/run', virtiofsdArgv('c', C_BINARY, RW, C_ROOTLESS), {
    argv: ['unshare', '--mount', '--propagation', 'private', '--',
      'sh', '-c', 'mount -t tmpfs -o mode=0755 virtiofsd-run /var/run && mkdir /var/run/virtiofsd && shift && exec "$@"', 'virtiofsd-view', '',
      C_BINARY, '--socket-path=/run/vm/data.sock', '-o', 'source=/home/u/data', '-o', 'sandbox=chroot',
      '-o', 'cache=auto', '-o', 'log_level=err'],
    readonlyEnforced: false,
  }],
  ['C, writable share, run by root: no private view', virtiofsdArgv('c', C_BINARY, RW, C_AS_ROOT), {
    argv: [C_BINARY, '--socket-path=/run/vm/data.sock', '-o', 'source=/home/u/data', '-o', 'sandbox=chroot',
      '-o', 'cache=auto', '-o', 'log_level=err'],
    readonlyEnforced: false,
  }],
  ['C, writable share', virtiofsdArgv('c', C_BINARY, RW), {
    argv: [C_BINARY, '--socket-path=/run/vm/data.sock', '-o', 'source=/home/u/data', '-o', 'sandbox=chroot',
      '-o', 'cache=auto', '-o', 'log_level=err'],
    readonlyEnforced: false,
  }],
  ['C, comma and backslash in the directory', virtiofsdArgv('c', C_BINARY, { ...RW, dir: '/a,b\\c' }), {
    argv: [C_BINARY, '--socket-path=/run/vm/data.sock', '-o', 'source=/a\\,b\\\\c', '-o', 'sandbox=chroot',
      '-o', 'cache=auto', '-o', 'log_level=err'],
    readonlyEnforced: false,
  }],
  ['Rust, read-only share', virtiofsdArgv('rust', '/usr/libexec/virtiofsd', RO), {
    argv: ['/usr/libexec/virtiofsd', '--socket-path', '/run/vm/rootfs.sock', '--shared-dir', '/srv/root',
      '--cache', 'always', '--sandbox', 'chroot', '--log-level', 'error', '--readonly'],
    readonlyEnforced: true,
  }],
  ['Rust, writable share', virtiofsdArgv('rust', '/usr/libexec/virtiofsd', RW), {
    argv: ['/usr/libexec/virtiofsd', '--socket-path', '/run/vm/data.sock', '--shared-dir', '/home/u/data',
      '--cache', 'auto', '--sandbox', 'chroot', '--log-level', 'error'],
    readonlyEnforced: false,
  }],
  ['older Rust without --readonly, read-only share', virtiofsdArgv('rust', '/usr/bin/virtiofsd', RO, { readonlyOption: false, privateView: false, userNamespace: false }), {
    argv: ['/usr/bin/virtiofsd', '--socket-path', '/run/vm/rootfs.sock', '--shared-dir', '/srv/root',
      '--cache', 'always', '--sandbox', 'chroot', '--log-level', 'error'],
    readonlyEnforced: false,
  }],
];
for (const [name, actual, expected] of ARGVS) {
  test(`virtiofsdArgv: ${name}`, () => assert.deepEqual(actual, expected));
}

// The C argv must start the installed daemon: it creates its socket once the
// options are accepted and the source directory is usable.
const cSkip = !existsSync(C_BINARY) ? `${C_BINARY} is not installed`
  : process.getuid?.() !== 0 ? 'the C virtiofsd runs only as root' : false;
test('the C argv starts the installed virtiofsd (comma in the directory name)', { skip: cSkip }, () => withTemp(async (dir) => {
  const shared = join(dir, 'shared,dir');
  await mkdir(shared);
  const socket = join(dir, 'fs.sock');
  const [cmd, ...args] = virtiofsdArgv('c', C_BINARY, { socket, dir: shared, readonly: false }).argv;
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  try {
    let isSocket = false;
    for (let i = 0; i < 60 && !isSocket && child.exitCode === null; i++) {
      await sleep(50);
      isSocket = await stat(socket).then((s) => s.isSocket(), () => false);
    }
    assert.ok(isSocket, `no socket after 3 s; virtiofsd said: ${stderr}`);
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}));

test('inspectVirtiofsd reads the installed C virtiofsd', { skip: existsSync(C_BINARY) ? false : `${C_BINARY} is not installed` }, async () => {
  assert.deepEqual(await inspectVirtiofsd(C_BINARY), { flavour: 'c', readonlyOption: false });
});

test('inspectVirtiofsd reads a Rust virtiofsd from its help', () => withTemp(async (dir) => {
  await writeFile(join(dir, 'help.txt'), RUST_HELP);
  const fake = await script(join(dir, 'virtiofsd'), `cat "${join(dir, 'help.txt')}"`);
  assert.deepEqual(await inspectVirtiofsd(fake), { flavour: 'rust', readonlyOption: true });
}));

test('inspectVirtiofsd: a binary that is no virtiofsd is named in the error', () => withTemp(async (dir) => {
  const fake = await script(join(dir, 'virtiofsd'), 'echo "usage: true"');
  await assert.rejects(inspectVirtiofsd(fake), { message: new RegExp(`^${fake}: cannot tell which virtiofsd this is`) });
}));

test('inspectVirtiofsd: a binary that cannot run is named in the error', async () => {
  await assert.rejects(inspectVirtiofsd('/nonexistent/virtiofsd'), { message: '/nonexistent/virtiofsd --help failed (ENOENT): no message' });
});

test('inspectVirtiofsd: a binary whose --help fails is named with its exit status and last words', () => withTemp(async (dir) => {
  const fake = await script(join(dir, 'virtiofsd'), 'echo one >&2; echo "two" >&2; exit 3');
  await assert.rejects(inspectVirtiofsd(fake), { message: `${fake} --help failed (exit status 3): one two` });
}));

test('rememberedFeatures: asks the binary once, and again only when it changed', () => withTemp(async (dir) => {
  const binary = join(dir, 'virtiofsd');
  const memo = join(dir, 'virtiofsd.json');
  await writeFile(binary, '#!/bin/sh\necho "usage: virtiofsd [options]\n    -o source=PATH"\n', { mode: 0o755 });
  assert.deepEqual(await rememberedFeatures(binary, memo), { flavour: 'c', readonlyOption: false });
  // Not runnable any more, yet the same file: the memo answers.
  await chmod(binary, 0o644);
  assert.deepEqual(await rememberedFeatures(binary, memo), { flavour: 'c', readonlyOption: false });
  await writeFile(binary, '#!/bin/sh\necho "    --shared-dir <DIR>\n    --readonly"\n', { mode: 0o755 });
  await chmod(binary, 0o755);
  assert.deepEqual(await rememberedFeatures(binary, memo), { flavour: 'rust', readonlyOption: true });
}));

test('findVirtiofsd: $VIRTIOFSD first, then PATH (skipping non-executables), then the fixed places', () => withTemp(async (dir) => {
  for (const sub of ['env', 'path1', 'path2', 'fixed']) await mkdir(join(dir, sub));
  const fromEnv = await script(join(dir, 'env', 'my-virtiofsd'), 'exit 0');
  await script(join(dir, 'path1', 'virtiofsd'), 'exit 0', 0o644);
  const onPath = await script(join(dir, 'path2', 'virtiofsd'), 'exit 0');
  const fixed = await script(join(dir, 'fixed', 'virtiofsd'), 'exit 0');
  const missing = join(dir, 'fixed', 'absent');
  const PATH = `${join(dir, 'path1')}:${join(dir, 'path2')}`;
  assert.equal(await findVirtiofsd({ VIRTIOFSD: fromEnv, PATH }, [fixed]), fromEnv);
  assert.equal(await findVirtiofsd({ PATH }, [fixed]), onPath);
  assert.equal(await findVirtiofsd({ PATH: join(dir, 'path1') }, [missing, fixed]), fixed);
}));

test('findVirtiofsd: a $VIRTIOFSD that is not executable is an error, not skipped', () => withTemp(async (dir) => {
  const bad = await script(join(dir, 'virtiofsd'), 'exit 0', 0o644);
  await assert.rejects(findVirtiofsd({ VIRTIOFSD: bad, PATH: '/usr/bin' }), { message: `VIRTIOFSD=${bad} is not an executable file` });
}));

test('findVirtiofsd: nothing found lists what was tried and where Debian ships it', () => withTemp(async (dir) => {
  const fixed = [join(dir, 'libexec-virtiofsd'), join(dir, 'qemu-virtiofsd')];
  await assert.rejects(findVirtiofsd({ PATH: dir }, fixed), {
    message: `virtiofsd not found: tried $VIRTIOFSD (not set), virtiofsd on PATH (${dir}), ${fixed[0]}, ${fixed[1]}. `
      + 'Debian 12 ships it as /usr/lib/qemu/virtiofsd in qemu-system-common (installed with qemu-system-x86); '
      + 'later Debian releases in the package virtiofsd. Or set VIRTIOFSD to its path.',
  });
}));

const noPrivateView = (await canMakePrivateView(process.env)) ? false : 'a private mount namespace needs root, unshare, and / as a mount point (not a chroot)';
for (const userNamespace of [false, true]) {
  test(`inPrivateView${userNamespace ? ' as in a user namespace' : ''}: the command cannot write the read-only directory, and the host mount table is untouched`, { skip: noPrivateView }, () => withTemp(async (dir) => {
    await writeFile(join(dir, 'kept'), 'original\n');
    const ownRun = userNamespace ? '; touch /var/run/virtiofsd/pid && echo "own run"' : '';
    const argv = inPrivateView({ readonlyDir: dir, userNamespace }, ['sh', '-c', `echo changed > "$0/kept"; echo "status $?"${ownRun}`, dir]);
    const run = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
    assert.equal(run.stdout, `status 2\n${userNamespace ? 'own run\n' : ''}`);
    assert.match(run.stderr, /Read-only file system/);
    assert.equal(await readFile(join(dir, 'kept'), 'utf8'), 'original\n');
    assert.doesNotMatch(await readFile('/proc/self/mountinfo', 'utf8'), new RegExp(dir));
  }));
}
