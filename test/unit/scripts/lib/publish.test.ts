import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { choosePorts, hostForward, publishFileText, type PublishSpec } from '../../../../scripts/lib/publish.ts';

const spec = (overrides: Partial<PublishSpec>): PublishSpec => ({ text: '8080', hostIp: '127.0.0.1', hostPort: 0, guestPort: 8080, protocol: 'tcp', ...overrides });

test('choosePorts: a 0 host port chosen by the kernel, a given free one kept; hostForward and the publish file', async () => {
  const [chosen, udp] = await choosePorts([spec({}), spec({ text: '53/udp', guestPort: 53, protocol: 'udp' })]);
  assert.ok(chosen!.boundPort > 0);
  const [given] = await choosePorts([spec({ text: `${chosen!.boundPort}:80`, hostPort: chosen!.boundPort, guestPort: 80 })]);
  assert.equal(given!.boundPort, chosen!.boundPort);
  assert.equal(hostForward(given!), `tcp:127.0.0.1:${chosen!.boundPort}-:80`);
  assert.equal(hostForward(udp!), `udp:127.0.0.1:${udp!.boundPort}-:53`);
  assert.deepEqual(JSON.parse(publishFileText([given!, udp!])), [
    { protocol: 'tcp', hostIp: '127.0.0.1', hostPort: chosen!.boundPort, guestPort: 80 },
    { protocol: 'udp', hostIp: '127.0.0.1', hostPort: udp!.boundPort, guestPort: 53 },
  ]);
});

test('choosePorts: a port in use, and an address this host does not have, named', async () => {
  const taken = createServer();
  const port = await new Promise<number>((resolve) => taken.listen(0, '127.0.0.1', () => resolve((taken.address() as { port: number }).port)));
  try {
    await assert.rejects(choosePorts([spec({ text: `${port}:80`, hostPort: port, guestPort: 80 })]), { message: `-p ${port}:80: host port 127.0.0.1:${port}/tcp is in use` });
  } finally {
    taken.close();
  }
  await assert.rejects(choosePorts([spec({ text: '192.0.2.1::80', hostIp: '192.0.2.1', guestPort: 80 })]), { message: '-p 192.0.2.1::80: 192.0.2.1 is not an address of this host' });
});
