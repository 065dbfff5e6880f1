/**
 * The command an image runs, as podman and docker compose it: its Entrypoint followed by the
 * user's COMMAND, or by its own Cmd when there is no COMMAND. `--entrypoint` replaces the
 * Entrypoint and drops the Cmd (a Cmd is written for the image's own entrypoint); an empty one
 * leaves only the COMMAND.
 */
import type { ImageProcess } from './manifest.ts';

/**
 * `--entrypoint`'s value: a JSON list of strings (`["/bin/sh","-c"]`, as podman takes it), the
 * empty string (no entrypoint), or one program.
 */
export function parseEntrypoint(text: string): string[] {
  if (text === '') return [];
  if (text.startsWith('[')) {
    try {
      const value: unknown = JSON.parse(text);
      if (Array.isArray(value) && value.every((word) => typeof word === 'string')) return value;
    } catch {
      // Not JSON: a program whose name starts with "[", as podman takes it too.
    }
  }
  return [text];
}

/**
 * The words to run: empty when the image names no process and none was given (the caller's
 * interactive shell). `command` keeps the user's bytes.
 */
export function imageCommand(process: ImageProcess, command: readonly Buffer[], entrypoint: readonly string[] | undefined): Buffer[] {
  const first = entrypoint ?? process.entrypoint;
  const rest = command.length > 0 || entrypoint !== undefined ? command : process.cmd.map((word) => Buffer.from(word));
  return [...first.map((word) => Buffer.from(word)), ...rest];
}

const SHELLS = new Set(['sh', 'ash', 'bash', 'dash', 'zsh', 'ksh', 'mksh', 'fish']);

/** A command that is a shell and nothing else (`Cmd ["/bin/sh"]`): on a terminal it is the interactive shell. */
export function isBareShell(argv: readonly Buffer[]): boolean {
  return argv.length === 1 && SHELLS.has(argv[0]!.toString().split('/').at(-1)!);
}
