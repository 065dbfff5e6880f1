/**
 * Rootless against root: `chrootvm ROOTFS true` booted alternately by root and by a throwaway
 * ordinary user (with subordinate ids, running an installed copy of the project in its own user
 * namespace), on one copy of ROOTFS that the user owns. Needs root, to make the account.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runChrootvm } from '../lib/timed-chrootvm.ts';
import { createAccount, installProject } from '../lib/throwaway-account.ts';
import { summarize, type Summary } from './stats.ts';

export type RootlessResult = { root: Summary; rootless: Summary; samples: { root: number[]; rootless: number[] } } | { skipped: string };

export async function measureRootless(rootfs: string, boots: number, timeoutMs: number, progress: (text: string) => void): Promise<RootlessResult> {
  if (process.getuid?.() !== 0) return { skipped: 'needs root to make a throwaway account' };
  const work = mkdtempSync(join(tmpdir(), 'virtinitrd-bench-rootless-'));
  const account = createAccount(join(work, 'home'), true);
  try {
    execFileSync('chmod', ['0755', work]);
    const installed = installProject(join(work, 'install'));
    const tree = join(work, 'rootfs');
    execFileSync('cp', ['-a', '--reflink=auto', '--', rootfs, tree]);
    execFileSync('chown', ['-R', `${account.uid}:${account.gid}`, tree]);
    const tmp = join(account.home, 'tmp');
    mkdirSync(tmp, { recursive: true });
    chownSync(account.home, account.uid, account.gid);
    chownSync(tmp, account.uid, account.gid);
    const asRoot = async () => {
      const run = await runChrootvm([tree, 'true'], timeoutMs);
      if (run.exitCode !== 0) throw new Error(`rootless bench, as root: chrootvm exited with ${run.exitCode}: ${run.stderr.trim()}`);
      return run.seconds;
    };
    const asUser = async () => {
      const started = performance.now();
      const run = await account.run([join(installed, 'bin/chrootvm'), tree, 'true'], { cwd: account.home, tmpdir: tmp });
      if (run.status !== 0) throw new Error(`rootless bench, as ${account.name}: chrootvm exited with ${run.status}: ${run.stderr.trim()}`);
      return (performance.now() - started) / 1000;
    };
    // The user's first run builds its own initrd and vmlinux in its own cache.
    await asRoot();
    await asUser();
    const samples = { root: [] as number[], rootless: [] as number[] };
    for (let boot = 1; boot <= boots; boot++) {
      samples.root.push(await asRoot());
      samples.rootless.push(await asUser());
      progress(`rootless ${boot}/${boots}: root ${samples.root.at(-1)!.toFixed(2)} s, user ${samples.rootless.at(-1)!.toFixed(2)} s`);
    }
    return { root: summarize(samples.root), rootless: summarize(samples.rootless), samples };
  } finally {
    account.remove();
    rmSync(work, { recursive: true, force: true });
  }
}
