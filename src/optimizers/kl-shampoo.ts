import { type KLConfig, KLOptimizer } from './kl-optimizer.ts';
import type { Param } from './optimizer.ts';

export type KLShampooConfig = KLConfig;

/**
 * KL-Shampoo (Lin et al., ICLR 2026), step-by-step equal to `KLOpt(using_klsoap=False)` of
 * yorkerlin/KL-Methods run in float32: momentum `M` in parameter space, update
 * `Q_L((Q_LᵀMQ_R) ⊙ 1/(sqrt(d_L d_Rᵀ) + ε))Q_Rᵀ` with no bias correction, KL-coupled factors and per-side
 * eigenvalue estimates. The first call only initialises. Parameters whose squeezed order is < 2 are stepped
 * by AdamW (torch conventions) with the same lr, betas, eps and weight decay. See docs/methods.md.
 *
 * State per preconditioned parameter (fp32): `8·Σ d_i² + 4·Σ d_i + 4·numel` bytes.
 */
export class KLShampoo extends KLOptimizer {
  readonly method = 'kl-shampoo';
  protected readonly adamInEigenbasis = false;

  constructor(params: readonly Param[], config?: KLShampooConfig) {
    super(params, config, false);
  }
}
