/**
 * The guest is an ordinary Linux process environment: the umask a shell would have, a working
 * loopback, and a hostname.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { chrootvm, linkedDemoCopy, requireDemoRootfs, skipWithoutQemu, TEST_TMP, VM_TEST_TIMEOUT_MS } from './harness.ts';

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
});
