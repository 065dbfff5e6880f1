import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OVERLAY_DISK_NAME, overlayConfig, overlayModules, prepareOverlayDisk } from '../../../../scripts/lib/overlay.ts';

test('overlayConfig: a tmpfs of tmpfs\'s default size, a sized one, or the disk', () => {
  assert.deepEqual(overlayConfig({}), { upper: 'tmpfs' });
  assert.deepEqual(overlayConfig({ sizeMiB: 64 }), { upper: 'tmpfs', size: '64m' });
  assert.deepEqual(overlayConfig({ dir: '/keep', sizeMiB: 64 }), { upper: 'disk', serial: 'virtinitrd-upper' });
});

test('overlayModules: nothing for a plain boot; overlay; and the disk\'s driver and filesystem', () => {
  assert.deepEqual(overlayModules(undefined), []);
  assert.deepEqual(overlayModules({ upper: 'tmpfs' }), ['overlay']);
  assert.deepEqual(overlayModules({ upper: 'disk', serial: 's' }), ['overlay', 'virtio_blk', 'ext4', 'crc32c_generic']);
});

test('prepareOverlayDisk: made once (sparse ext4, DIR too), kept after, a killed run\'s half-made disk removed', async () => {
  const top = mkdtempSync(join(tmpdir(), 'overlay-disk-'));
  try {
    const dir = join(top, 'a/b');
    const log: string[] = [];
    const disk = await prepareOverlayDisk(dir, 32, (text) => log.push(text));
    assert.equal(disk, join(dir, OVERLAY_DISK_NAME));
    const info = statSync(disk);
    assert.equal(info.size, 32 * 1024 * 1024);
    assert.ok(info.blocks * 512 < info.size, 'not sparse');
    // The ext2/3/4 superblock at 1024: its magic 0xEF53 at 56, the volume name at 120.
    const superblock = readFileSync(disk).subarray(1024, 2048);
    assert.equal(superblock.readUInt16LE(56), 0xef53);
    assert.equal(superblock.subarray(120, 136).toString().replace(/\0+$/, ''), 'virtinitrd-upper');
    // A PID above pid_max's default is never alive.
    writeFileSync(join(dir, `.${OVERLAY_DISK_NAME}.4999999`), 'half');
    const mtime = info.mtimeMs;
    assert.equal(await prepareOverlayDisk(dir, 64, (text) => log.push(text)), disk);
    assert.equal(statSync(disk).mtimeMs, mtime);
    assert.deepEqual(log, [
      `overlay disk ${disk}: made, 32 MiB (sparse)`,
      `overlay disk ${disk}: kept from an earlier run (it keeps its size; --overlay-size applies to a new disk)`,
    ]);
    assert.equal(existsSync(join(dir, `.${OVERLAY_DISK_NAME}.4999999`)), true, 'a kept disk is not made again, so nothing is swept');
    rmSync(disk);
    await prepareOverlayDisk(dir, 32, () => {});
    assert.deepEqual(readdirSync(dir), [OVERLAY_DISK_NAME]);
  } finally {
    rmSync(top, { recursive: true, force: true });
  }
});
