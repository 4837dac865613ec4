import type { F32Buffer } from '../kernels/index.ts';
import {
  klClamp,
  meanSquare,
  scaleByInverseSqrtProduct,
  updateInverseSqrtEstimates,
} from '../preconditioner/kl-statistics.ts';
import type { KroneckerSide } from '../preconditioner/kronecker-side.ts';
import {
  modeProduct,
  modeScale,
  modeShape,
  modeStatistics,
  modeSumSquares,
  project,
} from '../preconditioner/mode-products.ts';
import { squeezeDims } from '../preconditioner/tensor-layout.ts';
import type { MomentStore } from '../storage/moment-store.ts';
import { PRECISIONS, type Precision, type ResolvedStorage } from '../storage/precision.ts';
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
import { MethodStorage } from './method-storage.ts';
import type { Param } from './optimizer.ts';
import { checkShampooBeta } from './soap.ts';
import { resolveStorage, STORAGE_KEYS, type StorageOptions } from './storage-config.ts';

/**
 * KL-Shampoo / KL-SOAP hyperparameters: names and defaults of `KLOpt` (yorkerlin/KL-Methods). Its
 * `using_klsoap` is the choice of class here, and `cast_dtype` is replaced by `precision`.
 */
export interface KLConfig extends SharedOptions, EigenbasisOptions, StorageOptions {
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

export interface ResolvedKLConfig extends ResolvedEigenbasisOptions, ResolvedStorage {
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
  ...STORAGE_KEYS,
] as const;

export function resolveKLConfig(config: KLConfig | undefined): ResolvedKLConfig & ResolvedShared<Precision> {
  const c = checkConfigObject(config, KEYS);
  const shared = resolveShared(c, PRECISIONS);
  return {
    ...shared,
    ...resolveStorage(c, shared.precision),
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
  /** The sides' bases for the current step (refreshed at its start: a store may decode into shared scratch). */
  bases: F32Buffer[];
  /** Stored inverse-sqrt eigenvalue estimates per side. */
  s: F32Buffer[];
  /** Their values before this step's update (scratch). */
  sOld: F32Buffer[];
  /** KL-Shampoo: momentum in parameter space. KL-SOAP: first moment in the eigenbasis. */
  m: MomentStore;
  /** KL-SOAP only: second moment in the eigenbasis. */
  v: MomentStore | null;
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
  m: MomentStore;
  v: MomentStore;
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

  private readonly storage: MethodStorage;

  protected constructor(params: readonly Param[], config: KLConfig | undefined, klsoap: boolean) {
    const r = resolveKLConfig(config);
    super(params, r, r.maxConsecutiveFailures);
    const { engine: _e, allowRelaxedSimd: _a, nonFinite: _n, ...hyper } = r;
    this.resolved = hyper;
    this.adam = { lr: r.lr, beta1: r.betas[0], beta2: r.betas[1], eps: r.eps, weightDecay: r.weightDecay };
    const dimsOf = params.map((p) => squeezeDims(p.shape));
    const maxNumel = Math.max(...params.map((p) => p.data.length));
    const klDims = dimsOf.filter((d) => d.length >= 2);
    const maxDim = Math.max(0, ...klDims.flat());
    const maxDimSum = Math.max(0, ...klDims.map((d) => d.reduce((a, b) => a + b, 0)));
    this.storage = new MethodStorage(
      this.kernels,
      (param, name, kind, dtype, length, options) =>
        this.allocState(param, name, kind, dtype, length, options),
      r,
      maxDim,
      maxNumel,
    );
    const [beta1, beta2] = r.betas;
    const state = params.map((p, i) => {
      const n = p.data.length;
      const dims = dimsOf[i];
      if (dims.length < 2) {
        return {
          m: this.storage.moment(i, 'exp_avg', n, beta1, 'first'),
          v: this.storage.moment(i, 'exp_avg_sq', n, beta2, 'second'),
          sides: [],
        };
      }
      return {
        // KL-Shampoo's momentum lives in parameter space and is then preconditioned densely.
        m: this.storage.moment(i, 'exp_avg', n, beta1, 'first', klsoap),
        v: klsoap ? this.storage.moment(i, 'exp_avg_sq', n, beta2, 'second') : null,
        sides: dims.map((d, k) => ({
          side: this.storage.side(i, d, k),
          s: this.allocState(i, `eigen_sqrt_inv${k}`, 'eigenvalues', 'f32', d),
        })),
      };
    });
    const arena = this.kernels.arena;
    const [g, x, y, h] = [arena.f32(maxNumel), arena.f32(maxNumel), arena.f32(maxNumel), arena.f32(maxNumel)];
    const sOld = arena.f32(maxDimSum);
    this.diag = new Float64Array(maxDim);
    this.blocks = params.map((param, index) => {
      const n = param.data.length;
      const st = state[index];
      if (st.sides.length === 0) {
        return { kind: 'adamw', index, param, m: st.m, v: st.v as MomentStore, work: g.slice(0, n) };
      }
      const dims = dimsOf[index];
      const sides = st.sides.map((a) => a.side);
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
        bases: [],
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

  protected override stateReplaced(): void {
    this.storage.invalidate();
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
        const m = b.m.load();
        const v = b.v.load();
        adamwUpdate(this.kernels, b.param.data, grad, m, v, b.work, calls + 1, this.adam);
        failed = !b.m.store(this.kernels) || failed;
        failed = !b.v.store(this.kernels) || failed;
        continue;
      }
      b.g.view().set(grad);
      b.bases = b.sides.map((side) => side.basisF32());
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
      // Every store starts with Q = I, so parameter and rotated coordinates agree here.
      modeStatistics(this.kernels, b.g, modeShape(b.dims, k), 1, 0, side.incrementBuffer());
      const weight = ((1 - beta) * b.dims[k]) / b.numel;
      ok = side.initialise(this.kernels, beta, weight, this.resolved.initialBasis) && ok;
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
    let stored = true;
    if (b.v) {
      const m = b.m.load();
      const v = b.v.load();
      k.adamMoments(b.h, m, v, betas[0], betas[1]);
      k.adamDirection(m, v, 1, eps, b.x);
      stored = b.m.store(k) && b.v.store(k);
      dir = project(k, b.x, b.x, b.y, b.dims, b.bases, false);
    } else {
      const m = b.m.load();
      k.axpby(1 - betas[0], b.g, betas[0], m);
      stored = b.m.store(k);
      const mHat = project(k, m, b.x, b.y, b.dims, b.bases, true);
      scaleByInverseSqrtProduct(
        mHat.view(),
        b.dims,
        b.sOld.map((s) => s.view()),
        eps,
      );
      dir = project(k, mHat, b.x, b.y, b.dims, b.bases, false);
    }
    if (!stored) return false;
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
    if (b.dims.length === 2 && b.sides.every((side) => side.statistics === 'parameter')) {
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
        if (op.kind === 'factor') ok = this.sideUpdate(b, op.mode, scales) && ok;
        else this.estimateUpdate(b, op.mode, scales, damping(op.mode));
      }
      return ok;
    }
    // Order 2 with a store that keeps rotated statistics, and order ≥ 4: every term uses the old estimates.
    for (let mode = 0; mode < b.dims.length; mode++) ok = this.sideUpdate(b, mode, b.sOld) && ok;
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

  /** The factor update of side `mode` in the coordinates its store keeps statistics in. */
  private sideUpdate(b: KLBlock, mode: number, scales: readonly F32Buffer[]): boolean {
    return b.sides[mode].statistics === 'parameter'
      ? this.factorUpdate(b, mode, scales)
      : this.rotatedFactorUpdate(b, mode, scales);
  }

  /**
   * The same update in the side's own basis: `S_k ← β·S_k + (1−β)·(d_k/N)·Y_(k)Y_(k)ᵀ` with Y = Ĝ (in h)
   * scaled on every mode except k, i.e. `Q_kᵀ·X_(k)X_(k)ᵀ·Q_k` for the X above (one SYRK, no extra GEMM).
   */
  private rotatedFactorUpdate(b: KLBlock, mode: number, scales: readonly F32Buffer[]): boolean {
    const k = this.kernels;
    const beta = this.factorBeta;
    b.x.view().set(b.h.view());
    for (let l = 0; l < b.dims.length; l++)
      if (l !== mode) modeScale(k, b.x, modeShape(b.dims, l), scales[l]);
    const side = b.sides[mode];
    modeStatistics(k, b.x, modeShape(b.dims, mode), 1, 0, side.incrementBuffer());
    return side.accumulate(k, beta, ((1 - beta) * b.dims[mode]) / b.numel);
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
   * One unsorted refresh per side (the store's rule: the QR power step `Q ← qr(F·Q).Q`, or a subspace rotation
   * for 'bf16'). KL-SOAP's first moment is rotated from the old basis into the new one and its second moment
   * stays in place, as in the reference (the transition rule of `rotateSecondMoment`, which SOAP's low
   * precisions use, made KL-SOAP's 4-bit runs worse on a noise-free problem); a side whose refresh fails keeps
   * its basis.
   */
  private refreshBases(b: KLBlock): boolean {
    const k = this.kernels;
    let ok = true;
    const m = this.adamInEigenbasis ? b.m.load() : null;
    b.sides.forEach((side, mode) => {
      if (!side.proposeRefresh(k, false)) {
        ok = false;
        return;
      }
      if (m) side.rotateMoment(k, m, modeShape(b.dims, mode), b.x, b.y);
      side.commit();
    });
    if (m) ok = b.m.store(k) && ok;
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
