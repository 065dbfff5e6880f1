/** Summaries of repeated measurements. */

export interface Summary {
  median: number;
  min: number;
  max: number;
  count: number;
}

export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new Error('summarize: no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  // An even count has two middles: their mean, as the usual definition of the median.
  const median = sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, count: sorted.length };
}

/** The index in `samples` of the sample closest to their median (the first one on a tie): a typical run to show in full. */
export function typicalIndex(samples: readonly number[]): number {
  const { median } = summarize(samples);
  let best = 0;
  samples.forEach((value, index) => {
    if (Math.abs(value - median) < Math.abs(samples[best]! - median)) best = index;
  });
  return best;
}
