import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { orderModules, resolveModules } from '../../../../packer/kmod/resolve.ts';
import type { ModuleGraph, ResolvedModules } from '../../../../packer/kmod/resolve.ts';
import { DEFAULT_MODULES } from '../../../../packer/kmod/defaults.ts';
import { DEFAULT_ORDER, fixtureModdir, VIRTIO_DIR } from '../../../fixtures/kmod/fixture.ts';

const REPO = new URL('../../../../', import.meta.url).pathname;
const moddirOf = fixtureModdir;
const V = VIRTIO_DIR;
const ORDER = DEFAULT_ORDER;

const relative = (moddir: string, r: ResolvedModules) => ({
  modules: r.modules.map((m) => ({ name: m.name, path: m.path.slice(moddir.length + 1) })),
  builtin: r.builtin,
});

// A writable copy of a fixture module directory, optionally with a modules.dep.
async function withCopy<T>(variant: string, depText: string | undefined, use: (moddir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'kmod-resolve-'));
  try {
    cpSync(moddirOf(variant), dir, { recursive: true });
    if (depText !== undefined) writeFileSync(join(dir, 'modules.dep'), depText);
    return await use(dir);
  } finally {
    rmSync(dir, { recursive: true });
  }
}

for (const suffix of ['', '.xz', '.zst', '.gz']) {
  const variant = `ko${suffix}`;
  const expected = { modules: ORDER.map(([name, path]) => ({ name, path: path + suffix })), builtin: [] };

  test(`resolveModules on ${variant}: .modinfo and the depmod golden modules.dep give the same order`, async () => {
    const fromModinfo = await resolveModules(moddirOf(variant), [...DEFAULT_MODULES]);
    assert.deepEqual(relative(moddirOf(variant), fromModinfo), expected);
    const golden = readFileSync(join(REPO, 'test/golden/kmod', `${variant}.modules.dep`), 'utf8');
    await withCopy(variant, golden, async (dir) => {
      assert.deepEqual(relative(dir, await resolveModules(dir, [...DEFAULT_MODULES])), expected);
    });
  });

  test(`resolveModules on ${variant}: spelling and request order do not matter`, async () => {
    const requests = [
      ['virtio-pci', 'virtiofs', 'virtio-console'],
      ['virtio_console', 'virtiofs', 'virtio_pci'],
      ['virtiofs', 'virtio-pci', 'virtio_console', 'virtio_pci', 'fuse'],
    ];
    for (const requested of requests) {
      assert.deepEqual(relative(moddirOf(variant), await resolveModules(moddirOf(variant), requested)), expected, requested.join(' '));
    }
  });
}

test('resolveModules takes dependencies from modules.dep when present', async () => {
  // A modules.dep that disagrees with the modules' own .modinfo: it must win.
  const dep = ['kernel/fs/fuse/virtiofs.ko: kernel/drivers/virtio/virtio_ring.ko', `${V}/virtio_ring.ko:`, ''].join('\n');
  await withCopy('ko', dep, async (dir) => {
    assert.deepEqual(relative(dir, await resolveModules(dir, ['virtiofs'])), {
      modules: [{ name: 'virtio_ring', path: `${V}/virtio_ring.ko` }, { name: 'virtiofs', path: 'kernel/fs/fuse/virtiofs.ko' }],
      builtin: [],
    });
  });
});

// The default modules' paths as a kernel build lists them in modules.order (no compression suffix).
const MODULES_ORDER = `${ORDER.map(([, path]) => path).join('\n')}\n`;

test('resolveModules finds files by modules.dep, then modules.order, then by walking the tree', async () => {
  // A second fuse.ko that sorts first: a walk picks it, modules.dep and modules.order name the real one.
  const decoy = 'kernel/aaa/fuse.ko';
  const fuseOf = (dir: string, r: ResolvedModules) => relative(dir, r).modules.find((m) => m.name === 'fuse')!.path;
  const golden = readFileSync(join(REPO, 'test/golden/kmod/ko.modules.dep'), 'utf8');
  const cases: Array<{ files: Record<string, string>; fuse: string }> = [
    { files: {}, fuse: decoy },
    { files: { 'modules.dep': golden }, fuse: 'kernel/fs/fuse/fuse.ko' },
    { files: { 'modules.order': MODULES_ORDER }, fuse: 'kernel/fs/fuse/fuse.ko' },
    // Not in modules.order: found by the walk all the same.
    { files: { 'modules.order': MODULES_ORDER.replace('kernel/fs/fuse/fuse.ko\n', '') }, fuse: decoy },
  ];
  for (const c of cases) {
    await withCopy('ko', undefined, async (dir) => {
      mkdirSync(join(dir, 'kernel/aaa'));
      cpSync(join(dir, 'kernel/fs/fuse/fuse.ko'), join(dir, decoy));
      for (const [name, text] of Object.entries(c.files)) writeFileSync(join(dir, name), text);
      assert.equal(fuseOf(dir, await resolveModules(dir, ['virtiofs'])), c.fuse, Object.keys(c.files).join(' ') || 'no index files');
    });
  }
});

test('resolveModules with modules.order: compressed files, updates/ over kernel/, extra/ last', async () => {
  await withCopy('ko.xz', undefined, async (dir) => {
    writeFileSync(join(dir, 'modules.order'), MODULES_ORDER);
    mkdirSync(join(dir, 'updates'));
    cpSync(join(dir, 'kernel/fs/fuse/fuse.ko.xz'), join(dir, 'updates/fuse.ko.xz'));
    mkdirSync(join(dir, 'extra'));
    cpSync(join(dir, `${V}/virtio.ko.xz`), join(dir, 'extra/virtio.ko.xz'));
    const expected = ORDER.map(([name, path]) => ({ name, path: name === 'fuse' ? 'updates/fuse.ko.xz' : `${path}.xz` }));
    assert.deepEqual(relative(dir, await resolveModules(dir, [...DEFAULT_MODULES])), { modules: expected, builtin: [] });
  });
});

test('resolveModules: built-in modules need no file', async () => {
  const moddir = moddirOf('builtin');
  const cases = [
    { requested: ['virtio_pci', 'virtiofs'], modules: [{ name: 'virtiofs', path: 'kernel/fs/fuse/virtiofs.ko.xz' }], builtin: ['fuse', 'virtio', 'virtio_pci', 'virtio_ring'] },
    { requested: ['virtio-pci'], modules: [], builtin: ['virtio_pci'] },
  ];
  for (const c of cases) assert.deepEqual(relative(moddir, await resolveModules(moddir, c.requested)), { modules: c.modules, builtin: c.builtin });
});

test('resolveModules errors name the module and the directory', async () => {
  const moddir = moddirOf('ko');
  await assert.rejects(resolveModules('/nonexistent/6.1.0-27-amd64', ['virtio_pci']), { message: 'module directory /nonexistent/6.1.0-27-amd64 does not exist' });
  await assert.rejects(resolveModules(join(moddir, 'modules.builtin'), ['virtio_pci']), { message: `module directory ${moddir}/modules.builtin is not a directory` });
  await assert.rejects(resolveModules(moddir, ['virtio_pci', 'foo']), {
    message: `module foo not found in ${moddir} (neither a .ko file nor in modules.builtin)`,
  });
  await withCopy('ko', undefined, async (dir) => {
    rmSync(join(dir, 'kernel/fs/fuse/fuse.ko'));
    await assert.rejects(resolveModules(dir, ['virtiofs']), {
      message: `module fuse (needed by virtiofs) not found in ${dir} (neither a .ko file nor in modules.builtin)`,
    });
  });
});

const graph = (deps: Record<string, string[]>, builtin: string[] = []): ModuleGraph => ({
  moddir: '/m',
  modules: new Map(Object.entries(deps).map(([name, d]) => [name, { path: `/m/${name}.ko`, deps: d }])),
  builtin: new Set(builtin),
});

test('orderModules: topological, ties by name, only what is needed', () => {
  const cases: Array<{ deps: Record<string, string[]>; builtin?: string[]; requested: string[]; order: string[]; reportedBuiltin?: string[] }> = [
    { deps: { a: [], b: [], c: [] }, requested: ['c', 'a', 'b'], order: ['a', 'b', 'c'] },
    { deps: { a: ['z'], z: [] }, requested: ['a'], order: ['z', 'a'] },
    // z is ready only after y; it then sorts among what is ready, not ahead of everything.
    { deps: { y: [], z: ['y'], a: ['z'], b: [] }, requested: ['a', 'b'], order: ['b', 'y', 'z', 'a'] },
    { deps: { a: ['b', 'c'], b: ['c'], c: [], unrelated: [] }, requested: ['a'], order: ['c', 'b', 'a'] },
    { deps: { a: ['x'], x: [] }, builtin: ['x'], requested: ['a'], order: ['a'], reportedBuiltin: ['x'] },
    { deps: { 'snd_hda': [] }, requested: ['snd-hda'], order: ['snd_hda'] },
    { deps: {}, requested: [], order: [] },
  ];
  for (const c of cases) {
    const result = orderModules(graph(c.deps, c.builtin), c.requested);
    assert.deepEqual(result, { modules: c.order.map((name) => ({ name, path: `/m/${name}.ko` })), builtin: c.reportedBuiltin ?? [] }, JSON.stringify(c));
  }
});

test('orderModules names cycles and unknown modules', () => {
  const cases: Array<{ deps: Record<string, string[]>; requested: string[]; message: string }> = [
    { deps: { a: ['b'], b: ['a'] }, requested: ['a'], message: 'module dependency cycle in /m: a -> b -> a' },
    { deps: { a: ['b'], b: ['c'], c: ['b'], d: [] }, requested: ['d', 'a'], message: 'module dependency cycle in /m: b -> c -> b' },
    { deps: { a: ['a'] }, requested: ['a'], message: 'module dependency cycle in /m: a -> a' },
    { deps: { a: ['gone'] }, requested: ['a'], message: 'module gone (needed by a) not found in /m (neither a .ko file nor in modules.builtin)' },
    { deps: {}, requested: ['nope'], message: 'module nope not found in /m (neither a .ko file nor in modules.builtin)' },
  ];
  for (const c of cases) assert.throws(() => orderModules(graph(c.deps), c.requested), { message: c.message }, c.message);
});
