/**
 * `make soak`: boot ROOTFS with `chrootvm ROOTFS true` SOAK_RUNS times in a row (default 100), each
 * under a hard time limit, and report the hangs, the failures and the boot-time distribution.
 * Exits 1 when any boot hung or failed: one bad boot in a hundred is a bug, not noise.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from './lib/artifacts.ts';
import { distribution, formatDistribution } from './lib/soak-stats.ts';

const DEFAULT_RUNS = 100;
/** A boot takes ~4 s under TCG here: 60 s is a hang, not a slow machine. */
const BOOT_LIMIT_MS = 60_000;
/** After the limit chrootvm gets SIGTERM (it stops its VM and cleans up), then SIGKILL. */
const KILL_GRACE_MS = 5_000;

type BootResult =
  | { kind: 'ok'; ms: number }
  | { kind: 'failed'; ms: number; why: string }
  | { kind: 'hung' };

function boot(rootfs: string): Promise<BootResult> {
  const started = performance.now();
  const child = spawn(join(projectRoot, 'bin/chrootvm'), [rootfs, 'true'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  let hung = false;
  const limit = setTimeout(() => {
    hung = true;
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS).unref();
  }, BOOT_LIMIT_MS);
  return new Promise((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(limit);
      const ms = performance.now() - started;
      if (hung) resolve({ kind: 'hung' });
      else if (code === 0) resolve({ kind: 'ok', ms });
      else resolve({ kind: 'failed', ms, why: `${signal ? `killed by ${signal}` : `exit status ${code}`}: ${output.trim().split('\n').slice(-5).join('\n  ')}` });
    }),
  );
}

function parseRuns(text: string | undefined): number {
  if (text === undefined || text === '') return DEFAULT_RUNS;
  const runs = Number(text);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`SOAK_RUNS=${text}: expected a whole number of boots, at least 1`);
  return runs;
}

async function main(argv: string[]): Promise<number> {
  if (argv.length !== 1) {
    process.stderr.write('usage: soak.ts ROOTFS   (SOAK_RUNS=N boots, default 100)\n');
    return 2;
  }
  const rootfs = argv[0]!;
  const runs = parseRuns(process.env.SOAK_RUNS);
  const times: number[] = [];
  const problems: string[] = [];
  for (let run = 1; run <= runs; run++) {
    const result = await boot(rootfs);
    if (result.kind === 'ok') times.push(result.ms);
    else problems.push(result.kind === 'hung' ? `boot ${run}: hung (no result within ${BOOT_LIMIT_MS / 1000} s)` : `boot ${run}: failed after ${(result.ms / 1000).toFixed(2)} s, ${result.why}`);
    const shown = result.kind === 'hung' ? 'HUNG' : `${(result.ms / 1000).toFixed(2)} s${result.kind === 'failed' ? ' FAILED' : ''}`;
    process.stdout.write(`soak: boot ${run}/${runs}: ${shown}\n`);
  }
  const hangs = problems.filter((line) => line.includes(': hung')).length;
  process.stdout.write(`soak: ${runs} boots of ${rootfs}: ${times.length} ok, ${problems.length - hangs} failed, ${hangs} hung\n`);
  const spread = distribution(times);
  if (spread) process.stdout.write(`soak: ${formatDistribution(spread)}\n`);
  for (const problem of problems) process.stdout.write(`soak: ${problem}\n`);
  return problems.length === 0 ? 0 : 1;
}

process.exitCode = await main(process.argv.slice(2));
