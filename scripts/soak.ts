/**
 * `make soak`: boot ROOTFS with `chrootvm ROOTFS true` SOAK_RUNS times in a row (default 100), each
 * under a hard time limit, and report the hangs, the failures and the boot-time distribution.
 * Exits 1 when any boot hung or failed: one bad boot in a hundred is a bug, not noise.
 */
import { distribution, formatDistribution } from './lib/soak-stats.ts';
import { runChrootvm } from './lib/timed-chrootvm.ts';

const DEFAULT_RUNS = 100;
/** A boot takes ~4 s under TCG here: 60 s is a hang, not a slow machine. */
const BOOT_LIMIT_MS = 60_000;

type BootResult =
  | { kind: 'ok'; ms: number }
  | { kind: 'failed'; ms: number; why: string }
  | { kind: 'hung'; why: string };

async function boot(rootfs: string): Promise<BootResult> {
  const run = await runChrootvm([rootfs, 'true'], BOOT_LIMIT_MS);
  const ms = run.seconds * 1000;
  if (run.exitCode === 0 && !run.timedOut) return { kind: 'ok', ms };
  // The kernel's last messages, for a hang: where the boot stopped.
  const output = `${run.stdout}${run.stderr}`.trim().split('\n').slice(-5).join('\n  ');
  if (run.timedOut) return { kind: 'hung', why: output };
  return { kind: 'failed', ms, why: `${run.signal ? `killed by ${run.signal}` : `exit status ${run.exitCode}`}: ${output}` };
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
    else problems.push(result.kind === 'hung' ? `boot ${run}: hung (no result within ${BOOT_LIMIT_MS / 1000} s): ${result.why}` : `boot ${run}: failed after ${(result.ms / 1000).toFixed(2)} s, ${result.why}`);
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
