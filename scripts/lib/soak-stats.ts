/** The numbers `make soak` reports about a series of boots. Pure. */

export interface Distribution {
  count: number;
  min: number;
  median: number;
  p90: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile (no interpolation: every number reported is a boot that happened). */
function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export function distribution(values: readonly number[]): Distribution | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return {
    count: sorted.length,
    min: sorted[0]!,
    median: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.at(-1)!,
  };
}

export function formatDistribution(d: Distribution): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  return `boot time over ${d.count}: min ${s(d.min)}, median ${s(d.median)}, p90 ${s(d.p90)}, p99 ${s(d.p99)}, max ${s(d.max)}`;
}
