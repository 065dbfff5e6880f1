/**
 * chrootvm's end of the guest's virtio-serial ports (protocol in init/control-protocol.ts): one
 * unix socket per port, which qemu connects to when it starts (so the guest finds the host end
 * present from its first read). The control port carries the run request, signals for the
 * command and the end-of-output handshake; the stdin, stdout and stderr ports carry the command's streams, each with
 * backpressure both ways, so memory stays bounded whatever flows.
 *
 * Closing ends the stream as the guest sees it: at our stdin's EOF the stdin socket is shut, and
 * the command reads EOF; when our stdout or stderr is closed (EPIPE), that socket is dropped, and
 * the command's next write to it fails as it would locally.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import {
  decodeOutputCounts,
  encodeRunRequest,
  encodeSignal,
  RECEIVED,
  type ForwardedSignal,
  type OutputCounts,
  type PortRole,
  type RunRequest,
} from '../../init/control-protocol.ts';

export type PortSockets = Partial<Record<PortRole, string>>;

export const portSocketName = (role: PortRole): string => `${role}.sock`;

export interface CommandStreams {
  /** What the command reads; without one it reads EOF at once. */
  stdin?: Readable;
  /** Where its output goes: a stream, or kept in memory for the caller. */
  stdout: Writable | 'collect';
  stderr: Writable | 'collect';
}

/**
 * Signals for the command, sent on the control port after the run request: those sent before the
 * guest has connected wait for it (the init passes them on once the command has started).
 */
export class CommandSignals {
  private readonly pending: ForwardedSignal[] = [];
  private control: Socket | undefined;

  send(signal: ForwardedSignal): void {
    if (this.control) this.control.write(encodeSignal(signal));
    else this.pending.push(signal);
  }

  /** The run request is on `control`: what waited goes now. */
  attach(control: Socket): void {
    this.control = control;
    for (const signal of this.pending.splice(0)) control.write(encodeSignal(signal));
  }
}

/** One output port: what arrived, and whether anything more can. */
class OutputPort {
  received = 0;
  /** Nothing more comes: the sink refused (EPIPE) or qemu closed the port. */
  closed = false;
  private readonly collected: Buffer[] = [];
  private connection: Socket | undefined;
  private readonly changed: () => void;
  private readonly sink: Writable | 'collect';
  /** Resolves when the connection is gone (at once when there never was one). */
  readonly drained: Promise<void>;
  private resolveDrained!: () => void;

  constructor(sink: Writable | 'collect', changed: () => void) {
    this.sink = sink;
    this.changed = changed;
    this.drained = new Promise((resolve) => (this.resolveDrained = resolve));
    if (sink !== 'collect') sink.on('error', () => this.refuse());
  }

  attach(connection: Socket): void {
    this.connection = connection;
    connection.on('data', (chunk: Buffer) => {
      this.received += chunk.length;
      this.changed();
      if (this.closed) return;
      if (this.sink === 'collect') this.collected.push(chunk);
      else if (!this.sink.write(chunk)) {
        connection.pause();
        this.sink.once('drain', () => connection.resume());
      }
    });
    connection.on('error', () => {});
    connection.on('close', () => {
      this.closed = true;
      this.changed();
      this.resolveDrained();
    });
  }

  /** Our end was closed (a reader that went away): tell the guest by dropping the connection. */
  private refuse(): void {
    this.closed = true;
    this.connection?.destroy();
    this.changed();
  }

  /** Waits for the guest's data only; an unconnected port has nothing to drain. */
  settle(): void {
    if (!this.connection) this.resolveDrained();
  }

  text(): string {
    return Buffer.concat(this.collected).toString('utf8');
  }

  holds(count: number): boolean {
    return this.closed || this.received >= count;
  }
}

export class GuestPorts {
  readonly sockets: PortSockets;
  private readonly servers: Server[] = [];
  private readonly connections = new Set<Socket>();
  private readonly outputs: Record<keyof OutputCounts, OutputPort>;
  private readonly streams: CommandStreams;
  private pendingCounts: { counts: OutputCounts; control: Socket } | undefined;

  private constructor(sockets: PortSockets, streams: CommandStreams) {
    this.sockets = sockets;
    this.streams = streams;
    const changed = () => this.answerWhenComplete();
    this.outputs = { stdout: new OutputPort(streams.stdout, changed), stderr: new OutputPort(streams.stderr, changed) };
  }

  /**
   * Listens on a socket per port: the control port always, the stream ports unless the command
   * runs on the console (interactive), where the guest never opens them.
   */
  static async listen(socketPath: (name: string) => string, request: RunRequest, streams: CommandStreams, signals?: CommandSignals): Promise<GuestPorts> {
    const roles: PortRole[] = request.interactive ? ['control'] : ['control', 'stdin', 'stdout', 'stderr'];
    const ports = new GuestPorts(Object.fromEntries(roles.map((role) => [role, socketPath(portSocketName(role))])), streams);
    for (const role of roles) {
      await ports.serve(ports.sockets[role]!, (connection) => {
        if (role === 'control') ports.converse(connection, request, signals);
        else if (role === 'stdin') ports.feed(connection);
        else ports.outputs[role].attach(connection);
      });
    }
    return ports;
  }

  /** qemu connects once; a second connection would be someone else. */
  private async serve(path: string, handle: (connection: Socket) => void): Promise<void> {
    const server = createServer((connection) => {
      server.close();
      this.connections.add(connection);
      connection.on('close', () => this.connections.delete(connection));
      handle(connection);
    });
    this.servers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, resolve);
    });
  }

  private converse(control: Socket, request: RunRequest, signals: CommandSignals | undefined): void {
    control.on('error', () => {});
    control.write(encodeRunRequest(request));
    signals?.attach(control);
    let buffered = '';
    control.setEncoding('utf8');
    control.on('data', (chunk: string) => {
      const lines = (buffered + chunk).split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        const counts = decodeOutputCounts(line);
        if (counts) this.pendingCounts = { counts, control };
      }
      this.answerWhenComplete();
    });
  }

  /** The guest has said what it sent: answer once every byte of it is here. */
  private answerWhenComplete(): void {
    if (!this.pendingCounts) return;
    const { counts, control } = this.pendingCounts;
    if (!this.outputs.stdout.holds(counts.stdout) || !this.outputs.stderr.holds(counts.stderr)) return;
    this.pendingCounts = undefined;
    control.write(RECEIVED);
  }

  private feed(connection: Socket): void {
    // A guest that has ended no longer reads; what was still on its way does not matter.
    connection.on('error', () => {});
    if (this.streams.stdin) this.streams.stdin.pipe(connection);
    else connection.end();
  }

  /** The output that arrived, when the streams were 'collect'. */
  collected(): { stdout: string; stderr: string } {
    return { stdout: this.outputs.stdout.text(), stderr: this.outputs.stderr.text() };
  }

  /** After qemu has exited: resolves once the last bytes it passed on have been delivered. */
  async drained(): Promise<void> {
    this.outputs.stdout.settle();
    this.outputs.stderr.settle();
    await Promise.all([this.outputs.stdout.drained, this.outputs.stderr.drained]);
  }

  close(): void {
    // Our stdin may still have data the command never read: stop reading it, or it keeps us alive.
    if (this.streams.stdin) {
      this.streams.stdin.unpipe();
      this.streams.stdin.destroy();
    }
    for (const connection of this.connections) connection.destroy();
    for (const server of this.servers) server.close();
  }
}
