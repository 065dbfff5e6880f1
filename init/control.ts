/**
 * The init's end of the control port: it reads the run request at boot, and once the command has
 * ended it says how much output it sent and waits until the host has received all of it.
 */
import { openSync, readSync, writeSync, constants } from 'node:fs';
import { decodeRunRequest, encodeOutputCounts, ProtocolError, RECEIVED, type OutputCounts, type RunRequest } from './control-protocol.ts';

export class ControlPort {
  private readonly device: string;
  private readonly fd: number;
  private buffered = Buffer.alloc(0);

  constructor(device: string) {
    this.device = device;
    this.fd = openSync(device, constants.O_RDWR | constants.O_NOCTTY);
  }

  /** The next line from the host, without its newline; blocks until it is complete. */
  private readLine(): string {
    const chunk = Buffer.alloc(64 * 1024);
    for (;;) {
      const newline = this.buffered.indexOf(0x0a);
      if (newline !== -1) {
        const line = this.buffered.subarray(0, newline).toString('utf8');
        this.buffered = this.buffered.subarray(newline + 1);
        return line;
      }
      const length = readSync(this.fd, chunk);
      if (length === 0) throw new ProtocolError(`the host closed ${this.device}${this.buffered.length ? ' in the middle of a line' : ''}`);
      this.buffered = Buffer.concat([this.buffered, chunk.subarray(0, length)]);
    }
  }

  receiveRunRequest(): RunRequest {
    return decodeRunRequest(this.readLine());
  }

  /** Tells the host what the output ports carried and returns once it has it all. */
  confirmOutput(counts: OutputCounts): void {
    writeSync(this.fd, encodeOutputCounts(counts));
    const answer = `${this.readLine()}\n`;
    if (answer !== RECEIVED) throw new ProtocolError(`expected ${RECEIVED.trim()} from the host, got ${answer.trim().slice(0, 80)}`);
  }
}
