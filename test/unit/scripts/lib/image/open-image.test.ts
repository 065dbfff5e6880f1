import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { openImage } from '../../../../../scripts/lib/image/open-image.ts';
import { ociLayout, snapshot, TWO_LAYERS, TWO_LAYERS_TREE, writeFiles } from './fixtures.ts';

test('a path is opened as a local image, a reference from the cache of pulls; a missing archive name says there is no such file', async () => {
  const work = await mkdtemp(join(tmpdir(), 'virtinitrd-open-image-'));
  try {
    const image = await ociLayout([{ entries: TWO_LAYERS[0]!, codec: 'gzip' }, { entries: TWO_LAYERS[1]!, codec: 'gzip' }]);
    await writeFiles(join(work, 'layout'), image.files);
    const cacheDir = join(work, 'cache');
    const local = await openImage(`./${relative(process.cwd(), join(work, 'layout'))}`, { program: 'test', cacheDir });
    assert.equal(local.digest, image.manifestDigest);
    assert.deepEqual(await snapshot(local.rootfs), TWO_LAYERS_TREE);
    await assert.rejects(openImage('reg.example/app', { program: 'test', cacheDir, pull: 'never' }), {
      message: `reg.example/app:latest was never pulled (nothing in ${join(cacheDir, 'registry')}), and --pull never forbids pulling it`,
    });
    await assert.rejects(openImage('no-such-image.tar.gz', { program: 'test', cacheDir, pull: 'never' }), {
      message: `docker.io/library/no-such-image.tar.gz:latest was never pulled (nothing in ${join(cacheDir, 'registry')}), and --pull never forbids pulling it (and there is no file no-such-image.tar.gz here)`,
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
