import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ldSoConfDirs, parseLdSoConf } from '../../../../packer/elf/ldconf.ts';

const TREE = new URL('../../../fixtures/elf/tree', import.meta.url).pathname;

test('parseLdSoConf keeps directories and includes in order', () => {
  const cases = [
    { text: '', lines: [] },
    { text: 'include /etc/ld.so.conf.d/*.conf\n', lines: [{ kind: 'include', pattern: '/etc/ld.so.conf.d/*.conf' }] },
    {
      text: '# libc default configuration\n/usr/local/lib\n\n  /opt/lib  # trailing comment\nhwcap 0 nosegneg\ninclude   local/*.conf\n',
      lines: [
        { kind: 'dir', path: '/usr/local/lib' },
        { kind: 'dir', path: '/opt/lib' },
        { kind: 'include', pattern: 'local/*.conf' },
      ],
    },
  ];
  for (const c of cases) assert.deepEqual(parseLdSoConf(c.text), c.lines, JSON.stringify(c.text));
});

test('ldSoConfDirs follows includes under the root', async () => {
  assert.deepEqual(await ldSoConfDirs(TREE), ['/lib/x86_64-linux-gnu']);
  assert.deepEqual(await ldSoConfDirs('/nonexistent-root'), []);
});

test('ldSoConfDirs: sorted glob matches, relative includes, include loops read once', async () => {
  const root = mkdtempSync(join(tmpdir(), 'ldconf-'));
  try {
    mkdirSync(join(root, 'etc/ld.so.conf.d'), { recursive: true });
    const files: Record<string, string> = {
      'etc/ld.so.conf': '/first\ninclude ld.so.conf.d/*.conf\n/last\n',
      'etc/ld.so.conf.d/b.conf': '/b\ninclude /etc/ld.so.conf\n',
      'etc/ld.so.conf.d/a.conf': '/a1\n/a2\n',
      'etc/ld.so.conf.d/ignored.txt': '/never\n',
    };
    for (const [path, text] of Object.entries(files)) writeFileSync(join(root, path), text);
    assert.deepEqual(await ldSoConfDirs(root), ['/first', '/a1', '/a2', '/b', '/last']);
  } finally {
    rmSync(root, { recursive: true });
  }
});
