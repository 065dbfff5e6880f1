import { test } from 'node:test';
import assert from 'node:assert/strict';
import { guestCwd, type ShareLocation } from '../../../../scripts/lib/guest-cwd.ts';

const ROOTFS: ShareLocation = { hostPath: '/a/root', guestPath: '/' };
const SRC: ShareLocation = { hostPath: '/home/u/src', guestPath: '/run/mnt/src' };
const NESTED: ShareLocation = { hostPath: '/a/root/opt/cache', guestPath: '/run/mnt/cache' };

const CASES: Array<[string, string, ShareLocation[], string]> = [
  ['the rootfs itself', '/a/root', [ROOTFS, SRC], '/'],
  ['inside the rootfs', '/a/root/sub/dir', [ROOTFS, SRC], '/sub/dir'],
  ['inside the rootfs, trailing slash', '/a/root/sub/dir/', [ROOTFS, SRC], '/sub/dir'],
  ['a share itself', '/home/u/src', [ROOTFS, SRC], '/run/mnt/src'],
  ['inside a share', '/home/u/src/x', [ROOTFS, SRC], '/run/mnt/src/x'],
  ['nested share wins (listed after)', '/a/root/opt/cache/x', [ROOTFS, NESTED], '/run/mnt/cache/x'],
  ['nested share wins (listed before)', '/a/root/opt/cache/x', [NESTED, ROOTFS], '/run/mnt/cache/x'],
  ['beside the nested share: the rootfs', '/a/root/opt/other', [NESTED, ROOTFS], '/opt/other'],
  ['outside all shares', '/var/tmp', [ROOTFS, SRC], '/'],
  ['no shares', '/a/root/sub', [], '/'],
  ['parent of the rootfs', '/a', [ROOTFS], '/'],
  ['sibling with a common prefix', '/a/root2', [ROOTFS], '/'],
  ['inside a sibling with a common prefix', '/a/root2/x', [ROOTFS], '/'],
  ['a directory whose name starts with ".."', '/a/root/..hidden/x', [ROOTFS], '/..hidden/x'],
  ['a share given with a trailing slash', '/home/u/src/x', [{ hostPath: '/home/u/src/', guestPath: '/run/mnt/src' }], '/run/mnt/src/x'],
];

for (const [name, cwd, shares, expected] of CASES) {
  test(`guestCwd: ${name}`, () => {
    assert.equal(guestCwd(cwd, shares), expected);
  });
}
