import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ImageLimitError } from '../../../../../scripts/lib/image/limits.ts';
import { entrySegments, resolveDirectory, UnsafePathError, type Probe } from '../../../../../scripts/lib/image/paths.ts';

test('entry names become components below the root', () => {
  const cases: [string, string[]][] = [
    ['etc/passwd', ['etc', 'passwd']],
    ['/etc/passwd', ['etc', 'passwd']],
    ['./etc//x/./y/', ['etc', 'x', 'y']],
    ['./', []],
    ['/', []],
    ['...', ['...']],
    ['a/..b/c..', ['a', '..b', 'c..']],
  ];
  for (const [name, segments] of cases) assert.deepEqual(entrySegments(name, 4096), segments, name);
});

test('entry names with .., NUL or an overlong component are refused, naming the entry', () => {
  const cases: [string, RegExp][] = [
    ['../x', /^tar entry "\.\.\/x" has a "\.\." component/],
    ['a/../../x', /^tar entry "a\/\.\.\/\.\.\/x" has a "\.\." component/],
    ['/..', /^tar entry "\/\.\." has a "\.\." component/],
    ['a/..', /^tar entry "a\/\.\." has a "\.\." component/],
    ['a\0b', /^tar entry "a\0b" has a NUL byte/],
    [`d/${'n'.repeat(256)}`, /has a component longer than 255 bytes$/],
  ];
  for (const [name, message] of cases) assert.throws(() => entrySegments(name, 4096), (error: Error) => error instanceof UnsafePathError && message.test(error.message), name);
});

test('a name longer than maxPathLength (in bytes) is a limit error', () => {
  assert.deepEqual(entrySegments('ééé', 6), ['ééé']);
  assert.throws(() => entrySegments('éééé', 7), (error: Error) => error instanceof ImageLimitError && error.limit === 'maxPathLength'
    && error.message === 'tar entry "éééé…": the name length (8 bytes) exceeds the maxPathLength limit of 7; raise it with the maxPathLength option');
});

/** A tree as a table: directories, symlinks (with targets) and files; everything else is missing. */
function fakeTree(tree: Record<string, string | null>): (relative: string) => Probe {
  return (relative) => {
    if (!(relative in tree)) return { kind: 'missing' };
    const value = tree[relative];
    if (value === null) return { kind: 'directory' };
    return value.startsWith('file') ? { kind: 'other' } : { kind: 'symlink', target: value.slice('->'.length) };
  };
}

const TREE = fakeTree({
  usr: null,
  'usr/lib': null,
  lib: '->usr/lib',
  abs: '->/usr/lib',
  root: '->/',
  up: '->../../..',
  chain: '->up/usr',
  'usr/lib/back': '->../../etc',
  dangling: '->nowhere/deeper',
  loop: '->loop',
  file: 'file',
});

test('directories resolve through symlinks without leaving the root', () => {
  const cases: [string[], { path: string[]; existing: number }][] = [
    [[], { path: [], existing: 0 }],
    [['usr', 'lib'], { path: ['usr', 'lib'], existing: 2 }],
    [['lib'], { path: ['usr', 'lib'], existing: 2 }],
    [['abs', 'x'], { path: ['usr', 'lib', 'x'], existing: 2 }],
    [['root'], { path: [], existing: 0 }],
    [['root', 'usr'], { path: ['usr'], existing: 1 }],
    [['up'], { path: [], existing: 0 }],
    [['up', 'up', 'usr'], { path: ['usr'], existing: 1 }],
    [['chain', 'lib'], { path: ['usr', 'lib'], existing: 2 }],
    [['lib', 'back', 'x'], { path: ['etc', 'x'], existing: 0 }],
    [['dangling', 'y'], { path: ['nowhere', 'deeper', 'y'], existing: 0 }],
    [['new', 'deeper'], { path: ['new', 'deeper'], existing: 0 }],
  ];
  for (const [segments, expected] of cases) assert.deepEqual(resolveDirectory(segments, TREE, 'entry'), expected, segments.join('/'));
});

test('.. in a symlink target after a missing directory resumes probing where it lands', () => {
  const probe = fakeTree({ usr: null, link: '->/missing/../usr', 'usr/lib': '->/etc' });
  assert.deepEqual(resolveDirectory(['link', 'lib'], probe, 'entry'), { path: ['etc'], existing: 0 });
});

test('a loop or a file in the path is refused, naming the entry', () => {
  assert.throws(() => resolveDirectory(['loop', 'x'], TREE, 'loop/x/y'), /^UnsafePathError: tar entry "loop\/x\/y": more than 40 symlinks followed at loop \(a symlink loop\)$/);
  assert.throws(() => resolveDirectory(['file', 'x'], TREE, 'file/x/y'), /^UnsafePathError: tar entry "file\/x\/y": file is not a directory$/);
});
