import { test } from 'node:test';
import assert from 'node:assert/strict';
import { layerCodec, sniffFormat, tarCodec } from '../../../../../scripts/lib/image/media.ts';
import { tarOf } from './fixtures.ts';

test('layer media types map to codecs', () => {
  const cases: [string, string][] = [
    ['application/vnd.oci.image.layer.v1.tar', 'none'],
    ['application/vnd.oci.image.layer.v1.tar+gzip', 'gzip'],
    ['application/vnd.oci.image.layer.v1.tar+zstd', 'zstd'],
    ['application/vnd.oci.image.layer.nondistributable.v1.tar+gzip', 'gzip'],
    ['application/vnd.docker.image.rootfs.diff.tar', 'none'],
    ['application/vnd.docker.image.rootfs.diff.tar.gzip', 'gzip'],
    ['application/vnd.docker.image.rootfs.diff.tar.zstd', 'zstd'],
    ['application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', 'gzip'],
  ];
  for (const [mediaType, codec] of cases) assert.equal(layerCodec(mediaType, 'layer'), codec, mediaType);
  assert.throws(() => layerCodec('application/vnd.in-toto+json', 'layer sha256:ab'), /^Error: layer sha256:ab: layer media type "application\/vnd\.in-toto\+json" is not a tar layer \(known: application\/vnd\.oci/);
});

function withHead(bytes: number[], length = 512): Buffer {
  const buffer = Buffer.alloc(length);
  buffer.set(bytes);
  return buffer;
}

test('formats are told by their first bytes', async () => {
  const ustar = await tarOf([{ name: 'a', content: 'x' }]);
  // A pre-POSIX (v7) header: no "ustar" magic, only a checksum that adds up.
  const v7 = Buffer.from(ustar.subarray(0, 512));
  v7.fill(0, 257, 265);
  let sum = 0;
  for (let i = 0; i < 512; i += 1) sum += i >= 148 && i < 156 ? 0x20 : (v7[i] as number);
  v7.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  const cases: [Buffer, string][] = [
    [ustar, 'tar'],
    [v7, 'tar'],
    [withHead([0x1f, 0x8b, 0x08]), 'gzip'],
    [withHead([0x28, 0xb5, 0x2f, 0xfd]), 'zstd'],
    [withHead([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), 'xz'],
    [withHead([0x42, 0x5a, 0x68]), 'bzip2'],
    [withHead([0x04, 0x22, 0x4d, 0x18]), 'lz4'],
    [Buffer.alloc(1024), 'unknown'],
    [Buffer.from('hello'), 'unknown'],
    [Buffer.alloc(0), 'unknown'],
  ];
  for (const [head, format] of cases) assert.equal(sniffFormat(head), format, format);
});

test('a file that should be a tar: codec or a message that says what it is', async () => {
  assert.equal(tarCodec(await tarOf([{ name: 'a' }]), 'f'), 'none');
  assert.equal(tarCodec(withHead([0x1f, 0x8b]), 'f'), 'gzip');
  assert.equal(tarCodec(withHead([0x28, 0xb5, 0x2f, 0xfd]), 'f'), 'zstd');
  assert.throws(() => tarCodec(withHead([0x42, 0x5a, 0x68]), 'image x.tbz'), /^Error: image x\.tbz is bzip2-compressed, which is not read here: decompress it first \(or recompress with gzip or zstd\)$/);
  assert.throws(() => tarCodec(Buffer.from('text'), 'image x'), /^Error: image x is not a tar archive \(nor gzip- or zstd-compressed tar\)$/);
});
