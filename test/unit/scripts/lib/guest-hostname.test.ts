import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { defaultHostname } from '../../../../scripts/lib/guest-hostname.ts';

test("defaultHostname: the tree's /etc/hostname, else the tree's or image's name, else none", async () => {
  const base = mkdtempSync(join(tmpdir(), 'guest-hostname-test-'));
  try {
    const tree = join(base, 'bookworm-ci');
    mkdirSync(join(tree, 'etc'), { recursive: true });
    assert.equal(await defaultHostname(tree, `${tree}/`), 'bookworm-ci');
    assert.equal(await defaultHostname(tree, '/images/alpine.tar.gz'), 'alpine');
    assert.equal(await defaultHostname(tree, '/images/my_image.tar'), undefined);
    // Image references: the repository's last component.
    assert.equal(await defaultHostname(tree, 'quay.io/team/redis:7.2'), 'redis');
    assert.equal(await defaultHostname(tree, `docker://127.0.0.1:5000/app@sha256:${'a'.repeat(64)}`), 'app');
    assert.equal(await defaultHostname(tree, 'busybox'), 'busybox');
    assert.equal(await defaultHostname(undefined, undefined), undefined);
    // A symlink is the guest's to resolve, in its own root.
    symlinkSync('/etc/hostname', join(tree, 'etc/hostname'));
    assert.equal(await defaultHostname(tree, tree), 'bookworm-ci');
    rmSync(join(tree, 'etc/hostname'));
    writeFileSync(join(tree, 'etc/hostname'), 'builder\n');
    assert.equal(await defaultHostname(tree, tree), 'builder');
  } finally {
    rmSync(base, { recursive: true });
  }
});
