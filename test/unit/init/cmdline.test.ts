import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CmdlineError,
  BOOT_PARAMETER,
  RUN_PARAMETER,
  formatBootParameters,
  parseCmdline,
  splitCmdline,
  type BootConfig,
} from '../../../init/cmdline.ts';

// Expected words are what the kernel's next_arg() (lib/cmdline.c) leaves in param/val, rejoined as
// "param=val" the way the kernel hands them to init (repair_env_string).
const SPLITS: Array<[string, string, string[]]> = [
  ['empty input', '', []],
  ['only whitespace', ' \t\n', []],
  ['plain words', 'ro quiet debug', ['ro', 'quiet', 'debug']],
  ['key=value', 'root=rootfs console=ttyS0', ['root=rootfs', 'console=ttyS0']],
  ['quoted value: quotes removed', 'init="/my init" rw', ['init=/my init', 'rw']],
  ['quoted whole word: quotes removed', '"init=/my init" rw', ['init=/my init', 'rw']],
  ['quoted plain word', '"a b" c', ['a b', 'c']],
  ['multiple spaces', 'a   b    c', ['a', 'b', 'c']],
  ['leading and trailing spaces', '   a b   ', ['a', 'b']],
  ['tabs separate', 'a\tb\t\tc', ['a', 'b', 'c']],
  ['/proc/cmdline ends with a newline', 'rootfs=r rw\n', ['rootfs=r', 'rw']],
  // isspace() in the kernel's ctype table: \t \n \v \f \r and ' '.
  ['vertical tab, form feed and carriage return separate', 'a\vb\fc\rd', ['a', 'b', 'c', 'd']],
  ['whitespace inside quotes kept', 'k="a\tb\nc" d', ['k=a\tb\nc', 'd']],
  ['inner quotes kept', 'a"b c"d e', ['a"b c"d', 'e']],
  ['quote after a non-quoted value start kept', 'k=a"b c" d', ['k=a"b c"', 'd']],
  ['value quote removed, a later quote reopens', 'k="a"b" c', ['k=a"b" c']],
  ['value quote and the last quote removed', 'k="a"b"" c', ['k=a"b"', 'c']],
  ['only the value quotes are removed', 'k="v" x', ['k=v', 'x']],
  ['empty quoted value', 'k="" x', ['k=', 'x']],
  ['lone opening quote on a value', 'k=" x', ['k= x']],
  ['unterminated quote runs to the end, newline included', 'k="a b\n', ['k=a b\n']],
  ['empty quoted word', '"" x', ['', 'x']],
  ['lone quote', '"', ['']],
  ['quoted word then value quote', '"k="a b', ['k=a', 'b']],
  ['quoted word ends in an inner quote pair', '"abc"def"', ['abc"def']],
  ['second = is part of the value', 'k=a=b', ['k=a=b']],
  // next_arg() records `equals` only when it is non-zero: a leading "=" does not start a value.
  ['leading = does not start a value', '="a b" c', ['="a b"', 'c']],
  ['quoted -- is a separator word', 'a "--" b', ['a', '--', 'b']],
];

for (const [name, input, expected] of SPLITS) {
  test(`splitCmdline: ${name}`, () => {
    assert.deepEqual(splitCmdline(input), expected);
  });
}

const DEFAULTS: BootConfig = {
  rootfs: 'rootfs',
  rootfsNamed: false,
  rw: false,
  run: false,
  shares: [],
  initArgs: [],
  debug: false,
};

const PARSES: Array<[string, string, Partial<BootConfig>]> = [
  ['empty command line gives the defaults', '', {}],
  ['a typical qemu line with unknown keys ignored', 'console=ttyS0 quiet selinux=1 root=rootfs rootfstype=virtiofs\n', { rootfsNamed: true }],
  ['rootfs tag', 'rootfs=myroot', { rootfs: 'myroot', rootfsNamed: true }],
  ['rootfs= naming the default tag still names it', 'rootfs=rootfs', { rootfsNamed: true }],
  [
    "osbuild's command line: root= names the virtiofs tag",
    'console=ttyS0 quiet selinux=1 enforcing=0 rootfstype=virtiofs root=osroot ro mount=mnt0 init=/run/mnt/mnt0/osbuild/vm.py',
    { rootfs: 'osroot', rootfsNamed: true, shares: [{ tag: 'mnt0', readonly: false }], init: '/run/mnt/mnt0/osbuild/vm.py' },
  ],
  ['root= without rootfstype=virtiofs is not a tag', 'root=/dev/vda1', {}],
  ['rootfs= wins over root=', 'root=a rootfstype=virtiofs rootfs=b', { rootfs: 'b', rootfsNamed: true }],
  ['rw', 'rw', { rw: true }],
  ['rw then ro: last wins', 'rw ro', { rw: false }],
  ['ro then rw: last wins', 'ro rw', { rw: true }],
  ['debug', 'debug', { debug: true }],
  ['init with a quoted path', 'init="/opt/my init"', { init: '/opt/my init' }],
  [
    'repeated mount= and mount-ro= in order',
    'mount=a mount-ro=b mount=c',
    {
      shares: [
        { tag: 'a', readonly: false },
        { tag: 'b', readonly: true },
        { tag: 'c', readonly: false },
      ],
    },
  ],
  ['tag of exactly 36 bytes', `mount=${'t'.repeat(36)}`, { shares: [{ tag: 't'.repeat(36), readonly: false }] }],
  ['args after --', 'rw -- -c "echo hi"', { rw: true, initArgs: ['-c', 'echo hi'] }],
  [
    'parameters after -- belong to init',
    'debug -- rw mount=x init=/nope rootfs= --',
    { debug: true, initArgs: ['rw', 'mount=x', 'init=/nope', 'rootfs=', '--'] },
  ],
  ['-- at the end: no args', 'rw --', { rw: true }],
  ['share timeout in whole seconds', 'virtinitrd.share_timeout=3', { shareTimeoutSeconds: 3 }],
  ['share timeout with a fraction', 'virtinitrd.share_timeout=0.5', { shareTimeoutSeconds: 0.5 }],
  ['hostname', 'virtinitrd.hostname=build-01.example', { hostname: 'build-01.example' }],
  ['overlay on a tmpfs of tmpfs\'s default size', 'virtinitrd.overlay=tmpfs', { overlay: { upper: 'tmpfs' } }],
  ['overlay on a tmpfs of 512 MiB', 'virtinitrd.overlay=tmpfs:512m', { overlay: { upper: 'tmpfs', size: '512m' } }],
  ['overlay on a tmpfs of a share of memory', 'virtinitrd.overlay=tmpfs:25%', { overlay: { upper: 'tmpfs', size: '25%' } }],
  ['overlay on a virtio disk', 'virtinitrd.overlay=disk:virtinitrd-upper', { overlay: { upper: 'disk', serial: 'virtinitrd-upper' } }],
  ['network', 'virtinitrd.net=10.0.2.15/24,10.0.2.2,10.0.2.3,1500', { net: { address: '10.0.2.15', prefix: 24, gateway: '10.0.2.2', dns: '10.0.2.3', mtu: 1500 } }],
];

for (const [name, input, overrides] of PARSES) {
  test(`parseCmdline: ${name}`, () => {
    assert.deepEqual(parseCmdline(input), { ...DEFAULTS, ...overrides });
  });
}

test('parseCmdline: virtinitrd.run asks for run mode', () => {
  assert.deepEqual(parseCmdline(`console=ttyS0 ${RUN_PARAMETER} rw`), { ...DEFAULTS, rw: true, run: true });
});

test("parseCmdline: virtinitrd.boot has the system's init run the command", () => {
  assert.deepEqual(parseCmdline(`${RUN_PARAMETER} ${BOOT_PARAMETER} init=/sbin/init`), { ...DEFAULTS, run: true, boot: true, init: '/sbin/init' });
  assert.throws(() => parseCmdline(`${BOOT_PARAMETER}=1`), { message: "kernel command line: virtinitrd.boot takes no value (init= names the system's init)" });
});

const PARSE_ERRORS: Array<[string, string, string]> = [
  ['mount= twice with one tag', 'mount=a mount=a', 'kernel command line: mount=a: tag "a" is already mounted'],
  ['mount-ro= after mount= with one tag', 'mount=a mount-ro=a', 'kernel command line: mount-ro=a: tag "a" is already mounted'],
  ['empty mount=', 'mount=', 'kernel command line: mount=: a tag cannot be empty'],
  ['mount without =', 'mount', 'kernel command line: mount=: a tag cannot be empty'],
  ['empty mount-ro=', 'mount-ro=', 'kernel command line: mount-ro=: a tag cannot be empty'],
  ['empty rootfs=', 'rootfs=', 'kernel command line: rootfs=: a tag cannot be empty'],
  ['empty init=', 'init=', 'kernel command line: init= needs a path'],
  ['empty quoted init=', 'init=""', 'kernel command line: init= needs a path'],
  [
    'tag of 37 bytes',
    `mount=${'t'.repeat(37)}`,
    `kernel command line: mount=${'t'.repeat(37)}: a virtiofs tag is at most 36 bytes`,
  ],
  [
    'tag of 19 two-byte characters (38 bytes)',
    `rootfs=${'é'.repeat(19)}`,
    `kernel command line: rootfs=${'é'.repeat(19)}: a virtiofs tag is at most 36 bytes`,
  ],
  ['tag with /', 'mount=a/b', 'kernel command line: mount=a/b: a tag cannot contain "/", quotes or whitespace, or be "." or ".."'],
  ['tag .', 'mount-ro=.', 'kernel command line: mount-ro=.: a tag cannot contain "/", quotes or whitespace, or be "." or ".."'],
  ['tag ..', 'rootfs=..', 'kernel command line: rootfs=..: a tag cannot contain "/", quotes or whitespace, or be "." or ".."'],
  ['rootfs tag also a mount', 'mount=r rootfs=r', 'kernel command line: tag "r" is both the rootfs and a mount'],
  ['default rootfs tag also a mount', 'mount-ro=rootfs', 'kernel command line: tag "rootfs" is both the rootfs and a mount'],
  ['share timeout empty', 'virtinitrd.share_timeout=', 'kernel command line: virtinitrd.share_timeout=: expected a number of seconds greater than 0'],
  ['share timeout zero', 'virtinitrd.share_timeout=0', 'kernel command line: virtinitrd.share_timeout=0: expected a number of seconds greater than 0'],
  ['share timeout negative', 'virtinitrd.share_timeout=-1', 'kernel command line: virtinitrd.share_timeout=-1: expected a number of seconds greater than 0'],
  ['share timeout with a unit', 'virtinitrd.share_timeout=5s', 'kernel command line: virtinitrd.share_timeout=5s: expected a number of seconds greater than 0'],
  ['hostname empty', 'virtinitrd.hostname=', 'kernel command line: virtinitrd.hostname= must be a valid host name, not ""'],
  ['hostname with an underscore', 'virtinitrd.hostname=a_b', 'kernel command line: virtinitrd.hostname= must be a valid host name, not "a_b"'],
  ['share timeout in hex', 'virtinitrd.share_timeout=0x10', 'kernel command line: virtinitrd.share_timeout=0x10: expected a number of seconds greater than 0'],
  ...['', 'tmpfs:', 'tmpfs:0', 'tmpfs:1t', 'tmpfs:1:2', 'disk:', 'disk:a/b', `disk:${'s'.repeat(21)}`, 'nfs'].map((value): [string, string, string] => [
    `overlay=${value}`,
    `virtinitrd.overlay=${value}`,
    `kernel command line: virtinitrd.overlay=${value}: expected tmpfs, tmpfs:SIZE (as tmpfs's size=, e.g. 512m or 50%) or disk:SERIAL (a virtio disk's serial, at most 20 characters)`,
  ]),
  ...['', '10.0.2.15', '10.0.2.15/24,10.0.2.2,10.0.2.3', '10.0.2.256/24,10.0.2.2,10.0.2.3,1500', '10.0.2.15/33,10.0.2.2,10.0.2.3,1500',
    '10.0.2.15/24,10.0.2.2,10.0.2.3,67', '10.0.2.15/24,gw,10.0.2.3,1500', '10.0.2.15/24,10.0.2.2,10.0.2.3,1500,x'].map((value): [string, string, string] => [
    `net=${value}`,
    `virtinitrd.net=${value}`,
    `kernel command line: virtinitrd.net=${value}: expected ADDRESS/PREFIX,GATEWAY,DNS,MTU (IPv4, e.g. 10.0.2.15/24,10.0.2.2,10.0.2.3,1500)`,
  ]),
  ['overlay with rw', 'rw virtinitrd.overlay=tmpfs', 'kernel command line: rw and virtinitrd.overlay cannot be given together: the overlay is the writable root'],
  ['run with a value (the old form)', `${RUN_PARAMETER}=eyJhcmd2Ijpb`, `kernel command line: ${RUN_PARAMETER} takes no value (the command comes over the control port)`],
];

for (const [name, input, message] of PARSE_ERRORS) {
  test(`parseCmdline error: ${name}`, () => {
    assert.throws(() => parseCmdline(input), { name: 'CmdlineError', message });
  });
}

const CONFIGS: Array<[string, BootConfig]> = [
  ['defaults', DEFAULTS],
  [
    'everything set',
    {
      rootfs: 'root',
      rootfsNamed: true,
      rw: true,
      shares: [
        { tag: 'src', readonly: false },
        { tag: 'cache', readonly: true },
        { tag: 'out', readonly: false },
      ],
      init: '/sbin/init',
      initArgs: ['--log-level=debug', 'single'],
      debug: true,
      run: true,
    },
  ],
  ['init path with spaces', { ...DEFAULTS, init: '/opt/my init/run me' }],
  ['init args with spaces, tabs and newlines', { ...DEFAULTS, initArgs: ['-c', 'echo a  b', 'x\ty', 'l1\nl2'] }],
  ['init args that look like parameters', { ...DEFAULTS, initArgs: ['rw', 'mount=x', 'rootfs=', '--', 'init=a b'] }],
  ['empty init argument', { ...DEFAULTS, initArgs: ['a', '', 'b'] }],
  ['the default tag named explicitly', { ...DEFAULTS, rootfsNamed: true }],
  ['share timeout', { ...DEFAULTS, shareTimeoutSeconds: 2.5 }],
  ['overlay on a sized tmpfs', { ...DEFAULTS, overlay: { upper: 'tmpfs', size: '64m' } }],
  ['overlay on a disk', { ...DEFAULTS, overlay: { upper: 'disk', serial: 'upper' } }],
  ['boot', { ...DEFAULTS, run: true, boot: true, init: '/sbin/init' }],
  ['network', { ...DEFAULTS, net: { address: '192.168.7.2', prefix: 30, gateway: '192.168.7.1', dns: '192.168.7.1', mtu: 65520 } }],
];

for (const [name, config] of CONFIGS) {
  test(`formatBootParameters round trip: ${name}`, () => {
    assert.deepEqual(parseCmdline(formatBootParameters(config).join(' ')), config);
  });
}

test('formatBootParameters: exact words', () => {
  assert.deepEqual(
    formatBootParameters({
      rootfs: 'root',
      rootfsNamed: true,
      rw: true,
      shares: [
        { tag: 'a', readonly: true },
        { tag: 'b', readonly: false },
      ],
      init: '/my init',
      initArgs: ['x y', 'z'],
      debug: true,
      run: true,
    }),
    ['rootfs=root', 'rw', 'mount-ro=a', 'mount=b', 'init="/my init"', 'debug', 'virtinitrd.run', '--', '"x y"', 'z'],
  );
});

const FORMAT_ERRORS: Array<[string, BootConfig, string]> = [
  ['quote in init', { ...DEFAULTS, init: '/bin/"sh"' }, 'kernel command line: init cannot contain a double quote: /bin/"sh"'],
  [
    'quote in an init argument',
    { ...DEFAULTS, initArgs: ['say "hi"'] },
    'kernel command line: init argument cannot contain a double quote: say "hi"',
  ],
  [
    'quote in a tag',
    { ...DEFAULTS, shares: [{ tag: 'a"b', readonly: false }] },
    'kernel command line: mount=a"b: a tag cannot contain "/", quotes or whitespace, or be "." or ".."',
  ],
  [
    'space in the rootfs tag',
    { ...DEFAULTS, rootfs: 'a b', rootfsNamed: true },
    'kernel command line: rootfs=a b: a tag cannot contain "/", quotes or whitespace, or be "." or ".."',
  ],
];

for (const [name, config, message] of FORMAT_ERRORS) {
  test(`formatBootParameters error: ${name}`, () => {
    assert.throws(() => formatBootParameters(config), (error: unknown) => {
      assert.ok(error instanceof CmdlineError);
      assert.equal(error.message, message);
      return true;
    });
  });
}
