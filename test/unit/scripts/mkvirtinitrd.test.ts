// mkvirtinitrd run as users run it: bin/mkvirtinitrd as a process, on the demo rootfs's kernel modules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { detectCodec, type Codec } from '../../../packer/compress.ts';
import { fixtureModdir } from '../../fixtures/kmod/fixture.ts';

const REPO = new URL('../../../', import.meta.url).pathname;
const BIN = join(REPO, 'bin/mkvirtinitrd');
const BUILT_INIT = join(REPO, 'build/init');
const BUILT_FFI = join(REPO, 'build/ffi-rs.node');
const fixture = fixtureModdir;

const demoModules = join(REPO, '.cache/demo/rootfs/lib/modules');
const DEMO_MODDIR = existsSync(demoModules) ? readdirSync(demoModules).map((kver) => join(demoModules, kver))[0] : undefined;
const noInit = existsSync(BUILT_INIT) && existsSync(BUILT_FFI) ? false : `${BUILT_INIT} is not built (make all)`;
const noDemo = noInit || (DEMO_MODDIR === undefined ? `no demo rootfs in ${demoModules} (make demo-rootfs)` : false);
const moddir = DEMO_MODDIR ?? '';

type Run = { status: number | null; stdout: string; stderr: string };

function run(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const result = spawnSync(BIN, args, { encoding: 'utf8', env: { PATH: process.env.PATH, ...env }, maxBuffer: 1 << 24 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function scratch(): { dir: string; [Symbol.dispose](): void } {
  const dir = mkdtempSync(join(tmpdir(), 'mkvirtinitrd-'));
  return { dir, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

type ListLine = { path: string; kind: string; detail: string; why: string };

// Columns are padded with spaces; the first three never contain two spaces in a row.
function parseList(stdout: string): ListLine[] {
  return stdout
    .trimEnd()
    .split('\n')
    .map((line) => {
      const [path, kind, detail, ...why] = line.split(/ {2,}/);
      return { path: path!, kind: kind!, detail: detail!, why: why.join('  ') };
    });
}

const USAGE_HINT = '(mkvirtinitrd --help for usage)\n';

test('--help: usage and the warning codes on stdout, exit 0', () => {
  const { status, stdout, stderr } = run(['--help']);
  assert.equal(status, 0);
  assert.equal(stderr, '');
  assert.match(stdout, /^usage: mkvirtinitrd \[OPTION\]\.\.\. \[INIT\] MODDIR OUTPUT\n/);
  assert.deepEqual(stdout.match(/^ {2}W\d/gm), ['  W1', '  W2', '  W3', '  W4', '  W5']);
});

test('--version: the package version on stdout, exit 0', () => {
  const { version } = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
  assert.deepEqual(run(['--version']), { status: 0, stdout: `mkvirtinitrd (virtinitrd) ${version}\n`, stderr: '' });
});

const usageErrors: Array<{ args: string[]; env?: NodeJS.ProcessEnv; message: string }> = [
  { args: ['--bogus', 'M', 'O'], message: 'unknown option --bogus' },
  { args: ['--compress', 'bz2', 'M', 'O'], message: '--compress must be one of none, gzip, zstd, lz4, xz, not "bz2"' },
  { args: ['M'], message: 'MODDIR and OUTPUT are needed (only MODDIR was given)' },
  { args: ['M', 'O'], env: { SOURCE_DATE_EPOCH: 'yesterday' }, message: 'SOURCE_DATE_EPOCH must be a whole number of seconds from 0 to 4294967295, not "yesterday"' },
];

for (const { args, env, message } of usageErrors) {
  test(`usage error, exit 2: ${JSON.stringify(args)}${env ? ` ${JSON.stringify(env)}` : ''}`, () => {
    assert.deepEqual(run(args, env), { status: 2, stdout: '', stderr: `mkvirtinitrd: ${message}\n${USAGE_HINT}` });
  });
}

// Load order per `modinfo -F depends` on Debian 6.1: virtio needs virtio_ring; virtio_pci needs
// virtio, virtio_ring and both transport helpers; virtiofs needs fuse, virtio, virtio_ring; virtio_console
// needs virtio and virtio_ring. Ties by name.
const DEMO_MODULES = ['fuse', 'virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_ring', 'virtio', 'virtio_console', 'virtio_pci', 'virtiofs'];

function listDemo(): ListLine[] {
  const { status, stdout, stderr } = run(['--list', moddir]);
  assert.equal(stderr, '');
  assert.equal(status, 0);
  return parseList(stdout);
}

test('--list on the demo kernel: the init, ffi-rs, console, loader, libc, librt, the modules in order', { skip: noDemo }, () => {
  const lines = listDemo();
  assert.deepEqual(lines.slice(0, 3), [
    { path: '/init', kind: 'file', detail: String(statSync(BUILT_INIT).size), why: 'the init' },
    { path: '/usr/lib/virtinitrd/ffi-rs.node', kind: 'file', detail: String(statSync(BUILT_FFI).size), why: "ffi-rs's native module (the init's system calls)" },
    { path: '/dev/console', kind: 'device', detail: 'char 5:1', why: "PID 1's stdio before devtmpfs is mounted" },
  ]);
  const file = (suffix: string) => lines.find((l) => l.kind === 'file' && l.path.endsWith(suffix));
  assert.equal(file('/ld-linux-x86-64.so.2')?.why, `library needed by ${BUILT_INIT}`);
  assert.equal(file('/libc.so.6')?.why, `library needed by ${BUILT_INIT}`);
  assert.equal(file('/librt.so.1')?.why, `library needed by ${BUILT_FFI}`);
  assert.deepEqual(
    lines.filter((l) => l.path.startsWith('/usr/lib/modules/')).map((l) => [l.path, l.why]),
    DEMO_MODULES.map((name, i) => [`/usr/lib/modules/00${i + 1}-${name}.ko`, `kernel module ${name}`]),
  );
});

test('the demo module order puts every module after what modinfo says it depends on', { skip: noDemo }, () => {
  const files = readdirSync(moddir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ko'));
  const loaded: string[] = [];
  for (const name of DEMO_MODULES) {
    const path = join(moddir, files.find((f) => basename(f) === `${name}.ko`)!);
    const depends = spawnSync('modinfo', ['-F', 'depends', path], { encoding: 'utf8' }).stdout.trim();
    for (const dep of depends.split(',').filter((d) => d !== '')) assert.ok(loaded.includes(dep), `${name} needs ${dep}, loaded before it`);
    loaded.push(name);
  }
});

// The tool each codec is read back with, as the kernel would see the bytes.
const readers: Record<Codec, string> = { none: 'cat', gzip: 'gzip -dc', zstd: 'zstd -dc', lz4: 'lz4 -dc', xz: 'xz -dc' };

function parents(path: string): string[] {
  const parts = path.split('/');
  return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join('/'));
}

for (const codec of Object.keys(readers) as Codec[]) {
  test(`--compress ${codec}: cpio -t lists the --list paths and their directories`, { skip: noDemo, timeout: 300_000 }, () => {
    using s = scratch();
    const output = join(s.dir, 'initrd');
    assert.deepEqual(run(['--compress', codec, moddir, output]), { status: 0, stdout: '', stderr: '' });
    assert.deepEqual(readdirSync(s.dir), ['initrd']);
    assert.equal(detectCodec(readFileSync(output).subarray(0, 8)), codec);
    const cpio = spawnSync('sh', ['-c', `${readers[codec]} < "$1" | cpio -t --quiet`, 'sh', output], { encoding: 'utf8', maxBuffer: 1 << 24 });
    assert.equal(cpio.status, 0, cpio.stderr);
    const listed = listDemo().map((l) => l.path.slice(1));
    const expected = [...new Set([...listed, ...listed.flatMap(parents)])].sort();
    assert.deepEqual(cpio.stdout.trimEnd().split('\n').sort(), expected);
  });
}

// newc header fields by path: mtime is field 5, name size field 11 (after the 6-byte magic).
function mtimes(archive: Buffer): Map<string, number> {
  const result = new Map<string, number>();
  const field = (at: number, index: number) => parseInt(archive.toString('latin1', at + 6 + index * 8, at + 14 + index * 8), 16);
  const pad = (n: number) => (n + 3) & ~3;
  for (let at = 0; ; ) {
    const nameSize = field(at, 11);
    const path = archive.toString('latin1', at + 110, at + 109 + nameSize);
    if (path === 'TRAILER!!!') return result;
    result.set(path, field(at, 5));
    at = pad(pad(at + 110 + nameSize) + field(at, 6));
  }
}

test('same inputs, same bytes; SOURCE_DATE_EPOCH bounds every mtime', { skip: noDemo, timeout: 120_000 }, () => {
  using s = scratch();
  const build = (name: string, env: NodeJS.ProcessEnv = {}) => {
    const output = join(s.dir, name);
    assert.deepEqual(run(['--compress', 'none', moddir, output], env), { status: 0, stdout: '', stderr: '' });
    return readFileSync(output);
  };
  const first = build('a');
  assert.ok(first.equals(build('b')), 'two builds are byte-identical');
  assert.deepEqual(new Set(mtimes(first).values()), new Set([0]));
  // Both bounds are older than every file, so each is every entry's mtime: the bytes differ.
  const at1000 = build('c', { SOURCE_DATE_EPOCH: '1000' });
  const at2000 = build('d', { SOURCE_DATE_EPOCH: '2000' });
  assert.ok(!at1000.equals(at2000));
  assert.deepEqual(new Set(mtimes(at1000).values()), new Set([1000]));
  assert.deepEqual(new Set(mtimes(at2000).values()), new Set([2000]));
  // A bound in the future leaves a file its own mtime.
  const future = mtimes(build('e', { SOURCE_DATE_EPOCH: '4000000000' }));
  assert.equal(future.get('init'), Math.floor(statSync(BUILT_INIT).mtimeMs / 1000));
  assert.equal(future.get('usr'), 4000000000);
});

test('an unknown --module: exit 1 naming the module and MODDIR, nothing written', { skip: noDemo }, () => {
  using s = scratch();
  assert.deepEqual(run(['--module', 'virtio-nope', moddir, join(s.dir, 'initrd')]), {
    status: 1,
    stdout: '',
    stderr: `mkvirtinitrd: module virtio_nope not found in ${moddir} (neither a .ko file nor in modules.builtin)\n`,
  });
  assert.deepEqual(readdirSync(s.dir), []);
});

test('a missing MODDIR is named', { skip: noInit }, () => {
  using s = scratch();
  const missing = join(s.dir, 'lib/modules/6.1.0-0-amd64');
  assert.deepEqual(run(['--list', missing]), { status: 1, stdout: '', stderr: `mkvirtinitrd: module directory ${missing} does not exist\n` });
});

test('OUTPUT in a directory that does not exist: named, nothing left behind', { skip: noDemo }, () => {
  using s = scratch();
  const output = join(s.dir, 'no/such/initrd');
  assert.deepEqual(run([moddir, output]), {
    status: 1,
    stdout: '',
    stderr: `mkvirtinitrd: cannot write OUTPUT ${output}: directory ${join(s.dir, 'no/such')} does not exist\n`,
  });
  assert.deepEqual(readdirSync(s.dir), []);
});

// A copy of the files mkvirtinitrd runs from, without build/: where `make` has not been run.
function unbuiltProject(dir: string): string {
  const root = join(dir, 'project');
  for (const path of ['bin', 'package.json', 'init', 'packer', 'scripts']) {
    cpSync(join(REPO, path), join(root, path), { recursive: true });
  }
  symlinkSync(join(REPO, 'node_modules'), join(root, 'node_modules'));
  return root;
}

test('the default INIT not built: named, with `make` as the way out', () => {
  using s = scratch();
  const root = unbuiltProject(s.dir);
  const result = spawnSync(join(root, 'bin/mkvirtinitrd'), ['--list', fixture('ko')], { encoding: 'utf8' });
  assert.deepEqual([result.status, result.stdout, result.stderr], [1, '', `mkvirtinitrd: the init ${root}/build/init is missing: run \`make\` in ${root}, or give INIT\n`]);
});

test('a Node SEA as INIT without the built ffi-rs module: named, with `make` as the way out', { skip: noInit }, () => {
  using s = scratch();
  const root = unbuiltProject(s.dir);
  mkdirSync(join(root, 'build'));
  symlinkSync(BUILT_INIT, join(root, 'build/init'));
  const result = spawnSync(join(root, 'bin/mkvirtinitrd'), ['--list', fixture('ko')], { encoding: 'utf8' });
  assert.deepEqual(
    [result.status, result.stdout, result.stderr],
    [1, '', `mkvirtinitrd: ffi-rs's native module ${root}/build/ffi-rs.node (loaded by the init) is missing: run \`make\` in ${root}\n`],
  );
});

const W2 = (init: string) =>
  `W2: INIT ${init} is not a Node single-executable application (no NODE_SEA_BLOB note): it is packed as /init as it is, without ffi-rs's native module, which only the virtinitrd init loads\n`;

test("osbuild's BINARY MODDIR OUTPUT with a binary that is not a Node SEA: W2, no ffi-rs", { skip: noDemo }, () => {
  using s = scratch();
  const binary = join(s.dir, 'init');
  copyFileSync('/bin/true', binary);
  const output = join(s.dir, 'initrd');
  const built = run(['--module=virtio_pci', binary, moddir, output]);
  assert.deepEqual(built, { status: 0, stdout: '', stderr: `mkvirtinitrd: warning ${W2(binary)}` });
  const cpio = spawnSync('sh', ['-c', 'lz4 -dc < "$1" | cpio -t --quiet', 'sh', output], { encoding: 'utf8' });
  const paths = cpio.stdout.split('\n');
  assert.ok(paths.includes('init') && paths.includes('usr/lib/modules/008-virtiofs.ko'), cpio.stdout);
  assert.ok(!paths.includes('usr/lib/virtinitrd/ffi-rs.node'));
});

test('--strict turns a warning into an error: exit 1, nothing written', { skip: noDemo }, () => {
  using s = scratch();
  const binary = join(s.dir, 'init');
  copyFileSync('/bin/true', binary);
  assert.deepEqual(run(['--strict', binary, moddir, join(s.dir, 'initrd')]), { status: 1, stdout: '', stderr: `mkvirtinitrd: error ${W2(binary)}` });
  assert.deepEqual(readdirSync(s.dir), ['init']);
});

test("--rootfs of a merged-/usr system holding the init's own libraries: no W4; a library that differs is named", { skip: noDemo, timeout: 120_000 }, () => {
  using s = scratch();
  const system = join(s.dir, 'system');
  for (const dir of ['usr/bin', 'usr/lib/x86_64-linux-gnu', 'usr/lib64']) mkdirSync(join(system, dir), { recursive: true });
  for (const link of ['bin', 'lib', 'lib64']) symlinkSync(`usr/${link}`, join(system, link));
  // The system has the init's libraries, as a system of the host's release does: the same bytes, the same links.
  const libraries = parseList(run(['--list', moddir]).stdout).filter((l) => /^(library needed by|symlink on the way to a library)/.test(l.why));
  for (const { path, kind, detail } of libraries) {
    if (kind === 'file') copyFileSync(path, join(system, path));
    else if (!lstatSync(join(system, path), { throwIfNoEntry: false })) symlinkSync(detail.replace(/^-> /, ''), join(system, path));
  }
  const output = join(s.dir, 'initrd');
  assert.deepEqual(run(['--strict', '--rootfs', system, moddir, output]), { status: 0, stdout: '', stderr: '' });
  assert.ok(statSync(output).size > 0);
  const libm = '/usr/lib/x86_64-linux-gnu/libm.so.6';
  assert.ok(libraries.some((l) => l.path === libm && l.kind === 'file'), 'the init needs libm');
  writeFileSync(join(system, libm), 'another libm\n');
  const { status, stderr } = run(['--list', '--rootfs', system, moddir]);
  assert.equal(status, 0);
  assert.equal(stderr, `mkvirtinitrd: warning W4: the init's own files replace 1 of the system's: ${libm}\n`);
});

test('W1: a --module built into the kernel; W3: OUTPUT inside MODDIR', { skip: noInit }, () => {
  const builtin = fixture('builtin');
  const { status, stdout, stderr } = run(['--list', '--module', 'fuse', builtin, join(builtin, 'initrd.img')]);
  assert.equal(status, 0);
  assert.equal(
    stderr,
    `mkvirtinitrd: warning W1: --module fuse is built into the kernel (listed in ${builtin}/modules.builtin): nothing to add\n` +
      `mkvirtinitrd: warning W3: OUTPUT ${join(builtin, 'initrd.img')} is inside MODDIR ${builtin}, which belongs to the kernel package\n`,
  );
  assert.deepEqual(
    parseList(stdout).filter((l) => l.kind === 'builtin' || l.path.startsWith('/usr/lib/modules/')).map((l) => `${l.path} ${l.kind}`),
    ['/usr/lib/modules/001-virtiofs.ko file', 'fuse builtin', 'virtio builtin', 'virtio_console builtin', 'virtio_pci builtin', 'virtio_ring builtin'],
  );
  assert.ok(!existsSync(join(builtin, 'initrd.img')));
});

test('progress on a terminal after a second, and nothing of it in --list', { skip: noDemo, timeout: 120_000 }, () => {
  using s = scratch();
  const output = join(s.dir, 'initrd');
  // script(1) gives the command a terminal; its output is that terminal's (CR LF line ends).
  const tty = spawnSync('script', ['-qec', `${BIN} --compress lz4 ${moddir} ${output}`, '/dev/null'], { encoding: 'utf8' });
  assert.equal(tty.status, 0, tty.stdout);
  const files = listDemo().filter((l) => l.kind === 'file').length;
  assert.match(tty.stdout, new RegExp(`^mkvirtinitrd: packing ${files} files \\(\\d+\\.\\d MiB\\) with lz4…\\r\\nmkvirtinitrd: wrote ${output} \\(\\d+\\.\\d MiB\\)\\r\\n$`));
  const list = spawnSync('script', ['-qec', `${BIN} --list ${moddir}`, '/dev/null'], { encoding: 'utf8' });
  assert.doesNotMatch(list.stdout, /packing/);
});

/** Starts a build, sends `signal` once `when` resolves, and returns the exit status. */
async function interrupted(args: string[], signal: NodeJS.Signals, when: When, dir: string): Promise<number | null> {
  const child = spawn(BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const stop = new AbortController();
  await Promise.race([when(dir, stop.signal), exited]);
  stop.abort();
  child.kill(signal);
  return exited;
}

type When = (dir: string, stop: AbortSignal) => Promise<void>;

const delay = (ms: number): When => () => new Promise<void>((resolve) => setTimeout(resolve, ms));

// Resolves as soon as the temporary file beside OUTPUT appears, i.e. while the archive is written.
const temporaryFileAppears: When = (dir, stop) =>
  new Promise((resolve) => {
    const watcher = watch(dir, { signal: stop }, (_event, name) => {
      if (name?.startsWith('initrd.tmp-')) {
        watcher.close();
        resolve();
      }
    });
  });

const interruptions: Array<{ name: string; signal: NodeJS.Signals; codec: Codec; when: When; status: number }> = [
  { name: 'SIGINT while packing', signal: 'SIGINT', codec: 'lz4', when: delay(1500), status: 130 },
  { name: 'SIGINT while writing OUTPUT', signal: 'SIGINT', codec: 'none', when: temporaryFileAppears, status: 130 },
  { name: 'SIGTERM while writing OUTPUT', signal: 'SIGTERM', codec: 'none', when: temporaryFileAppears, status: 143 },
];

for (const { name, signal, codec, when, status } of interruptions) {
  test(`${name}: exit ${status}, no OUTPUT and no temporary file`, { skip: noDemo, timeout: 60_000 }, async () => {
    using s = scratch();
    assert.equal(await interrupted(['--compress', codec, moddir, join(s.dir, 'initrd')], signal, when, s.dir), status);
    assert.deepEqual(readdirSync(s.dir), []);
  });
}
