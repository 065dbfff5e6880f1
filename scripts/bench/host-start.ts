/**
 * chrootvm's start → qemu exec: what the host does before the VM can begin, against `node -e 0`.
 * A stand-in qemu-system-x86_64 first on PATH writes the time it was exec'd and exits, so no VM
 * runs; the rest of chrootvm (launcher, Node, planning, virtiofsd and its view) is the real one.
 * Variants, alternated: the checkout's command with its memos removed before each run (the initrd
 * plan, virtiofsd's flavour and the kernel's hash worked out again, as before they were remembered;
 * in a cache of its own, so the other variants keep theirs), the checkout's command, and an
 * installed copy (make install: the bundled command).
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pinnedNode, projectRoot } from '../lib/artifacts.ts';
import { cacheDirectory } from '../lib/initrd-cache.ts';
import { installProject } from '../lib/throwaway-account.ts';
import { VMLINUX_NAMES_MEMO } from '../lib/vmlinux.ts';
import { summarize, type Summary } from './stats.ts';

export interface HostStartResult {
  node: Summary;
  forgetful: Summary;
  checkout: Summary;
  installed: Summary;
}

/** The memos a run keeps in the cache (initrd-memo.ts, virtiofsd.ts, vmlinux.ts). */
const MEMOS = ['initrds.json', 'virtiofsd.json', VMLINUX_NAMES_MEMO];

function run(program: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: 'ignore', env });
    child.on('error', reject);
    child.on('close', () => resolve());
  });
}

export async function measureHostStart(rootfs: string, runs: number, progress: (text: string) => void): Promise<HostStartResult> {
  const work = mkdtempSync(join(tmpdir(), 'virtinitrd-bench-start-'));
  try {
    const stamp = join(work, 'exec-time');
    const fakeQemu = join(work, 'qemu-system-x86_64');
    writeFileSync(fakeQemu, `#!/bin/sh\ndate +%s%N > ${stamp}\nexit 1\n`);
    chmodSync(fakeQemu, 0o755);
    const env = { ...process.env, PATH: `${work}:${process.env.PATH ?? ''}` };
    const installed = join(installProject(join(work, 'install')), 'bin/chrootvm');
    const untilQemu = async (command: string, cacheHome?: string): Promise<number> => {
      rmSync(stamp, { force: true });
      const started = BigInt(Date.now()) * 1_000_000n;
      await run(command, [rootfs, 'true'], cacheHome ? { ...env, XDG_CACHE_HOME: cacheHome } : env);
      return Number(BigInt(readFileSync(stamp, 'utf8').trim()) - started) / 1e9;
    };
    const nodeAlone = async () => {
      const started = performance.now();
      await run(pinnedNode, ['-e', '0'], env);
      return (performance.now() - started) / 1000;
    };
    const checkout = join(projectRoot, 'bin/chrootvm');
    const forgetfulCache = join(work, 'cache');
    const forgetful = async () => {
      for (const memo of MEMOS) rmSync(join(cacheDirectory({ XDG_CACHE_HOME: forgetfulCache }), memo), { force: true });
      return untilQemu(checkout, forgetfulCache);
    };
    // Warm: the compile caches, the initrds and the memos of each command.
    await untilQemu(checkout, forgetfulCache);
    await untilQemu(checkout);
    await untilQemu(installed);
    const samples = { node: [] as number[], forgetful: [] as number[], checkout: [] as number[], installed: [] as number[] };
    for (let index = 1; index <= runs; index++) {
      samples.node.push(await nodeAlone());
      samples.forgetful.push(await forgetful());
      samples.checkout.push(await untilQemu(checkout));
      samples.installed.push(await untilQemu(installed));
      progress(`start → qemu ${index}/${runs}: node -e 0 ${samples.node.at(-1)!.toFixed(3)} s, without memos ${samples.forgetful.at(-1)!.toFixed(3)} s, checkout ${samples.checkout.at(-1)!.toFixed(3)} s, installed ${samples.installed.at(-1)!.toFixed(3)} s`);
    }
    return { node: summarize(samples.node), forgetful: summarize(samples.forgetful), checkout: summarize(samples.checkout), installed: summarize(samples.installed) };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
