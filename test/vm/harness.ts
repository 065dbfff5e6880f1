/**
 * Booting VMs from tests: run chrootvm (or qemu) as a process and collect what came back. VM tests
 * skip only when qemu itself is missing, and say so; a missing demo rootfs is a failure (make test
 * builds it).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess, type ChildProcessByStdio } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Status } from '../../init/status-line.ts';
import { chooseAccel } from '../../scripts/lib/accel.ts';
import { builtFfiModule, builtInit } from '../../scripts/lib/artifacts.ts';
import { Cleanup } from '../../scripts/lib/cleanup.ts';
import { cacheDirectory, cachedInitrd } from '../../scripts/lib/initrd-cache.ts';
import { pickKernel } from '../../scripts/lib/kernels.ts';
import { makeRunDirectory } from '../../scripts/lib/run-directory.ts';
import { withTimeout } from '../../scripts/lib/timed-chrootvm.ts';
import { runVm } from '../../scripts/lib/vm.ts';
import { extractVmlinux } from '../../scripts/lib/vmlinux.ts';
import { DEMO_ROOTFS } from '../demo.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
export const CHROOTVM = join(ROOT, 'bin/chrootvm');

export { DEMO_ROOTFS };

export const skipWithoutQemu: string | false = spawnSync('qemu-system-x86_64', ['--version']).error
  ? 'qemu-system-x86_64 is not installed: VM tests cannot boot anything'
  : false;

/** Generous: a TCG boot takes seconds, and CI machines are slower and noisier than ours. */
export const VM_TEST_TIMEOUT_MS = 180_000;

/**
 * Every chrootvm a test starts gets this --timeout unless it names its own: a guest kernel that
 * hangs under TCG (seen here: both vCPUs spinning after "IP idents hash table entries") then ends
 * as exit 124 with the kernel's last messages, before the test's own limit, and leaves no VM
 * running that would keep the test file from ever finishing.
 */
const RUN_LIMIT_SECONDS = VM_TEST_TIMEOUT_MS / 1000 - 30;

export function withRunLimit(args: readonly string[]): string[] {
  return withTimeout(args, RUN_LIMIT_SECONDS);
}

export function requireDemoRootfs(): string {
  if (!existsSync(join(DEMO_ROOTFS, 'bin/busybox'))) {
    throw new Error(`${DEMO_ROOTFS} is missing: run \`make demo-rootfs\` (make test does)`);
  }
  return DEMO_ROOTFS;
}

export interface Result {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Running {
  child: ChildProcess;
  result: Promise<Result>;
  /** Resolves once `text` has appeared on stderr (or stdout). */
  waitFor(text: string): Promise<void>;
}

export interface ChrootvmOptions {
  cwd?: string;
  /** Variables set for chrootvm on top of chrootvmEnv(). */
  env?: NodeJS.ProcessEnv;
  /** chrootvm's stdin: /dev/null (the default), or a pipe the test writes to (child.stdin). */
  stdin?: 'ignore' | 'pipe';
}

export function startChrootvm(args: readonly string[], options: ChrootvmOptions = {}): Running {
  return startProcess(CHROOTVM, withRunLimit(args), chrootvmEnv(options.env), options.stdin ?? 'ignore', options.cwd);
}

function startProcess(program: string, args: readonly string[], env: NodeJS.ProcessEnv, stdin: 'ignore' | 'pipe', cwd = ROOT): Running {
  return watch(spawn(program, args, { cwd, env, stdio: [stdin, 'pipe', 'pipe'] }), program);
}

/** A started process's output and end, for waiting on what it prints; `program` names it in errors. */
export function watch(child: ChildProcess, program: string): Running {
  let stdout = '';
  let stderr = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  const check = () => {
    for (const waiter of [...waiters]) {
      if (stdout.includes(waiter.text) || stderr.includes(waiter.text)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  };
  // Decoded by a stream decoder: a character split across two reads must not become two U+FFFDs.
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => ((stdout += chunk), check()));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => ((stderr += chunk), check()));
  const result = new Promise<Result>((resolveResult) =>
    child.on('close', (status, signal) => resolveResult({ status, signal, stdout, stderr })),
  );
  return {
    child,
    result,
    waitFor: (text) =>
      new Promise<void>((resolveWait, reject) => {
        waiters.push({ text, resolve: resolveWait });
        check();
        void result.then((r) => reject(new Error(`${program} ended before "${text}" appeared: ${JSON.stringify(r)}`)));
      }),
  };
}

export function chrootvm(args: readonly string[], options: ChrootvmOptions = {}): Promise<Result> {
  return startChrootvm(args, options).result;
}

/**
 * Types `input` into the interactive shell `child` runs on a terminal (script(1) around chrootvm)
 * once its root prompt shows; resolves with the exit status and everything the terminal showed.
 */
export async function typeIntoShell(child: ChildProcessByStdio<Writable, Readable, Readable>, input: string): Promise<{ status: number | null; output: string }> {
  let output = '';
  const prompt = new Promise<void>((resolvePrompt) =>
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('# ')) resolvePrompt();
    }),
  );
  const status = new Promise<number | null>((resolveStatus) => child.on('close', resolveStatus));
  await prompt;
  child.stdin.write(input);
  return { status: await status, output };
}

/**
 * `chrootvm ARGS` on a real terminal, as a user's would be (script(1)), typing `input` once a
 * root prompt shows (typeIntoShell).
 */
export function chrootvmOnTerminal(args: readonly string[], input: string, env: NodeJS.ProcessEnv = {}): Promise<{ status: number | null; output: string }> {
  const line = [CHROOTVM, ...withRunLimit(args)].map((word) => `'${word}'`).join(' ');
  const child = spawn('script', ['-qec', line, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: chrootvmEnv(env) });
  return typeIntoShell(child, input);
}

/**
 * A bash script run as a user types it, with $CHROOTVM and $ROOTFS (the demo rootfs) set and
 * chrootvm's TMPDIR as for every run here: for pipelines, redirections and argument bytes that
 * Node's own spawn cannot express.
 */
export function shell(script: string, options: { stdin?: 'ignore' | 'pipe' } = {}): Running {
  return startProcess('bash', ['-c', script], chrootvmEnv({ CHROOTVM, ROOTFS: requireDemoRootfs() }), options.stdin ?? 'ignore');
}

/**
 * This test file's own temporary root (node --test runs each file in a process of its own). Every
 * chrootvm the harness starts gets its TMPDIR below it, so what a run leaves behind (temp dirs,
 * processes naming its sockets) is told from any other VM on the host, and never mixed up with them.
 */
export const TEST_TMP = mkdtempSync(join(tmpdir(), 'virtinitrd-test-'));
/** chrootvm's TMPDIR in these tests: its private temp dirs are created here. */
export const CHROOTVM_TMPDIR = join(TEST_TMP, 'chrootvm');
mkdirSync(CHROOTVM_TMPDIR);
/** Temp dirs of bootForStatus, in TEST_TMP; its qemu and virtiofsd name paths inside them. */
const STATUS_BOOT_PREFIX = 'status-boot-';
process.once('exit', () => rmSync(TEST_TMP, { recursive: true, force: true }));

/** The environment chrootvm runs with here: ours, TMPDIR inside TEST_TMP, then `extra`. */
export function chrootvmEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, TMPDIR: CHROOTVM_TMPDIR, ...extra };
}

/** qemu and virtiofsd processes whose command line mentions `marker` (a path only this test file uses). */
export function processesMentioning(marker: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmdline.includes(marker) && /qemu|virtiofsd/.test(cmdline)) found.push(`${pid}: ${cmdline}`);
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

/** What this file's runs may leave behind: compared before and after a case. */
export interface Leftovers {
  tempDirs: string[];
  processes: string[];
  mounts: string[];
}

export function leftovers(): Leftovers {
  return {
    tempDirs: [...readdirSync(CHROOTVM_TMPDIR), ...readdirSync(TEST_TMP).filter((name) => name.startsWith(STATUS_BOOT_PREFIX))],
    processes: processesMentioning(TEST_TMP),
    mounts: readFileSync('/proc/self/mounts', 'utf8').split('\n').filter((line) => line.includes(TEST_TMP) || line.includes(SCRATCH_PARENT)),
  };
}

export function assertNothingLeft(before: Leftovers): void {
  assert.deepEqual(leftovers(), before);
}

/**
 * Scratch copies of the demo rootfs are hard-linked, which only works on the demo rootfs's own
 * filesystem: they are made beside it in .cache/scratch, never in TMPDIR (often a tmpfs).
 */
const SCRATCH_PARENT = join(ROOT, '.cache/scratch');
let scratch: Promise<string> | undefined;

/** This process's scratch directory, made on first use (those of test runs that died go then). */
function scratchDirectory(): Promise<string> {
  scratch ??= (async () => {
    mkdirSync(SCRATCH_PARENT, { recursive: true });
    const made = await makeRunDirectory(SCRATCH_PARENT, 'run');
    process.once('exit', () => rmSync(made, { recursive: true, force: true }));
    return made;
  })();
  return scratch;
}

/**
 * A copy of the demo rootfs made of hard links, in no time and no space: entries may be added,
 * removed or replaced (a new inode), never written in place, or the demo's own files would change.
 */
export async function linkedDemoCopy(name: string, change: (root: string) => Promise<void> = async () => {}): Promise<string> {
  const root = join(await scratchDirectory(), name);
  const copy = spawnSync('cp', ['-al', requireDemoRootfs(), root], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (copy.status !== 0) throw new Error(`cp -al ${DEMO_ROOTFS} ${root}: ${copy.stderr.split('\n').slice(0, 5).join('\n') || copy.error?.message}`);
  await change(root);
  return root;
}

export interface StatusBoot {
  /** The kernel command line after console= and panic=: formatBootParameters' words, raw words, or both. */
  cmdline: readonly string[];
  /** Served as the tag "rootfs" (default: the demo rootfs). */
  rootfs?: string;
  /** More shares, tag to host directory. */
  shares?: Readonly<Record<string, string>>;
  /** Tags of `shares` served writable (for mount=, which the guest mounts read-write); the rest read-only. */
  writable?: readonly string[];
  /** Another initrd than the one chrootvm would build for the rootfs's kernel. */
  initrd?: string;
  /** Run mode (the command line holds virtinitrd.run): the command sent over the control port, started in /. */
  run?: readonly string[];
  /** qemu is killed after this long: a guest that never powers off must not hang the test run. */
  timeoutMs: number;
}

export interface StatusBootResult {
  /** What the init reported on ttyS1, as chrootvm reads it. */
  status: Status | undefined;
  /** The kernel's console (ttyS2). */
  kernelLog: string;
  /** ttyS0: what the guest's programs wrote. */
  console: string;
  /** Run mode: the command's stdout and stderr. */
  output: { stdout: string; stderr: string };
  timedOut: boolean;
  seconds: number;
}

/**
 * Boots the init with qemu and one virtiofsd per share, as chrootvm would but with any kernel command
 * line, and reads back the status line: for the faults chrootvm itself never lets through.
 */
export async function bootForStatus(boot: StatusBoot): Promise<StatusBootResult> {
  const rootfs = boot.rootfs ?? requireDemoRootfs();
  const { kernel, moddir } = await pickKernel(rootfs);
  const [initrd, pvh, accel] = await Promise.all([
    boot.initrd ?? cachedInitrd({ init: builtInit, ffiModule: builtFfiModule, moddir, extraModules: [] }, 'lz4', () => {}),
    extractVmlinux(kernel, cacheDirectory()),
    chooseAccel('auto'),
  ]);
  const workdir = await mkdtemp(join(TEST_TMP, STATUS_BOOT_PREFIX));
  const cleanup = new Cleanup();
  try {
    const end = await runVm(
      {
        workdir,
        kernel: pvh.path ?? kernel,
        initrd,
        memoryMiB: 512,
        cpus: 1,
        accel: accel.accel,
        shares: Object.entries({ ...boot.shares, rootfs }).map(([tag, path]) => ({ tag, path, readonly: !boot.writable?.includes(tag) })),
        cmdline: ['console=ttyS2', 'panic=-1', ...boot.cmdline].join(' '),
        interactive: false,
        console: 'collect',
        ...(boot.run && {
          run: {
            request: { argv: boot.run.map((word) => Buffer.from(word)), env: [], cwd: Buffer.from('/'), interactive: false },
            streams: { stdout: 'collect', stderr: 'collect' },
          },
        }),
        timeoutMs: boot.timeoutMs,
      },
      cleanup,
    );
    return {
      status: end.status,
      kernelLog: end.kernelLog,
      console: end.console,
      output: end.output,
      timedOut: end.stoppedBecause?.timeout === true,
      seconds: end.seconds,
    };
  } finally {
    await cleanup.run();
    await rm(workdir, { recursive: true, force: true });
  }
}

function fetchBytes(port: number, path: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => (response.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`HTTP ${response.statusCode}`))));
    }).on('error', reject);
  });
}

/** An HTTP GET of a server a VM publishes on 127.0.0.1:`port`, retried while the guest's server is not listening yet (the forward accepts, then resets). */
export async function fetchWhenUp(port: number, path: string): Promise<Buffer> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      return await fetchBytes(port, path);
    } catch (cause) {
      if (Date.now() > deadline) throw cause;
      await sleep(200);
    }
  }
}
