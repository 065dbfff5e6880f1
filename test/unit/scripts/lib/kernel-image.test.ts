import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { hasSetupHeader, parseKernelImage } from '../../../../scripts/lib/kernel-image.ts';
import { demoKernel, noDemoKernel } from '../../../demo.ts';

/** The first KiB of a bzImage: boot flag, "HdrS", and kernel_version pointing at `version`. */
function bzImageHead(version: string): Buffer {
  const image = Buffer.alloc(0x400);
  image.writeUInt16LE(0xaa55, 0x1fe);
  image.write('HdrS', 0x202, 'latin1');
  image.writeUInt16LE(0x300 - 0x200, 0x20e);
  image.write(`${version}\0`, 0x300, 'latin1');
  return image;
}

test('parseKernelImage reads the release and the version string', () => {
  assert.deepEqual(parseKernelImage(bzImageHead('6.9.0-1-cloud-amd64 (builder@host) #1 SMP'), 'k'), {
    release: '6.9.0-1-cloud-amd64',
    version: '6.9.0-1-cloud-amd64 (builder@host) #1 SMP',
  });
});

const NOT_KERNELS: Array<[string, Buffer, string]> = [
  ['too short', Buffer.alloc(100), '/x is not an x86 Linux kernel image (too short)'],
  ['a text file', Buffer.alloc(0x400, 'root:x:0:0'), '/x is not an x86 Linux kernel image (no bzImage setup header)'],
  ['an empty version', bzImageHead(''), '/x is not an x86 Linux kernel image (empty version string)'],
  [
    'a version pointer past the end',
    (() => {
      const image = bzImageHead('6.1');
      image.writeUInt16LE(0xff00, 0x20e);
      return image;
    })(),
    '/x is not an x86 Linux kernel image (no version string)',
  ],
];

for (const [name, bytes, message] of NOT_KERNELS) {
  test(`parseKernelImage refuses ${name}`, () => {
    assert.throws(() => parseKernelImage(bytes, '/x'), { message });
    if (name !== 'an empty version' && name !== 'a version pointer past the end') assert.equal(hasSetupHeader(bytes), false);
  });
}

test('parseKernelImage on the demo kernel agrees with its file name', { skip: noDemoKernel }, () => {
  const kernel = demoKernel()!;
  assert.equal(parseKernelImage(readFileSync(kernel.image), 'demo').release, kernel.release);
});
