import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commandScript, commandUnit, inittab, shellWord } from '../../../init/boot-hook.ts';

const DEVICES = { stdin: '/dev/vport0p2', stdout: '/dev/vport0p3', stderr: '/dev/vport0p4' };
const bytes = (...words: string[]) => words.map((word) => Buffer.from(word));

test('shellWord quotes any bytes as one word', () => {
  assert.equal(shellWord(Buffer.from("it's")).toString(), "'it'\\''s'");
  const latin1 = Buffer.from([0x27, 0xe9, 0x0a]);
  assert.deepEqual(shellWord(latin1), Buffer.concat([Buffer.from("''\\''"), Buffer.from([0xe9, 0x0a]), Buffer.from("'")]));
});

test("the command's script: command mode's environment, the ports, the status line, and a power-off for a non-systemd init", () => {
  const request = { argv: bytes('sh', '-c', 'echo "$A"'), env: [], cwd: Buffer.from('/srv'), interactive: false };
  const script = commandScript(request, bytes('PATH=/usr/bin:/bin', 'A=x y'), DEVICES, true).toString();
  assert.equal(
    script,
    [
      '#!/bin/sh',
      '# chrootvm --boot: the command, started by the system once it is up.',
      "cd '/srv' || exit 1",
      `env -i 'PATH=/usr/bin:/bin' 'A=x y' 'sh' '-c' 'echo "$A"' < /dev/vport0p2 > /dev/vport0p3 2> /dev/vport0p4`,
      'status=$?',
      `printf 'virtinitrd-status {"kind":"exit","code":%d}\\n' "$status" > /dev/ttyS1`,
      'exec poweroff',
      '',
    ].join('\n'),
  );
  assert.match(commandScript(request, [], DEVICES, false).toString(), /\nexit 0\n$/);
});

test('the script runs the words as given, whatever bytes they hold', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'boot-hook-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const words = [Buffer.from("it's $HOME `x` \\ \"q\""), Buffer.from([0xe9, 0x20, 0x0a])];
  const request = { argv: [Buffer.from('/bin/sh'), Buffer.from('-c'), Buffer.from('printf "%s|" "$@" > "$0"'), Buffer.from(join(dir, 'out')), ...words], env: [], cwd: Buffer.from(dir), interactive: false };
  const devices = { stdin: '/dev/null', stdout: '/dev/null', stderr: '/dev/null' };
  // The status line's device is the guest's; here it is only a path that cannot be written.
  const script = commandScript(request, bytes('PATH=/usr/bin:/bin'), devices, false).toString('latin1').replace('> /dev/ttyS1', `> ${join(dir, 'status')}`);
  writeFileSync(join(dir, 'script'), Buffer.from(script, 'latin1'));
  const run = spawnSync('sh', [join(dir, 'script')]);
  assert.equal(run.status, 0, run.stderr.toString());
  assert.deepEqual(readFileSync(join(dir, 'out')), Buffer.concat([words[0]!, Buffer.from('|'), words[1]!, Buffer.from('|')]));
  assert.equal(readFileSync(join(dir, 'status'), 'utf8'), 'virtinitrd-status {"kind":"exit","code":0}\n');
});

test('the systemd unit: after multi-user.target, powering off either way, as the user asked', () => {
  assert.equal(
    commandUnit('app:staff'),
    '[Unit]\nDescription=chrootvm --boot command\nAfter=multi-user.target\nSuccessAction=poweroff\nFailureAction=poweroff\n\n[Service]\nType=exec\nExecStart=/run/virtinitrd/boot-command\nUser=app\nGroup=staff\n',
  );
  assert.doesNotMatch(commandUnit(undefined), /User=|Group=/);
});

test("inittab: the system's own with the command's entry, else busybox's default with it", () => {
  assert.equal(inittab('::sysinit:/etc/rc\n'), '::sysinit:/etc/rc\n::once:/run/virtinitrd/boot-command\n');
  assert.equal(inittab('::sysinit:/etc/rc'), '::sysinit:/etc/rc\n::once:/run/virtinitrd/boot-command\n');
  assert.match(inittab(undefined), /^::sysinit:\/etc\/init\.d\/rcS\n::askfirst:-\/bin\/sh\n.*::once:\/run\/virtinitrd\/boot-command\n$/s);
});
