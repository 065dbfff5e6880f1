import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeTree } from '../../../../scripts/lib/remove-tree.ts';

test('removeTree copes with read-only directories', async (t) => {
  const directory = await mkdtemp(join(tmpdir(), 'remove-tree-'));
  t.after(() => rm(directory, { recursive: true, force: true }));
  await mkdir(join(directory, 'tree/ro/deeper'), { recursive: true });
  await writeFile(join(directory, 'tree/ro/deeper/f'), 'x');
  await chmod(join(directory, 'tree/ro/deeper'), 0o555);
  await chmod(join(directory, 'tree/ro'), 0o555);
  await removeTree(join(directory, 'tree'));
  assert.equal(existsSync(join(directory, 'tree')), false);
});

test('removeTree of a path that is not there is no error', async () => {
  await removeTree(join(tmpdir(), 'remove-tree-absent', 'nothing'));
});
