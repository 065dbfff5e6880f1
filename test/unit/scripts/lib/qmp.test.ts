import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { listenForQmp, parseQmpStream, shutdownReason } from '../../../../scripts/lib/qmp.ts';

const GREETING = '{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}}, "capabilities": ["oob"]}}';
const SHUTDOWN = (reason: string) => `{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "SHUTDOWN", "data": {"guest": true, "reason": "${reason}"}}`;

test('parseQmpStream: greeting, events, partial lines and garbage', () => {
  assert.deepEqual(parseQmpStream(`${GREETING}\n{"return": {}}\n${SHUTDOWN('guest-reset')}\n{"eve`), {
    greeting: true,
    events: [{ event: 'SHUTDOWN', data: { guest: true, reason: 'guest-reset' } }],
    rest: '{"eve',
  });
  assert.deepEqual(parseQmpStream('not json\n\n'), { greeting: false, events: [], rest: '' });
});

test('shutdownReason: the first SHUTDOWN, or guest-panic when a panic came first', () => {
  assert.equal(shutdownReason([]), undefined);
  assert.equal(shutdownReason([{ event: 'RESUME' }, { event: 'SHUTDOWN', data: { reason: 'guest-shutdown' } }]), 'guest-shutdown');
  assert.equal(shutdownReason([{ event: 'GUEST_PANICKED' }, { event: 'SHUTDOWN', data: { reason: 'guest-reset' } }]), 'guest-panic');
  assert.equal(shutdownReason([{ event: 'SHUTDOWN' }]), undefined);
});

test('listenForQmp answers the greeting with qmp_capabilities and collects events', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'qmp-test-'));
  const listener = await listenForQmp(join(dir, 'qmp.sock'));
  try {
    const client = connect(listener.socket);
    const answer = new Promise<string>((resolve) => client.once('data', (data) => resolve(data.toString())));
    client.write(`${GREETING}\n`);
    assert.equal(await answer, '{"execute":"qmp_capabilities"}\n');
    // An event split across two writes still arrives whole.
    const event = SHUTDOWN('guest-shutdown');
    client.write(event.slice(0, 20));
    client.end(`${event.slice(20)}\n`);
    await new Promise((resolve) => client.on('close', resolve));
    assert.equal(shutdownReason(listener.events()), 'guest-shutdown');
  } finally {
    listener.close();
    await rm(dir, { recursive: true, force: true });
  }
});
