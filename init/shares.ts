/** Mounting the virtiofs shares named on the kernel command line. */
import { mkdirSync } from 'node:fs';
import { monotonicMs } from './clock.ts';
import { debug } from './log.ts';
import { sleepSync } from './sleep.ts';
import { SyscallError } from './sys/errors.ts';
import { MS, mount } from './sys/libc.ts';

/**
 * The device for a tag appears some time after its driver loads (PCI probe, virtqueue setup);
 * until then mount fails with ENODEV (no virtiofs filesystem yet) or EINVAL (tag unknown yet).
 * TCG is slow, so the bound is generous; the wait ends as soon as the mount works.
 */
export const SHARE_TIMEOUT_MS = 20_000;
const RETRY_ERRNOS = new Set(['ENODEV', 'EINVAL', 'ENOENT']);
const RETRY_INTERVAL_MS = 10;

export function mountShare(tag: string, target: string, readonly: boolean, timeoutMs = SHARE_TIMEOUT_MS): void {
  mkdirSync(target, { recursive: true, mode: 0o755 });
  const deadline = monotonicMs() + timeoutMs;
  const started = monotonicMs();
  for (;;) {
    try {
      mount(`virtiofs "${tag}"`, tag, target, 'virtiofs', readonly ? MS.RDONLY : 0);
      debug(`share "${tag}" mounted on ${target} (${readonly ? 'ro' : 'rw'}) after ${(monotonicMs() - started).toFixed(0)} ms`);
      return;
    } catch (cause) {
      if (!(cause instanceof SyscallError) || !RETRY_ERRNOS.has(cause.code)) throw cause;
      if (monotonicMs() >= deadline) {
        const why = cause.code === 'ENODEV' ? 'the virtiofs filesystem is not available (module virtiofs not loaded?)' : `no virtiofs device has tag "${tag}"`;
        throw new Error(`share "${tag}" did not appear within ${timeoutMs / 1000} s: ${why} (last error: ${cause.message})`);
      }
      sleepSync(RETRY_INTERVAL_MS);
    }
  }
}
