/**
 * qemu's machine protocol, only as far as chrootvm needs it: why the VM stopped. qemu connects to
 * our socket at start-up (we are the server, so no event can slip past before we connect), greets,
 * and after `qmp_capabilities` reports events; SHUTDOWN carries the reason (guest-shutdown,
 * guest-reset, guest-panic, host-signal…).
 */
import { createServer, type Socket } from 'node:net';

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
}

/** Splits a QMP byte stream into messages; returns the events and the unfinished tail. Pure. */
export function parseQmpStream(buffered: string): { events: QmpEvent[]; greeting: boolean; rest: string } {
  const lines = buffered.split('\n');
  const rest = lines.pop() ?? '';
  const events: QmpEvent[] = [];
  let greeting = false;
  for (const line of lines) {
    if (!line.trim()) continue;
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    if ('QMP' in message) greeting = true;
    if (typeof message.event === 'string') events.push({ event: message.event, data: message.data as Record<string, unknown> | undefined });
  }
  return { events, greeting, rest };
}

/** The reason of the first SHUTDOWN event, or 'guest-panic' when the guest reported a panic first. */
export function shutdownReason(events: readonly QmpEvent[]): string | undefined {
  for (const { event, data } of events) {
    if (event === 'GUEST_PANICKED') return 'guest-panic';
    if (event === 'SHUTDOWN' && typeof data?.reason === 'string') return data.reason;
  }
  return undefined;
}

export interface QmpListener {
  socket: string;
  events(): QmpEvent[];
  close(): void;
}

export async function listenForQmp(socket: string): Promise<QmpListener> {
  const events: QmpEvent[] = [];
  const connections = new Set<Socket>();
  const server = createServer((connection) => {
    connections.add(connection);
    let buffered = '';
    connection.setEncoding('utf8');
    connection.on('data', (chunk: string) => {
      const parsed = parseQmpStream(buffered + chunk);
      buffered = parsed.rest;
      events.push(...parsed.events);
      if (parsed.greeting) connection.write('{"execute":"qmp_capabilities"}\n');
    });
    connection.on('error', () => connection.destroy());
    connection.on('close', () => connections.delete(connection));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, resolve);
  });
  return {
    socket,
    events: () => events,
    close: () => {
      for (const connection of connections) connection.destroy();
      server.close();
    },
  };
}
