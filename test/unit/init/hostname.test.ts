import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chooseGuestHostname, hostnameFromFile, isValidHostname } from '../../../init/hostname.ts';

test('isValidHostname: RFC 1123 labels, at most 64 bytes', () => {
  for (const name of ['a', 'localhost', 'build-01', 'Node7.example.org', '1host', 'x'.repeat(63), `${'a'.repeat(31)}.${'b'.repeat(32)}`]) {
    assert.equal(isValidHostname(name), true, name);
  }
  for (const name of ['', '-a', 'a-', 'a_b', 'a b', 'a..b', '.a', 'a.', 'x'.repeat(64), `${'a'.repeat(32)}.${'b'.repeat(32)}`, 'héte', 'a\nb']) {
    assert.equal(isValidHostname(name), false, JSON.stringify(name));
  }
});

test('hostnameFromFile: the first line, trimmed, when valid', () => {
  assert.equal(hostnameFromFile('debian\n'), 'debian');
  assert.equal(hostnameFromFile('  box  \nsecond\n'), 'box');
  assert.equal(hostnameFromFile(''), undefined);
  assert.equal(hostnameFromFile('not valid\n'), undefined);
});

test('chooseGuestHostname: the given name, else /etc/hostname, else localhost', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hostname-test-'));
  try {
    const file = join(dir, 'hostname');
    assert.equal(chooseGuestHostname(undefined, file), 'localhost');
    writeFileSync(file, 'from-file\n');
    assert.equal(chooseGuestHostname(undefined, file), 'from-file');
    assert.equal(chooseGuestHostname('given', file), 'given');
    writeFileSync(file, '_bad\n');
    assert.equal(chooseGuestHostname(undefined, file), 'localhost');
  } finally {
    rmSync(dir, { recursive: true });
  }
});
