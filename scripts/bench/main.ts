/**
 * `make bench`: boots one kernel and rootfs as A (chrootvm), B (busybox floor) and C (bare runtime),
 * alternating, then the guest's phases from the init's own log, then the initrd codecs, then the
 * throughput of the command's stdout, stderr and stdin, then --overlay, --net and --image --rw, then rootless against root,
 * then --boot of the rootfs and of a Debian tree with systemd, then chrootvm's start → qemu exec;
 * prints tables and ratios, writes
 * build/bench/results.json and build/bench/timeline.svg.
 *
 *   node scripts/bench/main.ts [ROOTFS]     BENCH_RUNS=N (default 5), BENCH_MEMORY=1 (memory bisection)
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Codec } from '../../packer/compress.ts';
import { chooseAccel } from '../lib/accel.ts';
import { builtInit, projectRoot } from '../lib/artifacts.ts';
import { cacheDirectory, CHROOTVM_CODEC } from '../lib/initrd-cache.ts';
import { pickKernel } from '../lib/kernels.ts';
import { extractVmlinux } from '../lib/vmlinux.ts';
import { smallestPassing, steps, type Probe } from './bisect.ts';
import { benchDirectory, bareSea, floorInitrd, normalInitrd, pruneInitrds } from './builds.ts';
import { BOOT_SEQUENCE, findMarkers, phasesOf, requireMarkers, span, type Markers } from './log-markers.ts';
import { computeRatios } from './ratios.ts';
import { measureFeatures } from './features.ts';
import { measureBoot } from './boot.ts';
import { measureHostStart } from './host-start.ts';
import { measureRootless } from './rootless.ts';
import { measureStreams, STREAM_BYTES } from './streams.ts';
import { summarize, typicalIndex, type Summary } from './stats.ts';
import { mebibytes, renderTable, seconds } from './table.ts';
import { renderTimeline } from './timeline-svg.ts';
import { lastLines } from '../lib/processes.ts';
import { runChrootvm } from '../lib/timed-chrootvm.ts';
import { bootDirect, type DirectVm } from './vm.ts';

/** chrootvm's defaults, so that B and C run in A's VM. */
const MEMORY_MIB = 1024;
const CPUS = 2;
/** chrootvm's command-mode console setup (the kernel on ttyS2), without its run request. */
const CMDLINE = 'console=ttyS2 panic=-1';
const BOOT_TIMEOUT_MS = 120_000;
/** Memory bisection: the range and step searched, one boot's limit, and the limit for the whole search. */
const MEMORY_RANGE = { from: 160, to: 512, step: 16 };
const MEMORY_BOOT_TIMEOUT_S = 45;
const MEMORY_BUDGET_MS = 30 * 60_000;
/** In the kernel's order of preference for a boot: unpacked size first, then the fast decoders. */
const CODEC_ORDER: readonly Codec[] = ['none', 'lz4', 'zstd', 'gzip', 'xz'];
/** Boots per codec for its unpack time (the median): one boot is at the mercy of a noisy host. */
const CODEC_BOOTS = 3;
/** The tree `make debian-systemd-rootfs` builds, booted by its systemd. */
const SYSTEMD_ROOTFS = join(projectRoot, '.cache/debian/bookworm-systemd');
/** Runs of the host-start measurement per BENCH_RUNS. */
const HOST_START_RUNS_PER_RUN = 4;
/** Boots per stream, with and without the transfer. */
const STREAM_BOOTS = 3;

const CLOCK_NOTE = [
  'Kernel lines carry printk time, init lines CLOCK_MONOTONIC: under TCG the two drift apart by tens of',
  'ms, so a phase that crosses from one to the other (/init started → JS started, command ended → power',
  'down) is only that exact, and can come out negative.',
  '',
].join('\n');

const progress = (text: string) => process.stderr.write(`bench: ${text}\n`);

function runsFrom(env: NodeJS.ProcessEnv): number {
  const text = env.BENCH_RUNS ?? '5';
  const runs = Number(text);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`BENCH_RUNS=${text}: expected a whole number ≥ 1`);
  return runs;
}

interface Variant {
  id: 'A' | 'B' | 'C';
  name: string;
  /** One boot; throws unless the guest got to the end. Returns the wall seconds and the guest log. */
  boot(): Promise<{ seconds: number; log: string }>;
}

async function chrootvmOk(args: readonly string[], what: string): Promise<{ seconds: number; log: string }> {
  const run = await runChrootvm(args, BOOT_TIMEOUT_MS);
  if (run.exitCode !== 0) {
    // With --debug the kernel's and the init's messages are on the console (stdout): where a boot stopped.
    throw new Error(`${what}: chrootvm ${args.join(' ')} exited with ${run.exitCode}: ${lastLines(run.stderr, 5)}${run.stdout.trim() ? `\nits console's last lines:\n${lastLines(run.stdout, 20)}` : ''}`);
  }
  return { seconds: run.seconds, log: run.stdout };
}

function summaryRow(name: string, summary: Summary): string[] {
  return [name, seconds(summary.median), seconds(summary.min), seconds(summary.max)];
}

async function main(): Promise<void> {
  const benchStarted = performance.now();
  const rootfs = resolve(process.argv[2] ?? join(projectRoot, '.cache/demo/rootfs'));
  const runs = runsFrom(process.env);
  if (!existsSync(builtInit)) throw new Error(`${builtInit} not found: run make all`);
  const kernel = await pickKernel(rootfs);
  const pvh = await extractVmlinux(kernel.kernel, cacheDirectory());
  const accel = await chooseAccel('auto');
  progress(`kernel ${kernel.version}, ${pvh.path ? 'PVH vmlinux' : 'bzImage'}, ${accel.accel}; ${runs} runs each`);

  const directory = await benchDirectory();
  progress('building the floor initrd, the bare SEA and its initrd');
  const floor = await floorInitrd(builtInit, rootfs, kernel.moddir, directory);
  const bare = await bareSea(directory);
  // Packed as chrootvm packs A's, so that C differs from A only in the script.
  const bareInitrd = await normalInitrd(bare.path, kernel.moddir, CHROOTVM_CODEC, directory);
  const vm: DirectVm = { kernel: pvh.path ?? kernel.kernel, rootfs, accel: accel.accel, memoryMiB: MEMORY_MIB, cpus: CPUS };

  const variants: Variant[] = [
    { id: 'A', name: 'A chrootvm ROOTFS true', boot: () => chrootvmOk([rootfs, 'true'], 'A') },
    {
      id: 'B',
      name: 'B busybox floor',
      async boot() {
        const boot = await bootDirect(vm, floor, CMDLINE, BOOT_TIMEOUT_MS);
        if (boot.status?.kind !== 'exit' || boot.status.code !== 0) throw new Error(`B: status ${JSON.stringify(boot.status)}, ${boot.ending}`);
        return { seconds: boot.seconds, log: boot.kernelLog };
      },
    },
    {
      id: 'C',
      name: 'C bare runtime (SEA + ffi-rs reboot)',
      async boot() {
        const boot = await bootDirect(vm, bareInitrd.path, CMDLINE, BOOT_TIMEOUT_MS);
        // No status port in C: it powers off and nothing else, and qemu says so.
        if (boot.shutdownReason !== 'guest-shutdown') throw new Error(`C: ${boot.ending}`);
        return { seconds: boot.seconds, log: boot.kernelLog };
      },
    },
  ];
  progress('warm-up: one untimed boot of A, B and C');
  for (const variant of variants) await variant.boot();
  const wall: Record<Variant['id'], number[]> = { A: [], B: [], C: [] };
  const bareLogs: Markers[] = [];
  for (let run = 1; run <= runs; run++) {
    for (const variant of variants) {
      const { seconds: wallSeconds, log } = await variant.boot();
      wall[variant.id].push(wallSeconds);
      if (variant.id === 'C') bareLogs.push(findMarkers(log));
      progress(`run ${run}/${runs} ${variant.id}: ${seconds(wallSeconds)} s`);
    }
  }
  const bareRuntime = bareLogs.map((markers) => span(markers, 'runInit', 'powerDown', 'C kernel log'));
  const bareNodeStartup = bareLogs.map((markers) => span(markers, 'runInit', 'jsStart', 'C kernel log'));

  const debugBoots: Record<(typeof BOOT_SEQUENCE)[number], number>[] = [];
  for (let run = 1; run <= runs; run++) {
    const { log } = await chrootvmOk(['--debug', rootfs, 'true'], 'phases');
    debugBoots.push(requireMarkers(findMarkers(log), BOOT_SEQUENCE, `chrootvm --debug boot ${run}`));
    progress(`phases ${run}/${runs}: power down at ${seconds(debugBoots.at(-1)!.powerDown)} s guest time`);
  }
  const phaseRuns = debugBoots.map((markers) => phasesOf(markers, BOOT_SEQUENCE));
  const phaseSummaries = phaseRuns[0]!.map((phase, index) => ({ name: phase.name, summary: summarize(phaseRuns.map((phases) => phases[index]!.seconds)) }));
  const initPhase = debugBoots.map((markers) => markers.commandStarted - markers.runInit);
  const initSteps = debugBoots.map((markers) => markers.commandStarted - markers.jsStart);
  const shown = typicalIndex(debugBoots.map((markers) => markers.powerDown));

  const codecResults: { codec: Codec; bytes: number; path: string; unpackSeconds: number; wallSeconds: number; minMemoryMiB?: number; probes?: Probe[]; note?: string }[] = [];
  const codecInitrds: { codec: Codec; path: string; bytes: number; unpacks: number[]; walls: number[] }[] = [];
  for (const codec of CODEC_ORDER) {
    progress(`codec ${codec}: packing (cached by content)`);
    codecInitrds.push({ codec, ...(await normalInitrd(builtInit, kernel.moddir, codec, directory)), unpacks: [], walls: [] });
  }
  // Alternating, like A, B and C: a slow spell of the host then spreads over every codec.
  for (let boot = 1; boot <= CODEC_BOOTS; boot++) {
    progress(`codecs ${boot}/${CODEC_BOOTS}: one boot each`);
    for (const initrd of codecInitrds) {
      const { seconds: wallSeconds, log } = await chrootvmOk(['--debug', '--initrd', initrd.path, rootfs, 'true'], `codec ${initrd.codec}`);
      initrd.unpacks.push(span(findMarkers(log), 'unpackStart', 'unpackEnd', `codec ${initrd.codec} boot ${boot}`));
      initrd.walls.push(wallSeconds);
    }
  }
  for (const { codec, bytes, path, unpacks, walls } of codecInitrds) {
    codecResults.push({ codec, bytes, path, unpackSeconds: summarize(unpacks).median, wallSeconds: summarize(walls).median });
  }
  await pruneInitrds(directory, [bareInitrd.path, ...codecResults.map((result) => result.path)]);
  progress(`streams: ${mebibytes(STREAM_BYTES)} MiB each way, ${STREAM_BOOTS} boots each, with and without the transfer`);
  const streams = await measureStreams(rootfs, STREAM_BOOTS, BOOT_TIMEOUT_MS, progress);
  progress(`features: ${runs} boots each of a plain run, --overlay, --net, and --image --rw then and now`);
  const features = await measureFeatures(rootfs, directory, runs, BOOT_TIMEOUT_MS, progress);
  progress(`rootless: ${runs} boots as root and as an ordinary user, alternating`);
  const rootless = await measureRootless(rootfs, runs, BOOT_TIMEOUT_MS, progress);
  progress(`--boot: ${runs} boots each of the rootfs by its own init and of a Debian tree by systemd`);
  const boots = {
    busybox: await measureBoot('ROOTFS', [rootfs], runs, BOOT_TIMEOUT_MS, progress),
    systemd: existsSync(SYSTEMD_ROOTFS) ? await measureBoot('Debian (systemd)', ['--kernel-from', rootfs, SYSTEMD_ROOTFS], runs, BOOT_TIMEOUT_MS, progress) : undefined,
  };
  // Cheap (no VM boots), and milliseconds are noisier than seconds: more runs.
  const startRuns = runs * HOST_START_RUNS_PER_RUN;
  progress(`start → qemu exec: ${startRuns} runs each of node -e 0 and chrootvm (without its memos, from the checkout, installed)`);
  const hostStart = await measureHostStart(rootfs, startRuns, progress);
  let memorySeconds: number | undefined;
  if (process.env.BENCH_MEMORY === '1') {
    const memoryStarted = performance.now();
    const candidates = steps(MEMORY_RANGE.from, MEMORY_RANGE.to, MEMORY_RANGE.step);
    for (const result of codecResults) {
      if (performance.now() - memoryStarted > MEMORY_BUDGET_MS) {
        result.note = `not searched: the memory search's ${MEMORY_BUDGET_MS / 60_000} min budget was spent`;
        continue;
      }
      const search = await smallestPassing(candidates, async (mib) => {
        const args = ['--initrd', result.path, '--memory', `${mib}M`, '--timeout', String(MEMORY_BOOT_TIMEOUT_S), rootfs, 'true'];
        const passed = (await runChrootvm(args, (MEMORY_BOOT_TIMEOUT_S + 30) * 1000)).exitCode === 0;
        progress(`memory ${result.codec} ${mib}M: ${passed ? 'boots' : 'fails'}`);
        return passed;
      });
      result.probes = search.probes;
      if (search.smallest === undefined) result.note = `does not boot with ${MEMORY_RANGE.to}M`;
      else result.minMemoryMiB = search.smallest;
    }
    memorySeconds = (performance.now() - memoryStarted) / 1000;
  }

  const sizes = {
    strippedRuntimeBytes: bare.strippedRuntimeBytes,
    icuDataBytes: bare.icuDataBytes,
    uncompressedInitrdBytes: codecResults.find((result) => result.codec === 'none')!.bytes,
  };
  const wallSummaries = { A: summarize(wall.A), B: summarize(wall.B), C: summarize(wall.C) };
  const ratios = computeRatios({
    chrootvmWall: wallSummaries.A.median,
    floorWall: wallSummaries.B.median,
    bareWall: wallSummaries.C.median,
    initPhase: summarize(initPhase).median,
    bareRuntime: summarize(bareRuntime).median,
    initSteps: summarize(initSteps).median,
    ...sizes,
  });

  const memoryColumn = (result: (typeof codecResults)[number]) =>
    result.minMemoryMiB !== undefined ? `${result.minMemoryMiB}M` : (result.note ?? 'BENCH_MEMORY=1');
  const output = [
    `Wall seconds on the host, ${runs} runs each (${accel.accel}, ${MEMORY_MIB}M, ${CPUS} CPUs, kernel ${kernel.version})`,
    renderTable(['variant', 'median', 'min', 'max'], variants.map((variant) => summaryRow(variant.name, wallSummaries[variant.id]))),
    `Guest phases of A with debug (guest seconds, ${runs} boots)`,
    renderTable(['phase', 'median', 'min', 'max'], [
      ...phaseSummaries.map(({ name, summary }) => summaryRow(name, summary)),
      summaryRow('init phase: /init started → command started', summarize(initPhase)),
      summaryRow("init's steps: JS started → command started", summarize(initSteps)),
      summaryRow('C: /init started → JS started', summarize(bareNodeStartup)),
      summaryRow('C: /init started → power down', summarize(bareRuntime)),
    ]),
    CLOCK_NOTE,
    `Initrd codecs (unpack in guest seconds and the boot's wall seconds with --debug, median of ${CODEC_BOOTS} boots, alternating; chrootvm's is ${CHROOTVM_CODEC})`,
    renderTable(
      ['codec', 'MiB', 'unpack s', 'wall s', 'min memory'],
      codecResults.map((result) => [result.codec, mebibytes(result.bytes), seconds(result.unpackSeconds), seconds(result.wallSeconds), memoryColumn(result)]),
    ),
    `The command's streams: ${mebibytes(STREAM_BYTES)} MiB each (wall seconds, median of ${STREAM_BOOTS} boots)`,
    renderTable(
      ['stream', 'with it', 'without', 'ratio', 'MB/s'],
      streams.map((result) => [
        result.stream,
        seconds(result.measured.median),
        seconds(result.baseline.median),
        `${(result.measured.median / result.baseline.median).toFixed(2)}x`,
        result.bytesPerSecond === undefined ? 'within noise' : (result.bytesPerSecond / 1e6).toFixed(1),
      ]),
    ),
    `What a feature costs: chrootvm … true, ${runs} boots each, alternating (the image: ROOTFS as a ${mebibytes(features.imageBytes)} MiB rootfs tar)`,
    renderTable(['run', 'median', 'min', 'max'], [
      summaryRow('ROOTFS (read-only)', features.plain),
      summaryRow('--overlay ROOTFS', features.overlay),
      summaryRow('--net ROOTFS', features.net),
      summaryRow('--image --rw before: cp -a of the tree, then --rw', features.imageCopyThenRw),
      summaryRow('--image --rw now: an overlay', features.imageOverlay),
    ]),
    `Rootless: chrootvm ROOTFS true as root and as an ordinary user (its own user namespace), ${runs} boots each, alternating`,
    'skipped' in rootless
      ? `skipped: ${rootless.skipped}\n`
      : renderTable(['runs as', 'median', 'min', 'max'], [summaryRow('root', rootless.root), summaryRow('ordinary user', rootless.rootless)]),
    `--boot: the tree's own init, up to where it starts the command (systemd: after multi-user.target), ${runs} boots each`,
    boots.systemd ? '' : `(no ${SYSTEMD_ROOTFS}: make debian-systemd-rootfs for the systemd row)\n`,
    renderTable(['system', "our init → the system's init", "the system's init → the command", 'wall (with power-off)'], [
      ...([['ROOTFS (its own init)', boots.busybox], ['Debian bookworm (systemd)', boots.systemd]] as const).flatMap(([name, times]) =>
        times ? [[name, seconds(times.ourInit.median), seconds(times.systemUp.median), seconds(times.wall.median)]] : [],
      ),
    ]),
    `Host side: chrootvm's start → qemu exec (a stand-in qemu records when it is exec'd; no VM), ${startRuns} runs each, alternating`,
    renderTable(['command', 'median', 'min', 'max', 'over node -e 0'], [
      [...summaryRow('node -e 0', hostStart.node), '-'],
      ...([
        ['chrootvm, its memos removed before each run', hostStart.forgetful],
        ['chrootvm from the checkout', hostStart.checkout],
        ['chrootvm installed (make install: bundled)', hostStart.installed],
      ] as const).map(([name, summary]) => [...summaryRow(name, summary), seconds(summary.median - hostStart.node.median)]),
    ]),
    'Ratios',
    renderTable(['ratio', 'value'], [
      ...ratios.map((ratio) => [ratio.name, ratio.text]),
      ['--overlay / plain (wall)', `${(features.overlay.median / features.plain.median).toFixed(2)}x`],
      ['--net / plain (wall)', `${(features.net.median / features.plain.median).toFixed(2)}x`],
      ['--image --rw now / before (wall)', `${(features.imageOverlay.median / features.imageCopyThenRw.median).toFixed(2)}x`],
      ...('skipped' in rootless ? [] : [['rootless / root (wall)', `${(rootless.rootless.median / rootless.root.median).toFixed(2)}x`]]),
      ['start → qemu: with memos / without (checkout)', `${(hostStart.checkout.median / hostStart.forgetful.median).toFixed(2)}x`],
      ['start → qemu: installed (bundled) / checkout', `${(hostStart.installed.median / hostStart.checkout.median).toFixed(2)}x`],
    ]),
  ].join('\n');
  process.stdout.write(output);

  const svgPath = join(directory, 'timeline.svg');
  const svgTitle = `chrootvm --debug ROOTFS true: guest phases (boot ${shown + 1} of ${runs}, ${accel.accel}, kernel ${kernel.version})`;
  await writeFile(svgPath, renderTimeline(svgTitle, phaseRuns[shown]!));
  const benchSeconds = (performance.now() - benchStarted) / 1000;
  const results = {
    date: new Date().toISOString(),
    rootfs,
    kernel: kernel.kernel,
    version: kernel.version,
    pvh: pvh.path !== undefined,
    accel: accel.accel,
    memoryMiB: MEMORY_MIB,
    cpus: CPUS,
    runs,
    wall: Object.fromEntries(variants.map((variant) => [variant.id, { name: variant.name, samples: wall[variant.id], summary: wallSummaries[variant.id] }])),
    bareRuntime: { runInitToPowerDown: bareRuntime, runInitToJsStart: bareNodeStartup },
    phases: { markers: debugBoots, shownInTimeline: shown, summary: phaseSummaries },
    initPhase,
    initSteps,
    codecs: codecResults.map(({ path: _path, ...result }) => result),
    streams,
    features,
    rootless,
    boots,
    hostStart,
    sizes: { ...sizes, floorInitrdPath: floor, bareInitrdBytes: bareInitrd.bytes },
    ratios,
    memorySearchSeconds: memorySeconds,
    benchSeconds,
  };
  await writeFile(join(directory, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  progress(`wrote ${svgPath} and ${join(directory, 'results.json')}; took ${seconds(benchSeconds)} s${memorySeconds === undefined ? '' : ` (memory search ${seconds(memorySeconds)} s)`}`);
}

await main().catch((cause: Error) => {
  process.stderr.write(`bench: ${cause.message}\n`);
  process.exitCode = 1;
});
