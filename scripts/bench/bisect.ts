/** The smallest setting that works, found with as few boots as a binary search needs. */

/** from, from+step, … up to and including `to` when it falls on a step. */
export function steps(from: number, to: number, step: number): number[] {
  if (!(step > 0) || to < from) throw new Error(`steps(${from}, ${to}, ${step}): need step > 0 and to ≥ from`);
  return Array.from({ length: Math.floor((to - from) / step) + 1 }, (_, index) => from + index * step);
}

export interface Probe {
  value: number;
  passed: boolean;
}

/**
 * The smallest of the ascending `candidates` for which `passes` holds, assuming every larger one
 * passes too (more memory never stops a boot that worked); undefined when even the largest fails.
 * `probes` lists every value tried, in order.
 */
export async function smallestPassing(
  candidates: readonly number[],
  passes: (value: number) => Promise<boolean>,
): Promise<{ smallest?: number; probes: Probe[] }> {
  const probes: Probe[] = [];
  let low = 0;
  let high = candidates.length; // candidates[high] is the smallest known to pass; length: none known
  while (low < high) {
    const middle = Math.floor((low + high) / 2);
    const value = candidates[middle]!;
    const passed = await passes(value);
    probes.push({ value, passed });
    if (passed) high = middle;
    else low = middle + 1;
  }
  return high < candidates.length ? { smallest: candidates[high]!, probes } : { probes };
}
