/**
 * The version the CLIs report, from the project's package.json: it sits two levels above this
 * file both in the checkout and in an installed copy (make install copies it there).
 */
import { readFileSync } from 'node:fs';

export function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}

/** The line `--version` prints, GNU style: the program, its package, the version. */
export function versionLine(program: string): string {
  return `${program} (virtinitrd) ${packageVersion()}\n`;
}
