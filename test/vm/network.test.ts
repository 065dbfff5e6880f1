/**
 * --net and -p/--publish: a server in the guest reached from the host, the host's loopback reached
 * from the guest at the gateway, DNS and hosts files provided without writing the root. Traffic
 * stays on this machine: loopback and qemu's own user-mode network.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { assertNothingLeft, chrootvm, fetchWhenUp, leftovers, linkedDemoCopy, requireDemoRootfs, skipWithoutQemu, startChrootvm, TEST_TMP, VM_TEST_TIMEOUT_MS } from './harness.ts';

const vm = { skip: skipWithoutQemu, timeout: VM_TEST_TIMEOUT_MS };
/** The tree `make debian-rootfs` builds: its perl (perl-base) is the UDP server busybox lacks. */
const DEBIAN_ROOTFS = join(import.meta.dirname, '../../.cache/debian/bookworm');

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

function publishedPort(file: string, guestPort: number): number {
  const ports = JSON.parse(readFileSync(file, 'utf8')) as { protocol: string; hostIp: string; hostPort: number; guestPort: number }[];
  return ports.find((port) => port.guestPort === guestPort)!.hostPort;
}

async function waitForFile(path: string): Promise<void> {
  while (!existsSync(path)) await sleep(50);
}

function listen(server: Server | ReturnType<typeof createTcpServer>): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

describe('--net and --publish', vm, () => {
  test('a guest httpd published on a port chrootvm chose: the host fetches a file byte for byte', async () => {
    const www = join(TEST_TMP, 'www');
    mkdirSync(www);
    const data = randomBytes(3 * 1024 * 1024);
    writeFileSync(join(www, 'data.bin'), data);
    const portsFile = join(TEST_TMP, 'httpd-ports.json');
    const before = leftovers();
    // The command serves until the test closes its stdin.
    const running = startChrootvm(
      ['-p', '8080', '--publish-file', portsFile, '--mount-ro', 'www', www, requireDemoRootfs(), 'sh', '-c', 'httpd -f -p 8080 -h /run/mnt/www & read line; kill $!'],
      { stdin: 'pipe' },
    );
    await waitForFile(portsFile);
    const port = publishedPort(portsFile, 8080);
    await running.waitFor(`published on 127.0.0.1:${port}`);
    const fetched = await fetchWhenUp(port, '/data.bin');
    running.child.stdin!.end('done\n');
    const result = await running.result;
    assert.equal(result.status, 0, result.stderr);
    assert.equal(fetched.length, data.length);
    assert.equal(sha256(fetched), sha256(data));
    assertNothingLeft(before);
  });

  test('the guest reaches a server on the host\'s loopback at the gateway 10.0.2.2, and resolv.conf and hosts are there', async () => {
    const data = randomBytes(1024 * 1024);
    const server = createServer((_request, response) => response.end(data));
    const port = await listen(server);
    try {
      const script = `wget -q -O - http://10.0.2.2:${port}/ | sha256sum | cut -d' ' -f1; cat /etc/resolv.conf; tail -n 1 /etc/hosts`;
      const result = await chrootvm(['--net', '--hostname', 'netbox', requireDemoRootfs(), 'sh', '-c', script]);
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stdout, `${sha256(data)}\nnameserver 10.0.2.3\n10.0.2.15\tnetbox\n`);
    } finally {
      server.close();
    }
  });

  test('without --net the guest has no interface but lo', async () => {
    const result = await chrootvm([requireDemoRootfs(), 'ls', '/sys/class/net']);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, 'lo\n');
  });

  test('resolv.conf and hosts over a read-only root\'s own files, or into /run for a symlink there, never written to the tree', async () => {
    const withFiles = await linkedDemoCopy('net-etc-files', async (root) => {
      writeFileSync(join(root, 'etc/resolv.conf'), 'nameserver 192.0.2.1\n');
      writeFileSync(join(root, 'etc/hosts'), '127.0.0.1 localhost\n');
    });
    const withStub = await linkedDemoCopy('net-etc-stub', async (root) => {
      symlinkSync('../run/systemd/resolve/stub-resolv.conf', join(root, 'etc/resolv.conf'));
    });
    const script = 'cat /etc/resolv.conf; cat /etc/hosts; grep -c " /etc " /proc/mounts || true';
    const files = await chrootvm(['--net', '--hostname', 'files', withFiles, 'sh', '-c', script]);
    assert.equal(files.status, 0, files.stderr);
    assert.equal(files.stdout, 'nameserver 10.0.2.3\n127.0.0.1 localhost\n10.0.2.15\tfiles\n0\n');
    assert.equal(readFileSync(join(withFiles, 'etc/resolv.conf'), 'utf8'), 'nameserver 192.0.2.1\n');
    assert.equal(readFileSync(join(withFiles, 'etc/hosts'), 'utf8'), '127.0.0.1 localhost\n');
    const stub = await chrootvm(['--net', '--hostname', 'stub', withStub, 'sh', '-c', `readlink /etc/resolv.conf; ${script}`]);
    assert.equal(stub.status, 0, stub.stderr);
    assert.equal(stub.stdout, '../run/systemd/resolve/stub-resolv.conf\nnameserver 10.0.2.3\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.0.2.15\tstub\n1\n');
    assert.equal(readlinkSync(join(withStub, 'etc/resolv.conf')), '../run/systemd/resolve/stub-resolv.conf');
    assert.equal(existsSync(join(withStub, 'etc/hosts')), false);
    assert.deepEqual(readdirSync(join(withStub, 'run')), []);
  });

  test('a UDP port published to a guest server: a datagram there and its answer back', async () => {
    assert.ok(existsSync(join(DEBIAN_ROOTFS, 'usr/bin/perl')), `${DEBIAN_ROOTFS} is missing: make debian-rootfs`);
    const portsFile = join(TEST_TMP, 'udp-ports.json');
    const server = 'use IO::Socket::INET; my $s = IO::Socket::INET->new(LocalPort => 9999, Proto => "udp") or die "$!"; print "listening\\n"; STDOUT->flush; '
      + 'while (1) { my $peer = $s->recv(my $m, 1000); $s->send("pong:$m", 0, $peer); last if $m eq "last"; }';
    const running = startChrootvm(['-p', '9999/udp', '--publish-file', portsFile, '--kernel-from', requireDemoRootfs(), DEBIAN_ROOTFS, 'perl', '-e', server]);
    await running.waitFor('listening');
    const port = publishedPort(portsFile, 9999);
    const socket = createSocket('udp4');
    try {
      // A datagram the guest is not ready for is lost: ask until one comes back.
      const answer = await new Promise<string>((resolve) => {
        socket.on('message', (message) => resolve(message.toString()));
        const ask = () => socket.send('ping', port, '127.0.0.1');
        ask();
        const timer = setInterval(ask, 500);
        socket.once('message', () => clearInterval(timer));
      });
      assert.equal(answer, 'pong:ping');
      socket.send('last', port, '127.0.0.1');
    } finally {
      const result = await running.result;
      socket.close();
      assert.equal(result.status, 0, result.stderr);
    }
  });

  test('a host port in use: 125 naming it, before anything boots', async () => {
    const taken = createTcpServer();
    const port = await listen(taken);
    try {
      const before = leftovers();
      const result = await chrootvm(['-p', `${port}:80`, requireDemoRootfs(), 'true']);
      assert.equal(result.status, 125);
      assert.equal(result.stderr, `chrootvm: -p ${port}:80: host port 127.0.0.1:${port}/tcp is in use\n`);
      assertNothingLeft(before);
    } finally {
      taken.close();
    }
  });
});
