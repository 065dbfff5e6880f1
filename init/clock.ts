/**
 * CLOCK_MONOTONIC, which on Linux counts from boot, for the boot's deadlines and log times. Not
 * `performance.now()`: its first use loads perf_hooks and the dozen modules behind it, tens of ms
 * of PID 1's boot under TCG.
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
