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
  // The reference reaches its own final value at the latest on its last step.
  const refSteps = stepsToReach(refSmoothed, target)!;
  return {
    reference: { label: ref.label, target, steps: refSteps },
    summaries: smoothed.map((s) => {
      const steps = stepsToReach(s, target);
      return {
        smoothed: s,
        stepsToReference: steps,
        ratioToReference: steps === null ? null : steps / refSteps,
      };
    }),
  };
}
