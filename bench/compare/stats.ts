/**
 * Pure statistics for the comparison: percentiles, a summary (median and spread) over runs,
 * and the ratio ours/Tor against Tor's better configuration for each figure.
 */

/** Direction of a figure: whether a larger or a smaller value is better. */
export type Better = "higher" | "lower";

/** Median and spread (min–max) of one figure over several runs. */
export interface Summary {
  median: number;
  min: number;
  max: number;
  /** Every run's value, in run order. */
  runs: number[];
}

/**
 * Percentile by linear interpolation between closest ranks (the same as numpy's default):
 * p in [0, 100]. NaN for an empty list.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  if (p < 0 || p > 100 || Number.isNaN(p)) throw new RangeError(`percentile out of range: ${p}`);
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a + (b - a) * (rank - lo);
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Summary over runs; non-finite values (a failed run) are left out. Undefined if none left. */
export function summarize(values: readonly number[]): Summary | undefined {
  const ok = values.filter((v) => Number.isFinite(v));
  if (ok.length === 0) return undefined;
  return { median: median(ok), min: Math.min(...ok), max: Math.max(...ok), runs: ok };
}

/** Which of two summaries is Tor's better one for a figure (ties go to the first). */
export function pickBest(
  a: Summary | undefined,
  b: Summary | undefined,
  better: Better,
): { summary: Summary; which: 0 | 1 } | undefined {
  if (a === undefined && b === undefined) return undefined;
  if (b === undefined) return { summary: a!, which: 0 };
  if (a === undefined) return { summary: b, which: 1 };
  if (better === "higher") return b.median > a.median ? { summary: b, which: 1 } : { summary: a, which: 0 };
  return b.median < a.median ? { summary: b, which: 1 } : { summary: a, which: 0 };
}

/**
 * ours / Tor, of the medians. Above 1 means ours is larger, which is a win for "higher is better"
 * figures (throughput) and a loss for "lower is better" ones (times, CPU, memory).
 * Undefined when either side is missing or Tor's median is 0.
 */
export function ratio(ours: Summary | undefined, tor: Summary | undefined): number | undefined {
  if (ours === undefined || tor === undefined || tor.median === 0) return undefined;
  return ours.median / tor.median;
}

/** Whether ours wins (or ties) on a figure, given the ratio ours/Tor. */
export function oursWins(r: number | undefined, better: Better): boolean | undefined {
  if (r === undefined) return undefined;
  return better === "higher" ? r >= 1 : r <= 1;
}

/** Round for display/JSON: 3 significant digits below 100, integers above. */
export function round(v: number): number {
  if (!Number.isFinite(v)) return v;
  const abs = Math.abs(v);
  if (abs >= 100) return Math.round(v);
  if (abs === 0) return 0;
  const digits = 3 - Math.ceil(Math.log10(abs));
  const f = 10 ** Math.max(0, Math.min(6, digits));
  return Math.round(v * f) / f;
}
