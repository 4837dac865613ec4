import type { F32Buffer } from '../kernels/index.ts';
import type { KroneckerSide } from '../preconditioner/kronecker-side.ts';
import { modeShape, modeStatistics, project } from '../preconditioner/mode-products.ts';
import {
  channelsLastLayout,
  reshapeLayout,
  soapMergeDims,
  type TensorLayout,
} from '../preconditioner/tensor-layout.ts';
import type { MomentStore } from '../storage/moment-store.ts';
import type { ResolvedStorage } from '../storage/precision.ts';
import { PRECISIONS, type Precision } from '../storage/precision.ts';
import {
  checkConfigObject,
  type ResolvedShared,
  readAliased,
  resolveShared,
  type SharedOptions,
} from './common-config.ts';
import {
  checkBetas,
  checkBoolean,
  checkInteger,
  checkNonNegative,
  checkOneOf,
  checkRange,
} from './config-checks.ts';
import {
  EIGENBASIS_KEYS,
  EigenbasisOptimizer,
  type EigenbasisOptions,
  type PreconditionerOutcome,
  type ResolvedEigenbasisOptions,
  resolveEigenbasisOptions,
} from './eigenbasis-optimizer.ts';
import { MethodStorage } from './method-storage.ts';
import type { Param } from './optimizer.ts';
import { resolveStorage, STORAGE_KEYS, type StorageOptions } from './storage-config.ts';

/** SOAP hyperparameters: names and defaults of the official implementation (nikhilvyas/SOAP). */
export interface SOAPConfig extends SharedOptions, EigenbasisOptions, StorageOptions {
  /** Learning rate, ≥ 0. Default 3e-3. */
  lr?: number;
  /** `[β1, β2]`, each in [0, 1): Adam's first and second moment decays (in the eigenbasis). Default `[0.95, 0.95]`. */
  betas?: readonly [number, number];
  /**
   * Decay of the Kronecker factor EMAs, in [0, 1]; any negative value means "use betas[1]". Default −1.
   * 1 freezes the factors at zero after the first call.
   */
  shampooBeta?: number;
  /** ε added to the un-bias-corrected `sqrt(V)`, ≥ 0. Default 1e-8. Alias: `epsilon`. */
  eps?: number;
  /** Alias of `eps`. */
  epsilon?: number;
  /** Decoupled weight decay λ, ≥ 0, applied after the update: `W ← W − lr·λ·W`. Default 0.01. */
  weightDecay?: number;
  /** See `EigenbasisOptions.preconditionFrequency`. Default 10. */
  preconditionFrequency?: number;
  /**
   * A tensor axis longer than this (integer ≥ 0, or Infinity) gets no factor: identity on that axis.
   * Default 10000. Alias: `maxPreconditionerDim`.
   */
  maxPrecondDim?: number;
  /** Alias of `maxPrecondDim`. */
  maxPreconditionerDim?: number;
  /** Merge adjacent axes (left to right) while their product stays ≤ maxPrecondDim. Default false. */
  mergeDims?: boolean;
  /** Give 1-D parameters (length ≤ maxPrecondDim) a full factor and basis. Default false (plain Adam). */
  precondition1d?: boolean;
  /** Divide the update by its RMS (per parameter) before the step. Default false. */
  normalizeGrads?: boolean;
  /**
   * Layout of 4-D parameters: `'channels_last'` (N, H, W, C) is read as (N, C, H, W) before `mergeDims`.
   * Only has an effect with `mergeDims` (as in the reference). Default `'channels_first'`.
   */
  dataFormat?: 'channels_first' | 'channels_last';
  /** Scale the step by `sqrt(1−β2ᵗ)/(1−β1ᵗ)`. Default true. */
  correctBias?: boolean;
}

export interface ResolvedSOAPConfig extends ResolvedEigenbasisOptions, ResolvedStorage {
  lr: number;
  betas: [number, number];
  shampooBeta: number;
  eps: number;
  weightDecay: number;
  maxPrecondDim: number;
  mergeDims: boolean;
  precondition1d: boolean;
  normalizeGrads: boolean;
  dataFormat: 'channels_first' | 'channels_last';
  correctBias: boolean;
}

const KEYS = [
  'lr',
  'betas',
  'shampooBeta',
  'eps',
  'epsilon',
  'weightDecay',
  'maxPrecondDim',
  'maxPreconditionerDim',
  'mergeDims',
  'precondition1d',
  'normalizeGrads',
  'dataFormat',
  'correctBias',
  ...EIGENBASIS_KEYS,
  ...STORAGE_KEYS,
] as const;

/** Negative → "use betas[1]" (kept as given, resolved at use); otherwise a decay in [0, 1]. */
export function checkShampooBeta(value: unknown): number {
  if (typeof value === 'number' && value < 0 && Number.isFinite(value)) return value;
  return checkRange('shampooBeta', value, 0, 1);
}

export function resolveSOAPConfig(
  config: SOAPConfig | undefined,
): ResolvedSOAPConfig & ResolvedShared<Precision> {
  const c = checkConfigObject(config, KEYS);
  const shared = resolveShared(c, PRECISIONS);
  return {
    ...shared,
    ...resolveStorage(c, shared.precision),
    lr: checkNonNegative('lr', c.lr ?? 3e-3),
    betas: checkBetas('betas', c.betas ?? [0.95, 0.95]),
    shampooBeta: checkShampooBeta(c.shampooBeta ?? -1),
    eps: checkNonNegative('eps', readAliased(c, 'eps', 'epsilon', 1e-8)),
    weightDecay: checkNonNegative('weightDecay', c.weightDecay ?? 0.01),
    ...resolveEigenbasisOptions(c, 10),
    maxPrecondDim: checkInteger(
      'maxPrecondDim',
      readAliased(c, 'maxPrecondDim', 'maxPreconditionerDim', 10000),
      0,
      true,
    ),
    mergeDims: checkBoolean('mergeDims', c.mergeDims ?? false),
    precondition1d: checkBoolean('precondition1d', c.precondition1d ?? false),
    normalizeGrads: checkBoolean('normalizeGrads', c.normalizeGrads ?? false),
    dataFormat: checkOneOf('dataFormat', c.dataFormat ?? 'channels_first', [
      'channels_first',
      'channels_last',
    ] as const),
    correctBias: checkBoolean('correctBias', c.correctBias ?? true),
  };
}

/** The working tensor of one parameter and which of its axes get a factor. */
export function soapLayout(
  shape: readonly number[],
  cfg: Pick<ResolvedSOAPConfig, 'maxPrecondDim' | 'mergeDims' | 'precondition1d' | 'dataFormat'>,
): { layout: TensorLayout; preconditioned: boolean[] } {
  const max = cfg.maxPrecondDim;
  if (shape.length <= 1 && !(shape.length === 0 && cfg.mergeDims)) {
    // 1-D (and scalars without merging): a factor only with precondition1d; merging does not apply.
    const dims = shape.length === 0 ? [] : [...shape];
    return { layout: reshapeLayout(dims), preconditioned: dims.map((d) => cfg.precondition1d && d <= max) };
  }
  if (!cfg.mergeDims) return { layout: reshapeLayout(shape), preconditioned: shape.map((d) => d <= max) };
  const channelsLast = cfg.dataFormat === 'channels_last' && shape.length === 4;
  const ordered = channelsLast ? [shape[0], shape[3], shape[1], shape[2]] : shape;
  const dims = soapMergeDims(ordered, max);
  const layout = channelsLast ? channelsLastLayout(shape, dims) : reshapeLayout(dims);
  return { layout, preconditioned: dims.map((d) => d <= max) };
}

interface SoapBlock {
  param: Param;
  layout: TensorLayout;
  dims: readonly number[];
  sides: (KroneckerSide | null)[];
  /** First moment, in the eigenbasis. */
  m: MomentStore;
  /** Second moment, in the eigenbasis. */
  v: MomentStore;
  /** Scratch slices of exactly numel elements. */
  g: F32Buffer;
  x: F32Buffer;
  y: F32Buffer;
}

/** The bases to compute with this step (a store may decode them into shared scratch, so ask every step). */
function basesOf(b: SoapBlock): (F32Buffer | null)[] {
  return b.sides.map((side) => (side ? side.basisF32() : null));
}

/**
 * SOAP (Vyas et al. 2024): Adam run in the eigenbasis of Shampoo's Kronecker factors, the bases refreshed
 * every `preconditionFrequency` steps by one warm-started power iteration with QR. Step-by-step equal to the
 * official implementation (nikhilvyas/SOAP), including: the first call only builds factors and bases (no
 * update, no weight decay); descending eigenvector order with a Rayleigh-quotient re-sort (and matching
 * permutation of V) before each refresh; ε on the un-corrected sqrt(V); weight decay after the step.
 * Differences that are exact in real arithmetic: the first moment is rotated only when a basis changes, and
 * factor updates use SYRK. See docs/methods.md; `precision` selects how factors, bases and moments are stored
 * (docs/storage.md).
 *
 * State per parameter (fp32): factors and bases `8·Σ d_i²` bytes over preconditioned axes, moments `8·numel`.
 */
export class SOAP extends EigenbasisOptimizer {
  readonly method = 'soap';
  private readonly resolved: ResolvedSOAPConfig;
  private readonly blocks: SoapBlock[];
  private readonly storage: MethodStorage;

  constructor(params: readonly Param[], config?: SOAPConfig) {
    const r = resolveSOAPConfig(config);
    super(params, r, r.maxConsecutiveFailures);
    const { engine: _e, allowRelaxedSimd: _a, nonFinite: _n, ...hyper } = r;
    this.resolved = hyper;
    const plans = params.map((p) => soapLayout(p.shape, r));
    const maxNumel = Math.max(...params.map((p) => p.data.length));
    const maxDim = Math.max(0, ...plans.flatMap((p) => p.layout.dims.filter((_, k) => p.preconditioned[k])));
    this.storage = new MethodStorage(
      this.kernels,
      (param, name, kind, dtype, length, options) =>
        this.allocState(param, name, kind, dtype, length, options),
      r,
      maxDim,
      maxNumel,
    );
    // State, grouped per parameter: moments, then the store of each preconditioned axis.
    const state = params.map((p, i) => {
      const dims = plans[i].layout.dims;
      return {
        m: this.storage.moment(i, 'exp_avg', p.data.length, r.betas[0], 'first'),
        v: this.storage.moment(i, 'exp_avg_sq', p.data.length, r.betas[1], 'second'),
        sides: dims.map((d, k) => (plans[i].preconditioned[k] ? this.storage.side(i, d, k) : null)),
      };
    });
    // Scratch, allocated once and shared by all parameters.
    const g = this.kernels.arena.f32(maxNumel);
    const x = this.kernels.arena.f32(maxNumel);
    const y = this.kernels.arena.f32(maxNumel);
    this.blocks = params.map((param, i) => {
      const n = param.data.length;
      return {
        param,
        layout: plans[i].layout,
        dims: plans[i].layout.dims,
        sides: state[i].sides,
        m: state[i].m,
        v: state[i].v,
        g: g.slice(0, n),
        x: x.slice(0, n),
        y: y.slice(0, n),
      };
    });
  }

  get config(): Readonly<ResolvedSOAPConfig> {
    return this.resolved;
  }

  protected override stateReplaced(): void {
    this.storage.invalidate();
  }

  private get factorBeta(): number {
    const { shampooBeta, betas } = this.resolved;
    return shampooBeta < 0 ? betas[1] : shampooBeta;
  }

  protected preconditionedStep(grads: readonly Float32Array[], calls: number): PreconditionerOutcome {
    return calls === 0 ? this.initialise(grads) : this.update(grads, calls);
  }

  /** First call: factors from the first gradient, bases from them; parameters untouched. */
  private initialise(grads: readonly Float32Array[]): PreconditionerOutcome {
    let failed = false;
    const beta = this.factorBeta;
    this.blocks.forEach((b, i) => {
      b.layout.toWork(grads[i], b.g.view());
      b.sides.forEach((side, k) => {
        if (!side) return;
        // Every store starts with Q = I, so parameter and rotated coordinates agree here.
        modeStatistics(this.kernels, b.g, modeShape(b.dims, k), 1, 0, side.incrementBuffer());
        failed = !side.initialise(this.kernels, beta, 1 - beta, this.resolved.initialBasis) || failed;
      });
    });
    return { failed, refreshed: true };
  }

  /** `F ← β·F + (1−β)·X_(k)X_(k)ᵀ` with X the gradient in the coordinates the side keeps its statistics in. */
  private accumulateFactor(side: KroneckerSide, x: F32Buffer, dims: readonly number[], k: number): boolean {
    const beta = this.factorBeta;
    modeStatistics(this.kernels, x, modeShape(dims, k), 1, 0, side.incrementBuffer());
    return side.accumulate(this.kernels, beta, 1 - beta);
  }

  private update(grads: readonly Float32Array[], t: number): PreconditionerOutcome {
    const { lr, betas, eps, weightDecay, correctBias, normalizeGrads, preconditionFrequency } = this.resolved;
    const k = this.kernels;
    const refresh = t % preconditionFrequency === 0;
    const stepSize = correctBias ? (lr * Math.sqrt(1 - betas[1] ** t)) / (1 - betas[0] ** t) : lr;
    let failed = false;
    for (let i = 0; i < this.blocks.length; i++) {
      const b = this.blocks[i];
      b.layout.toWork(grads[i], b.g.view());
      const bases = basesOf(b);
      // Adam in the eigenbasis built from past gradients only.
      const gHat = project(k, b.g, b.x, b.y, b.dims, bases, true);
      // Stores that keep rotated statistics take them from Ĝ (the order of the factor updates is immaterial:
      // none of them changes a basis before the refresh below).
      b.sides.forEach((side, mode) => {
        if (side?.statistics === 'rotated')
          failed = !this.accumulateFactor(side, gHat, b.dims, mode) || failed;
      });
      const m = b.m.load();
      const v = b.v.load();
      k.adamMoments(gHat, m, v, betas[0], betas[1]);
      k.adamDirection(m, v, 1, eps, b.x);
      failed = !b.m.store(k) || failed;
      failed = !b.v.store(k) || failed;
      const dir = project(k, b.x, b.x, b.y, b.dims, bases, false);
      this.applyUpdate(b, dir, stepSize, normalizeGrads, lr * weightDecay);
      // Then the factors take the current gradient, and every `preconditionFrequency` steps the bases move.
      b.sides.forEach((side, mode) => {
        if (side?.statistics === 'parameter')
          failed = !this.accumulateFactor(side, b.g, b.dims, mode) || failed;
      });
      if (refresh) failed = !this.refreshBases(b) || failed;
    }
    return { failed, refreshed: refresh };
  }

  /** `W ← W − stepSize·N` (N optionally divided by its RMS), then `W ← W − lr·λ·W`. */
  private applyUpdate(
    b: SoapBlock,
    dir: F32Buffer,
    stepSize: number,
    normalize: boolean,
    decay: number,
  ): void {
    let scale = stepSize;
    if (normalize) {
      const rms = Math.sqrt(this.kernels.sumSquares(dir) / dir.length);
      scale = stepSize / (1e-30 + rms);
    }
    let n = dir.view();
    if (!b.layout.identity) {
      const out = (dir === b.x ? b.y : b.x).view();
      b.layout.toParam(n, out);
      n = out;
    }
    const w = b.param.data;
    if (decay > 0) {
      for (let j = 0; j < w.length; j++) {
        const p = Math.fround(w[j] - scale * n[j]);
        w[j] = p - decay * p;
      }
    } else {
      for (let j = 0; j < w.length; j++) w[j] -= scale * n[j];
    }
  }

  /**
   * One refresh per side (the store's rule: a power-iteration step, or a subspace rotation for 'bf16'). A side
   * whose refresh fails keeps its basis. On success the second moment is carried over by the store's rule
   * (the Rayleigh re-sort at fp32, as the reference; `rotateSecondMoment`) and the first moment is rotated from
   * the old basis into the new one.
   */
  private refreshBases(b: SoapBlock): boolean {
    const k = this.kernels;
    let ok = true;
    const m = b.m.load();
    const v = b.v.load();
    b.sides.forEach((side, mode) => {
      if (!side) return;
      if (!side.proposeRefresh(k, true)) {
        ok = false;
        return;
      }
      const shape = modeShape(b.dims, mode);
      side.rotateSecondMoment(k, v, shape, b.x, b.y);
      side.rotateMoment(k, m, shape, b.x, b.y);
      side.commit();
    });
    ok = b.m.store(k) && ok;
    ok = b.v.store(k) && ok;
    return ok;
  }
}
