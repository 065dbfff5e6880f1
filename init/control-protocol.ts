/**
 * What chrootvm and the init say to each other over the virtio-serial ports, shared by both ends.
 *
 * The kernel command line holds about 2 KB and only text, so the command to run travels over a
 * port of its own (the control port): one JSON line from the host with every byte string in
 * base64, so any argv byte (non-UTF-8 included) arrives as it was. The command's stdin, stdout and
 * stderr each have a port too. When the command has ended, the init tells the host how many bytes
 * it put on each output port and waits until the host has them all before it powers off: a
 * power-off drops whatever qemu has not yet passed on. While the command runs, the host may send
 * signals for it on the control port.
 */

export const PORTS = {
  control: 'virtinitrd.control',
  stdin: 'virtinitrd.stdin',
  stdout: 'virtinitrd.stdout',
  stderr: 'virtinitrd.stderr',
} as const;

export type PortRole = keyof typeof PORTS;

/** A command chrootvm asks the init to run as its child (run mode) instead of exec'ing init=. */
export interface RunRequest {
  /** The command and its arguments, as bytes. */
  argv: Buffer[];
  /** `NAME=value` entries added to the init's clean environment, as bytes. */
  env: Buffer[];
  /** Directory in the new root to start in. */
  cwd: Buffer;
  /**
   * The command gets the console (ttyS0) as a terminal the user types into (chrootvm without a
   * COMMAND); otherwise stdin, stdout and stderr are the ports.
   */
  interactive: boolean;
  /** Interactive: the host terminal's size. */
  size?: { rows: number; columns: number };
  /** `USER[:GROUP]` of the guest's /etc/passwd and /etc/group to run the command as (users.ts). */
  user?: string;
}

/** Bytes each output port carried, sent by the init once the command has ended. */
export interface OutputCounts {
  stdout: number;
  stderr: number;
}

export class ProtocolError extends Error {
  constructor(message: string) {
    super(`run request: ${message}`);
    this.name = 'ProtocolError';
  }
}

/**
 * execve's limits in the guest (Linux 6.1, an 8 MiB stack limit as PID 1 has): each string at most
 * MAX_ARG_STRLEN (32 pages) with its NUL, and all strings plus one pointer each at most a quarter of
 * the stack limit. The init adds a few variables of its own (PATH, HOME, TERM): ENV_HEADROOM keeps
 * room for them.
 */
export const MAX_ARG_STRLEN = 32 * 4096;
export const ARG_MAX = (8 << 20) / 4;
const ENV_HEADROOM = 4096;
const POINTER_BYTES = 8;

/** Why the guest could not exec `request`, in words for the user; undefined when it can. */
export function execLimitProblem(request: Pick<RunRequest, 'argv' | 'env'>): string | undefined {
  const strings = [...request.argv, ...request.env];
  const tooLong = strings.findIndex((bytes) => bytes.length + 1 > MAX_ARG_STRLEN);
  if (tooLong !== -1) {
    const what = tooLong < request.argv.length ? `argument ${tooLong}` : `environment entry ${tooLong - request.argv.length}`;
    return `${what} is ${strings[tooLong]!.length} bytes; the guest's execve takes at most ${MAX_ARG_STRLEN - 1} per string`;
  }
  const total = strings.reduce((sum, bytes) => sum + bytes.length + 1 + POINTER_BYTES, POINTER_BYTES * 2);
  const limit = ARG_MAX - ENV_HEADROOM;
  if (total > limit) {
    return `the command's ${request.argv.length} arguments and ${request.env.length} environment entries take ${total} bytes; the guest's execve takes at most ${limit}`;
  }
  return undefined;
}

export function encodeRunRequest(request: RunRequest): string {
  const base64 = (bytes: Buffer) => bytes.toString('base64');
  const wire = {
    run: {
      argv: request.argv.map(base64),
      env: request.env.map(base64),
      cwd: base64(request.cwd),
      interactive: request.interactive,
      ...(request.size ? { size: request.size } : {}),
      ...(request.user !== undefined ? { user: request.user } : {}),
    },
  };
  return `${JSON.stringify(wire)}\n`;
}

const isBase64 = (value: unknown): value is string => typeof value === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(value);

/** One line from the control port (without its newline) as a request; ProtocolError when it is none. */
export function decodeRunRequest(line: string): RunRequest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw new ProtocolError(`not JSON: ${line.slice(0, 80)}`);
  }
  const run = (parsed as { run?: Record<string, unknown> } | null)?.run;
  const strings = (value: unknown): value is string[] => Array.isArray(value) && value.every(isBase64);
  if (!run || !strings(run.argv) || run.argv.length === 0 || !strings(run.env) || !isBase64(run.cwd) || typeof run.interactive !== 'boolean') {
    throw new ProtocolError('expected {"run": {argv: [base64, ...], env: [base64...], cwd: base64, interactive: boolean}}');
  }
  const size = run.size as RunRequest['size'];
  if (size !== undefined && !(Number.isInteger(size?.rows) && Number.isInteger(size?.columns))) {
    throw new ProtocolError('size must be {rows: integer, columns: integer}');
  }
  if (run.user !== undefined && typeof run.user !== 'string') throw new ProtocolError('user must be a string');
  const bytes = (value: string) => Buffer.from(value, 'base64');
  const request = {
    argv: run.argv.map(bytes),
    env: run.env.map(bytes),
    cwd: bytes(run.cwd),
    interactive: run.interactive,
    ...(size ? { size } : {}),
    ...(typeof run.user === 'string' ? { user: run.user } : {}),
  };
  // A C string ends at its first NUL: such an argument could not arrive as sent.
  if ([...request.argv, ...request.env, request.cwd].some((string) => string.includes(0))) throw new ProtocolError('a string holds a NUL byte');
  return request;
}

export function encodeOutputCounts(counts: OutputCounts): string {
  return `${JSON.stringify({ ended: counts })}\n`;
}

/** A line from the init: its output counts, or undefined for anything else. */
export function decodeOutputCounts(line: string): OutputCounts | undefined {
  try {
    const ended = (JSON.parse(line) as { ended?: OutputCounts } | null)?.ended;
    if (Number.isSafeInteger(ended?.stdout) && Number.isSafeInteger(ended?.stderr)) return ended;
  } catch {
    // Not a message of ours.
  }
  return undefined;
}

/**
 * Signals chrootvm passes on to the command, as a local command would get them: from `kill`,
 * `timeout`, a closing terminal.
 */
export const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type ForwardedSignal = (typeof FORWARDED_SIGNALS)[number];

export function encodeSignal(signal: ForwardedSignal): string {
  return `${JSON.stringify({ signal })}\n`;
}

/** A line from the host: a signal for the command, or undefined for anything else. */
export function decodeSignal(line: string): ForwardedSignal | undefined {
  try {
    const signal = (JSON.parse(line) as { signal?: unknown } | null)?.signal;
    return FORWARDED_SIGNALS.find((known) => known === signal);
  } catch {
    return undefined;
  }
}

/** The host's answer to the output counts: every byte is in. */
export const RECEIVED = `${JSON.stringify({ received: true })}\n`;
