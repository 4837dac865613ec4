import type { F32Buffer } from '../kernels/index.ts';
import {
  klClamp,
  meanSquare,
  scaleByInverseSqrtProduct,
  updateInverseSqrtEstimates,
} from '../preconditioner/kl-statistics.ts';
import { KroneckerSide, SideScratch } from '../preconditioner/kronecker-side.ts';
import {
  modeProduct,
  modeScale,
  modeShape,
  modeStatistics,
  modeSumSquares,
  project,
} from '../preconditioner/mode-products.ts';
import { squeezeDims } from '../preconditioner/tensor-layout.ts';
import { type AdamWHyper, adamwUpdate } from './adamw-update.ts';
import {
  checkConfigObject,
  type ResolvedShared,
  readAliased,
  resolveShared,
  type SharedOptions,
} from './common-config.ts';
import { checkBetas, checkBoolean, checkNonNegative, checkPositive } from './config-checks.ts';
import {
  EIGENBASIS_KEYS,
  EigenbasisOptimizer,
  type EigenbasisOptions,
  type PreconditionerOutcome,
  type ResolvedEigenbasisOptions,
  resolveEigenbasisOptions,
} from './eigenbasis-optimizer.ts';
import type { Param } from './optimizer.ts';
import { checkShampooBeta } from './soap.ts';

/**
 * KL-Shampoo / KL-SOAP hyperparameters: names and defaults of `KLOpt` (yorkerlin/KL-Methods). Its
 * `using_klsoap` is the choice of class here, and `cast_dtype` is replaced by `precision`.
 */
export interface KLConfig extends SharedOptions, EigenbasisOptions {
  /** Learning rate, ≥ 0. Default 1e-4. */
  lr?: number;
  /**
   * `[β1, β2]`, each in [0, 1). β1: momentum (KL-Shampoo, in parameter space) or Adam's first moment
   * (KL-SOAP, in the eigenbasis); β2: KL-SOAP's second moment, and the default of `shampooBeta`.
   * Default `[0.9, 0.98]`.
   */
  betas?: readonly [number, number];
  /** Decay of the factors and eigenvalue estimates, in [0, 1]; negative means "use betas[1]". Default −1. */
  shampooBeta?: number;
  /**
   * ε, ≥ 0: KL-Shampoo scales by `1/(sqrt(d_L·d_R) + ε)`; KL-SOAP adds it to `sqrt(V)`; with `usingDamping`
   * it also sets the damping of the eigenvalue statistics. Default 1e-8. Alias: `epsilon`.
   */
  eps?: number;
  /** Alias of `eps`. */
  epsilon?: number;
  /** Decoupled weight decay λ, ≥ 0, applied after the update: `W ← W − lr·λ·W`. Default 0.01. */
  weightDecay?: number;
  /** See `EigenbasisOptions.preconditionFrequency`. Default 10. */
  preconditionFrequency?: number;
  /** Divide the update by its RMS (per parameter, not for the AdamW-handled ones). Default false. */
  normalizeGrads?: boolean;
  /** Initial eigenvalue estimate of every direction, > 0 (stored as 1/sqrt). Default 0.1. */
  initFactor?: number;
  /**
   * Add trace-scaled damping to the eigenvalue statistics: side k's statistic gets
   * `ε·Π_l mean(1/d_l) / mean(1/d_k)`. Default false.
   */
  usingDamping?: boolean;
  /** Cap each stored inverse-sqrt estimate at `max(10, min(dim, maxClampValue))`. Default true. */
  usingClamping?: boolean;
  /** See `usingClamping`; > 0. Default 4000. */
  maxClampValue?: number;
}

export interface ResolvedKLConfig extends ResolvedEigenbasisOptions {
  lr: number;
  betas: [number, number];
  shampooBeta: number;
  eps: number;
  weightDecay: number;
  normalizeGrads: boolean;
  initFactor: number;
  usingDamping: boolean;
  usingClamping: boolean;
  maxClampValue: number;
  precision: 'fp32';
}

const KEYS = [
  'lr',
  'betas',
  'shampooBeta',
  'eps',
  'epsilon',
  'weightDecay',
  'normalizeGrads',
  'initFactor',
  'usingDamping',
  'usingClamping',
  'maxClampValue',
  ...EIGENBASIS_KEYS,
] as const;

export function resolveKLConfig(config: KLConfig | undefined): ResolvedKLConfig & ResolvedShared {
  const c = checkConfigObject(config, KEYS);
  return {
    ...resolveShared(c),
    lr: checkNonNegative('lr', c.lr ?? 1e-4),
    betas: checkBetas('betas', c.betas ?? [0.9, 0.98]),
    shampooBeta: checkShampooBeta(c.shampooBeta ?? -1),
    eps: checkNonNegative('eps', readAliased(c, 'eps', 'epsilon', 1e-8)),
    weightDecay: checkNonNegative('weightDecay', c.weightDecay ?? 0.01),
    ...resolveEigenbasisOptions(c, 10),
    normalizeGrads: checkBoolean('normalizeGrads', c.normalizeGrads ?? false),
    initFactor: checkPositive('initFactor', c.initFactor ?? 0.1),
    usingDamping: checkBoolean('usingDamping', c.usingDamping ?? false),
    usingClamping: checkBoolean('usingClamping', c.usingClamping ?? true),
    maxClampValue: checkPositive('maxClampValue', c.maxClampValue ?? 4000),
  };
}

/** A parameter whose squeezed order is ≥ 2: Kronecker-preconditioned. */
interface KLBlock {
  kind: 'kl';
  index: number;
  param: Param;
  dims: readonly number[];
  numel: number;
  sides: KroneckerSide[];
  bases: F32Buffer[];
  /** Stored inverse-sqrt eigenvalue estimates per side. */
  s: F32Buffer[];
  /** Their values before this step's update (scratch). */
  sOld: F32Buffer[];
  /** KL-Shampoo: momentum in parameter space. KL-SOAP: first moment in the eigenbasis. */
  m: F32Buffer;
  /** KL-SOAP only: second moment in the eigenbasis. */
  v: F32Buffer | null;
  g: F32Buffer;
  x: F32Buffer;
  y: F32Buffer;
  h: F32Buffer;
}

/** A parameter of squeezed order < 2: stepped by AdamW, as the reference setup does (KLOpt rejects them). */
interface FallbackBlock {
  kind: 'adamw';
  index: number;
  param: Param;
  m: F32Buffer;
  v: F32Buffer;
  work: F32Buffer;
}

/**
 * The common machinery of KL-Shampoo and KL-SOAP (Lin et al., ICLR 2026; reference `KLOpt`): factors
 * updated with the KL-coupled statistics, per-side eigenvalue estimates stored as inverse square roots,
 * bases from eigh on the first call and one unsorted QR power step every `preconditionFrequency` steps.
 */
export abstract class KLOptimizer extends EigenbasisOptimizer {
  private readonly resolved: ResolvedKLConfig;
  private readonly blocks: (KLBlock | FallbackBlock)[];
  private readonly diag: Float64Array;
  private readonly adam: AdamWHyper;
  /** True for KL-SOAP (Adam in the eigenbasis), false for KL-Shampoo. */
  protected abstract readonly adamInEigenbasis: boolean;

  protected constructor(params: readonly Param[], config: KLConfig | undefined, klsoap: boolean) {
    const r = resolveKLConfig(config);
    super(params, r, r.maxConsecutiveFailures);
    const { engine: _e, allowRelaxedSimd: _a, nonFinite: _n, ...hyper } = r;
    this.resolved = hyper;
    this.adam = { lr: r.lr, beta1: r.betas[0], beta2: r.betas[1], eps: r.eps, weightDecay: r.weightDecay };
    const dimsOf = params.map((p) => squeezeDims(p.shape));
    const state = params.map((p, i) => {
      const n = p.data.length;
      const dims = dimsOf[i];
      if (dims.length < 2) {
        return {
          m: this.allocState(i, 'exp_avg', 'moment', 'f32', n),
          v: this.allocState(i, 'exp_avg_sq', 'moment', 'f32', n),
          sides: [],
        };
      }
      return {
        m: this.allocState(i, 'exp_avg', 'moment', 'f32', n),
        v: klsoap ? this.allocState(i, 'exp_avg_sq', 'moment', 'f32', n) : null,
        sides: dims.map((d, k) => ({
          factor: this.allocState(i, `GG${k}`, 'factor', 'f32', d * d),
          basis: this.allocState(i, `Q${k}`, 'basis', 'f32', d * d),
          s: this.allocState(i, `eigen_sqrt_inv${k}`, 'eigenvalues', 'f32', d),
        })),
      };
    });
    const maxNumel = Math.max(...params.map((p) => p.data.length));
    const klDims = dimsOf.filter((d) => d.length >= 2);
    const maxDim = Math.max(0, ...klDims.flat());
    const maxDimSum = Math.max(0, ...klDims.map((d) => d.reduce((a, b) => a + b, 0)));
    const scratch = new SideScratch(this.kernels, maxDim);
    const arena = this.kernels.arena;
    const [g, x, y, h] = [arena.f32(maxNumel), arena.f32(maxNumel), arena.f32(maxNumel), arena.f32(maxNumel)];
    const sOld = arena.f32(maxDimSum);
    this.diag = new Float64Array(maxDim);
    this.blocks = params.map((param, index) => {
      const n = param.data.length;
      const st = state[index];
      if (st.sides.length === 0) {
        return { kind: 'adamw', index, param, m: st.m, v: st.v as F32Buffer, work: g.slice(0, n) };
      }
      const dims = dimsOf[index];
      const sides = st.sides.map((a, k) => new KroneckerSide(dims[k], a.factor, a.basis, scratch));
      let offset = 0;
      const olds = dims.map((d) => {
        const b = sOld.slice(offset, d);
        offset += d;
        return b;
      });
      return {
        kind: 'kl',
        index,
        param,
        dims,
        numel: n,
        sides,
        bases: sides.map((side) => side.basisF32()),
        s: st.sides.map((a) => a.s),
        sOld: olds,
        m: st.m,
        v: st.v,
        g: g.slice(0, n),
        x: x.slice(0, n),
        y: y.slice(0, n),
        h: h.slice(0, n),
      };
    });
  }

  get config(): Readonly<ResolvedKLConfig> {
    return this.resolved;
  }

  private get factorBeta(): number {
    const { shampooBeta, betas } = this.resolved;
    return shampooBeta < 0 ? betas[1] : shampooBeta;
  }

  protected preconditionedStep(grads: readonly Float32Array[], calls: number): PreconditionerOutcome {
    let failed = false;
    const refresh = calls > 0 && calls % this.resolved.preconditionFrequency === 0;
    for (const b of this.blocks) {
      const grad = grads[b.index];
      if (b.kind === 'adamw') {
        adamwUpdate(this.kernels, b.param.data, grad, b.m, b.v, b.work, calls + 1, this.adam);
        continue;
      }
      b.g.view().set(grad);
      if (calls === 0) {
        failed = !this.initialise(b) || failed;
        continue;
      }
      // The statistics run first: they leave Ĝ in `h` and the pre-step estimates in `sOld`, which the
      // direction then uses, so the update sees the preconditioner from before this gradient (as the
      // reference) while Ĝ is computed once.
      failed = !this.updateStatistics(b) || failed;
      failed = !this.updateParam(b) || failed;
      if (refresh) failed = !this.refreshBases(b) || failed;
    }
    return { failed, refreshed: calls === 0 || refresh };
  }

  /** First call: factors `(1−β)·(d_k/numel)·G_(k)G_(k)ᵀ`, eigh bases, estimates 1/sqrt(initFactor). */
  private initialise(b: KLBlock): boolean {
    const beta = this.factorBeta;
    const f = Math.fround;
    const s0 = f(1 / f(Math.sqrt(f(this.resolved.initFactor))));
    let ok = true;
    b.sides.forEach((side, k) => {
      modeStatistics(this.kernels, b.g, modeShape(b.dims, k), 1, 0, side.incrementBuffer());
      ok = side.accumulate(this.kernels, beta, ((1 - beta) * b.dims[k]) / b.numel) && ok;
      if (this.resolved.initialBasis === 'identity') {
        side.setIdentity();
      } else if (!side.initFromEigh()) {
        side.setIdentity();
        ok = false;
      }
      b.s[k].view().fill(s0);
    });
    return ok;
  }

  /**
   * The update direction with the current bases and the pre-step estimates (`sOld`; KL-SOAP reuses Ĝ from
   * `h`), then `W ← W − lr·N`, `W ← W − lr·λ·W`.
   */
  private updateParam(b: KLBlock): boolean {
    const k = this.kernels;
    const { betas, eps, lr, weightDecay, normalizeGrads } = this.resolved;
    let dir: F32Buffer;
    if (b.v) {
      k.adamMoments(b.h, b.m, b.v, betas[0], betas[1]);
      k.adamDirection(b.m, b.v, 1, eps, b.x);
      dir = project(k, b.x, b.x, b.y, b.dims, b.bases, false);
    } else {
      k.axpby(1 - betas[0], b.g, betas[0], b.m);
      const mHat = project(k, b.m, b.x, b.y, b.dims, b.bases, true);
      scaleByInverseSqrtProduct(
        mHat.view(),
        b.dims,
        b.sOld.map((s) => s.view()),
        eps,
      );
      dir = project(k, mHat, b.x, b.y, b.dims, b.bases, false);
    }
    // Huge estimates (clamping off) can overflow the direction; such a step is skipped, never applied.
    if (!k.allFinite(dir)) return false;
    let scale = lr;
    if (normalizeGrads) scale = lr / (1e-30 + Math.sqrt(k.sumSquares(dir) / b.numel));
    const n = dir.view();
    const w = b.param.data;
    const decay = lr * weightDecay;
    if (decay > 0) {
      for (let j = 0; j < w.length; j++) {
        const p = Math.fround(w[j] - scale * n[j]);
        w[j] = p - decay * p;
      }
    } else {
      for (let j = 0; j < w.length; j++) w[j] -= scale * n[j];
    }
    return true;
  }

  /**
   * Coupled statistics with this step's gradient, in the current bases. For side k, with every other mode l
   * rotated by Q_l and scaled by s_l:  `F_k ← β·F_k + (1−β)·(d_k/N)·X_(k)X_(k)ᵀ`, and the Rayleigh quotients
   * `x_k[j] = mean over the other indices of (Ĝ·Π_{l≠k} s_l)²` feed the estimates. For order 2 (and ≥ 4)
   * every term uses the estimates from before the step; order 3 follows the reference's sequential order
   * (see `THREE_D_SCHEDULE`).
   */
  private updateStatistics(b: KLBlock): boolean {
    b.s.forEach((s, k) => {
      b.sOld[k].view().set(s.view());
    });
    const { usingDamping, eps } = this.resolved;
    const traces = usingDamping ? b.sOld.map((s) => meanSquare(s.view())) : [];
    const total = usingDamping ? traces.reduce((a, t) => a * t, eps) : 0;
    const damping = (mode: number) => (usingDamping ? total / traces[mode] : 0);
    let ok = true;
    if (b.dims.length === 2) {
      ok = this.matrixFactorUpdates(b);
      this.estimateUpdate(b, 0, b.sOld, damping(0));
      this.estimateUpdate(b, 1, b.sOld, damping(1));
      return ok;
    }
    // Ĝ = G fully rotated into the eigenbasis.
    const gHat = project(this.kernels, b.g, b.x, b.y, b.dims, b.bases, true);
    b.h.view().set(gHat.view());
    if (b.dims.length === 3) {
      for (const op of THREE_D_SCHEDULE) {
        const scales = op.scales.map((which, l) => (which === 'old' ? b.sOld[l] : b.s[l]));
        if (op.kind === 'factor') ok = this.factorUpdate(b, op.mode, scales) && ok;
        else this.estimateUpdate(b, op.mode, scales, damping(op.mode));
      }
      return ok;
    }
    for (let mode = 0; mode < b.dims.length; mode++) ok = this.factorUpdate(b, mode, b.sOld) && ok;
    for (let mode = 0; mode < b.dims.length; mode++) this.estimateUpdate(b, mode, b.sOld, damping(mode));
    return ok;
  }

  /**
   * The 2-D case in three GEMMs and two SYRKs (as the reference): `A = Q_Lᵀ·G` gives `Ĝ = A·Q_R` (into h)
   * and, scaled by s_L along rows, R's increment `AᵀA`; `G·Q_R` scaled by s_R along columns gives L's.
   */
  private matrixFactorUpdates(b: KLBlock): boolean {
    const k = this.kernels;
    const beta = this.factorBeta;
    const shapes = [modeShape(b.dims, 0), modeShape(b.dims, 1)];
    const [left, right] = b.sides;
    modeProduct(k, b.g, shapes[0], b.bases[0], false, b.x);
    modeProduct(k, b.x, shapes[1], b.bases[1], false, b.h);
    modeScale(k, b.x, shapes[0], b.sOld[0]);
    modeStatistics(k, b.x, shapes[1], 1, 0, right.incrementBuffer());
    let ok = right.accumulate(k, beta, ((1 - beta) * b.dims[1]) / b.numel);
    modeProduct(k, b.g, shapes[1], b.bases[1], false, b.x);
    modeScale(k, b.x, shapes[1], b.sOld[1]);
    modeStatistics(k, b.x, shapes[0], 1, 0, left.incrementBuffer());
    ok = left.accumulate(k, beta, ((1 - beta) * b.dims[0]) / b.numel) && ok;
    return ok;
  }

  /** F_k ← β·F_k + (1−β)·(d_k/N)·X_(k)X_(k)ᵀ with X = G rotated and scaled on every mode except k. */
  private factorUpdate(b: KLBlock, mode: number, scales: readonly F32Buffer[]): boolean {
    const k = this.kernels;
    const beta = this.factorBeta;
    const others = b.bases.map((q, l) => (l === mode ? null : q));
    let x = project(k, b.g, b.x, b.y, b.dims, others, true);
    if (x === b.g) {
      b.x.view().set(b.g.view());
      x = b.x;
    }
    for (let l = 0; l < b.dims.length; l++) if (l !== mode) modeScale(k, x, modeShape(b.dims, l), scales[l]);
    const side = b.sides[mode];
    modeStatistics(k, x, modeShape(b.dims, mode), 1, 0, side.incrementBuffer());
    return side.accumulate(k, beta, ((1 - beta) * b.dims[mode]) / b.numel);
  }

  /** s_k from the mean over the other indices of (Ĝ·Π_{l≠k} s_l)². */
  private estimateUpdate(b: KLBlock, mode: number, scales: readonly F32Buffer[], damping: number): void {
    const k = this.kernels;
    b.x.view().set(b.h.view());
    for (let l = 0; l < b.dims.length; l++)
      if (l !== mode) modeScale(k, b.x, modeShape(b.dims, l), scales[l]);
    const shape = modeShape(b.dims, mode);
    const { dim } = shape;
    const stat = this.diag.subarray(0, dim);
    modeSumSquares(b.x.view(), shape, stat);
    const count = b.numel / dim;
    for (let j = 0; j < dim; j++) stat[j] /= count;
    const { usingClamping, maxClampValue } = this.resolved;
    updateInverseSqrtEstimates(
      b.s[mode].view(),
      stat,
      this.factorBeta,
      damping,
      klClamp(dim, usingClamping, maxClampValue),
    );
  }

  /**
   * One unsorted QR power step per side (`Q ← qr(F·Q).Q`). KL-SOAP's first moment is rotated from the old
   * basis into the new one; a side whose refresh fails keeps its basis.
   */
  private refreshBases(b: KLBlock): boolean {
    const k = this.kernels;
    let ok = true;
    b.sides.forEach((side, mode) => {
      if (!side.proposeRefresh(k, false)) {
        ok = false;
        return;
      }
      if (this.adamInEigenbasis) {
        const shape = modeShape(b.dims, mode);
        modeProduct(k, b.m, shape, side.basisF32(), true, b.x);
        modeProduct(k, b.x, shape, side.proposedF32(), false, b.m);
      }
      side.commit();
    });
    return ok;
  }
}

type Version = 'old' | 'new';

/**
 * The reference's explicit 3-D path updates sides in the order 3, 2, (estimates 3, 2), 1, and later terms read
 * estimates already updated in the same step: side 2's estimate uses the new s_3; side 1's factor and estimate
 * use the new s_2 (but the old s_3). Reproduced exactly.
 */
const THREE_D_SCHEDULE: readonly { kind: 'factor' | 'estimate'; mode: number; scales: readonly Version[] }[] =
  [
    { kind: 'factor', mode: 2, scales: ['old', 'old', 'old'] },
    { kind: 'factor', mode: 1, scales: ['old', 'old', 'old'] },
    { kind: 'estimate', mode: 2, scales: ['old', 'old', 'old'] },
    { kind: 'estimate', mode: 1, scales: ['old', 'old', 'new'] },
    { kind: 'factor', mode: 0, scales: ['old', 'new', 'old'] },
    { kind: 'estimate', mode: 0, scales: ['old', 'new', 'old'] },
  ];
