// Small statistics helpers for the API benchmark: nearest-rank percentiles over raw samples.

export interface Summary {
  n: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile of an ascending array (p in 0..100). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

export function summarize(samples: readonly number[]): Summary {
  const s = [...samples].sort((a, b) => a - b);
  const sum = s.reduce((a, b) => a + b, 0);
  return {
    n: s.length,
    min: round(s[0] ?? NaN),
    p50: round(percentile(s, 50)),
    p90: round(percentile(s, 90)),
    p99: round(percentile(s, 99)),
    max: round(s.at(-1) ?? NaN),
    mean: round(s.length ? sum / s.length : NaN),
  };
}

/** Two decimals: enough for milliseconds, keeps the JSON readable. */
export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Runs fn(0..total-1) with `concurrency` loops pulling the next index, like N independent clients. */
export async function runPool(total: number, concurrency: number, fn: (i: number, worker: number) => Promise<void>): Promise<void> {
  let next = 0;
  const loops = Array.from({ length: Math.min(concurrency, total) }, async (_, w) => {
    while (next < total) {
      const i = next++;
      await fn(i, w);
    }
  });
  await Promise.all(loops);
}
