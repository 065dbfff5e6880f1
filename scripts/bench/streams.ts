/**
 * The command's streams under load: 16 MiB through stdout, stderr and stdin, each timed against the
 * same command without the transfer (its output to /dev/null in the guest, or no input at all). The difference is what the stream costs; its rate is the stream's throughput.
 */
import { runChrootvm } from '../lib/timed-chrootvm.ts';
import { summarize, type Summary } from './stats.ts';

export const STREAM_BYTES = 16 * 2 ** 20;

interface StreamCase {
  stream: 'stdout' | 'stderr' | 'stdin';
  /** The command that moves STREAM_BYTES through the stream, and its input if it reads stdin. */
  measured: { command: string; input?: Buffer };
  /** The same work in the guest without the stream. */
  baseline: string;
  /** What the measured run must have printed: the bytes all arrived. */
  check(run: { stdout: string; stderr: string }): boolean;
}

const zeros = `head -c ${STREAM_BYTES} /dev/zero`;
const CASES: StreamCase[] = [
  { stream: 'stdout', measured: { command: zeros }, baseline: `${zeros} >/dev/null`, check: (run) => run.stdout.length === STREAM_BYTES },
  { stream: 'stderr', measured: { command: `${zeros} >&2` }, baseline: `${zeros} >/dev/null`, check: (run) => run.stderr.length === STREAM_BYTES },
  {
    stream: 'stdin',
    measured: { command: 'wc -c', input: Buffer.alloc(STREAM_BYTES) },
    // Making the bytes in the guest (head | wc) costs more than reading them from the port: the
    // baseline is the same command with nothing to read.
    baseline: 'wc -c </dev/null',
    check: (run) => run.stdout.trim() === String(STREAM_BYTES),
  },
];

export interface StreamResult {
  stream: StreamCase['stream'];
  bytes: number;
  measured: Summary;
  baseline: Summary;
  /** Bytes per second the stream moved: its bytes over the median extra seconds; undefined when the noise hid them. */
  bytesPerSecond: number | undefined;
}

async function timed(rootfs: string, command: string, timeoutMs: number, input?: Buffer): Promise<{ seconds: number; stdout: string; stderr: string }> {
  const run = await runChrootvm([rootfs, 'sh', '-c', command], timeoutMs, input);
  if (run.exitCode !== 0) throw new Error(`streams: chrootvm ${rootfs} sh -c '${command}' exited with ${run.exitCode}: ${run.stderr.slice(-500)}`);
  return run;
}

export async function measureStreams(rootfs: string, boots: number, timeoutMs: number, progress: (text: string) => void): Promise<StreamResult[]> {
  const results: StreamResult[] = [];
  for (const streamCase of CASES) {
    const measured: number[] = [];
    const baseline: number[] = [];
    for (let boot = 1; boot <= boots; boot++) {
      const run = await timed(rootfs, streamCase.measured.command, timeoutMs, streamCase.measured.input);
      if (!streamCase.check(run)) throw new Error(`streams: ${streamCase.stream} did not carry ${STREAM_BYTES} bytes`);
      measured.push(run.seconds);
      baseline.push((await timed(rootfs, streamCase.baseline, timeoutMs)).seconds);
      progress(`${streamCase.stream} ${boot}/${boots}: ${run.seconds.toFixed(2)} s, without the stream ${baseline.at(-1)!.toFixed(2)} s`);
    }
    const [withStream, without] = [summarize(measured), summarize(baseline)];
    const extra = withStream.median - without.median;
    results.push({ stream: streamCase.stream, bytes: STREAM_BYTES, measured: withStream, baseline: without, bytesPerSecond: extra > 0 ? STREAM_BYTES / extra : undefined });
  }
  return results;
}
