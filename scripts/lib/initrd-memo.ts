/**
 * Which cached initrd a spec led to last time, and the files that answer depended on: planning
 * walks the init's ELF closure and the kernel's module tree (~40 ms of a run before qemu starts),
 * and while none of those files has changed the answer is the same (file-identity.ts); directories
 * count too, since adding a library or a module changes their mtime.
 */
import { lstatSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { InitrdPlan, InitrdSpec } from '../../packer/index.ts';
import type { Codec } from '../../packer/compress.ts';
import { ldSoConfDirs } from '../../packer/elf/ldconf.ts';
import { writeFileAtomic } from './atomic-write.ts';
import { identityOf, sameIdentity, type FileIdentity } from './file-identity.ts';

/** A file as it was: its identity, or none when it was missing. */
interface FileState {
  path: string;
  identity?: FileIdentity;
}

interface RememberedInitrd {
  initrd: string;
  inputs: FileState[];
}

const MEMO_FILE = 'initrds.json';

/** glibc's built-in library directories (packer/elf/closure.ts searches them after ld.so.conf's). */
const LIBRARY_DIRECTORIES = ['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib64', '/usr/lib64', '/lib', '/usr/lib'];
const LD_SO_CONF = ['/etc/ld.so.conf', '/etc/ld.so.conf.d'];
/** What packer/kmod/resolve.ts reads of a module directory besides the modules themselves. */
const MODULE_INDEXES = ['modules.dep', 'modules.builtin', 'modules.order'];

function identityNow(path: string): FileIdentity | undefined {
  try {
    return identityOf(lstatSync(path));
  } catch {
    return undefined;
  }
}

/** A missing file that is still missing is unchanged too. */
function unchanged({ path, identity }: FileState): boolean {
  const now = identityNow(path);
  return identity === undefined ? now === undefined : sameIdentity(identity, now);
}

const memoKey = (spec: InitrdSpec, codec: Codec) => JSON.stringify([spec.init, spec.ffiModule ?? null, spec.moddir, [...spec.extraModules], codec]);

async function readMemo(directory: string): Promise<Record<string, RememberedInitrd>> {
  try {
    return JSON.parse(await readFile(join(directory, MEMO_FILE), 'utf8')) as Record<string, RememberedInitrd>;
  } catch {
    return {};
  }
}

/** The initrd `spec` led to last time, when every file that answer depended on is unchanged (and the initrd is still there). */
export async function rememberedInitrd(directory: string, spec: InitrdSpec, codec: Codec): Promise<string | undefined> {
  const known = (await readMemo(directory))[memoKey(spec, codec)];
  if (!known || !Array.isArray(known.inputs) || !known.inputs.every((state) => typeof state?.path === 'string')) return undefined;
  return known.inputs.every(unchanged) && identityNow(known.initrd) !== undefined ? known.initrd : undefined;
}

/**
 * Records that `spec` leads to `initrd` as planned: the files that go in, the symlinks on the way
 * to them, the module directory and its indexes, and where libraries were searched.
 */
export async function rememberInitrd(directory: string, spec: InitrdSpec, codec: Codec, plan: InitrdPlan, initrd: string): Promise<void> {
  const paths = new Set<string>([spec.init, ...(spec.ffiModule ? [spec.ffiModule] : []), spec.moddir, ...MODULE_INDEXES.map((name) => posix.join(spec.moddir, name))]);
  for (const entry of plan.entries) {
    if (entry.kind === 'file') paths.add(entry.source);
    // The init's symlinks are the host's own (the loader's, the libraries'), at the same paths.
    if (entry.kind === 'symlink') paths.add(entry.path);
  }
  for (const path of [...LD_SO_CONF, ...(await ldSoConfDirs('/')), ...LIBRARY_DIRECTORIES]) paths.add(path);
  const memo = await readMemo(directory);
  // Specs whose init is gone (an uninstalled copy, a removed checkout) are dropped: the memo stays small.
  for (const key of Object.keys(memo)) if (identityNow((JSON.parse(key) as string[])[0]!) === undefined) delete memo[key];
  const inputs = [...paths].sort().map((path): FileState => {
    const identity = identityNow(path);
    return identity ? { path, identity } : { path };
  });
  memo[memoKey(spec, codec)] = { initrd, inputs };
  // A memo that cannot be written costs the next run a plan, nothing more.
  await writeFileAtomic(join(directory, MEMO_FILE), Buffer.from(JSON.stringify(memo))).catch(() => undefined);
}
