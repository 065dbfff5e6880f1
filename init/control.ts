/**
 * The init's end of the control port: it reads the run request at boot; while the command runs it
 * passes on the signals the host sends for it; once the command has ended it says how much output
 * it sent and waits until the host has received all of it.
 */
import { openSync, readSync, writeSync, constants } from 'node:fs';
import { decodeRunRequest, decodeSignal, encodeOutputCounts, ProtocolError, RECEIVED, type ForwardedSignal, type OutputCounts, type RunRequest } from './control-protocol.ts';
import { ThreadReader } from './sys/libc.ts';

export class ControlPort {
  private readonly device: string;
  private readonly fd: number;
  private buffered = Buffer.alloc(0);
  /** Lines other than signals, once the port is read in the background. */
  private readonly lines: string[] = [];
  private lineArrived: (() => void) | undefined;
  private closedByHost = false;

  constructor(device: string) {
    this.device = device;
    this.fd = openSync(device, constants.O_RDWR | constants.O_NOCTTY);
  }

  /** The next whole line in what has been read, without its newline. */
  private takeLine(): string | undefined {
    const newline = this.buffered.indexOf(0x0a);
    if (newline === -1) return undefined;
    const line = this.buffered.subarray(0, newline).toString('utf8');
    this.buffered = this.buffered.subarray(newline + 1);
    return line;
  }

  /** Blocks until the run request is here: nothing else can happen before it. */
  receiveRunRequest(): RunRequest {
    const chunk = Buffer.alloc(64 * 1024);
    for (let line = this.takeLine(); ; line = this.takeLine()) {
      if (line !== undefined) return decodeRunRequest(line);
      const length = readSync(this.fd, chunk);
      if (length === 0) throw new ProtocolError(`the host closed ${this.device}${this.buffered.length ? ' in the middle of a line' : ''}`);
      this.buffered = Buffer.concat([this.buffered, chunk.subarray(0, length)]);
    }
  }

  /**
   * From now on the port is read in the background: each signal line goes to `onSignal` as it
   * comes (the command is running), other lines wait for confirmOutput.
   */
  listen(onSignal: (signal: ForwardedSignal) => void): void {
    const reader = new ThreadReader(this.fd, this.device);
    const dispatch = () => {
      for (let line = this.takeLine(); line !== undefined; line = this.takeLine()) {
        const signal = decodeSignal(line);
        if (signal) onSignal(signal);
        else this.lines.push(line);
      }
      this.lineArrived?.();
    };
    const readOn = async (): Promise<void> => {
      // What came with the run request first.
      dispatch();
      for (let bytes = await reader.read(); bytes.length > 0; bytes = await reader.read()) {
        this.buffered = Buffer.concat([this.buffered, bytes]);
        dispatch();
      }
    };
    // The host closed the port, or a read failed: confirmOutput says so.
    void readOn()
      .catch(() => undefined)
      .then(() => {
        this.closedByHost = true;
        this.lineArrived?.();
      });
  }

  /** Tells the host what the output ports carried and resolves once it has it all. */
  async confirmOutput(counts: OutputCounts): Promise<void> {
    writeSync(this.fd, encodeOutputCounts(counts));
    const answer = await this.nextLine();
    if (`${answer}\n` !== RECEIVED) throw new ProtocolError(`expected ${RECEIVED.trim()} from the host, got ${answer.slice(0, 80)}`);
  }

  private async nextLine(): Promise<string> {
    while (this.lines.length === 0) {
      if (this.closedByHost) throw new ProtocolError(`the host closed ${this.device}`);
      await new Promise<void>((resolve) => (this.lineArrived = resolve));
    }
    return this.lines.shift()!;
  }
}
