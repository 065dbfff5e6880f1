import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cleanup } from '../../../../scripts/lib/cleanup.ts';

test('Cleanup: runs actions newest first', async () => {
  const done: string[] = [];
  const cleanup = new Cleanup();
  for (const name of ['temp dir', 'virtiofsd', 'socket']) cleanup.add(name, () => void done.push(name));
  await cleanup.run();
  assert.deepEqual(done, ['socket', 'virtiofsd', 'temp dir']);
});

test('Cleanup: waits for each asynchronous action before the next', async () => {
  const done: string[] = [];
  const cleanup = new Cleanup();
  cleanup.add('first', () => void done.push('first'));
  cleanup.add('slow', async () => {
    await new Promise((resolve) => setTimeout(resolve, 20));
    done.push('slow');
  });
  await cleanup.run();
  assert.deepEqual(done, ['slow', 'first']);
});

test('Cleanup: runs each action once when run twice, even concurrently', async () => {
  const done: string[] = [];
  const cleanup = new Cleanup();
  cleanup.add('a', async () => {
    await new Promise((resolve) => setTimeout(resolve, 10));
    done.push('a');
  });
  cleanup.add('b', () => void done.push('b'));
  const first = cleanup.run();
  const second = cleanup.run();
  assert.equal(second, first);
  await Promise.all([first, second]);
  await cleanup.run();
  assert.deepEqual(done, ['b', 'a']);
});

test('Cleanup: a failing action does not stop the ones after it, and stderr names it', async (t) => {
  const stderr: string[] = [];
  t.mock.method(process.stderr, 'write', (chunk: string) => {
    stderr.push(String(chunk));
    return true;
  });
  const done: string[] = [];
  const cleanup = new Cleanup();
  cleanup.add('temp dir /tmp/x', () => void done.push('temp dir'));
  cleanup.add('virtiofsd for tag src', async () => {
    throw new Error('kill: ESRCH');
  });
  cleanup.add('socket /tmp/x/s', () => {
    throw new Error('unlink: EACCES');
  });
  await cleanup.run();
  t.mock.restoreAll();
  assert.deepEqual(done, ['temp dir']);
  assert.deepEqual(stderr, [
    'chrootvm: cleaning up socket /tmp/x/s: unlink: EACCES\n',
    'chrootvm: cleaning up virtiofsd for tag src: kill: ESRCH\n',
  ]);
});
