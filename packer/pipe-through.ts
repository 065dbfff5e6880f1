// A program run over a buffer, its output collected (lz4, xz; mkfs and node --build-sea with no
// input). A module of its own: the kernel's extraction, the overlay disk and the SEA build use it
// without loading compress.ts's zlib codecs.

import { spawn } from 'node:child_process'

/**
 * Runs argv[0] with stdin fed from `input` and resolves with everything it wrote to stdout; rejects
 * naming the command with its exit status (or signal) and stderr. `missingHint` is added to the
 * message when the command is not on PATH.
 */
export function pipeThrough(argv: readonly string[], input: Uint8Array, missingHint = ''): Promise<Buffer> {
  const [command, ...args] = argv
  if (command === undefined) return Promise.reject(new Error('pipeThrough needs a command'))
  const shown = argv.join(' ')
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    const stdout: Buffer[] = []
    const stderr: Buffer[] = []
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk))
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk))
    child.on('error', (error: NodeJS.ErrnoException) => {
      const hint = error.code === 'ENOENT' && missingHint !== '' ? `: ${missingHint}` : ''
      reject(new Error(`${command} could not be run (${error.code ?? error.message})${hint}`, { cause: error }))
    })
    child.on('close', (status, signal) => {
      if (status === 0) return resolve(Buffer.concat(stdout))
      const how = signal === null ? `exited with status ${status}` : `was killed by ${signal}`
      const text = Buffer.concat(stderr).toString().trim()
      reject(new Error(`${shown} ${how}${text === '' ? '' : `: ${text}`}`))
    })
    // A command that fails early closes its stdin; the exit status above is the error to report.
    child.stdin.on('error', () => {})
    child.stdin.end(input)
  })
}
