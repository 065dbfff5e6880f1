/**
 * Builds the demo rootfs from Debian packages with no root-only tools and no chroot: busybox-static
 * for userland, bash-static for scripts that want bash (osbuild's test does), and a linux-image
 * package for the kernel and its modules, all unpacked with `dpkg-deb -x`. The result is cached (git ignores .cache/) and rebuilt only when the packages change.
 *
 *   node scripts/demo/rootfs.ts [DIR]     (default .cache/demo/rootfs; prints DIR)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const KERNEL_METAPACKAGE = 'linux-image-amd64';
const STAMP = '.virtinitrd-demo';

function run(command: string, args: string[], cwd?: string): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** linux-image-amd64 is a metapackage; the kernel is in the versioned package it depends on. */
export function kernelPackageFrom(dependsOutput: string): string {
  const match = /Depends: (linux-image-[0-9][^\s]*)/.exec(dependsOutput);
  if (!match) throw new Error(`${KERNEL_METAPACKAGE} names no linux-image-VERSION dependency (run apt-get update?)`);
  return match[1]!;
}

function download(packages: string[], directory: string): string[] {
  mkdirSync(directory, { recursive: true });
  const wanted = packages.map((name) => `${name}_`);
  const present = () => readdirSync(directory).filter((file) => file.endsWith('.deb') && wanted.some((prefix) => file.startsWith(prefix)));
  if (present().length < packages.length) run('apt-get', ['download', ...packages], directory);
  return present().sort();
}

export function buildDemoRootfs(target: string, cacheDirectory: string): string {
  const kernelPackage = kernelPackageFrom(run('apt-cache', ['depends', KERNEL_METAPACKAGE]));
  const debs = download(['busybox-static', 'bash-static', kernelPackage], join(cacheDirectory, 'debs'));
  const stamp = join(target, STAMP);
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === debs.join('\n')) return target;

  const staging = `${target}.new`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  for (const deb of debs) run('dpkg-deb', ['-x', join(cacheDirectory, 'debs', deb), staging]);
  for (const directory of ['dev', 'proc', 'sys', 'run', 'tmp', 'etc', 'root', 'sbin', 'usr/sbin', 'usr/bin']) {
    mkdirSync(join(staging, directory), { recursive: true });
  }
  const busybox = join(staging, 'bin/busybox');
  for (const applet of run(busybox, ['--list']).split('\n').filter(Boolean)) {
    const link = join(staging, 'bin', applet);
    if (!existsSync(link)) symlinkSync('busybox', link);
  }
  symlinkSync('bash-static', join(staging, 'bin/bash'));
  writeFileSync(join(staging, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(staging, 'etc/group'), 'root:x:0:\n');
  writeFileSync(join(staging, 'etc/hostname'), 'virtinitrd-demo\n');
  writeFileSync(join(staging, STAMP), debs.join('\n'));
  rmSync(target, { recursive: true, force: true });
  renameSync(staging, target);
  return target;
}

if (import.meta.main) {
  const target = resolve(process.argv[2] ?? '.cache/demo/rootfs');
  try {
    process.stdout.write(`${buildDemoRootfs(target, resolve('.cache'))}\n`);
  } catch (cause) {
    const error = cause as Error & { stderr?: string };
    process.stderr.write(`demo rootfs: ${error.message}${error.stderr ? `\n${error.stderr}` : ''}\n`);
    process.exit(1);
  }
}
