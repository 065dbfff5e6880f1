/**
 * mkvirtinitrd: write an initramfs for a kernel's module directory, or list what would go in.
 * Everything that can fail cheaply (operands, the init, the output directory, the plan) is checked
 * before the files are read and compressed; the output appears whole or not at all.
 */
import { constants } from 'node:os';
import { stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { messageOf } from '../init/sys/errors.ts';
import { canonical } from '../packer/kmod/names.ts';
import {
  buildInitrd,
  isNodeSea,
  planInitrd,
  planWholeSystem,
  type InitrdEntry,
  type InitrdPlan,
  type InitrdSpec,
  type WholeSystemPlan,
} from '../packer/index.ts';
import { encodeRunRequest, execLimitProblem, type RunRequest } from '../init/control-protocol.ts';
import { initrdPaths } from '../init/paths.ts';
import type { ImageProcess } from './lib/image/manifest.ts';
import { openImage } from './lib/image/open-image.ts';
import { imageCommand } from './lib/image/process-command.ts';
import { injectedEntries } from './lib/injected-files.ts';
import { builtFfiModule, builtInit, projectRoot } from './lib/artifacts.ts';
import { writeFileAtomic } from './lib/atomic-write.ts';
import { parseMkvirtinitrdArgs, parseSourceDateEpoch, USAGE, UsageError, type MkvirtinitrdOptions } from './lib/mkvirtinitrd-args.ts';
import { versionLine } from './lib/package-version.ts';
import { usageErrorText } from './lib/usage.ts';
import { currentPrivilege, ENTER_USER_NAMESPACE, gatherRootlessFacts, rootlessProblem } from './lib/user-namespace.ts';

const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;
const PROGRESS_AFTER_MS = 1000;
const MiB = 1024 * 1024;

// Each warning has a code so scripts can tell them apart; --strict turns every one into an error.
const WARNINGS = {
  W1: 'a --module is built into the kernel: nothing to add',
  W2: 'INIT is not a Node single-executable application: packed without ffi-rs, which only the virtinitrd init loads',
  W3: 'OUTPUT is inside MODDIR, a directory that belongs to the kernel package',
  W4: "with --rootfs/--image: the init's own files (its loader, libraries) replace the system's at the same paths",
  W5: 'with --rootfs/--image: fifos and sockets in the system are left out (a running system makes its own)',
} as const;

type Warning = { code: keyof typeof WARNINGS; message: string };

function fail(message: string): never {
  throw new Error(message);
}

async function statOrUndefined(path: string) {
  return stat(path).catch((cause: NodeJS.ErrnoException) => {
    if (cause.code === 'ENOENT' || cause.code === 'ENOTDIR') return undefined;
    throw cause;
  });
}

async function requireFile(path: string, missing: string): Promise<string> {
  const info = await statOrUndefined(path);
  if (info === undefined) fail(missing);
  if (!info.isFile()) fail(`${path} is not a regular file`);
  return path;
}

/** The init to pack, and ffi-rs's module when the init is a Node SEA (which dlopens it). */
async function chooseInit(init: string | undefined): Promise<{ init: string; ffiModule?: string }> {
  const path =
    init === undefined
      ? await requireFile(builtInit, `the init ${builtInit} is missing: run \`make\` in ${resolve(projectRoot)}, or give INIT`)
      : await requireFile(resolve(init), `INIT ${init} does not exist`);
  if (!(await isNodeSea(path))) return { init: path };
  const ffiModule = await requireFile(builtFfiModule, `ffi-rs's native module ${builtFfiModule} (loaded by the init) is missing: run \`make\` in ${resolve(projectRoot)}`);
  return { init: path, ffiModule };
}

async function checkOutputDirectory(output: string): Promise<void> {
  const directory = dirname(resolve(output));
  const info = await statOrUndefined(directory);
  if (info === undefined) fail(`cannot write OUTPUT ${output}: directory ${directory} does not exist`);
  if (!info.isDirectory()) fail(`cannot write OUTPUT ${output}: ${directory} is not a directory`);
  if ((await statOrUndefined(resolve(output)))?.isDirectory()) fail(`OUTPUT ${output} is a directory`);
}

function isInside(path: string, directory: string): boolean {
  const rel = relative(resolve(directory), resolve(path));
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

/**
 * The image's process as the init runs it when the kernel command line names no init=: its
 * Entrypoint and Cmd (or --entrypoint), Env, WorkingDir and User. Undefined when the image names
 * no process: the initramfs then boots /bin/sh, as any other.
 */
function imageProcessEntry(imageProcess: ImageProcess, entrypoint: string[] | undefined): InitrdEntry | undefined {
  const argv = imageCommand(imageProcess, [], entrypoint);
  if (argv.length === 0) return undefined;
  const request: RunRequest = {
    argv,
    env: imageProcess.env.map((entry) => Buffer.from(entry)),
    cwd: Buffer.from(imageProcess.workingDir || '/'),
    interactive: false,
    ...(imageProcess.user ? { user: imageProcess.user } : {}),
  };
  const tooBig = execLimitProblem(request);
  if (tooBig) fail(`the image's process: ${tooBig}`);
  return { kind: 'data', path: initrdPaths.imageProcess, data: Buffer.from(encodeRunRequest(request)), mode: 0o644, why: "the image's process, run unless init= is given" };
}

/** The whole system to pack (a directory, or an image extracted into the cache) and the init. */
async function planSystem(spec: InitrdSpec, options: MkvirtinitrdOptions & { system: NonNullable<MkvirtinitrdOptions['system']> }): Promise<WholeSystemPlan> {
  const { system } = options;
  const image = system.kind === 'image'
    ? await openImage(system.path, { pull: options.pull, tlsVerify: options.tlsVerify, program: 'mkvirtinitrd' }).catch((cause: Error) => fail(`--image ${system.path}: ${cause.message}`))
    : undefined;
  const root = image?.rootfs ?? resolve(system.path);
  const info = await statOrUndefined(root);
  if (!info?.isDirectory()) fail(`--rootfs ${system.path} is not a directory`);
  const processEntry = image && imageProcessEntry(image.process, options.entrypoint);
  return planWholeSystem(spec, root, options.mapRootUser ? { uid: process.getuid!(), gid: process.getgid!() } : undefined, {
    system: await injectedEntries(root, options.inject),
    init: processEntry ? [processEntry] : [],
  });
}

function findWarnings(options: MkvirtinitrdOptions, plan: InitrdPlan | WholeSystemPlan, init: { init: string; ffiModule?: string }): Warning[] {
  const warnings: Warning[] = [];
  if ('replaced' in plan && plan.replaced.length > 0) {
    warnings.push({ code: 'W4', message: `the init's own files replace ${plan.replaced.length} of the system's: ${plan.replaced.join(', ')}` });
  }
  if ('skipped' in plan && plan.skipped.length > 0) {
    warnings.push({ code: 'W5', message: `left out of the system: ${plan.skipped.join(', ')}` });
  }
  const builtin = new Set(plan.builtinModules);
  for (const module of options.modules) {
    if (builtin.has(canonical(module))) {
      warnings.push({ code: 'W1', message: `--module ${module} is built into the kernel (listed in ${options.moddir}/modules.builtin): nothing to add` });
    }
  }
  if (init.ffiModule === undefined) {
    warnings.push({
      code: 'W2',
      message: `INIT ${init.init} is not a Node single-executable application (no NODE_SEA_BLOB note): it is packed as /init as it is, without ffi-rs's native module, which only the virtinitrd init loads`,
    });
  }
  if (options.output !== undefined && isInside(options.output, options.moddir)) {
    warnings.push({ code: 'W3', message: `OUTPUT ${options.output} is inside MODDIR ${options.moddir}, which belongs to the kernel package` });
  }
  return warnings;
}

/** Host sizes of the files the plan reads, by source path. */
async function sourceSizes(plan: InitrdPlan): Promise<Map<string, number>> {
  const files = plan.entries.filter((entry) => entry.kind === 'file');
  return new Map(await Promise.all(files.map(async (entry) => [entry.source, (await stat(entry.source)).size] as const)));
}

function detail(entry: InitrdEntry, sizes: ReadonlyMap<string, number>): string {
  switch (entry.kind) {
    case 'file':
      return String(sizes.get(entry.source));
    case 'symlink':
      return `-> ${entry.target}`;
    case 'device':
      return `${entry.type ?? 'char'} ${entry.major}:${entry.minor}`;
    case 'data':
      return String(entry.data.length);
    case 'dir':
      return '-';
    case 'hardlink':
      return `=> ${entry.target}`;
  }
}

/** One line per entry: path, kind, size (or link target, or device number), why; then the built-in modules. */
function formatList(plan: InitrdPlan, sizes: ReadonlyMap<string, number>): string {
  const rows = [
    ...plan.entries.map((entry) => [entry.path, entry.kind, detail(entry, sizes), entry.why]),
    ...plan.builtinModules.map((name) => [name, 'builtin', '-', 'kernel module built into the kernel (modules.builtin): nothing to pack']),
  ];
  const widths = [0, 1, 2].map((column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => (column < 3 ? cell.padEnd(widths[column]!) : cell)).join('  ') + '\n').join('');
}

function mebibytes(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

async function run(options: MkvirtinitrdOptions): Promise<number> {
  const mtime = parseSourceDateEpoch(process.env.SOURCE_DATE_EPOCH);
  if (!options.list && options.output !== undefined) await checkOutputDirectory(options.output);
  const init = await chooseInit(options.init);
  const spec = { ...init, moddir: resolve(options.moddir), extraModules: options.modules };
  const plan = options.system ? await planSystem(spec, { ...options, system: options.system }) : await planInitrd(spec);

  const warnings = findWarnings(options, plan, init);
  const level = options.strict ? 'error' : 'warning';
  for (const { code, message } of warnings) process.stderr.write(`mkvirtinitrd: ${level} ${code}: ${message}\n`);
  if (options.strict && warnings.length > 0) return EXIT_FAILURE;

  const sizes = await sourceSizes(plan);
  if (options.list) {
    process.stdout.write(formatList(plan, sizes));
    return 0;
  }
  const output = options.output!;
  const total = [...sizes.values()].reduce((sum, size) => sum + size, 0);
  // Reading ~100 MB and compressing it takes seconds (xz: a minute): say so on a terminal only.
  let announced = false;
  const progress = process.stderr.isTTY
    ? setTimeout(() => {
        announced = true;
        process.stderr.write(`mkvirtinitrd: packing ${sizes.size} files (${mebibytes(total)}) with ${options.compress}…\n`);
      }, PROGRESS_AFTER_MS)
    : undefined;
  try {
    const data = await buildInitrd(plan, { codec: options.compress, mtime });
    await writeFileAtomic(output, data).catch((cause: Error) => fail(`cannot write OUTPUT ${output}: ${cause.message}`));
    if (announced) process.stderr.write(`mkvirtinitrd: wrote ${output} (${mebibytes(data.length)})\n`);
  } finally {
    clearTimeout(progress);
  }
  return 0;
}

async function main(argv: string[]): Promise<number> {
  let options: MkvirtinitrdOptions;
  try {
    options = parseMkvirtinitrdArgs(argv);
  } catch (cause) {
    if (!(cause instanceof UsageError)) throw cause;
    process.stderr.write(usageErrorText('mkvirtinitrd', cause));
    return EXIT_USAGE;
  }
  if (options.help) {
    const codes = Object.entries(WARNINGS).map(([code, text]) => `  ${code}  ${text}\n`);
    process.stdout.write(`${USAGE}\nWarnings:\n${codes.join('')}`);
    return 0;
  }
  if (options.version) {
    process.stdout.write(versionLine('mkvirtinitrd'));
    return 0;
  }
  if (options.system?.kind === 'image' && currentPrivilege().kind === 'user') {
    // An image's files keep their owners only when extracted as root of a user namespace: this
    // command again, entered into one by its launcher (bin/user-namespace.sh).
    if (process.env[ENTER_USER_NAMESPACE]) {
      process.stderr.write(`mkvirtinitrd: ${rootlessProblem(await gatherRootlessFacts(process.env))}\n`);
      return EXIT_FAILURE;
    }
    process.execve!(join(projectRoot, 'bin/mkvirtinitrd'), ['mkvirtinitrd', ...argv], { ...process.env, [ENTER_USER_NAMESPACE]: '1' });
  }
  // An exit runs writeFileAtomic's hook, which removes the temporary file: no partial OUTPUT remains.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => process.exit(128 + constants.signals[signal]));
  }
  // `mkvirtinitrd --list … | head` closes stdout early; that is not an error.
  process.stdout.on('error', (cause: NodeJS.ErrnoException) => {
    if (cause.code === 'EPIPE') process.exit(0);
    throw cause;
  });
  try {
    return await run(options);
  } catch (cause) {
    if (cause instanceof UsageError) {
      process.stderr.write(usageErrorText('mkvirtinitrd', cause));
      return EXIT_USAGE;
    }
    process.stderr.write(`mkvirtinitrd: ${messageOf(cause)}\n`);
    return EXIT_FAILURE;
  }
}

process.exitCode = await main(process.argv.slice(2));
