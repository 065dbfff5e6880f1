/**
 * The guest is an ordinary Linux process environment: the umask a shell would have, a working
 * loopback, and a hostname.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { chrootvm, linkedDemoCopy, requireDemoRootfs, shell, skipWithoutQemu, TEST_TMP, VM_TEST_TIMEOUT_MS } from './harness.ts';

const vm = { skip: skipWithoutQemu, timeout: VM_TEST_TIMEOUT_MS };

describe('guest environment', () => {
  test('umask 0022: what the guest creates in a share is 0644 and 0755 on the host', vm, async () => {
    const share = await mkdtemp(join(TEST_TMP, 'umask-'));
    const result = await chrootvm(['--mount', 'out', share, requireDemoRootfs(), 'sh', '-c', 'umask; touch /run/mnt/out/file; mkdir /run/mnt/out/dir']);
    assert.deepEqual({ status: result.status, stdout: result.stdout }, { status: 0, stdout: '0022\n' }, result.stderr);
    assert.equal((await stat(join(share, 'file'))).mode & 0o7777, 0o644);
    assert.equal((await stat(join(share, 'dir'))).mode & 0o7777, 0o755);
  });

  test('loopback is up: a TCP server on 127.0.0.1 answers a client, and ::1 is there', vm, async () => {
    const script = [
      'nc -l -p 4242 > /tmp/received & server=$!',
      // The server needs a moment to listen; the client retries until it is.
      'for i in $(seq 50); do echo hello | nc 127.0.0.1 4242 && break; sleep 0.1; done',
      'wait $server; cat /tmp/received',
      'grep -c "^0*1 .* lo$" /proc/net/if_inet6',
    ].join('\n');
    const result = await chrootvm([requireDemoRootfs(), 'sh', '-c', script]);
    assert.deepEqual({ status: result.status, stdout: result.stdout }, { status: 0, stdout: 'hello\n1\n' }, result.stderr);
  });

  test("hostname: --hostname, else the tree's /etc/hostname, else the tree's name, else localhost", vm, async () => {
    const demo = requireDemoRootfs();
    assert.equal((await chrootvm(['--hostname', 'builder-7', demo, 'hostname'])).stdout, 'builder-7\n');
    assert.equal((await chrootvm([demo, 'cat', '/proc/sys/kernel/hostname'])).stdout, 'virtinitrd-demo\n');
    const named = await linkedDemoCopy('ci-box', (root) => rm(join(root, 'etc/hostname')));
    assert.equal((await chrootvm([named, 'hostname'])).stdout, 'ci-box\n');
    const unnamed = await linkedDemoCopy('not_a_hostname', (root) => rm(join(root, 'etc/hostname')));
    assert.equal((await chrootvm([unnamed, 'hostname'])).stdout, 'localhost\n');
    const bad = await chrootvm(['--hostname', 'no spaces', demo, 'true']);
    assert.equal(bad.status, 125);
    assert.match(bad.stderr, /--hostname must be a valid hostname .* not "no spaces"/);
  });

  test('-e, --env KEY and --env-file add to the clean environment in order, byte for byte', vm, async () => {
    const envFile = join(await mkdtemp(join(TEST_TMP, 'env-')), 'vars');
    await writeFile(envFile, '# build settings\nFROM_FILE=yes\nA=from the file\nFROM_HOST\n');
    const script = `FROM_HOST=host-value "$CHROOTVM" -e A=1 --env-file '${envFile}' -e "B=$(printf '\\377')" -e FROM_HOST -e NOT_SET_HERE "$ROOTFS" env`;
    const result = shell(script).result;
    const { status, stdout, stderr } = await result;
    assert.equal(status, 0, stderr);
    const entries = stdout.split('\n').filter((line) => !/^(PWD|SHLVL|_)=/.test(line) && line !== '');
    assert.deepEqual(entries.sort(), ['A=from the file', 'B=\ufffd', 'FROM_FILE=yes', 'FROM_HOST=host-value', 'HOME=/', `PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`, 'TERM=linux'].sort());
    // The byte itself, not its replacement character: the guest's own hexdump of B's value.
    const bytes = await shell(`"$CHROOTVM" -e "B=$(printf '\\377')" "$ROOTFS" sh -c 'printf %s "$B" | od -An -tx1'`).result;
    assert.equal(bytes.stdout.trim(), 'ff', bytes.stderr);
  });

  test('-w DIR: the command starts there; a missing one is named, 125', vm, async () => {
    assert.deepEqual((await chrootvm(['-w', '/etc', requireDemoRootfs(), 'pwd'])).stdout, '/etc\n');
    const missing = await chrootvm(['--workdir', '/no/such/dir', requireDemoRootfs(), 'pwd']);
    assert.equal(missing.status, 125);
    assert.match(missing.stderr, /working directory \/no\/such\/dir: ENOENT/);
  });

  test('a ROOTFS and a share given as symlinks to directories are shared as those directories', vm, async () => {
    const base = await mkdtemp(join(TEST_TMP, 'symlinks-'));
    await mkdir(join(base, 'data'));
    await writeFile(join(base, 'data/file'), 'through the link\n');
    await symlink(requireDemoRootfs(), join(base, 'root-link'));
    await symlink('data', join(base, 'data-link'));
    const result = await chrootvm(['--mount-ro', 'data', join(base, 'data-link'), join(base, 'root-link'), 'cat', '/run/mnt/data/file']);
    assert.deepEqual({ status: result.status, stdout: result.stdout }, { status: 0, stdout: 'through the link\n' }, result.stderr);
  });

  test('odd values get a clear answer: a --timeout past what a timer holds, a cache directory that cannot exist', vm, async () => {
    const timeout = await chrootvm(['--timeout', '2147484', requireDemoRootfs(), 'true']);
    assert.deepEqual({ status: timeout.status, stderr: timeout.stderr.split('\n')[0] }, { status: 125, stderr: 'chrootvm: --timeout can be at most 2147483 seconds (about 24 days), not "2147484"' });
    const cache = await shell('XDG_CACHE_HOME=/proc/virtinitrd-nope "$CHROOTVM" "$ROOTFS" true').result;
    assert.deepEqual({ status: cache.status, stderr: cache.stderr }, { status: 125, stderr: 'chrootvm: building the initrd: cannot make the directory /proc/virtinitrd-nope: ENOENT\n' });
  });

  test('-u USER: the rootfs\'s user and groups, its HOME, and files it makes in a share are its own', vm, async () => {
    const root = await linkedDemoCopy('with-users', async (tree) => {
      // New files, not writes through the hard links: the demo's own stay as they are.
      await rm(join(tree, 'etc/passwd'));
      await rm(join(tree, 'etc/group'));
      await writeFile(join(tree, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nbuilder:x:1000:1000:Builder:/home/builder:/bin/sh\n');
      await writeFile(join(tree, 'etc/group'), 'root:x:0:\nbuilder:x:1000:\nkvm:x:108:builder\nusers:x:100:\n');
    });
    const share = await mkdtemp(join(TEST_TMP, 'user-share-'));
    await chmod(share, 0o777);
    // The kernel keeps supplementary groups sorted.
    const byName = await chrootvm(['-u', 'builder', '--mount', 'out', share, root, 'sh', '-c', 'id; echo "$HOME"; touch /run/mnt/out/mine']);
    assert.deepEqual(
      { status: byName.status, stdout: byName.stdout },
      { status: 0, stdout: 'uid=1000(builder) gid=1000(builder) groups=108(kvm),1000(builder)\n/home/builder\n' },
      byName.stderr,
    );
    const made = await stat(join(share, 'mine'));
    assert.deepEqual([made.uid, made.gid], [1000, 1000]);
    const byNumber = await chrootvm(['--user', '1000:100', root, 'id']);
    assert.equal(byNumber.stdout, 'uid=1000(builder) gid=100(users) groups=100(users),108(kvm)\n', byNumber.stderr);
    const unknown = await chrootvm(['-u', 'nosuch', root, 'id']);
    assert.equal(unknown.status, 125);
    assert.match(unknown.stderr, /user nosuch is not in the guest's \/etc\/passwd/);
  });
});
