import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideBootOutcome, decideOutcome, kernelLogSummary, type RunEnd } from '../../../../scripts/lib/outcome.ts';

const CLEAN: RunEnd = {
  status: undefined,
  shutdownReason: undefined,
  qemuExit: { code: 0, signal: null },
  qemuStderr: '',
  kernelLogTail: '',
};

const CASES: Array<[string, Partial<RunEnd>, { exitCode: number; message?: string | RegExp }]> = [
  ['the command exited', { status: { kind: 'exit', code: 7 }, shutdownReason: 'guest-shutdown' }, { exitCode: 7 }],
  ['the command exited 0', { status: { kind: 'exit', code: 0 } }, { exitCode: 0 }],
  ['the command died of SIGKILL', { status: { kind: 'signal', signal: 9 } }, { exitCode: 137 }],
  ['the init failed', { status: { kind: 'error', message: 'mount root share: boom' } }, { exitCode: 125, message: 'the VM failed to boot: mount root share: boom' }],
  ['a guest program powered off', { shutdownReason: 'guest-shutdown' }, { exitCode: 0 }],
  ['the guest reset', { shutdownReason: 'guest-reset', kernelLogTail: 'Kernel panic - not syncing' }, { exitCode: 125, message: /^the guest reset without reporting a status .*\nKernel panic - not syncing$/ }],
  ['the guest ran out of memory', { shutdownReason: 'guest-reset', kernelLogTail: 'Kernel panic - not syncing: System is deadlocked on memory' }, { exitCode: 125, message: /^the guest reset without reporting a status: the guest ran out of memory \(try a larger --memory\)/ }],
  ['a reported panic', { shutdownReason: 'guest-panic' }, { exitCode: 125, message: 'the guest kernel panicked' }],
  ['qemu failed', { qemuExit: { code: 1, signal: null }, qemuStderr: 'qemu: could not load kernel' }, { exitCode: 125, message: 'qemu failed (exit status 1): qemu: could not load kernel' }],
  ['qemu was killed', { qemuExit: { code: null, signal: 'SIGKILL' } }, { exitCode: 125, message: 'qemu failed (killed by SIGKILL): no message' }],
  ['nothing at all', {}, { exitCode: 125, message: 'the VM stopped without reporting a status' }],
  ['timeout wins over a status', { status: { kind: 'exit', code: 0 }, stoppedBecause: { timeout: true, seconds: 2.5 } }, { exitCode: 124, message: 'timed out after 2.5 s; the VM was stopped' }],
  ['a dead virtiofsd', { stoppedBecause: { timeout: false, reason: 'virtiofsd for "rootfs" stopped' } }, { exitCode: 125, message: 'virtiofsd for "rootfs" stopped' }],
  ['a status wins over a guest reset', { status: { kind: 'exit', code: 3 }, shutdownReason: 'guest-reset' }, { exitCode: 3 }],
];

for (const [name, end, expected] of CASES) {
  test(`decideOutcome: ${name}`, () => {
    const outcome = decideOutcome({ ...CLEAN, ...end });
    assert.equal(outcome.exitCode, expected.exitCode);
    if (expected.message instanceof RegExp) assert.match(outcome.message ?? '', expected.message);
    else assert.equal(outcome.message, expected.message);
  });
}

test('kernelLogSummary puts the cause first, then the last lines', () => {
  const log = ['[1] a', '[2] Kernel panic - not syncing: Attempted to kill init!', '[3] b', '[4] c', '[5] d'].join('\r\n');
  assert.equal(kernelLogSummary(log, 2), '[2] Kernel panic - not syncing: Attempted to kill init!\n...\n[4] c\n[5] d');
  assert.equal(kernelLogSummary(log, 4), '[2] Kernel panic - not syncing: Attempted to kill init!\n[3] b\n[4] c\n[5] d');
  assert.equal(kernelLogSummary('[1] x\n[2] y\n', 1), '[2] y');
  assert.equal(kernelLogSummary(''), '');
});

const BOOT_CASES: Array<[string, boolean, Partial<RunEnd>, { exitCode: number; message?: string }]> = [
  ['the system powered off', false, { shutdownReason: 'guest-shutdown' }, { exitCode: 0 }],
  ['the system rebooted', false, { shutdownReason: 'guest-reset' }, { exitCode: 133, message: 'the guest rebooted (exit status 133)' }],
  ['the kernel panicked (pvpanic)', false, { shutdownReason: 'guest-panic', kernelLogTail: 'Kernel panic - not syncing: sysrq' }, { exitCode: 125, message: "the guest kernel panicked; the kernel's last messages:\nKernel panic - not syncing: sysrq" }],
  ['the command exited', true, { status: { kind: 'exit', code: 3 }, shutdownReason: 'guest-shutdown' }, { exitCode: 3 }],
  ['powered off before the command ran', true, { shutdownReason: 'guest-shutdown', kernelLogTail: 'reboot: Power down' }, { exitCode: 125, message: "the system powered off before it ran the command; the kernel's last messages:\nreboot: Power down" }],
  ['rebooted before the command ran', true, { shutdownReason: 'guest-reset' }, { exitCode: 125, message: 'the system rebooted before it ran the command' }],
  ['a boot that never finished', true, { stoppedBecause: { timeout: true, seconds: 30 }, kernelLogTail: 'vm login:' }, { exitCode: 124, message: "timed out after 30 s; the VM was stopped; the kernel's last messages:\nvm login:" }],
];

for (const [name, withCommand, end, expected] of BOOT_CASES) {
  test(`decideBootOutcome${withCommand ? ' with a command' : ''}: ${name}`, () => {
    assert.deepEqual(decideBootOutcome({ ...CLEAN, ...end }, withCommand), expected);
  });
}
