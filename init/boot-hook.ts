/**
 * chrootvm --boot with a command: the system's own init becomes PID 1, so the command has to be
 * started by that init once the system is up, and report its status itself. The init writes a
 * small shell script that runs the command on the stream ports, then writes the status line on the
 * status port; systemd starts it from a unit in /run/systemd/system (ordered after
 * multi-user.target, powering off when it ends), any other init (busybox) from an inittab `once`
 * entry, after which the script powers off itself.
 */
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { RunRequest } from './control-protocol.ts';
import { provideEtcFile, resolveInRoot } from './etc-files.ts';
import { STATUS_DEVICE } from './status.ts';
import { STATUS_PREFIX } from './status-line.ts';

const HOOK_DIRECTORY = '/run/virtinitrd';
export const COMMAND_SCRIPT = `${HOOK_DIRECTORY}/boot-command`;
const UNIT_NAME = 'virtinitrd-command.service';

/** `text` as one shell word, whatever bytes it holds (NUL aside, which a C string cannot hold). */
export function shellWord(text: Buffer): Buffer {
  return Buffer.concat([Buffer.from("'"), Buffer.from(text.toString('latin1').replaceAll("'", "'\\''"), 'latin1'), Buffer.from("'")]);
}

export interface StreamDevices {
  stdin: string;
  stdout: string;
  stderr: string;
}

/**
 * The script: the command with exactly the environment command mode gives it (`env -i`), in its
 * directory, on the ports; then its status (an exit status; a death by signal N arrives as 128+N,
 * as a shell reports it, and means the same to chrootvm) on the status port.
 */
export function commandScript(request: RunRequest, env: readonly Buffer[], devices: StreamDevices, powerOff: boolean): Buffer {
  const words = (list: readonly Buffer[]) => Buffer.concat(list.flatMap((word) => [Buffer.from(' '), shellWord(word)]));
  const statusLine = `printf '${STATUS_PREFIX}{"kind":"exit","code":%d}\\n' "$status" > ${STATUS_DEVICE}`;
  return Buffer.concat([
    Buffer.from('#!/bin/sh\n# chrootvm --boot: the command, started by the system once it is up.\n'),
    Buffer.from('cd '),
    shellWord(request.cwd),
    Buffer.from(' || exit 1\nenv -i'),
    words(env),
    words(request.argv),
    Buffer.from(` < ${devices.stdin} > ${devices.stdout} 2> ${devices.stderr}\nstatus=$?\n${statusLine}\n`),
    Buffer.from(powerOff ? 'exec poweroff\n' : 'exit 0\n'),
  ]);
}

/** The unit systemd starts once multi-user.target is reached; its end powers the system off. */
export function commandUnit(user: string | undefined): string {
  const [name, group] = user === undefined ? [] : user.split(':');
  return [
    '[Unit]',
    'Description=chrootvm --boot command',
    'After=multi-user.target',
    'SuccessAction=poweroff',
    'FailureAction=poweroff',
    '',
    '[Service]',
    'Type=exec',
    `ExecStart=${COMMAND_SCRIPT}`,
    ...(name ? [`User=${name}`] : []),
    ...(group ? [`Group=${group}`] : []),
    '',
  ].join('\n');
}

/**
 * Whether `init` (a path in the new root) is systemd: its name once the root's own symlinks are
 * followed (/sbin/init -> /lib/systemd/systemd is absolute: inside the new root, not ours).
 */
function isSystemd(newRoot: string, init: string): boolean {
  return basename(resolveInRoot(newRoot, init)) === 'systemd';
}

/**
 * Puts the command's script and what starts it into the new root (before the switch: /run moves
 * into it). `rootIsCopy`: the root is an overlay or in memory, so /etc may be written.
 */
export function installBootHook(newRoot: string, init: string, request: RunRequest, env: readonly Buffer[], devices: StreamDevices, rootIsCopy: boolean): string {
  const systemd = isSystemd(newRoot, init);
  if (request.user !== undefined && !systemd) throw new Error(`--user with --boot needs systemd as the system's init (${init} is not): give the command its own su or setpriv`);
  mkdirSync(HOOK_DIRECTORY, { recursive: true, mode: 0o755 });
  writeFileSync(COMMAND_SCRIPT, commandScript(request, env, devices, !systemd));
  chmodSync(COMMAND_SCRIPT, 0o755);
  if (systemd) {
    const units = '/run/systemd/system';
    mkdirSync(join(units, 'multi-user.target.wants'), { recursive: true, mode: 0o755 });
    writeFileSync(join(units, UNIT_NAME), commandUnit(request.user));
    symlinkSync(`../${UNIT_NAME}`, join(units, 'multi-user.target.wants', UNIT_NAME));
    return `systemd unit ${join(units, UNIT_NAME)}`;
  }
  const placed = provideEtcFile(newRoot, 'inittab', (existing) => inittab(existing), rootIsCopy);
  return `/etc/inittab ${placed}`;
}

/**
 * The system's inittab with the command's entry added; without one, busybox's built-in default
 * (its rcS, a shell on the console, the shutdown steps) with the entry.
 */
export function inittab(existing: string | undefined): string {
  const base = existing ?? [
    '::sysinit:/etc/init.d/rcS',
    '::askfirst:-/bin/sh',
    '::ctrlaltdel:/sbin/reboot',
    '::shutdown:/bin/umount -a -r',
    '::restart:/sbin/init',
    '',
  ].join('\n');
  return `${base}${base === '' || base.endsWith('\n') ? '' : '\n'}::once:${COMMAND_SCRIPT}\n`;
}
