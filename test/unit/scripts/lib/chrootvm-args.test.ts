import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError, parseChrootvmArgs, type ChrootvmOptions } from '../../../../scripts/lib/chrootvm-args.ts';

const DEFAULTS: ChrootvmOptions = {
  rootfs: '/srv/root',
  command: [],
  image: undefined,
  kernelFrom: undefined,
  shares: [],
  rw: false,
  kernel: undefined,
  initrd: undefined,
  memoryMiB: 1024,
  cpus: 2,
  accel: 'auto',
  timeoutSeconds: undefined,
  env: [],
  user: undefined,
  workdir: undefined,
  hostname: undefined,
  net: 'none',
  publish: [],
  debug: false,
  help: false,
  version: false,
};

const PARSES: Array<[string[], Partial<ChrootvmOptions>]> = [
  [['/srv/root'], {}],
  [['/srv/root', 'make', '-j4'], { command: ['make', '-j4'] }],
  [['--mount', 't', '/p', '/srv/root'], { shares: [{ tag: 't', path: '/p', readonly: false }] }],
  [['--mount-ro', 't', '/p', '/srv/root'], { shares: [{ tag: 't', path: '/p', readonly: true }] }],
  [
    ['--mount', 'a', '/pa', '--rw', '--mount-ro', 'b', '/pb', '--mount', 'c', '/pc', '/srv/root'],
    {
      rw: true,
      shares: [
        { tag: 'a', path: '/pa', readonly: false },
        { tag: 'b', path: '/pb', readonly: true },
        { tag: 'c', path: '/pc', readonly: false },
      ],
    },
  ],
  // A share path that looks like an option is still the path.
  [['--mount', 't', '--rw', '/srv/root'], { shares: [{ tag: 't', path: '--rw', readonly: false }] }],
  [['--rw', '/srv/root'], { rw: true }],
  [['--debug', '/srv/root'], { debug: true }],
  [['--memory', '2G', '/srv/root'], { memoryMiB: 2048 }],
  [['--memory=512M', '/srv/root'], { memoryMiB: 512 }],
  [['--memory', '768', '/srv/root'], { memoryMiB: 768 }],
  [['--cpus', '4', '/srv/root'], { cpus: 4 }],
  [['--accel', 'tcg', '/srv/root'], { accel: 'tcg' }],
  [['--accel=kvm', '/srv/root'], { accel: 'kvm' }],
  [['--timeout', '1.5', '/srv/root'], { timeoutSeconds: 1.5 }],
  [['--timeout', '2147483', '/srv/root'], { timeoutSeconds: 2147483 }],
  [['--hostname', 'builder', '/srv/root'], { hostname: 'builder' }],
  [['-w', '/src', '/srv/root', 'make'], { workdir: '/src', command: ['make'] }],
  [['--workdir=/src', '/srv/root'], { workdir: '/src' }],
  [['-u', 'builder:kvm', '/srv/root', 'id'], { user: 'builder:kvm', command: ['id'] }],
  [['--user=1000', '/srv/root'], { user: '1000' }],
  [
    ['-e', 'A=1', '--env-file', 'vars', '--env=B', '--env-file=more', '/srv/root', '-e', 'X'],
    {
      env: [
        { kind: 'env', text: 'A=1', word: 1, offset: 0 },
        { kind: 'env-file', text: 'vars', word: 3, offset: 0 },
        { kind: 'env', text: 'B', word: 4, offset: 6 },
        { kind: 'env-file', text: 'more', word: 5, offset: 11 },
      ],
      command: ['-e', 'X'],
    },
  ],
  [['--kernel', '/boot/vmlinuz', '--initrd', '/tmp/initrd.lz4', '/srv/root'], { kernel: '/boot/vmlinuz', initrd: '/tmp/initrd.lz4' }],
  // Repeated options: the last one wins, as with getopt-style tools.
  [
    ['--kernel', '/k1', '--kernel', '/k2', '--cpus', '1', '--cpus', '3', '--accel', 'bogus', '--accel', 'tcg', '--rw', '--rw', '/srv/root'],
    { kernel: '/k2', cpus: 3, accel: 'tcg', rw: true },
  ],
  [['/srv/root', '--', 'cmd', '-x'], { command: ['cmd', '-x'] }],
  [['--', '/srv/root', 'cmd'], { command: ['cmd'] }],
  [['/srv/root', '--', '--', 'x'], { command: ['--', 'x'] }],
  // Options stop at ROOTFS: these belong to the command.
  [['/srv/root', 'cmd', '--debug'], { command: ['cmd', '--debug'] }],
  [['/srv/root', 'cmd', '--rw', '--memory', '64G'], { command: ['cmd', '--rw', '--memory', '64G'] }],
  [['--help'], { rootfs: undefined, help: true }],
  [['-h'], { rootfs: undefined, help: true }],
  [['--version'], { rootfs: undefined, version: true }],
  // With --image every operand is the command.
  [['--image', 'img.tar', 'make', 'check'], { rootfs: undefined, image: 'img.tar', command: ['make', 'check'] }],
  [['--image', 'oci-dir', '--', '-x'], { rootfs: undefined, image: 'oci-dir', command: ['-x'] }],
  [['--image', 'oci-dir'], { rootfs: undefined, image: 'oci-dir' }],
  [['--kernel-from', '/srv/kernels', '--image', 'i'], { rootfs: undefined, image: 'i', kernelFrom: '/srv/kernels' }],
  // --pull and --tls-verify as podman spells them; --tls-verify takes its value only attached.
  [['--image', 'busybox', '--pull', 'always'], { rootfs: undefined, image: 'busybox', pull: 'always' }],
  [['--pull=never', '--tls-verify=false', '--image', 'quay.io/a/b:1', 'sh'], { rootfs: undefined, image: 'quay.io/a/b:1', pull: 'never', tlsVerify: false, command: ['sh'] }],
  [['--image', 'x', '--tls-verify', 'true'], { rootfs: undefined, image: 'x', tlsVerify: true, command: ['true'] }],
  [['--tls-verify=true', '--image', 'x'], { rootfs: undefined, image: 'x', tlsVerify: true }],
  [['--image', 'i', '--entrypoint', '/bin/sh', '--', '-c', 'id'], { rootfs: undefined, image: 'i', entrypoint: ['/bin/sh'], command: ['-c', 'id'] }],
  [['--image', 'i', '--entrypoint=["/bin/sh","-c"]', 'id'], { rootfs: undefined, image: 'i', entrypoint: ['/bin/sh', '-c'], command: ['id'] }],
  [['--image', 'i', '--entrypoint', '', 'id'], { rootfs: undefined, image: 'i', entrypoint: [], command: ['id'] }],
  [['--image', 'i', '--entrypoint='], { rootfs: undefined, image: 'i', entrypoint: [] }],
  // --boot runs under an overlay unless --rw (or an overlay of the user's own) is given.
  [['--boot', '/srv/root'], { rootfs: '/srv/root', boot: {}, overlay: {} }],
  [['--boot=/lib/systemd/systemd', '/srv/root', 'systemctl', 'is-system-running'], { rootfs: '/srv/root', boot: { init: '/lib/systemd/systemd' }, overlay: {}, command: ['systemctl', 'is-system-running'] }],
  [['--boot', '--rw', '/srv/root'], { rootfs: '/srv/root', boot: {}, rw: true }],
  [['--boot', '--overlay-dir', 'keep', '/srv/root'], { rootfs: '/srv/root', boot: {}, overlay: { dir: 'keep' } }],
  [['--boot', '--image', 'i.tar'], { rootfs: undefined, image: 'i.tar', boot: {}, overlay: {} }],
  // A whole-system initrd needs no ROOTFS; chrootvm tells an operand that is no directory from a ROOTFS.
  [['--initrd', 'sys.img'], { rootfs: undefined, initrd: 'sys.img' }],
  [['--initrd', 'sys.img', 'uname', '-r'], { rootfs: 'uname', initrd: 'sys.img', command: ['-r'] }],
  [['--help', '/srv/root', 'x'], { help: true, command: ['x'] }],
  [['--net', '/srv/root'], { net: 'user' }],
  [['--net=none', '/srv/root'], { net: 'none' }],
  [['--net=user', '/srv/root', 'wget', 'x'], { net: 'user', command: ['wget', 'x'] }],
  [['-p', '8080', '/srv/root'], { net: 'user', publish: [{ text: '8080', hostIp: '127.0.0.1', hostPort: 0, guestPort: 8080, protocol: 'tcp' }] }],
  [
    ['--publish', '0.0.0.0:80:8080/tcp', '--publish=:5353:53/udp', '-p', '127.0.0.2::9', '--publish-file', 'ports.json', '/srv/root'],
    {
      net: 'user',
      publish: [
        { text: '0.0.0.0:80:8080/tcp', hostIp: '0.0.0.0', hostPort: 80, guestPort: 8080, protocol: 'tcp' },
        { text: ':5353:53/udp', hostIp: '127.0.0.1', hostPort: 5353, guestPort: 53, protocol: 'udp' },
        { text: '127.0.0.2::9', hostIp: '127.0.0.2', hostPort: 0, guestPort: 9, protocol: 'tcp' },
      ],
      publishFile: 'ports.json',
    },
  ],
  // The same port over both protocols, and the same guest port twice: both fine.
  [['-p', '53:53/udp', '-p', '53:53/tcp', '-p', '8081:80', '-p', '8082:80', '/srv/root'], {
    net: 'user',
    publish: [
      { text: '53:53/udp', hostIp: '127.0.0.1', hostPort: 53, guestPort: 53, protocol: 'udp' },
      { text: '53:53/tcp', hostIp: '127.0.0.1', hostPort: 53, guestPort: 53, protocol: 'tcp' },
      { text: '8081:80', hostIp: '127.0.0.1', hostPort: 8081, guestPort: 80, protocol: 'tcp' },
      { text: '8082:80', hostIp: '127.0.0.1', hostPort: 8082, guestPort: 80, protocol: 'tcp' },
    ],
  }],
  [['--overlay', '/srv/root'], { overlay: {} }],
  [['--overlay', '--overlay-size', '256M', '/srv/root'], { overlay: { sizeMiB: 256 } }],
  [['--overlay-dir', 'keep', '/srv/root'], { overlay: { dir: 'keep' } }],
  [['--overlay-dir=keep', '--overlay-size=2G', '/srv/root'], { overlay: { dir: 'keep', sizeMiB: 2048 } }],
  // --image --rw never writes the cached tree: it is an overlay.
  [['--image', 'i.tar', '--rw'], { rootfs: undefined, image: 'i.tar', overlay: {} }],
  [['--image', 'i.tar', '--rw', '--overlay-size', '64M'], { rootfs: undefined, image: 'i.tar', overlay: { sizeMiB: 64 } }],
];

for (const [argv, overrides] of PARSES) {
  test(`parseChrootvmArgs ${argv.join(' ')}`, () => {
    assert.deepEqual(parseChrootvmArgs(argv), { ...DEFAULTS, ...overrides });
  });
}

const ERRORS: Array<[string[], string]> = [
  [[], 'ROOTFS is missing (or give --image PATH)'],
  [['--rw'], 'ROOTFS is missing (or give --image PATH)'],
  [['--'], 'ROOTFS is missing (or give --image PATH)'],
  [['--mount', 't'], '--mount needs TAG and PATH'],
  [['--mount-ro'], '--mount-ro needs TAG and PATH'],
  [['--cpus', '0', '/srv/root'], '--cpus needs a positive integer, not "0"'],
  [['--cpus', '1.5', '/srv/root'], '--cpus needs a positive integer, not "1.5"'],
  [['--cpus', 'many', '/srv/root'], '--cpus needs a positive integer, not "many"'],
  [['--timeout', '0', '/srv/root'], '--timeout needs a positive number, not "0"'],
  [['--timeout', 'soon', '/srv/root'], '--timeout needs a positive number, not "soon"'],
  [['--timeout', '2147484', '/srv/root'], '--timeout can be at most 2147483 seconds (about 24 days), not "2147484"'],
  [['-w', 'src', '/srv/root'], '--workdir must be an absolute guest path, not "src"'],
  [['-e', '=1', '/srv/root'], '-e =1: the variable has no name'],
  [['-e'], '-e needs a value'],
  [['--env=', '/srv/root'], '--env needs a value'],
  [['--hostname', 'a_b', '/srv/root'], '--hostname must be a valid hostname (letters, digits, inner hyphens, dot-separated, at most 64), not "a_b"'],
  [['--accel', 'bogus', '/srv/root'], '--accel must be auto, kvm or tcg, not "bogus"'],
  [
    ['--memory', 'lots', '/srv/root'],
    '--memory: memory size "lots": expected a whole number of MiB with an optional M or G suffix, e.g. 512M, 1G, 1024',
  ],
  [['--memory', '64M', '/srv/root'], '--memory: memory size "64M" is 64 MiB: the VM needs at least 128M'],
  [['--overlay', '--rw', '/srv/root'], '--overlay and --rw cannot be given together: --rw writes ROOTFS itself, --overlay never does'],
  [['--overlay-dir', 'd', '--rw', '/srv/root'], '--overlay and --rw cannot be given together: --rw writes ROOTFS itself, --overlay never does'],
  [['--entrypoint', '/bin/sh', '/srv/root'], '--entrypoint applies to --image: a ROOTFS has no entrypoint'],
  [['--boot', '--image', 'i', '--entrypoint', 'x'], "--entrypoint does not apply to --boot: the system's own init runs"],
  [['--boot', '--initrd', 'sys.img'], '--boot needs ROOTFS or --image: a whole-system --initrd boots its own init= already'],
  [['--boot=sbin/init', '/srv/root'], '--boot=sbin/init: PATH must be absolute in ROOTFS'],
  [['--image', 'i', '--rw', '--overlay'], '--overlay and --rw cannot be given together: --rw writes ROOTFS itself, --overlay never does'],
  [['--overlay-size', '1G', '/srv/root'], '--overlay-size applies to --overlay, --overlay-dir or --image --rw'],
  [['--overlay', '--overlay-size', 'big', '/srv/root'], '--overlay-size "big": expected a whole number of MiB with an optional M or G suffix, e.g. 512M, 1G, 1024'],
  [['--overlay-dir=', '/srv/root'], '--overlay-dir needs a DIR'],
  [['--net=slirp', '/srv/root'], '--net=slirp: MODE must be user or none'],
  [['-p'], '-p/--publish needs a SPEC: [HOSTIP:][HOSTPORT:]GUESTPORT[/tcp|/udp]'],
  [['-p', '80/sctp', '/srv/root'], '-p 80/sctp: the protocol must be tcp or udp, not "sctp"'],
  [['-p', '0', '/srv/root'], '-p 0: GUESTPORT must be a port number from 1 to 65535, not "0"'],
  [['-p', '70000:80', '/srv/root'], '-p 70000:80: HOSTPORT must be a port number from 0 to 65535, not "70000"'],
  [['-p', 'http', '/srv/root'], '-p http: GUESTPORT must be a port number from 1 to 65535, not "http"'],
  [['-p', 'a:b:c:d', '/srv/root'], '-p a:b:c:d: expected [HOSTIP:][HOSTPORT:]GUESTPORT[/tcp|/udp] (an IPv4 HOSTIP)'],
  [['-p', 'localhost:80:80', '/srv/root'], '-p localhost:80:80: HOSTIP must be an IPv4 address, not "localhost"'],
  [['-p', '8080:80', '-p', '8080:81', '/srv/root'], '-p 8080:81: host port 8080/tcp is already published by -p 8080:80'],
  [['-p', '0.0.0.0:8080:80', '-p', '8080:81', '/srv/root'], '-p 8080:81: host port 8080/tcp is already published by -p 0.0.0.0:8080:80'],
  [['--net=none', '-p', '80', '/srv/root'], '--publish needs the network: it cannot go with --net=none'],
  [['--publish-file', 'f', '/srv/root'], '--publish-file needs at least one -p/--publish'],
  [['--pull', 'sometimes', '--image', 'x'], '--pull must be always, missing, never, not "sometimes"'],
  [['--image', 'x', '--pull'], '--pull must be always, missing, never, not ""'],
  [['--tls-verify=no', '--image', 'x'], '--tls-verify must be true or false, not "no"'],
  [['--pull', 'never', '/srv/root'], '--pull applies to --image only'],
  [['--tls-verify=false', '/srv/root'], '--tls-verify applies to --image only'],
  [['--bogus', '/srv/root'], 'unknown option --bogus'],
  [['-x', '/srv/root'], 'unknown option -x'],
  [['--mount=t', '/p', '/srv/root'], 'unknown option --mount=t'],
];

for (const [argv, message] of ERRORS) {
  test(`parseChrootvmArgs ${argv.join(' ') || '(nothing)'} fails`, () => {
    assert.throws(() => parseChrootvmArgs(argv), (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.equal(error.message, message);
      return true;
    });
  });
}
