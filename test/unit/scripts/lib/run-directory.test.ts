import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeRunDirectory, removeDeadRunDirectories, runDirectoryOwner } from '../../../../scripts/lib/run-directory.ts';

test('runDirectoryOwner reads the pid from PREFIX-PID-RANDOM and nothing else', () => {
  assert.equal(runDirectoryOwner('chrootvm-1234-aB3xYz', 'chrootvm'), 1234);
  for (const name of ['chrootvm-aB3xYz', 'chrootvm-1234', 'chrootvm-12x4-aB3xYz', 'chrootvm-1234-aB-xYz', 'other-1234-aB3xYz', 'chrootvmx-1234-aB3xYz']) {
    assert.equal(runDirectoryOwner(name, 'chrootvm'), undefined, name);
  }
});

/** A pid that was ours a moment ago and is gone now (reaped). */
function deadPid(): number {
  const child = spawnSync('sh', ['-c', 'echo $$']);
  return Number(child.stdout.toString().trim());
}

test('removeDeadRunDirectories removes the directories of runs that are gone, and only those', async () => {
  const parent = mkdtempSync(join(tmpdir(), 'run-directory-test-'));
  try {
    const dead = `chrootvm-${deadPid()}-aaaaaa`;
    const live = `chrootvm-${process.pid}-bbbbbb`;
    const foreign = 'chrootvm-notarun';
    const deadFile = `chrootvm-${deadPid()}-cccccc`;
    for (const name of [dead, live, foreign]) mkdirSync(join(parent, name));
    writeFileSync(join(parent, dead, 'qmp.sock'), '');
    writeFileSync(join(parent, deadFile), '');
    assert.deepEqual(await removeDeadRunDirectories(parent, 'chrootvm'), [join(parent, dead)]);
    assert.deepEqual(readdirSync(parent).sort(), [deadFile, foreign, live].sort());
  } finally {
    rmSync(parent, { recursive: true });
  }
});

test('makeRunDirectory names the directory after this process', async () => {
  const parent = mkdtempSync(join(tmpdir(), 'run-directory-test-'));
  try {
    const made = await makeRunDirectory(parent, 'chrootvm');
    assert.equal(runDirectoryOwner(made.slice(parent.length + 1), 'chrootvm'), process.pid);
  } finally {
    rmSync(parent, { recursive: true });
  }
});
