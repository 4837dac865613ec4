import { smoothEma, stepsToReach } from '../train/curves.ts';
import type { RunRecord } from '../train/run.ts';

export interface RunSummary {
  smoothed: number[];
  /** Steps this run needed to reach the reference's final smoothed training loss (null: never reached). */
  stepsToReference: number | null;
  /** stepsToReference divided by the reference's own steps to that loss (< 1: faster than the reference). */
  ratioToReference: number | null;
}

export interface Reference {
  label: string;
  /** The reference run's smoothed training loss at its last step: the target every run is timed to. */
  target: number;
  steps: number;
}

/**
 * The reference is the first AdamW run of the comparison (plain AdamW preferred over a low-precision one);
 * none if there is no AdamW run or it did not finish.
 */
export function pickReference(runs: readonly RunRecord[]): RunRecord | undefined {
  const finished = runs.filter((r) => r.method === 'adamw' && !r.failure && r.loss.length > 0);
  return finished.find((r) => r.label === 'adamw') ?? finished[0];
}

/**
 * Steps to the reference's final smoothed training loss, for every run. The reference itself is credited with
 * its whole run (that is what it took to get there), so the ratio is the fraction of AdamW's step budget a
 * method needs to match AdamW's result; a noisy reference curve dipping below its final value early would
 * otherwise shrink the denominator.
 */
export function summarize(
  runs: readonly RunRecord[],
  span: number,
): { summaries: RunSummary[]; reference?: Reference } {
  const smoothed = runs.map((r) => smoothEma(r.loss, span));
  const ref = pickReference(runs);
  if (!ref)
    return {
      summaries: smoothed.map((s) => ({ smoothed: s, stepsToReference: null, ratioToReference: null })),
    };
  const refSmoothed = smoothed[runs.indexOf(ref)];
  const target = refSmoothed[refSmoothed.length - 1];
  const refSteps = refSmoothed.length;
  return {
    reference: { label: ref.label, target, steps: refSteps },
    summaries: smoothed.map((s, i) => {
      const steps = runs[i] === ref ? refSteps : stepsToReach(s, target);
      return {
        smoothed: s,
        stepsToReference: steps,
        ratioToReference: steps === null ? null : steps / refSteps,
      };
    }),
  };
}
