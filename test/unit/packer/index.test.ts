import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, cpSync, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initrdPaths } from '../../../init/paths.ts';
import { DEFAULT_ORDER, fixtureModdir, VIRTIO_DIR } from '../../fixtures/kmod/fixture.ts';
import { encodeNote } from './elf/encode-note.ts';
import { buildInitrd, isNodeSea, planInitrd, planWholeSystem, type InitrdEntry, type InitrdPlan } from '../../../packer/index.ts';

const REPO = new URL('../../../', import.meta.url).pathname;
const fixture = fixtureModdir;
const V = VIRTIO_DIR;
// A small dynamically linked system binary stands in for the init and for ffi-rs's module.
const STAND_IN = '/bin/true';

type Scratch = { dir: string; init: string; ffi: string; moddir: (variant: string) => string };

// Copies of the stand-ins and of fixture module trees, so their mtimes can be set.
function withScratch(use: (s: Scratch) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'packer-index-'));
    try {
      const init = join(dir, 'init');
      const ffi = join(dir, 'ffi-rs.node');
      copyFileSync(STAND_IN, init);
      copyFileSync(STAND_IN, ffi);
      const moddir = (variant: string) => {
        const copy = join(dir, variant);
        if (!existsSync(copy)) cpSync(fixture(variant), copy, { recursive: true });
        return copy;
      };
      await use({ dir, init, ffi, moddir });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

const moduleEntries = (plan: InitrdPlan) => plan.entries.filter((e) => e.path.startsWith(`${initrdPaths.modules}/`));

function expectedModules(moddir: string, modules: ReadonlyArray<[string, string]>): InitrdEntry[] {
  return modules.map(([name, path], index) => ({
    kind: 'file',
    path: `/usr/lib/modules/${String(index + 1).padStart(3, '0')}-${name}.ko`,
    source: join(moddir, path),
    mode: 0o644,
    why: `kernel module ${name}`,
    decompress: true,
  }));
}


test(
  'plan: /init first, the ffi module, /dev/console, libraries, the seven modules in load order',
  withScratch(async ({ init, ffi }) => {
    const moddir = fixture('ko');
    const plan = await planInitrd({ init, ffiModule: ffi, moddir, extraModules: [] });
    assert.deepEqual(plan.entries.slice(0, 3), [
      { kind: 'file', path: '/init', source: init, mode: 0o755, why: 'the init' },
      { kind: 'file', path: '/usr/lib/virtinitrd/ffi-rs.node', source: ffi, mode: 0o755, why: "ffi-rs's native module (the init's system calls)" },
      { kind: 'device', path: '/dev/console', major: 5, minor: 1, mode: 0o600, why: "PID 1's stdio before devtmpfs is mounted" },
    ]);
    assert.deepEqual(moduleEntries(plan), expectedModules(moddir, DEFAULT_ORDER));
    assert.deepEqual(plan.builtinModules, []);
    // The stand-in's libc and loader, found on this host; the exact paths depend on its layout.
    const libraries = plan.entries.filter((e) => e.kind === 'file' && e.why === `library needed by ${init}`).map((e) => e.path);
    assert.ok(libraries.some((p) => p.endsWith('/libc.so.6')), `libc among ${libraries.join(', ')}`);
    assert.ok(libraries.some((p) => p.endsWith('/ld-linux-x86-64.so.2')), `the loader among ${libraries.join(', ')}`);
    const paths = plan.entries.map((e) => e.path);
    assert.equal(new Set(paths).size, paths.length, 'no path twice');
  }),
);

test(
  'plan without an ffi module (an init that is not a Node SEA): no ffi-rs entry, same modules',
  withScratch(async ({ init }) => {
    const moddir = fixture('ko');
    const plan = await planInitrd({ init, moddir, extraModules: [] });
    assert.equal(plan.entries.find((e) => e.path === initrdPaths.ffiModule), undefined);
    assert.deepEqual(plan.entries.slice(0, 2).map((e) => e.path), ['/init', '/dev/console']);
    assert.deepEqual(moduleEntries(plan), expectedModules(moddir, DEFAULT_ORDER));
  }),
);

test(
  "--module names with '-' or '_' that are already needed change nothing",
  withScratch(async ({ init, ffi }) => {
    const moddir = fixture('ko');
    const plan = await planInitrd({ init, ffiModule: ffi, moddir, extraModules: ['virtio-pci-modern-dev', 'virtio_ring', 'virtio-pci', 'fuse'] });
    assert.deepEqual(moduleEntries(plan), expectedModules(moddir, DEFAULT_ORDER));
  }),
);

test(
  '--module virtio-blk adds virtio_blk after its dependencies',
  withScratch(async ({ init, ffi, moddir: copyOf }) => {
    // The fixture has no virtio_blk: a copy of virtio_ring.ko under that name, with depmod's
    // modules.dep plus the line depmod writes for the real virtio_blk, stands in for it.
    const moddir = copyOf('ko');
    copyFileSync(join(moddir, V, 'virtio_ring.ko'), join(moddir, V, 'virtio_blk.ko'));
    const dep = readFileSync(join(REPO, 'test/golden/kmod/ko.modules.dep'), 'utf8');
    writeFileSync(join(moddir, 'modules.dep'), `${dep}${V}/virtio_blk.ko: ${V}/virtio.ko ${V}/virtio_ring.ko\n`);
    const plan = await planInitrd({ init, ffiModule: ffi, moddir, extraModules: ['virtio-blk'] });
    assert.deepEqual(
      moduleEntries(plan),
      expectedModules(moddir, [...DEFAULT_ORDER.slice(0, 5), ['virtio_blk', `${V}/virtio_blk.ko`], ...DEFAULT_ORDER.slice(5)]),
    );
  }),
);

test(
  'an unknown --module is named, in its canonical spelling, with the module directory',
  withScratch(async ({ init, ffi }) => {
    const moddir = fixture('ko');
    await assert.rejects(planInitrd({ init, ffiModule: ffi, moddir, extraModules: ['virtio-net'] }), {
      message: `module virtio_net not found in ${moddir} (neither a .ko file nor in modules.builtin)`,
    });
  }),
);

test(
  'built-in modules need no file; a compressed module is stored decompressed',
  withScratch(async ({ init, ffi }) => {
    const moddir = fixture('builtin');
    const plan = await planInitrd({ init, ffiModule: ffi, moddir, extraModules: ['fuse'] });
    assert.deepEqual(moduleEntries(plan), expectedModules(moddir, [['virtiofs', 'kernel/fs/fuse/virtiofs.ko.xz']]));
    assert.deepEqual(plan.builtinModules, ['fuse', 'virtio', 'virtio_console', 'virtio_pci', 'virtio_ring']);
  }),
);

type NewcEntry = { path: string; mode: number; mtime: number; data: Buffer };

// Reads back a newc archive field by field (the writer has its own byte-exact tests).
function readNewc(archive: Buffer): NewcEntry[] {
  const entries: NewcEntry[] = [];
  const pad = (n: number) => (n + 3) & ~3;
  for (let at = 0; ; ) {
    assert.equal(archive.toString('latin1', at, at + 6), '070701', `newc magic at ${at}`);
    const field = (index: number) => parseInt(archive.toString('latin1', at + 6 + index * 8, at + 14 + index * 8), 16);
    const [mode, mtime, size, nameSize] = [field(1), field(5), field(6), field(11)];
    const path = archive.toString('latin1', at + 110, at + 110 + nameSize - 1);
    const dataAt = pad(at + 110 + nameSize);
    if (path === 'TRAILER!!!') return entries;
    entries.push({ path, mode, mtime, data: archive.subarray(dataAt, dataAt + size) });
    at = pad(dataAt + size);
  }
}

const T = 1_000_000_000;

async function buildScratch(s: Scratch, mtime: number): Promise<{ plan: InitrdPlan; entries: NewcEntry[] }> {
  const moddir = s.moddir('builtin');
  const module = join(moddir, 'kernel/fs/fuse/virtiofs.ko.xz');
  utimesSync(s.init, T, T);
  utimesSync(module, T + 10, T + 10);
  const plan = await planInitrd({ init: s.init, ffiModule: s.ffi, moddir, extraModules: [] });
  return { plan, entries: readNewc(await buildInitrd(plan, { codec: 'none', mtime })) };
}

const byPath = (entries: NewcEntry[], path: string) => entries.find((e) => e.path === path)!;

test(
  'build: every entry of the plan, with parents, module decompressed, init byte for byte',
  withScratch(async (s) => {
    const { plan, entries } = await buildScratch(s, 0);
    const paths = entries.map((e) => e.path);
    for (const entry of plan.entries) assert.ok(paths.includes(entry.path.slice(1)), `${entry.path} in the archive`);
    for (const dir of ['dev', 'usr', 'usr/lib', 'usr/lib/modules', 'usr/lib/virtinitrd']) {
      assert.equal(byPath(entries, dir).mode, 0o040755, `${dir} is a directory`);
    }
    assert.equal(byPath(entries, 'dev/console').mode, 0o020600);
    assert.deepEqual(byPath(entries, 'init').data, readFileSync(s.init));
    assert.equal(byPath(entries, 'init').mode, 0o100755);
    const xz = spawnSync('xz', ['-dc', join(s.moddir('builtin'), 'kernel/fs/fuse/virtiofs.ko.xz')], { maxBuffer: 1 << 24 });
    assert.deepEqual(byPath(entries, 'usr/lib/modules/001-virtiofs.ko').data, xz.stdout);
    assert.equal(byPath(entries, 'usr/lib/modules/001-virtiofs.ko').mode, 0o100644);
  }),
);

test(
  'build: mtimes are the files\' own, clamped to the given bound',
  withScratch(async (s) => {
    assert.deepEqual([...new Set((await buildScratch(s, 0)).entries.map((e) => e.mtime))], [0]);
    assert.deepEqual([...new Set((await buildScratch(s, T - 1)).entries.map((e) => e.mtime))], [T - 1]);
    const { entries } = await buildScratch(s, T + 5);
    assert.equal(byPath(entries, 'init').mtime, T);
    assert.equal(byPath(entries, 'usr/lib/modules/001-virtiofs.ko').mtime, T + 5);
    assert.equal(byPath(entries, 'usr').mtime, T + 5);
    assert.ok(entries.every((e) => e.mtime <= T + 5));
  }),
);

// A minimal ELF64 little-endian file: header, one PT_NOTE program header, the notes.
function elfWithNotes(notes: Array<{ name: string; desc: number }>, align: 4 | 8, elfClass = 2): Buffer {
  const parts = notes.map(({ name, desc }) => encodeNote(name, 0, new Uint8Array(desc), align));
  const length = parts.reduce((sum, note) => sum + note.length, 0);
  const header = Buffer.alloc(64 + 56);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, elfClass, 1, 1]).copy(header);
  header.writeBigUInt64LE(64n, 32); // e_phoff
  header.writeUInt16LE(56, 54); // e_phentsize
  header.writeUInt16LE(1, 56); // e_phnum
  header.writeUInt32LE(4, 64); // PT_NOTE
  header.writeBigUInt64LE(BigInt(header.length), 64 + 8); // p_offset
  header.writeBigUInt64LE(BigInt(length), 64 + 32); // p_filesz
  header.writeBigUInt64LE(BigInt(align), 64 + 48); // p_align
  return Buffer.concat([header, ...parts]);
}

const seaCases: Array<{ name: string; bytes: Buffer; want: boolean }> = [
  { name: 'a NODE_SEA_BLOB note', bytes: elfWithNotes([{ name: 'NODE_SEA_BLOB', desc: 40 }], 4), want: true },
  { name: 'after a GNU note', bytes: elfWithNotes([{ name: 'GNU', desc: 16 }, { name: 'NODE_SEA_BLOB', desc: 3 }], 4), want: true },
  // With 8-byte alignment the next note starts at 24, not at 20 as 4-byte padding would put it.
  { name: 'after a GNU note, 8-aligned', bytes: elfWithNotes([{ name: 'GNU', desc: 4 }, { name: 'NODE_SEA_BLOB', desc: 8 }], 8), want: true },
  { name: 'only a GNU note', bytes: elfWithNotes([{ name: 'GNU', desc: 16 }], 4), want: false },
  { name: 'a note named NODE_SEA_BLOB2', bytes: elfWithNotes([{ name: 'NODE_SEA_BLOB2', desc: 4 }], 4), want: false },
  { name: 'ELF32', bytes: elfWithNotes([{ name: 'NODE_SEA_BLOB', desc: 4 }], 4, 1), want: false },
  { name: 'program headers past the end', bytes: elfWithNotes([{ name: 'NODE_SEA_BLOB', desc: 4 }], 4).subarray(0, 64), want: false },
  { name: 'a truncated note segment', bytes: elfWithNotes([{ name: 'NODE_SEA_BLOB', desc: 4 }], 4).subarray(0, 64 + 56 + 14), want: false },
  { name: 'a shell script', bytes: Buffer.from('#!/bin/sh\nexec node init.js\n'), want: false },
  { name: 'an empty file', bytes: Buffer.alloc(0), want: false },
];

for (const { name, bytes, want } of seaCases) {
  test(`isNodeSea: ${name} -> ${want}`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'packer-sea-'));
    try {
      writeFileSync(join(dir, 'init'), bytes);
      assert.equal(await isNodeSea(join(dir, 'init')), want);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
}

test('isNodeSea: a system binary is not one', async () => {
  assert.equal(await isNodeSea(STAND_IN), false);
});

const builtInit = join(REPO, 'build/init');
test('isNodeSea: the built init is one', { skip: existsSync(builtInit) ? false : `${builtInit} is not built (make all)` }, async () => {
  assert.equal(await isNodeSea(builtInit), true);
});

// A tiny system: /lib a real directory (as on a non-merged-/usr system), a hard link pair, a
// symlink, a setuid file owned by another user, and the loader's library path taken by the system.
function makeSystem(root: string): void {
  for (const dir of ['bin', 'lib', 'etc', 'usr/lib/x86_64-linux-gnu']) mkdirSync(join(root, dir), { recursive: true });
  writeFileSync(join(root, 'bin/tool'), '#!/bin/sh\n');
  // chown clears setuid: owner first, then the mode.
  if (process.getuid?.() === 0) chownSync(join(root, 'bin/tool'), 1000, 100);
  chmodSync(join(root, 'bin/tool'), 0o4755);
  writeFileSync(join(root, 'etc/hostname'), 'guest\n');
  writeFileSync(join(root, 'usr/lib/x86_64-linux-gnu/libc.so.6'), 'the system libc\n');
  linkSync(join(root, 'usr/lib/x86_64-linux-gnu/libc.so.6'), join(root, 'etc/libc-copy'));
  symlinkSync('hostname', join(root, 'etc/name'));
}

test(
  'planWholeSystem: the system, then the init winning clashes, links into system directories, the marker',
  withScratch(async (s) => {
    const system = join(s.dir, 'system');
    makeSystem(system);
    const plan = await planWholeSystem({ init: s.init, ffiModule: s.ffi, moddir: s.moddir('ko'), extraModules: [] }, system);
    const byPath = new Map(plan.entries.map((entry) => [entry.path, entry]));
    assert.equal(new Set(plan.entries.map((entry) => entry.path)).size, plan.entries.length, 'no path twice');
    const tool = byPath.get('/bin/tool');
    assert.ok(tool?.kind === 'file' && tool.mode === 0o4755);
    if (process.getuid?.() === 0) assert.deepEqual([tool.meta?.uid, tool.meta?.gid], [1000, 100]);
    assert.deepEqual(byPath.get('/etc/name'), { kind: 'symlink', path: '/etc/name', target: 'hostname', why: 'the system', meta: (byPath.get('/etc/name') as { meta: unknown }).meta });
    // The system's libc is replaced by the init's (W4), and its hard link keeps the system's bytes.
    assert.deepEqual(plan.replaced, ['/usr/lib/x86_64-linux-gnu/libc.so.6']);
    assert.equal((byPath.get('/usr/lib/x86_64-linux-gnu/libc.so.6') as { why: string }).why, 'library needed by ' + s.init);
    const copy = byPath.get('/etc/libc-copy');
    assert.ok(copy?.kind === 'file' && copy.source === join(system, 'etc/libc-copy'));
    // The system's /lib is a directory: the init's /lib -> usr/lib symlink becomes links inside it.
    assert.equal(byPath.get('/lib')?.kind, 'dir');
    assert.deepEqual(byPath.get('/lib/x86_64-linux-gnu'), {
      kind: 'symlink',
      path: '/lib/x86_64-linux-gnu',
      target: '/usr/lib/x86_64-linux-gnu',
      why: "the init's /lib -> usr/lib, inside the system's directory",
    });
    // The marker lists what the init brought and the system did not have.
    const marker = byPath.get(initrdPaths.wholeSystemMarker);
    assert.ok(marker?.kind === 'data');
    const own = marker.data.toString().split('\n').filter(Boolean);
    assert.ok(own.includes('/init') && own.includes(initrdPaths.ffiModule) && own.includes('/lib/x86_64-linux-gnu'));
    assert.ok(!own.includes('/usr/lib/x86_64-linux-gnu/libc.so.6'), 'a path the system had is the system\'s');
    assert.ok(!own.includes('/bin') && !own.includes('/usr'));
  }),
);

// A merged-/usr system as Debian 12 makes it, against the stand-in init's loader and libc: /lib and
// /lib64 are the symlinks the init has too, libc the host's own bytes (packed 0644, the init's
// 0755), while the loader's bytes and /usr/lib64's link differ from the init's.
test(
  "planWholeSystem: only what differs from the init's entry is replaced (W4), not the same symlink or bytes",
  withScratch(async (s) => {
    const system = join(s.dir, 'system');
    const libs = join(system, 'usr/lib/x86_64-linux-gnu');
    mkdirSync(libs, { recursive: true });
    mkdirSync(join(system, 'usr/lib64'));
    symlinkSync('usr/lib', join(system, 'lib'));
    symlinkSync('usr/lib64', join(system, 'lib64'));
    symlinkSync('/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', join(system, 'usr/lib64/ld-linux-x86-64.so.2'));
    copyFileSync('/usr/lib/x86_64-linux-gnu/libc.so.6', join(libs, 'libc.so.6'));
    chmodSync(join(libs, 'libc.so.6'), 0o644);
    writeFileSync(join(libs, 'ld-linux-x86-64.so.2'), 'another loader\n');
    const plan = await planWholeSystem({ init: s.init, ffiModule: s.ffi, moddir: s.moddir('ko'), extraModules: [] }, system);
    assert.deepEqual(plan.replaced, ['/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', '/usr/lib64/ld-linux-x86-64.so.2']);
    // Replaced or not, the init's entry is the one packed.
    const byPath = new Map(plan.entries.map((entry) => [entry.path, entry]));
    assert.equal(new Set(plan.entries.map((entry) => entry.path)).size, plan.entries.length, 'no path twice');
    for (const path of ['/lib', '/usr/lib/x86_64-linux-gnu/libc.so.6', '/usr/lib64/ld-linux-x86-64.so.2']) assert.notEqual(byPath.get(path)?.why, 'the system', path);
  }),
);

test(
  'planWholeSystem builds: the archive holds the system with its owners and the hard link',
  withScratch(async (s) => {
    const system = join(s.dir, 'system');
    makeSystem(system);
    const plan = await planWholeSystem({ init: s.init, ffiModule: s.ffi, moddir: s.moddir('ko'), extraModules: [] }, system);
    const archive = join(s.dir, 'system.cpio');
    writeFileSync(archive, await buildInitrd(plan, { codec: 'none', mtime: 0 }));
    const listing = spawnSync('cpio', ['-t', '-v', '--quiet', '-F', archive], { encoding: 'utf8' }).stdout;
    const line = (name: string) => listing.split('\n').find((row) => row.endsWith(` ${name}`) || row.includes(` ${name} ->`)) ?? '';
    assert.match(line('bin/tool'), /^-rwsr-xr-x\s+1 (1000|\S+)\s+(100|\S+)\s/);
    assert.match(line('etc/name'), /^lrwxrwxrwx .* etc\/name -> hostname$/);
    assert.match(line('lib/x86_64-linux-gnu'), /-> \/usr\/lib\/x86_64-linux-gnu$/);
    assert.match(line('usr/lib/virtinitrd/whole-system'), /^-rw-r--r--/);
  }),
);
