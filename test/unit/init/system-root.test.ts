import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseOwnPaths } from '../../../init/system-root.ts';

test('parseOwnPaths: the listed absolute paths, plus /init and the marker itself', () => {
  assert.deepEqual(
    [...parseOwnPaths('/usr/lib/virtinitrd\n/usr/lib/virtinitrd/ffi-rs.node\n\nrelative/ignored\n/lib64/ld-linux-x86-64.so.2\n')].sort(),
    ['/init', '/lib64/ld-linux-x86-64.so.2', '/usr/lib/virtinitrd', '/usr/lib/virtinitrd/ffi-rs.node', '/usr/lib/virtinitrd/whole-system'],
  );
  assert.deepEqual([...parseOwnPaths('')].sort(), ['/init', '/usr/lib/virtinitrd/whole-system']);
});
