/**
 * The entries -e/--env and --env-file add to the command's environment, as bytes, in order (the
 * init lets a later entry of a name replace an earlier one, and the clean PATH, HOME and TERM).
 * Like podman: `KEY=VALUE` is taken as given, a bare `KEY` takes our own value and is left out when
 * we have none; an env file holds one entry per line, with blank lines and `#` comments skipped,
 * and no quoting (the bytes after `=` are the value).
 */
import { readFileSync } from 'node:fs';
import { messageOf } from '../../init/sys/errors.ts';
import type { EnvOption } from './chrootvm-args.ts';

export class EnvError extends Error {}

const EQUALS = 0x3d;

/** One entry, `KEY=VALUE` as it is or `KEY` from `hostEnv`; undefined when `KEY` is not set there. */
function entry(bytes: Buffer, hostEnv: NodeJS.ProcessEnv, where: string): Buffer | undefined {
  const equals = bytes.indexOf(EQUALS);
  if (equals === 0) throw new EnvError(`${where}: "${bytes.toString()}" has no variable name`);
  if (bytes.includes(0)) throw new EnvError(`${where}: a NUL byte cannot be in an environment entry`);
  if (equals > 0) return bytes;
  const value = hostEnv[bytes.toString()];
  return value === undefined ? undefined : Buffer.concat([bytes, Buffer.from(`=${value}`)]);
}

/** The lines of an env file that are entries: not blank, not comments. */
function fileEntries(path: string, hostEnv: NodeJS.ProcessEnv): Buffer[] {
  let text: Buffer;
  try {
    text = readFileSync(path);
  } catch (cause) {
    throw new EnvError(`--env-file ${path}: ${messageOf(cause)}`);
  }
  const entries: Buffer[] = [];
  let start = 0;
  for (let number = 1; start < text.length; number++) {
    const end = text.indexOf('\n', start) === -1 ? text.length : text.indexOf('\n', start);
    const line = text.subarray(start, end);
    start = end + 1;
    if (line.toString().trim() === '' || line.toString().trimStart().startsWith('#')) continue;
    const added = entry(line, hostEnv, `--env-file ${path} line ${number}`);
    if (added) entries.push(added);
  }
  return entries;
}

/**
 * The entries of `options` in order. `bytesOf(option)` gives the bytes the user typed for an -e
 * value (an argument may hold any bytes); file names are used as Node decoded them.
 */
export function guestEnvironment(options: readonly EnvOption[], bytesOf: (option: EnvOption) => Buffer, hostEnv: NodeJS.ProcessEnv): Buffer[] {
  return options.flatMap((option) => {
    if (option.kind === 'env-file') return fileEntries(option.text, hostEnv);
    const added = entry(bytesOf(option), hostEnv, `--env ${option.text}`);
    return added ? [added] : [];
  });
}
