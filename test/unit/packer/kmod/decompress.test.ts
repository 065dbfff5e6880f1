import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readModule } from '../../../../packer/kmod/decompress.ts';
import { fixtureModdir } from '../../../fixtures/kmod/fixture.ts';

const fixture = (variant: string, rel: string) => join(fixtureModdir(variant), rel);
const MODULES = ['kernel/drivers/virtio/virtio_ring.ko', 'kernel/fs/fuse/fuse.ko'];

for (const suffix of ['', '.xz', '.zst', '.gz']) {
  test(`readModule returns the plain .ko bytes for .ko${suffix}`, async () => {
    for (const rel of MODULES) {
      assert.deepEqual(await readModule(fixture(`ko${suffix}`, rel + suffix)), readFileSync(fixture('ko', rel)), rel + suffix);
    }
  });
}

test('readModule names the file and the problem', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kmod-decompress-'));
  try {
    for (const name of ['bad.ko.gz', 'bad.ko.zst', 'bad.ko.xz']) writeFileSync(join(dir, name), 'not compressed');
    await assert.rejects(readModule(join(dir, 'bad.ko.gz')), { message: `cannot decompress ${dir}/bad.ko.gz (gzip): incorrect header check` });
    await assert.rejects(readModule(join(dir, 'bad.ko.zst')), { message: `cannot decompress ${dir}/bad.ko.zst (zstd): Unknown frame descriptor` });
    await assert.rejects(readModule(join(dir, 'bad.ko.xz')), {
      message: `cannot decompress ${dir}/bad.ko.xz: xz -dc exited with status 1: xz: (stdin): File format not recognized`,
    });
    await assert.rejects(readModule(join(dir, 'x.ko.bz2')), { message: `${dir}/x.ko.bz2 is not a kernel module file (.ko, .ko.gz, .ko.xz or .ko.zst)` });
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('readModule says which package provides a missing xz', async () => {
  const path = fixture('ko.xz', 'kernel/drivers/virtio/virtio.ko.xz');
  const saved = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    await assert.rejects(readModule(path), { message: `cannot decompress ${path}: the xz tool is not installed (Debian package xz-utils)` });
  } finally {
    process.env.PATH = saved;
  }
});
