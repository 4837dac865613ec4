import { type KLConfig, KLOptimizer } from './kl-optimizer.ts';
import type { Param } from './optimizer.ts';

export type KLSOAPConfig = KLConfig;

/**
 * KL-SOAP (Lin et al., ICLR 2026), step-by-step equal to `KLOpt(using_klsoap=True)` of
 * yorkerlin/KL-Methods run in float32: Adam without bias correction in the eigenbasis of the KL-coupled
 * factors (`M̂ ⊘ (sqrt(V) + ε)`), the first moment rotated with the basis at each refresh, V kept as is.
 * The first call only initialises. Parameters whose squeezed order is < 2 are stepped by AdamW (torch
 * conventions) with the same lr, betas, eps and weight decay. See docs/methods.md.
 *
 * State per preconditioned parameter (fp32): `8·Σ d_i² + 4·Σ d_i + 8·numel` bytes.
 */
export class KLSOAP extends KLOptimizer {
  readonly method = 'kl-soap';
  protected readonly adamInEigenbasis = true;

  constructor(params: readonly Param[], config?: KLSOAPConfig) {
    super(params, config, true);
  }
}
