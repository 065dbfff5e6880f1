import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildProbeBios, cachedProbeKvm, chooseAccel, formatProbeCache, probeArgv, probeCacheKey, probeKvm, readProbeCache,
  runProbeGuest, PROBE_EXIT_STATUS,
} from '../../../../scripts/lib/accel.ts';
import type { ProbeCacheKey, ProbeResult } from '../../../../scripts/lib/accel.ts';

const QEMU = 'qemu-system-x86_64';
const noQemu = spawnSync(QEMU, ['--version']).error ? `${QEMU} is not installed` : false;

// Bytes 0x00-0x9d as GNU as 2.40 assembles the listing in accel.ts
// (`as --32` + `objcopy -O binary`), except the two alignment bytes before
// the GDT at 0x76, which as fills with a nop (66 90) and the image leaves 0.
const CODE_HEX =
  'fa2e660f011698000f20c00c010f22c066ea18000f00080066b810008ed88ec08ed0' +
  'c7050010000003200000c7050020000003300000c70500300000830000000f20e00c20' +
  '0f22e0b8001000000f22d8b9800000c00f32660d00010f300f20c00d000000800f22c0' +
  'ea6f000f001800b02ae6f4f4ebfd0000' +
  '0000000000000000ffff0000009acf00ffff00000092cf00ffff0000009aaf00' +
  '1f0078000f00';

test('probe firmware: code, GDT and reset vector byte for byte, zero elsewhere', () => {
  const image = buildProbeBios();
  assert.equal(image.length, 0x10000);
  const code = Buffer.from(CODE_HEX, 'hex');
  assert.deepEqual(Buffer.from(image.subarray(0, code.length)), code);
  // ljmp $0xf000, $0x0000 at the reset vector (0xFFFF0 in real mode)
  assert.deepEqual([...image.subarray(0xfff0, 0xfff5)], [0xea, 0x00, 0x00, 0x00, 0xf0]);
  const rest = [...image.subarray(code.length, 0xfff0), ...image.subarray(0xfff5)];
  assert.equal(rest.filter((b) => b !== 0).length, 0);
});

test('probe argv', () => {
  assert.deepEqual(probeArgv('/usr/bin/qemu-system-x86_64', 'kvm', '/tmp/x/probe.bin'), [
    '/usr/bin/qemu-system-x86_64', '-accel', 'kvm', '-machine', 'pc', '-nodefaults', '-display', 'none',
    '-no-user-config', '-bios', '/tmp/x/probe.bin', '-device', 'isa-debug-exit,iobase=244,iosize=0x04',
  ]);
});

// The same image must reach 64-bit mode under TCG: that proves the image.
test('the probe guest runs to 64-bit mode under TCG and its temp dir is removed', { skip: noQemu }, async () => {
  const tmp = await mkdtemp(join(tmpdir(), 'accel-test-'));
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = tmp;
  try {
    const result = await runProbeGuest(QEMU, 'tcg');
    assert.deepEqual(result, { ok: true, reason: 'a tcg guest ran to 64-bit mode' });
    assert.deepEqual(await readdir(tmp), []);
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
    await rm(tmp, { recursive: true });
  }
});

test('probeKvm answers within a few seconds, with a reason', { skip: noQemu }, async () => {
  const started = Date.now();
  const result = await probeKvm(QEMU);
  assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
  assert.match(result.reason, /\S/);
});

// Stand-ins for qemu, one per way the probe can end.
const FAKE_QEMU: Array<[string, string, number, ProbeResult]> = [
  ['exits with the probe status', `exit ${PROBE_EXIT_STATUS}`, 3000,
    { ok: true, reason: 'a kvm guest ran to 64-bit mode' }],
  ['refuses KVM after a warning', 'echo "qemu: warning: host lacks pni" >&2; echo "qemu: failed to initialize kvm: Permission denied" >&2; exit 1', 3000,
    { ok: false, reason: 'qemu refused kvm (exit status 1): qemu: failed to initialize kvm: Permission denied' }],
  ['hangs', 'exec sleep 30', 300,
    { ok: false, reason: 'guest did not run within 0.3 s under kvm' }],
];

for (const [name, script, timeoutMs, expected] of FAKE_QEMU) {
  test(`runProbeGuest when qemu ${name}`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'accel-test-'));
    try {
      const fake = join(dir, 'qemu');
      await writeFile(fake, `#!/bin/sh\n${script}\n`);
      await chmod(fake, 0o755);
      assert.deepEqual(await runProbeGuest(fake, 'kvm', timeoutMs), expected);
    } finally {
      await rm(dir, { recursive: true });
    }
  });
}

test('runProbeGuest when qemu cannot be started', async () => {
  const result = await runProbeGuest('/nonexistent/qemu', 'kvm');
  assert.deepEqual(result, { ok: false, reason: 'cannot run /nonexistent/qemu: spawn /nonexistent/qemu ENOENT' });
});

const WORKS: ProbeResult = { ok: true, reason: 'a kvm guest ran to 64-bit mode' };
const HANGS: ProbeResult = { ok: false, reason: 'guest did not run within 3 s under kvm' };

const CHOICES: Array<[string, 'auto' | 'kvm' | 'tcg', ProbeResult | null, { accel: string; reason: string } | RegExp]> = [
  ['tcg without probing', 'tcg', null, { accel: 'tcg', reason: 'TCG requested' }],
  ['kvm when it works', 'kvm', WORKS, { accel: 'kvm', reason: 'KVM works: a kvm guest ran to 64-bit mode' }],
  ['kvm when it hangs: error', 'kvm', HANGS, /^--accel kvm: KVM is not usable here: guest did not run within 3 s under kvm$/],
  ['auto when kvm works', 'auto', WORKS, { accel: 'kvm', reason: 'KVM works: a kvm guest ran to 64-bit mode' }],
  ['auto when kvm hangs: tcg', 'auto', HANGS,
    { accel: 'tcg', reason: 'KVM is not usable (guest did not run within 3 s under kvm); using TCG' }],
];

for (const [name, requested, probeAnswer, expected] of CHOICES) {
  test(`chooseAccel: ${name}`, async () => {
    let probed = 0;
    const probe = async (): Promise<ProbeResult> => {
      probed++;
      assert.ok(probeAnswer, 'probe must not run');
      return probeAnswer;
    };
    if (expected instanceof RegExp) {
      await assert.rejects(chooseAccel(requested, probe), { message: expected });
    } else {
      assert.deepEqual(await chooseAccel(requested, probe), expected);
    }
    assert.equal(probed, probeAnswer ? 1 : 0);
  });
}

const KEY: ProbeCacheKey = {
  bootId: '075d4c39-7552-4e72-8bfc-0aab527033f4',
  qemu: { path: '/usr/bin/qemu-system-x86_64', size: 17000000, mtimeMs: 1700000000000.5 },
  probe: 'ab'.repeat(32),
};

const CACHE_TEXTS: Array<[string, string, ProbeResult | undefined]> = [
  ['what formatProbeCache wrote', formatProbeCache(KEY, HANGS), HANGS],
  ['another boot', formatProbeCache({ ...KEY, bootId: 'ffffffff-7552-4e72-8bfc-0aab527033f4' }, HANGS), undefined],
  ['another qemu build', formatProbeCache({ ...KEY, qemu: { ...KEY.qemu, mtimeMs: 1700000000001 } }, HANGS), undefined],
  ['another probe', formatProbeCache({ ...KEY, probe: 'cd'.repeat(32) }, HANGS), undefined],
  ['truncated JSON', formatProbeCache(KEY, HANGS).slice(0, 40), undefined],
  ['empty', '', undefined],
  ['null', 'null', undefined],
  ['a result without a reason', JSON.stringify({ key: KEY, result: { ok: true } }), undefined],
  ['ok as a string', JSON.stringify({ key: KEY, result: { ok: 'true', reason: 'x' } }), undefined],
];

for (const [name, text, expected] of CACHE_TEXTS) {
  test(`readProbeCache: ${name}`, () => {
    assert.deepEqual(readProbeCache(text, KEY), expected);
  });
}

/** A scratch directory with a fake qemu that counts its runs and exits as `script` says, a boot id and a device. */
async function withProbeHost(script: string, run: (host: {
  dir: string; qemu: string; bootId: string; device: string; cache: string; runs: () => Promise<number>;
}) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'accel-cache-test-'));
  try {
    const qemu = join(dir, 'qemu');
    const count = join(dir, 'count');
    await writeFile(qemu, `#!/bin/sh\necho run >> ${count}\n${script}\n`);
    await chmod(qemu, 0o755);
    const bootId = join(dir, 'boot_id');
    await writeFile(bootId, '075d4c39-7552-4e72-8bfc-0aab527033f4\n');
    const device = join(dir, 'kvm');
    await writeFile(device, '');
    const runs = async () => (await readFile(count, 'utf8').catch(() => '')).split('\n').filter((l) => l).length;
    await run({ dir, qemu, bootId, device, cache: join(dir, 'cache'), runs });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('probeCacheKey: qemu found on PATH through a symlink, the boot id trimmed', () => withProbeHost('exit 1', async ({ dir, qemu, bootId }) => {
  await symlink(qemu, join(dir, 'qemu-link'));
  const key = await probeCacheKey('qemu-link', bootId, { PATH: `/nonexistent:${dir}` });
  const { size, mtimeMs } = await stat(qemu);
  assert.deepEqual(key, { bootId: '075d4c39-7552-4e72-8bfc-0aab527033f4', qemu: { path: qemu, size, mtimeMs }, probe: key?.probe });
  assert.match(key?.probe ?? '', /^[0-9a-f]{64}$/);
  assert.equal(await probeCacheKey('qemu-link', join(dir, 'no-boot-id'), { PATH: dir }), undefined);
  assert.equal(await probeCacheKey('qemu-link', bootId, { PATH: '/nonexistent' }), undefined);
}));

test('cachedProbeKvm: the first call probes and records, the second answers from the file', () =>
  withProbeHost(`exit ${PROBE_EXIT_STATUS}`, async ({ qemu, bootId, device, cache, runs }) => {
    const options = { device, bootIdPath: bootId };
    assert.deepEqual(await cachedProbeKvm(qemu, cache, options), WORKS);
    assert.equal(await runs(), 1);
    const key = await probeCacheKey(qemu, bootId);
    assert.ok(key);
    assert.equal(await readFile(join(cache, 'kvm-probe.json'), 'utf8'), formatProbeCache(key, WORKS));
    assert.deepEqual(await cachedProbeKvm(qemu, cache, options), { ok: true, reason: 'a kvm guest ran to 64-bit mode (cached)' });
    assert.equal(await runs(), 1);
  }));

// Each change makes the next call probe again and record the new answer.
const INVALIDATIONS: Array<[string, (host: { qemu: string; bootId: string; cache: string }) => Promise<void>]> = [
  ['the host rebooted', ({ bootId }) => writeFile(bootId, '11111111-7552-4e72-8bfc-0aab527033f4\n')],
  ['qemu was replaced', ({ qemu }) => writeFile(qemu, `#!/bin/sh\necho run >> ${join(qemu, '..', 'count')}\nexit 1\n`)],
  ['the cache file is corrupt', ({ cache }) => writeFile(join(cache, 'kvm-probe.json'), '{"key": {"bootId"')],
];

for (const [name, change] of INVALIDATIONS) {
  test(`cachedProbeKvm probes again when ${name}`, () =>
    withProbeHost(`exit ${PROBE_EXIT_STATUS}`, async (host) => {
      const options = { device: host.device, bootIdPath: host.bootId };
      await cachedProbeKvm(host.qemu, host.cache, options);
      await change(host);
      const again = await cachedProbeKvm(host.qemu, host.cache, options);
      assert.doesNotMatch(again.reason, /cached/);
      assert.equal(await host.runs(), 2);
      const key = await probeCacheKey(host.qemu, host.bootId);
      assert.ok(key);
      assert.equal(await readFile(join(host.cache, 'kvm-probe.json'), 'utf8'), formatProbeCache(key, again));
      assert.deepEqual(await cachedProbeKvm(host.qemu, host.cache, options), { ...again, reason: `${again.reason} (cached)` });
      assert.equal(await host.runs(), 2);
    }));
}

test('cachedProbeKvm: a refusal is cached like a success', () =>
  withProbeHost('echo "qemu: failed to initialize kvm: Operation not supported" >&2; exit 1', async ({ qemu, bootId, device, cache, runs }) => {
    const refused = 'qemu refused kvm (exit status 1): qemu: failed to initialize kvm: Operation not supported';
    assert.deepEqual(await cachedProbeKvm(qemu, cache, { device, bootIdPath: bootId }), { ok: false, reason: refused });
    assert.deepEqual(await cachedProbeKvm(qemu, cache, { device, bootIdPath: bootId }), { ok: false, reason: `${refused} (cached)` });
    assert.equal(await runs(), 1);
  }));

test('cachedProbeKvm: the device is checked on every call and its problem never cached', () =>
  withProbeHost(`exit ${PROBE_EXIT_STATUS}`, async ({ dir, qemu, bootId, device, cache, runs }) => {
    const missing = join(dir, 'no-kvm');
    assert.deepEqual(await cachedProbeKvm(qemu, cache, { device: missing, bootIdPath: bootId }), { ok: false, reason: `no ${missing}` });
    assert.equal(await runs(), 0);
    assert.deepEqual(await cachedProbeKvm(qemu, cache, { device, bootIdPath: bootId }), WORKS);
    assert.equal(await runs(), 1);
  }));

test('cachedProbeKvm: an unwritable cache costs only the next probe', () =>
  withProbeHost(`exit ${PROBE_EXIT_STATUS}`, async ({ qemu, bootId, device, runs }) => {
    const notADirectory = join(qemu, 'cache');
    assert.deepEqual(await cachedProbeKvm(qemu, notADirectory, { device, bootIdPath: bootId }), WORKS);
    assert.deepEqual(await cachedProbeKvm(qemu, notADirectory, { device, bootIdPath: bootId }), WORKS);
    assert.equal(await runs(), 2);
  }));

test('cachedProbeKvm: a qemu that is not there is reported, not cached', () =>
  withProbeHost('exit 1', async ({ dir, bootId, device, cache }) => {
    const qemu = join(dir, 'missing-qemu');
    assert.deepEqual(await cachedProbeKvm(qemu, cache, { device, bootIdPath: bootId }), {
      ok: false, reason: `cannot run ${qemu}: spawn ${qemu} ENOENT`,
    });
    assert.deepEqual(await readdir(dir).then((names) => names.includes('cache')), false);
  }));
