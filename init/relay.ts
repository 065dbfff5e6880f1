/**
 * PID 1 copies the command's stdout and stderr from pipes to their virtio-serial ports.
 *
 * Why not hand the command the ports themselves: a write to a port whose host end has closed blocks
 * instead of failing with EPIPE, so `chrootvm R yes | head -1` would never end. Here the command
 * writes to a pipe as it would locally; when the host closes a port (poll says POLLHUP), PID 1
 * closes that pipe's read end and the command's next write gets SIGPIPE or EPIPE, as it would.
 *
 * Everything is non-blocking; the only wait is one poll(2) on a thread of libuv's pool, so the
 * event loop (SIGCHLD, forwarded signals) runs meanwhile. When the command has ended, finish()
 * copies what is left in the pipes (without waiting for an EOF a background process may hold back)
 * and resolves with the bytes each port took.
 */
import { closeSync, readSync, writeSync } from 'node:fs';
import type { OutputCounts } from './control-protocol.ts';
import { debug } from './log.ts';
import { errnoOf } from './sys/errors.ts';
import { pipe, POLL, pollInThread, setNonBlocking, setPipeSize } from './sys/libc.ts';

/** pipe-max-size's default: fewer wake-ups per megabyte than the 64 KiB a pipe starts with. */
const PIPE_BYTES = 1 << 20;
const READ_BYTES = 256 * 1024;

type Wait = 'pipe' | 'port' | 'done';

class Stream {
  private pending: Buffer = Buffer.alloc(0);
  private readonly chunk = Buffer.alloc(READ_BYTES);
  private pipeOpen = true;
  /** Bytes the port took. */
  sent = 0;
  readonly name: keyof OutputCounts;
  /** PID 1's end of the pipe, non-blocking. */
  readonly pipe: number;
  /** The port, non-blocking. */
  readonly port: number;

  constructor(name: keyof OutputCounts, pipe: number, port: number) {
    this.name = name;
    this.pipe = pipe;
    this.port = port;
  }

  /**
   * Moves bytes from the pipe to the port until one of them would block, and says which. Once the
   * command has ended (`ending`), an empty pipe means done.
   */
  advance(ending: boolean): Wait {
    for (;;) {
      while (this.pending.length > 0) {
        const written = tryIo(() => writeSync(this.port, this.pending));
        if (written === undefined) return 'port';
        this.sent += written;
        this.pending = this.pending.subarray(written);
      }
      if (!this.pipeOpen) return 'done';
      const length = tryIo(() => readSync(this.pipe, this.chunk));
      if (length === undefined) return ending ? 'done' : 'pipe';
      if (length === 0) {
        this.closePipe();
        return 'done';
      }
      // The chunk is reused only once pending is empty again.
      this.pending = this.chunk.subarray(0, length);
    }
  }

  /** The host closed the port: the command's next write to the pipe fails, as it would locally. */
  hostClosed(): void {
    debug(`the host closed ${this.name}`);
    this.pending = Buffer.alloc(0);
    this.closePipe();
  }

  private closePipe(): void {
    if (!this.pipeOpen) return;
    this.pipeOpen = false;
    closeSync(this.pipe);
  }
}

/** The result of a non-blocking read or write; undefined when it would block. */
function tryIo(io: () => number): number | undefined {
  try {
    return io();
  } catch (cause) {
    if (errnoOf(cause) === 'EAGAIN') return undefined;
    throw cause;
  }
}

export class OutputRelay {
  private readonly streams: Stream[];
  private readonly wake = pipe();
  private ending = false;
  private stopped = false;
  private readonly done: Promise<OutputCounts>;

  /**
   * Pipes for the command's stdout and stderr: `childEnds` go to the command (and are closed here
   * once it runs), the other ends are copied to the ports `stdoutPort` and `stderrPort`.
   */
  readonly childEnds: { stdout: number; stderr: number };

  constructor(ports: { stdout: number; stderr: number }) {
    const stdout = outputPipe('stdout');
    const stderr = outputPipe('stderr');
    this.childEnds = { stdout: stdout.write, stderr: stderr.write };
    this.streams = [new Stream('stdout', stdout.read, ports.stdout), new Stream('stderr', stderr.read, ports.stderr)];
    setNonBlocking(this.wake.read, 'relay wake pipe');
    this.done = this.run();
  }

  /** The command runs with its own copies of the write ends: ours would keep an EOF from coming. */
  closeChildEnds(): void {
    closeSync(this.childEnds.stdout);
    closeSync(this.childEnds.stderr);
  }

  /** The command has ended: copy what the pipes hold now, then resolve with the bytes sent. */
  finish(): Promise<OutputCounts> {
    this.ending = true;
    if (!this.stopped) writeSync(this.wake.write, 'x');
    return this.done;
  }

  private async run(): Promise<OutputCounts> {
    // The pipes are empty until the command runs: poll first. (Reading them now would only fail
    // with EAGAIN, and a first thrown error costs PID 1 tens of ms under TCG on the way to the command.)
    let waiting = new Map<Stream, Wait>(this.streams.map((stream) => [stream, 'pipe']));
    // What the streams were last advanced with: once true, the wake pipe has said all it will.
    let ending = false;
    for (;;) {
      const active = [...waiting].filter(([, wait]) => wait !== 'done');
      if (active.length === 0) break;
      const entries = active.flatMap(([stream, wait]) =>
        // The port is always watched: POLLHUP comes whatever events were asked for.
        wait === 'port' ? [{ fd: stream.port, events: POLL.OUT }] : [{ fd: stream.pipe, events: POLL.IN }, { fd: stream.port, events: 0 }],
      );
      if (!ending) entries.push({ fd: this.wake.read, events: POLL.IN });
      const revents = await pollInThread(entries);
      entries.forEach(({ fd }, index) => {
        const stream = active.find(([candidate]) => candidate.port === fd)?.[0];
        if (stream && revents[index]! & (POLL.HUP | POLL.ERR)) {
          stream.hostClosed();
          waiting.set(stream, 'done');
        }
      });
      ending = this.ending;
      waiting = new Map([...waiting].filter(([, wait]) => wait !== 'done').map(([stream]) => [stream, stream.advance(ending)]));
    }
    this.stopped = true;
    closeSync(this.wake.read);
    closeSync(this.wake.write);
    return { stdout: this.streams[0]!.sent, stderr: this.streams[1]!.sent };
  }
}

function outputPipe(name: string): { read: number; write: number } {
  const ends = pipe();
  try {
    setPipeSize(ends.read, PIPE_BYTES);
  } catch (cause) {
    debug(`${name} pipe keeps its default size: ${errnoOf(cause)}`);
  }
  setNonBlocking(ends.read, `${name} pipe`);
  return ends;
}
