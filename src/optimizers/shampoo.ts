import type { ArenaBuffer, DType, Kernels } from '../kernels/index.ts';
import { Optimizer, type Param, type StateKind } from './optimizer.ts';
import { resolveShampooConfig, type ShampooConfig } from './shampoo-config.ts';
import { DistributedShampoo } from './shampoo-distributed.ts';
import type { ShampooHost, ShampooVariant } from './shampoo-host.ts';
import { LowbitShampoo } from './shampoo-lowbit.ts';
import { publicShampooConfig } from './shampoo-public-config.ts';
import { KernelShampooState } from './shampoo-state.ts';

/**
 * Shampoo, in the two forms the literature uses, chosen by `config.variant`, with its state in any storage
 * `precision` ('fp32', 'bf16', '4bit', 'bf16-naive', '4bit-naive'; docs/storage.md, Shampoo section):
 *
 * - `'distributed'` (default): Meta's Distributed Shampoo (facebookresearch/optimizers). EMA or summed
 *   Kronecker factors with bias correction, inverse roots by eigh (or eigenvectors by eigh / the QR algorithm)
 *   every `preconditionFrequency` steps from `startPreconditioningStep`, per-block grafting
 *   (SGD/AdaGrad/RMSprop/Adam), filtered gradient, weight decay, optional momentum. Config keys are the
 *   reference's camelCased; nested configs are type-tagged plain objects, e.g.
 *   `graftingConfig: { type: 'adam', beta2: 0.999, epsilon: 1e-8 }`.
 * - `'lowbit'`: the 4-bit Shampoo paper's algorithm (`shampoo2.py` ShampooAdamW/ShampooSGD; `precision: '4bit'`
 *   is its 4-bit form): eigen-parametrized factors refreshed by one warm-started QR power step every
 *   `statComputeSteps`, roots every `precComputeSteps`, layer-wise norm grafting into AdamW or SGD with
 *   momentum.
 *
 * Every refresh is guarded: a non-finite factor or a failed decomposition keeps the previous root and is
 * counted per block; more than `maxConsecutiveFailures` in a row throws `ConvergenceError` with the optimizer
 * and the parameters restored to their state before the step.
 */
export class Shampoo extends Optimizer {
  readonly method: string;
  private readonly publicConfig: ShampooConfig;
  private readonly variant: ShampooVariant;

  constructor(params: readonly Param[], config?: ShampooConfig) {
    const resolved = resolveShampooConfig(config);
    super(params, resolved);
    this.method = resolved.variant === 'distributed' ? 'shampoo' : 'shampoo-lowbit';
    this.publicConfig = publicShampooConfig(resolved);
    const host: ShampooHost = {
      kernels: this.kernels as Kernels,
      params: this.params,
      allocState: <D extends DType>(
        param: number,
        name: string,
        kind: StateKind,
        dtype: D,
        length: number,
        options?: { bf16?: boolean },
      ) => this.allocState(param, name, kind, dtype, length, options) as ArenaBuffer<D>,
      captureState: () => this.captureState(),
      paramLabel: (i: number) => this.paramLabel(i),
    };
    const state = new KernelShampooState(host, resolved);
    this.variant =
      resolved.variant === 'distributed'
        ? new DistributedShampoo(state, resolved)
        : new LowbitShampoo(state, resolved);
  }

  /**
   * The resolved configuration, every option explicit, in the constructor's input form (as saved in
   * `stateDict().config`): `new Shampoo(params, opt.config)` builds the same optimizer.
   */
  get config(): Readonly<ShampooConfig> {
    return this.publicConfig;
  }

  /** The largest consecutive-failure count over all blocks (0 when every last refresh succeeded). */
  get consecutiveFailures(): number {
    return this.variant.consecutiveFailures();
  }

  /** Gradients whose statistics would overflow float32 are refused like non-finite ones (state unchanged). */

  /** Decoded and rectified bases cached by the stores are derived from the state: drop them. */
  protected override stateReplaced(): void {
    this.variant.invalidate();
  }

  protected applyStep(grads: readonly Float32Array[]): void {
    this.variant.step(grads, this.stepCount + 1);
  }
}
