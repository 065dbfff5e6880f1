/**
 * Our own command-line arguments as the bytes the kernel passed them. process.argv decodes them as
 * UTF-8 and replaces what is not (an argument holding \xff arrives as U+FFFD), but the guest must
 * get exactly what the user typed, as a local command would.
 */
import { readFileSync } from 'node:fs';

/** The last `count` arguments of this process, as bytes (they end /proc/self/cmdline). */
export function rawArguments(count: number, cmdline = readFileSync('/proc/self/cmdline')): Buffer[] {
  if (count === 0) return [];
  const words: Buffer[] = [];
  let start = 0;
  for (let end = cmdline.indexOf(0); end !== -1; end = cmdline.indexOf(0, start)) {
    words.push(cmdline.subarray(start, end));
    start = end + 1;
  }
  if (words.length < count) throw new Error(`/proc/self/cmdline holds ${words.length} arguments, fewer than ${count}`);
  return words.slice(-count);
}

/** Our arguments `argv`, as Node decoded them, as the bytes they were given: each word whose bytes decode to it. */
export function argumentBytes(argv: readonly string[]): Buffer[] {
  const raw = rawArguments(argv.length);
  // If something rewrote a word of our command line, its decoded form is all there is.
  return argv.map((word, index) => (raw[index]!.toString() === word ? raw[index]! : Buffer.from(word)));
}
