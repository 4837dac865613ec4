import { ConvergenceError } from '../errors.ts';
import type { F64Buffer } from '../kernels/index.ts';
import { checkInteger, checkOneOf } from './config-checks.ts';
import { type CommonOptions, Optimizer, type Param } from './optimizer.ts';

/** How the first call builds the eigenbases. */
export type InitialBasis = 'eigh' | 'identity';

/** Options shared by the methods that keep a Kronecker factor's eigenbasis (SOAP, KL-Shampoo, KL-SOAP). */
export interface EigenbasisOptions {
  /**
   * Refresh the eigenbases every this many steps (an integer ≥ 1), counting from the first update after the
   * initialising call. `Infinity` never refreshes: the bases stay as the first call built them.
   */
  preconditionFrequency?: number;
  /**
   * How the first call builds each basis: `'eigh'` (default, as the references: eigenvectors of the first
   * factor, descending eigenvalue order) or `'identity'` (Q = I, no eigendecomposition; later refreshes
   * converge from there). With `preconditionFrequency: Infinity`, `'identity'` turns the method into its
   * first-order core run in parameter space.
   */
  initialBasis?: InitialBasis;
  /**
   * How many steps in a row may have a failed preconditioner computation (a non-finite factor, an
   * eigensolver/QR error, a statistic that overflowed float32) before `step` throws a `ConvergenceError`.
   * A failed computation keeps the previous factor or basis; a refresh step without failure resets the count.
   * The throwing step leaves parameters and state exactly as they were. Integer ≥ 0, default 3.
   */
  maxConsecutiveFailures?: number;
}

export const EIGENBASIS_KEYS = ['preconditionFrequency', 'initialBasis', 'maxConsecutiveFailures'] as const;

export interface ResolvedEigenbasisOptions {
  preconditionFrequency: number;
  initialBasis: InitialBasis;
  maxConsecutiveFailures: number;
}

export function resolveEigenbasisOptions(
  c: Readonly<Record<string, unknown>>,
  defaultFrequency: number,
): ResolvedEigenbasisOptions {
  return {
    preconditionFrequency: checkInteger(
      'preconditionFrequency',
      c.preconditionFrequency ?? defaultFrequency,
      1,
      true,
    ),
    initialBasis: checkOneOf('initialBasis', c.initialBasis ?? 'eigh', ['eigh', 'identity'] as const),
    maxConsecutiveFailures: checkInteger('maxConsecutiveFailures', c.maxConsecutiveFailures ?? 3, 0),
  };
}

/** What one step did to the preconditioners. */
export interface PreconditionerOutcome {
  /** Some factor update, eigendecomposition or refresh failed (and was skipped). */
  failed: boolean;
  /** Bases were (re)built this step: a clean step of this kind resets the failure count. */
  refreshed: boolean;
}

/**
 * Shared frame of the eigenbasis methods: the failure count (kept in the state) and its policy, and the
 * gradient-magnitude guard. Subclasses implement `preconditionedStep`.
 */
export abstract class EigenbasisOptimizer extends Optimizer {
  private readonly failures: F64Buffer;
  private readonly maxFailures: number;

  protected constructor(params: readonly Param[], options: CommonOptions, maxConsecutiveFailures: number) {
    super(params, options);
    this.maxFailures = maxConsecutiveFailures;
    this.failures = this.allocState(-1, 'consecutive_failures', 'counter', 'f64', 1);
  }

  /** Consecutive steps whose preconditioner computations failed (reset by a clean refresh). */
  get consecutiveFailures(): number {
    return this.failures.view()[0];
  }

  /**
   * One step on validated gradients. `calls` is the number of completed steps before this one (0 on the
   * first call, which only initialises the preconditioners).
   */
  protected abstract preconditionedStep(grads: readonly Float32Array[], calls: number): PreconditionerOutcome;

  protected applyStep(grads: readonly Float32Array[]): void {
    // Only when one more failure would be fatal is the state copied, so that throwing can undo the step.
    const restore = this.consecutiveFailures >= this.maxFailures ? this.captureState() : null;
    const outcome = this.preconditionedStep(grads, this.stepCount);
    const count = this.failures.view();
    if (outcome.failed) {
      const failures = count[0] + 1;
      count[0] = failures;
      if (failures > this.maxFailures && restore) {
        restore();
        throw new ConvergenceError(
          `${this.method}: preconditioner computations failed in ${failures} consecutive steps ` +
            `(maxConsecutiveFailures = ${this.maxFailures}); parameters and state left unchanged`,
        );
      }
    } else if (outcome.refreshed) {
      count[0] = 0;
    }
  }
}
