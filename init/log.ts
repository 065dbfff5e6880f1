/**
 * The init's console output. Silent on success unless `debug`; every line is timestamped with
 * CLOCK_MONOTONIC, which on Linux counts from boot, so the times line up with the kernel's own log.
 * `debug` is only known once /proc/cmdline has been read, so debug lines are held until then.
 */
import { writeSync } from 'node:fs';
import { monotonicMs } from './clock.ts';

let verbose: boolean | undefined;
let held: string[] = [];

/** Decides whether debug lines are shown, and shows or drops the ones held so far. */
export function setVerbose(enabled: boolean): void {
  verbose = enabled;
  if (enabled) held.forEach(write);
  held = [];
}

function line(text: string): string {
  return `[${(monotonicMs() / 1000).toFixed(6).padStart(13)}] init: ${text}\n`;
}

function write(text: string): void {
  try {
    writeSync(2, text);
  } catch {
    // No console (stderr closed or the tty gone): logging must never be the thing that stops a boot.
  }
}

export function debug(text: string): void {
  if (verbose) write(line(text));
  else if (verbose === undefined) held.push(line(text));
}

/** Problems the boot survives: always shown, since they explain a failure that comes later. */
export function warn(text: string): void {
  write(line(`warning: ${text}`));
}

export function error(text: string): void {
  write(line(`error: ${text}`));
}
