/**
 * The status channel's wire format, shared by the init (writer) and chrootvm (reader): one line,
 * a fixed prefix, then JSON.
 */
export const STATUS_PREFIX = 'virtinitrd-status ';

export type Status =
  | { kind: 'exit'; code: number }
  | { kind: 'signal'; signal: number }
  | { kind: 'error'; message: string };

export function formatStatus(status: Status): string {
  return `${STATUS_PREFIX}${JSON.stringify(status)}\n`;
}

/** The last well-formed status line in what the port carried (the tty may add "\r"), if any. */
export function parseStatus(text: string): Status | undefined {
  let found: Status | undefined;
  for (const rawLine of text.split('\n')) {
    const line = rawLine.replace(/\r$/, '');
    if (!line.startsWith(STATUS_PREFIX)) continue;
    try {
      const value = JSON.parse(line.slice(STATUS_PREFIX.length)) as Status;
      if (isStatus(value)) found = value;
    } catch {
      // A line cut short by a dying guest: not a status.
    }
  }
  return found;
}

function isStatus(value: Status): boolean {
  switch (value?.kind) {
    case 'exit':
      return Number.isInteger(value.code);
    case 'signal':
      return Number.isInteger(value.signal);
    case 'error':
      return typeof value.message === 'string';
    default:
      return false;
  }
}
