import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pipeThrough } from '../../../packer/pipe-through.ts'

// Larger than a pipe buffer: the command's output must be read while it is being fed.
const data = Buffer.alloc(1 << 20, 'virtinitrd ')

test('pipeThrough reports the command, how it ended and its stderr', async (t) => {
  const cases: { argv: string[]; message: string }[] = [
    { argv: ['sh', '-c', 'cat >/dev/null; echo bad input >&2; exit 3'], message: 'sh -c cat >/dev/null; echo bad input >&2; exit 3 exited with status 3: bad input' },
    { argv: ['sh', '-c', 'exit 1'], message: 'sh -c exit 1 exited with status 1' },
    { argv: ['sh', '-c', 'kill -TERM $$'], message: 'sh -c kill -TERM $$ was killed by SIGTERM' },
    { argv: ['no-such-command-here'], message: 'no-such-command-here could not be run (ENOENT)' },
    { argv: [], message: 'pipeThrough needs a command' },
  ]
  for (const { argv, message } of cases) {
    await t.test(message, () => assert.rejects(pipeThrough(argv, data), { message }))
  }
  await t.test('passes stdin to stdout', async () => {
    assert.ok((await pipeThrough(['cat'], data)).equals(data))
  })
})
