/**
 * A throwaway account for running the tools as an ordinary user (the rootless tests and the
 * benchmark): root makes it with useradd, with or without subordinate ids, runs commands as it
 * through setpriv with a clean environment, and removes it with userdel (which drops its
 * subordinate ids too). An account whose creating process is gone (a killed run) is removed by
 * the next one.
 */
import { execFileSync, spawn, type ChildProcessByStdio } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { projectRoot } from './artifacts.ts';
import { processAlive } from './processes.ts';
import { freeSubordinateRange, subordinateRanges } from './user-namespace.ts';

/** vt<PID>x<N>: a valid user name that says which process made it. */
const NAME = /^vt(\d+)x\d+$/;
let made = 0;

export interface AccountRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface AccountRunOptions {
  cwd: string;
  tmpdir: string;
  env?: NodeJS.ProcessEnv;
}

export interface Account {
  name: string;
  uid: number;
  gid: number;
  home: string;
  /** Starts `argv` as the account in `cwd`, with HOME, USER, PATH, TMPDIR and `env` only, its stdio piped. */
  start(argv: readonly string[], options: AccountRunOptions): ChildProcessByStdio<Writable, Readable, Readable>;
  /** start(), with stdin closed, to its end. */
  run(argv: readonly string[], options: AccountRunOptions): Promise<AccountRun>;
  remove(): void;
}

function removeAbandoned(): void {
  const names = readFileSync('/etc/passwd', 'utf8').split('\n').map((line) => line.split(':')[0]!);
  for (const name of names) {
    const match = NAME.exec(name);
    if (match && !processAlive(Number(match[1]))) execFileSync('userdel', [name], { stdio: 'ignore' });
  }
}

/**
 * A new account with `home` as its home directory (which the caller makes and owns the contents
 * of), and subordinate ids when `subordinateIds` (useradd gives them when /etc/subuid exists;
 * they are added or taken away here so the account is as asked either way).
 */
export function createAccount(home: string, subordinateIds: boolean): Account {
  if (process.getuid?.() !== 0) throw new Error('creating a throwaway account needs root');
  removeAbandoned();
  const name = `vt${process.pid}x${made++}`;
  execFileSync('useradd', ['--no-create-home', '--home-dir', home, '--shell', '/bin/sh', '--user-group', name], { stdio: ['ignore', 'ignore', 'pipe'] });
  const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }));
  const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }));
  const read = (file: string) => readFileSync(file, 'utf8');
  const has = subordinateRanges(read('/etc/subuid'), name, uid).length > 0 && subordinateRanges(read('/etc/subgid'), name, uid).length > 0;
  if (subordinateIds && !has) {
    const { start, end } = freeSubordinateRange(read('/etc/subuid'), read('/etc/subgid'));
    execFileSync('usermod', ['--add-subuids', `${start}-${end}`, '--add-subgids', `${start}-${end}`, name]);
  }
  if (!subordinateIds) {
    const ranges = (file: string) => subordinateRanges(read(file), name, uid).map(({ start, count }) => `${start}-${start + count - 1}`);
    for (const range of ranges('/etc/subuid')) execFileSync('usermod', ['--del-subuids', range, name]);
    for (const range of ranges('/etc/subgid')) execFileSync('usermod', ['--del-subgids', range, name]);
  }
  const start: Account['start'] = (argv, { cwd, env = {}, tmpdir }) =>
    spawn('setpriv', ['--reuid', String(uid), '--regid', String(gid), '--init-groups', '--', ...argv], {
      cwd,
      env: { HOME: home, USER: name, LOGNAME: name, PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', TMPDIR: tmpdir, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  return {
    name,
    uid,
    gid,
    home,
    start,
    run: (argv, options) =>
      new Promise((resolve) => {
        const child = start(argv, options);
        child.stdin.end();
        let stdout = '';
        let stderr = '';
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
        child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
        child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
      }),
    remove: () => execFileSync('userdel', [name], { stdio: 'ignore' }),
  };
}

/** Where installProject puts the project tree below its DESTDIR. */
const INSTALLED_PACKAGE = 'opt/virtinitrd/lib/virtinitrd';

/**
 * `make install` of this project into `destdir`, as an administrator would into /usr/local, for
 * an account that cannot read the checkout (often below /root): the installed project's root.
 */
export function installProject(destdir: string): string {
  execFileSync('make', ['-s', 'install', `DESTDIR=${destdir}`, 'PREFIX=/opt/virtinitrd', 'LIBDIR=/opt/virtinitrd/lib'], {
    cwd: projectRoot,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return join(destdir, INSTALLED_PACKAGE);
}
