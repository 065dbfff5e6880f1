import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeExit, start, waitForSocket } from '../../../../scripts/lib/processes.ts';

const EXITS: Array<[{ code: number | null; signal: NodeJS.Signals | null }, string]> = [
  [{ code: 0, signal: null }, 'exit status 0'],
  [{ code: 3, signal: null }, 'exit status 3'],
  [{ code: null, signal: 'SIGKILL' }, 'killed by SIGKILL'],
];

for (const [exit, text] of EXITS) {
  test(`describeExit: ${text}`, () => {
    assert.equal(describeExit(exit), text);
  });
}

test('waitForSocket: a daemon that exits first is named with its status and last words', async () => {
  const daemon = start(['sh', '-c', 'echo "bad option" >&2; exit 3'], { stdio: ['ignore', 'ignore', 'pipe'] });
  await assert.rejects(waitForSocket(daemon, '/nonexistent/socket', 'virtiofsd for "rootfs" (/srv)'), {
    message: 'virtiofsd for "rootfs" (/srv) exited before creating its socket (exit status 3): bad option',
  });
});

test('waitForSocket: a daemon that never creates its socket is named with the socket and the time waited', async () => {
  const daemon = start(['sleep', '10'], { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    await assert.rejects(waitForSocket(daemon, '/nonexistent/socket', 'the daemon', 100), {
      message: 'the daemon did not create /nonexistent/socket within 0.1 s',
    });
  } finally {
    daemon.child.kill('SIGKILL');
  }
});
