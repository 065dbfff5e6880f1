import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bareInitScript } from '../../../../scripts/bench/bare-init.ts';
import { findMarkers } from '../../../../scripts/bench/log-markers.ts';

const FFI = '/usr/lib/virtinitrd/ffi-rs.node';

// Stands in for ffi-rs: prints each call, and ends the process where reboot() would end the VM.
const FAKE_FFI = `process.dlopen = (module, path) => {
  module.exports = {
    open(params) { process.stdout.write(JSON.stringify({ dlopen: path, open: params }) + '\\n'); },
    load(params) { process.stdout.write(JSON.stringify({ load: params }) + '\\n'); process.exit(0); },
  };
};
`;

test('bareInitScript: logs the JS start as the init does, then only reboot(POWER_OFF) through ffi-rs', async () => {
  const directory = await mkdtemp(join(tmpdir(), 'bare-init-'));
  try {
    await writeFile(join(directory, 'fake-ffi.cjs'), FAKE_FFI);
    await writeFile(join(directory, 'init.cjs'), bareInitScript(FFI));
    const run = spawnSync(process.execPath, ['--require', join(directory, 'fake-ffi.cjs'), join(directory, 'init.cjs')], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(
      run.stdout.trim().split('\n').map((line) => JSON.parse(line)),
      [
        { dlopen: FFI, open: { library: 'libc', path: '' } },
        {
          load: {
            library: 'libc',
            funcName: 'reboot',
            retType: 1,
            paramsType: [1],
            paramsValue: [0x4321fedc],
            errno: true,
            freeResultMemory: false,
          },
        },
      ],
    );
    // Stamped like init/log.ts, so the benchmark's log parser finds it.
    assert.match(run.stderr, /^\[ *\d+\.\d{6}\] init: init started\n$/);
    assert.equal(run.stderr.indexOf(']'), 14);
    assert.deepEqual(Object.keys(findMarkers(run.stderr)), ['jsStart']);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
});
