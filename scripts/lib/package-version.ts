/**
 * The version the CLIs report, from the project's package.json (make install copies it into the
 * installed tree too).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from './artifacts.ts';

export function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { version: string };
  return manifest.version;
}

/** The line `--version` prints, GNU style: the program, its package, the version. */
export function versionLine(program: string): string {
  return `${program} (virtinitrd) ${packageVersion()}\n`;
}
