import { test } from 'node:test';
import assert from 'node:assert/strict';
import { recordLayerPath, splitOpaqueChildren, whiteoutOf } from '../../../../../scripts/lib/image/whiteout.ts';

test('whiteout entries by name', () => {
  const cases: [string[], ReturnType<typeof whiteoutOf>][] = [
    [['etc', 'passwd'], undefined],
    [[], undefined],
    [['etc', '.wh.passwd'], { kind: 'delete', path: ['etc', 'passwd'] }],
    [['.wh.etc'], { kind: 'delete', path: ['etc'] }],
    [['a', '.wh..hidden'], { kind: 'delete', path: ['a', '.hidden'] }],
    [['opt', 'app', '.wh..wh..opq'], { kind: 'opaque', directory: ['opt', 'app'] }],
    [['.wh..wh..opq'], { kind: 'opaque', directory: [] }],
    [['.wh..wh.plnk'], { kind: 'internal' }],
    [['x', '.wh..wh.aufs'], { kind: 'internal' }],
    [['.wh.', 'child'], undefined],
  ];
  for (const [segments, expected] of cases) assert.deepEqual(whiteoutOf(segments, segments.join('/')), expected, segments.join('/'));
});

test('a whiteout that names nothing, . or .. is refused', () => {
  for (const name of ['.wh.', '.wh..', '.wh...']) {
    assert.throws(() => whiteoutOf(['d', name], `d/${name}`), new RegExp(`^UnsafePathError: whiteout "d/${name.replaceAll('.', '\\.')}" names`));
  }
});

test('a layer path is recorded with all its parents', () => {
  const paths = new Set<string>();
  recordLayerPath(paths, ['a', 'b', 'c']);
  recordLayerPath(paths, ['a', 'd']);
  assert.deepEqual([...paths], ['a', 'a/b', 'a/b/c', 'a/d']);
});

test('an opaque directory keeps what this layer wrote and removes the rest', () => {
  const layer = new Set(['opt', 'opt/app', 'opt/app/new', 'opt/app/sub', 'opt/app/sub/x', 'top']);
  assert.deepEqual(splitOpaqueChildren('opt/app', ['old', 'sub', 'new', 'lower'], layer), { remove: ['opt/app/lower', 'opt/app/old'], keep: ['opt/app/new', 'opt/app/sub'] });
  assert.deepEqual(splitOpaqueChildren('', ['top', 'etc'], layer), { remove: ['etc'], keep: ['top'] });
});
