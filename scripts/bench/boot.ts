/**
 * chrootvm --boot: a tree booted by its own init (busybox's, systemd) up to the point where the
 * init starts the command. With --debug the init logs when it started and when it exec'd the
 * tree's init (CLOCK_MONOTONIC), and the command prints the guest's uptime as it starts: for
 * systemd that is multi-user.target reached, as the command's unit is ordered after it.
 */
import { findMarkers, requireMarkers } from './log-markers.ts';
import { summarize, type Summary } from './stats.ts';
import { runChrootvm } from '../lib/timed-chrootvm.ts';

export interface BootTimes {
  /** Our init's start → the tree's init exec'd (guest clock). */
  ourInit: Summary;
  /** The tree's init → the command started (guest clock). */
  systemUp: Summary;
  /** chrootvm's whole run: boot, command, power-off (host clock). */
  wall: Summary;
}

const COMMAND = ['sh', '-c', 'echo "command-at $(cut -d" " -f1 /proc/uptime)"'];

export async function measureBoot(name: string, args: readonly string[], runs: number, timeoutMs: number, progress: (text: string) => void): Promise<BootTimes> {
  const samples = { ourInit: [] as number[], systemUp: [] as number[], wall: [] as number[] };
  for (let index = 1; index <= runs; index++) {
    const run = await runChrootvm(['--debug', '--boot', ...args, ...COMMAND], timeoutMs);
    if (run.exitCode !== 0) throw new Error(`--boot ${name}: chrootvm exited with ${run.exitCode}: ${run.stderr.trim().split('\n').slice(-5).join('\n')}`);
    const markers = requireMarkers(findMarkers(run.stdout), ['jsStart', 'systemInit'], `--boot ${name}`);
    // Interleaved with the console (the terminal with --debug): found anywhere on a line.
    const commandAt = /command-at (\d+\.\d+)\r?$/m.exec(run.stdout);
    if (!commandAt) throw new Error(`--boot ${name}: the command's uptime line is missing`);
    samples.ourInit.push(markers.systemInit - markers.jsStart);
    samples.systemUp.push(Number(commandAt[1]) - markers.systemInit);
    samples.wall.push(run.seconds);
    progress(`--boot ${name} ${index}/${runs}: our init ${samples.ourInit.at(-1)!.toFixed(2)} s, the system up ${samples.systemUp.at(-1)!.toFixed(2)} s, wall ${run.seconds.toFixed(2)} s`);
  }
  return { ourInit: summarize(samples.ourInit), systemUp: summarize(samples.systemUp), wall: summarize(samples.wall) };
}
