import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_CODEC, parseMkvirtinitrdArgs, parseSourceDateEpoch, UsageError, type MkvirtinitrdOptions } from '../../../../scripts/lib/mkvirtinitrd-args.ts';

const defaults: MkvirtinitrdOptions = { moddir: '', modules: [], mapRootUser: false, inject: [], compress: 'lz4', list: false, strict: false, help: false, version: false };

const accepted: Array<{ argv: string[]; want: Partial<MkvirtinitrdOptions> }> = [
  { argv: ['/lib/modules/6.1', 'out.cpio'], want: { moddir: '/lib/modules/6.1', output: 'out.cpio' } },
  { argv: ['build/init', '/lib/modules/6.1', 'out.cpio'], want: { init: 'build/init', moddir: '/lib/modules/6.1', output: 'out.cpio' } },
  // osbuild/initrd's two spellings, exactly as its callers write them.
  { argv: ['--module=virtio_blk', 'BINARY', 'MODDIR', 'OUTPUT'], want: { init: 'BINARY', moddir: 'MODDIR', output: 'OUTPUT', modules: ['virtio_blk'] } },
  { argv: ['--module', 'virtio_blk', 'BINARY', 'MODDIR', 'OUTPUT'], want: { init: 'BINARY', moddir: 'MODDIR', output: 'OUTPUT', modules: ['virtio_blk'] } },
  {
    argv: ['--module', 'virtio-net', '--module=virtio_blk', '--module', 'virtio_net', 'MODDIR', 'OUTPUT'],
    want: { moddir: 'MODDIR', output: 'OUTPUT', modules: ['virtio-net', 'virtio_blk', 'virtio_net'] },
  },
  { argv: ['--list', 'MODDIR'], want: { moddir: 'MODDIR', list: true } },
  // Adding --list to a command line that builds keeps the operands' meaning.
  { argv: ['--list', 'MODDIR', 'OUTPUT'], want: { moddir: 'MODDIR', output: 'OUTPUT', list: true } },
  { argv: ['--list', 'INIT', 'MODDIR', 'OUTPUT'], want: { init: 'INIT', moddir: 'MODDIR', output: 'OUTPUT', list: true } },
  { argv: ['--compress', 'xz', 'M', 'O'], want: { moddir: 'M', output: 'O', compress: 'xz' } },
  { argv: ['--compress=none', 'M', 'O'], want: { moddir: 'M', output: 'O', compress: 'none' } },
  { argv: ['M', 'O', '--compress', 'gzip', '--strict'], want: { moddir: 'M', output: 'O', compress: 'gzip', strict: true } },
  { argv: ['--compress', 'zstd', '--list', '--strict', 'M'], want: { moddir: 'M', compress: 'zstd', list: true, strict: true } },
  // Operands stay strings: a module directory called 6 is not the number 6.
  { argv: ['6', '007'], want: { moddir: '6', output: '007' } },
  { argv: ['--', '-init', 'M', 'O'], want: { init: '-init', moddir: 'M', output: 'O' } },
  { argv: ['-h'], want: { help: true } },
  { argv: ['--version'], want: { version: true } },
  { argv: ['--help', 'too', 'many', 'operands', 'here'], want: { help: true } },
  { argv: ['--rootfs', '/srv/sys', 'M', 'O'], want: { moddir: 'M', output: 'O', system: { kind: 'rootfs', path: '/srv/sys' } } },
  { argv: ['--rootfs', 'mine', '--map-root-user', 'M', 'O'], want: { moddir: 'M', output: 'O', system: { kind: 'rootfs', path: 'mine' }, mapRootUser: true } },
  { argv: ['--image=alpine.tar.gz', 'M', 'O'], want: { moddir: 'M', output: 'O', system: { kind: 'image', path: 'alpine.tar.gz' } } },
  {
    argv: ['--image', 'busybox:1.36', '--pull', 'always', '--tls-verify=false', 'M', 'O'],
    want: { moddir: 'M', output: 'O', system: { kind: 'image', path: 'busybox:1.36' }, pull: 'always', tlsVerify: false },
  },
  { argv: ['--image', 'b', '--pull=never', '--tls-verify', 'M', 'O'], want: { moddir: 'M', output: 'O', system: { kind: 'image', path: 'b' }, pull: 'never', tlsVerify: true } },
  {
    argv: ['--image', 'i', '--entrypoint', '["/bin/sh","-c"]', '--inject', 'agent:/usr/bin/agent', '--inject=/a:b/c:/etc//c.conf', 'M', 'O'],
    want: {
      moddir: 'M',
      output: 'O',
      system: { kind: 'image', path: 'i' },
      entrypoint: ['/bin/sh', '-c'],
      inject: [{ hostPath: 'agent', guestPath: '/usr/bin/agent' }, { hostPath: '/a:b/c', guestPath: '/etc/c.conf' }],
    },
  },
  { argv: ['--image', 'i', '--entrypoint=', 'M', 'O'], want: { moddir: 'M', output: 'O', system: { kind: 'image', path: 'i' }, entrypoint: [] } },
  { argv: ['--rootfs', 'r', '--inject', 'x:/x', 'M', 'O'], want: { moddir: 'M', output: 'O', system: { kind: 'rootfs', path: 'r' }, inject: [{ hostPath: 'x', guestPath: '/x' }] } },
];

for (const { argv, want } of accepted) {
  test(`accepts ${JSON.stringify(argv)}`, () => {
    assert.deepEqual(parseMkvirtinitrdArgs(argv), { ...defaults, ...want });
  });
}

const rejected: Array<{ argv: string[]; message: string }> = [
  { argv: ['--bogus', 'M', 'O'], message: 'unknown option --bogus' },
  { argv: ['-x', 'M', 'O'], message: 'unknown option -x' },
  { argv: ['--compress', 'bz2', 'M', 'O'], message: '--compress must be one of none, gzip, zstd, lz4, xz, not "bz2"' },
  { argv: ['--compress', 'xz', '--compress', 'gzip', 'M', 'O'], message: '--compress given more than once' },
  { argv: ['M', 'O', '--module'], message: '--module needs a NAME' },
  { argv: ['--module', '--list', 'M'], message: '--module needs a NAME' },
  { argv: [], message: 'MODDIR and OUTPUT are missing' },
  { argv: ['M'], message: 'MODDIR and OUTPUT are needed (only MODDIR was given)' },
  { argv: ['--list'], message: 'MODDIR is missing' },
  { argv: ['I', 'M', 'O', 'X'], message: 'too many operands (4): expected [INIT] MODDIR OUTPUT' },
  { argv: ['--list', 'I', 'M', 'O', 'X'], message: 'too many operands (4): expected [INIT] MODDIR OUTPUT' },
  { argv: ['--rootfs', 'a', '--image', 'b', 'M', 'O'], message: '--rootfs and --image cannot be given together' },
  { argv: ['--rootfs', 'a', '--rootfs', 'b', 'M', 'O'], message: '--rootfs given more than once' },
  { argv: ['M', 'O', '--image'], message: '--image needs a PATH' },
  { argv: ['--map-root-user', 'M', 'O'], message: '--map-root-user applies to --rootfs DIR only' },
  { argv: ['--image', 'i.tar', '--map-root-user', 'M', 'O'], message: '--map-root-user applies to --rootfs DIR only' },
  { argv: ['--pull', 'always', '--rootfs', 'd', 'M', 'O'], message: '--pull applies to --image only' },
  { argv: ['--image', 'x', '--pull', 'often', 'M', 'O'], message: '--pull must be always, missing, never, not "often"' },
  { argv: ['--image', 'x', '--tls-verify=maybe', 'M', 'O'], message: '--tls-verify must be true or false, not "maybe"' },
  { argv: ['--image', 'x', '--pull', 'never', '--pull', 'always', 'M', 'O'], message: '--pull given more than once' },
  { argv: ['--rootfs', 'r', '--entrypoint', 'p', 'M', 'O'], message: '--entrypoint applies to --image PATH only' },
  { argv: ['--inject', 'a:/b', 'M', 'O'], message: '--inject applies to --rootfs or --image' },
  { argv: ['--image', 'i', '--inject', 'a:b', 'M', 'O'], message: '--inject a:b: expected HOSTPATH:GUESTPATH, GUESTPATH absolute' },
  { argv: ['--image', 'i', '--inject', ':/b', 'M', 'O'], message: '--inject :/b: expected HOSTPATH:GUESTPATH, GUESTPATH absolute' },
  { argv: ['--image', 'i', '--inject', 'a:/', 'M', 'O'], message: '--inject a:/: GUESTPATH must name a file, not /' },
];

for (const { argv, message } of rejected) {
  test(`rejects ${JSON.stringify(argv)}`, () => {
    assert.throws(() => parseMkvirtinitrdArgs(argv), (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.equal(error.message, message);
      return true;
    });
  });
}

test('the default codec is lz4', () => {
  assert.equal(DEFAULT_CODEC, 'lz4');
});

const epochs: Array<{ value: string | undefined; want: number }> = [
  { value: undefined, want: 0 },
  { value: '', want: 0 },
  { value: '0', want: 0 },
  { value: '1700000000', want: 1700000000 },
  { value: '4294967295', want: 4294967295 },
];

for (const { value, want } of epochs) {
  test(`SOURCE_DATE_EPOCH=${JSON.stringify(value)} is ${want}`, () => {
    assert.equal(parseSourceDateEpoch(value), want);
  });
}

for (const value of ['4294967296', '-1', '1.5', ' 1', '1e3', '0x10', 'now']) {
  test(`SOURCE_DATE_EPOCH=${JSON.stringify(value)} is refused`, () => {
    assert.throws(() => parseSourceDateEpoch(value), {
      name: 'UsageError',
      message: `SOURCE_DATE_EPOCH must be a whole number of seconds from 0 to 4294967295, not "${value}"`,
    });
  });
}
