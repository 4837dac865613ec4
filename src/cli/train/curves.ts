/**
 * Loss-curve arithmetic for the comparison: smoothing, and how many steps a run needs to reach a target.
 * Minibatch losses are noisy, so "reached" is judged on a bias-corrected exponential moving average: a single
 * lucky batch must not count as reaching the target.
 */

/** The EMA span used for `steps` steps: about 5% of the run, between 1 (no smoothing) and 100 steps. */
export function smoothingSpan(steps: number): number {
  return Math.min(100, Math.max(1, Math.round(steps / 20)));
}

/** Bias-corrected EMA with decay β = 1 − 2/(span+1) (the usual span convention); span 1 returns a copy. */
export function smoothEma(values: readonly number[], span: number): number[] {
  const beta = 1 - 2 / (span + 1);
  const out: number[] = [];
  let ema = 0;
  let weight = 0;
  for (const v of values) {
    ema = beta * ema + (1 - beta) * v;
    weight = beta * weight + (1 - beta);
    out.push(ema / weight);
  }
  return out;
}

/** 1-based step count at which `curve` first reaches `target` or below, or null if it never does. */
export function stepsToReach(curve: readonly number[], target: number): number | null {
  for (let i = 0; i < curve.length; i++) if (curve[i] <= target) return i + 1;
  return null;
}

/** Median of a non-empty list (mean of the middle two for even lengths). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}
