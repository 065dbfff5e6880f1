/**
 * C, the bare runtime: a SEA whose script only logs the moment JS starts (the init's own `debug`
 * line, so the same log parser finds it) and powers off through ffi-rs — Node's startup as PID 1
 * plus dlopen of ffi-rs and one FFI call, nothing of the init's steps. Without FFI there is no way
 * to power off (reboot() has no Node binding, and /proc/sysrq-trigger needs /proc mounted).
 */

const RB_POWER_OFF = 0x4321fedc;
/** ffi-rs's DataType code for a 32-bit integer (its numbering is part of its ABI). */
const FFI_I32 = 1;

/** The SEA's main script (CommonJS, as Node's SEA loads it); `ffiModule` is the path inside the initramfs. */
export function bareInitScript(ffiModule: string): string {
  const call = { library: 'libc', funcName: 'reboot', retType: FFI_I32, paramsType: [FFI_I32], paramsValue: [RB_POWER_OFF], errno: true, freeResultMemory: false };
  return [
    "'use strict';",
    "const { writeSync } = require('node:fs');",
    // CLOCK_MONOTONIC in seconds, formatted like init/log.ts.
    'const now = (Number(process.hrtime.bigint() / 1000n) / 1e6).toFixed(6).padStart(13);',
    'writeSync(2, `[${now}] init: init started\\n`);',
    'const ffi = { exports: {} };',
    `process.dlopen(ffi, ${JSON.stringify(ffiModule)});`,
    "ffi.exports.open({ library: 'libc', path: '' });",
    `ffi.exports.load(${JSON.stringify(call)});`,
    // reboot() returns only on failure, and PID 1 must not exit: the kernel would panic.
    'for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);',
    '',
  ].join('\n');
}
