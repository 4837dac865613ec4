import type { F32Buffer } from '../kernels/index.ts';
import { type AdamWHyper, adamwUpdate } from './adamw-update.ts';
import {
  checkConfigObject,
  type ResolvedShared,
  readAliased,
  resolveShared,
  type SharedOptions,
} from './common-config.ts';
import { checkBetas, checkNonNegative } from './config-checks.ts';
import { Optimizer, type Param } from './optimizer.ts';

/** AdamW hyperparameters: the names and defaults of `torch.optim.AdamW`. */
export interface AdamWConfig extends SharedOptions {
  /** Learning rate, ≥ 0. Default 1e-3. */
  lr?: number;
  /** `[β1, β2]`, each in [0, 1): decay of the first and second moment EMAs. Default `[0.9, 0.999]`. */
  betas?: readonly [number, number];
  /** ε added to the bias-corrected `sqrt(v)`, ≥ 0. Default 1e-8. Alias: `epsilon`. */
  eps?: number;
  /** Alias of `eps`. */
  epsilon?: number;
  /** Decoupled weight decay λ, ≥ 0: each step first scales the weights by `1 − lr·λ`. Default 1e-2. */
  weightDecay?: number;
}

export interface ResolvedAdamWConfig {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  precision: 'fp32';
}

const KEYS = ['lr', 'betas', 'eps', 'epsilon', 'weightDecay'] as const;

export function resolveAdamWConfig(config: AdamWConfig | undefined): ResolvedAdamWConfig & ResolvedShared {
  const c = checkConfigObject(config, KEYS);
  const shared = resolveShared(c);
  return {
    ...shared,
    lr: checkNonNegative('lr', c.lr ?? 1e-3),
    betas: checkBetas('betas', c.betas ?? [0.9, 0.999]),
    eps: checkNonNegative('eps', readAliased(c, 'eps', 'epsilon', 1e-8)),
    weightDecay: checkNonNegative('weightDecay', c.weightDecay ?? 1e-2),
  };
}

/**
 * AdamW exactly as `torch.optim.AdamW` (decoupled weight decay applied before the Adam step, ε added to the
 * bias-corrected `sqrt(v)`). State: first and second moments, fp32, `8·numel` bytes per parameter.
 */
export class AdamW extends Optimizer {
  readonly method = 'adamw';
  private readonly hyper: AdamWHyper;
  private readonly resolved: ResolvedAdamWConfig;
  private readonly m: F32Buffer[];
  private readonly v: F32Buffer[];
  private readonly work: F32Buffer[];

  constructor(params: readonly Param[], config?: AdamWConfig) {
    const resolved = resolveAdamWConfig(config);
    super(params, resolved);
    this.resolved = {
      lr: resolved.lr,
      betas: resolved.betas,
      eps: resolved.eps,
      weightDecay: resolved.weightDecay,
      precision: 'fp32',
    };
    this.hyper = {
      lr: resolved.lr,
      beta1: resolved.betas[0],
      beta2: resolved.betas[1],
      eps: resolved.eps,
      weightDecay: resolved.weightDecay,
    };
    this.m = params.map((p, i) => this.allocState(i, 'exp_avg', 'moment', 'f32', p.data.length));
    this.v = params.map((p, i) => this.allocState(i, 'exp_avg_sq', 'moment', 'f32', p.data.length));
    // One scratch buffer for the largest parameter, shared by all of them.
    const scratch = this.kernels.arena.f32(Math.max(...params.map((p) => p.data.length)));
    this.work = params.map((p) => scratch.slice(0, p.data.length));
  }

  get config(): Readonly<ResolvedAdamWConfig> {
    return this.resolved;
  }

  protected applyStep(grads: readonly Float32Array[]): void {
    const t = this.stepCount + 1;
    this.params.forEach((p, i) => {
      adamwUpdate(this.kernels, p.data, grads[i], this.m[i], this.v[i], this.work[i], t, this.hyper);
    });
  }
}
