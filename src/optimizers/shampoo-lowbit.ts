import { type Block, forEachRun, lowbitLayout } from '../blocking.ts';
import { type CoupledNewtonScratch, coupledNewtonInverseRoot } from '../preconditioner/coupled-newton.ts';
import { denseFactorRoot } from '../preconditioner/dense-factor-root.ts';
import {
  accumulateStatistic,
  type EigenFactorScratch,
  eigenFactorRoot,
  type FactorSide,
  readEigenvectors,
  reconstructFactor,
  updateEigenFactor,
} from '../preconditioner/eigen-factor.ts';
import type { FloatArray, MatrixArithmetic } from '../preconditioner/matrix-arithmetic.ts';
import type { RefreshStatus } from '../preconditioner/refresh-status.ts';
import { isLowbitSide } from '../storage/precision.ts';
import type { MatrixFormat, StoredMatrix } from '../storage/stored-matrix.ts';
import type { ResolvedLowbitConfig } from './shampoo-config.ts';
import {
  checkFactorOrder,
  FailureCounters,
  type MomentState,
  type ShampooState,
  type ShampooVariant,
} from './shampoo-host.ts';

/**
 * One factor of a block, in one of two forms:
 * - 'eigen' (`shampoo2.py`, the paper's 4-bit Shampoo): the statistics eigen-parametrized as `(Vt, S)` and the
 *   inverse root stored;
 * - 'dense' (`shampoo1.py`, its naive baseline): the statistics matrix A itself and the inverse root stored.
 */
type LowbitFactor<M> =
  | {
      form: 'eigen';
      side: FactorSide;
      dim: number;
      vt: StoredMatrix<M>;
      s: M;
      root: StoredMatrix<M>;
      /** Björck iterations before reconstructing / before a root (0 for fp32 eigenvectors). */
      rectT1: number;
      rectT2: number;
    }
  | { form: 'dense'; side: FactorSide; dim: number; a: StoredMatrix<M>; root: StoredMatrix<M> };

interface LowbitBlock<M> {
  param: number;
  index: number;
  block: Block;
  rows: number;
  cols: number;
  factors: LowbitFactor<M>[];
  g: M;
  y: M;
  z: M;
}

interface LowbitParam<M> {
  shape: readonly number[];
  blocks: LowbitBlock<M>[];
  exponent: number;
  /** AdamW moments or the SGD momentum buffer. */
  m: MomentState<M> | null;
  v: MomentState<M> | null;
  buf: MomentState<M> | null;
  /** Full-parameter scratch: the preconditioned gradient P, then the AdamW direction. */
  work: M;
}

/** How one factor of order `dim` is held under the configured precision (docs/storage.md, Shampoo section). */
export interface LowbitFactorStorage {
  form: 'eigen' | 'dense';
  /** Eigenvectors ('eigen') or the factor itself ('dense'). */
  matrix: MatrixFormat;
  root: MatrixFormat;
  /** Whether the stored eigenvectors are rectified (rectT1/rectT2 apply). */
  rectify: boolean;
}

export function lowbitFactorStorage(cfg: ResolvedLowbitConfig, dim: number): LowbitFactorStorage {
  const lowbit = isLowbitSide(cfg, dim);
  switch (cfg.precision) {
    case 'fp32':
      return { form: 'eigen', matrix: 'fp32', root: 'fp32', rectify: false };
    case '4bit':
      return lowbit
        ? { form: 'eigen', matrix: '4bit', root: '4bit-diag', rectify: true }
        : { form: 'eigen', matrix: 'fp32', root: 'fp32', rectify: false };
    case 'bf16':
      // bf16 eigenvectors are orthonormal to ≈ 1e-3 as decoded: Björck would cost 3d³ per iteration for a
      // root error change of ≈ 1e-3 (docs/storage.md), so they are used as they are.
      return { form: 'eigen', matrix: 'bf16', root: 'bf16-diag', rectify: false };
    case '4bit-naive':
      return lowbit
        ? { form: 'dense', matrix: '4bit-diag', root: '4bit-diag', rectify: false }
        : { form: 'dense', matrix: 'fp32', root: 'fp32', rectify: false };
    case 'bf16-naive':
      return { form: 'dense', matrix: 'bf16', root: 'bf16', rectify: false };
  }
}

/**
 * The 4-bit paper's Shampoo (`shampoo2.py` `ShampooAdamW` / `ShampooSGD`): statistics every T1 steps through
 * the eigen-parametrized factor, inverse roots every T2 steps, layer-wise norm grafting `P·‖G‖/(‖P‖ + 1e-12)`,
 * then AdamW (decoupled decay first) or SGD with momentum. `precision` chooses how the factors and roots are
 * stored ('4bit' is the paper's 4-bit Shampoo; the naive precisions store the factor matrix itself, as
 * `shampoo1.py`, and take roots of it by eigh or, with `invRootMode: 1`, Schur–Newton).
 *
 * Generic over the arithmetic: the optimizer runs it in float32 on its kernels and arena state; the tests
 * replay the reference trajectories with the same code in float64.
 */
export class LowbitShampoo<M> implements ShampooVariant {
  private readonly state: ShampooState<M>;
  private readonly ar: MatrixArithmetic<M>;
  private readonly cfg: ResolvedLowbitConfig;
  private readonly params: LowbitParam<M>[];
  private readonly failures: FailureCounters;
  private readonly scratch: EigenFactorScratch<M>;
  private readonly candidate: M;
  private readonly newton: CoupledNewtonScratch<M> | null;

  constructor(state: ShampooState<M>, cfg: ResolvedLowbitConfig) {
    this.state = state;
    this.ar = state.arithmetic;
    this.cfg = cfg;
    const ar = this.ar;
    this.failures = new FailureCounters(cfg.maxConsecutiveFailures, (i) => state.paramLabel(i));
    const maxNumel = Math.max(...state.weights.map((w) => w.length));
    let maxBlock = 1;
    let maxDim = 1;
    const plans = state.shapes.map((shape, pi) => {
      const layout = lowbitLayout(shape, cfg.precMaxorder);
      const rank = layout.shape.length;
      const preconditioned = rank === 2 || (rank === 1 && cfg.precondition1d);
      const blocks: {
        index: number;
        block: Block;
        rows: number;
        cols: number;
        sides: [FactorSide, number][];
      }[] = [];
      if (preconditioned) {
        layout.blocks.forEach((block, bi) => {
          const rows = block.size[0];
          const cols = rank === 2 ? block.size[1] : 1;
          const sides: [FactorSide, number][] =
            rank === 2
              ? [
                  ['left', rows],
                  ['right', cols],
                ]
              : [['left', rows]];
          for (const [, dim] of sides) {
            checkFactorOrder(state, pi, dim, 'precMaxorder');
            maxDim = Math.max(maxDim, dim);
          }
          maxBlock = Math.max(maxBlock, block.numel);
          blocks.push({ index: bi, block, rows, cols, sides });
        });
      }
      return { layout, rank, blocks };
    });

    const square = () => ar.alloc(maxDim * maxDim);
    this.scratch = { v: square(), a: square(), w: square(), s: ar.alloc(maxDim) };
    this.candidate = square();
    this.newton =
      cfg.invRootMode === 1 ? { x: square(), m: square(), t: square(), u: square(), v: square() } : null;
    const work = ar.alloc(maxNumel);
    const g = ar.alloc(maxBlock);
    const y = ar.alloc(maxBlock);
    const z = ar.alloc(maxBlock);

    this.params = plans.map(({ layout, rank, blocks }, pi) => {
      const planned = blocks.map(({ index: bi, block, rows, cols, sides }) => {
        const factors = sides.map(([side, dim], k) => this.createFactor(pi, bi, k, side, dim));
        const numel = rows * cols;
        return {
          param: pi,
          index: bi,
          block,
          rows,
          cols,
          factors,
          g: ar.slice(g, 0, numel),
          y: ar.slice(y, 0, numel),
          z: ar.slice(z, 0, numel),
        };
      });
      if (planned.length > 0) {
        this.failures.add(pi, state.counters(pi, 'refresh_failures', planned.length));
      }
      const n = state.weights[pi].length;
      const adam = cfg.optimizer === 'adamw';
      return {
        shape: layout.shape.length === 0 ? [1] : layout.shape,
        blocks: planned,
        exponent: rank === 2 ? 1 / 4 : 1 / 2,
        // AdamW's moments and the SGD buffer act per coordinate (after preconditioning).
        m: adam ? state.moment(pi, 'exp_avg', n, cfg.betas[0], 'first', true) : null,
        v: adam ? state.moment(pi, 'exp_avg_sq', n, cfg.betas[1], 'second', true) : null,
        buf: adam ? null : state.moment(pi, 'momentum', n, cfg.momentum, 'first', true),
        work: ar.slice(work, 0, n),
      };
    });
  }

  /** Allocates one factor in its storage and writes its initial value (`εI` statistics, identity root). */
  private createFactor(pi: number, bi: number, k: number, side: FactorSide, dim: number): LowbitFactor<M> {
    const { state, ar, cfg } = this;
    const how = lowbitFactorStorage(cfg, dim);
    const eye = this.scratch.a;
    const e = ar.view(eye);
    e.fill(0, 0, dim * dim);
    for (let i = 0; i < dim; i++) e[i * dim + i] = 1;
    const square = ar.slice(eye, 0, dim * dim);
    if (how.form === 'eigen') {
      const s = state.vector(pi, `block${bi}.eigenvalues${k}`, 'eigenvalues', dim);
      ar.view(s).fill(cfg.matrixEps);
      const vt = state.matrix(pi, `block${bi}.eigenvectors${k}`, 'factor', dim, dim, how.matrix);
      const root = state.matrix(pi, `block${bi}.root${k}`, 'root', dim, dim, how.root);
      vt.write(square);
      root.write(square);
      return {
        form: 'eigen',
        side,
        dim,
        vt,
        s,
        root,
        rectT1: how.rectify ? cfg.rectT1 : 0,
        rectT2: how.rectify ? cfg.rectT2 : 0,
      };
    }
    const a = state.matrix(pi, `block${bi}.factor${k}`, 'factor', dim, dim, how.matrix);
    const root = state.matrix(pi, `block${bi}.root${k}`, 'root', dim, dim, how.root);
    root.write(square);
    for (let i = 0; i < dim; i++) e[i * dim + i] = cfg.matrixEps;
    a.write(square);
    return { form: 'dense', side, dim, a, root };
  }

  consecutiveFailures(): number {
    return this.failures.max();
  }

  /** Nothing is derived from the state between steps (every read decodes). */
  invalidate(): void {}

  step(grads: readonly FloatArray[], t: number): void {
    const cfg = this.cfg;
    const stats = t % cfg.statComputeSteps === 0;
    const roots = t % cfg.precComputeSteps === 0;
    const restore = (stats || roots) && this.failures.anyAtRisk() ? this.state.captureState() : null;
    try {
      this.params.forEach((p, i) => {
        this.stepParam(p, i, grads[i], t, stats, roots);
      });
    } catch (e) {
      restore?.();
      throw e;
    }
  }

  /** One statistics update of a factor from the block gradient `g`; state untouched unless 'ok'. */
  private updateFactor(f: LowbitFactor<M>, b: LowbitBlock<M>): RefreshStatus {
    const { ar, cfg, scratch } = this;
    const beta = cfg.statDecay;
    const weight = beta === 1 ? 1 : 1 - beta;
    if (f.form === 'eigen') {
      return updateEigenFactor(
        ar,
        f.vt,
        f.s,
        f.dim,
        b.g,
        b.rows,
        b.cols,
        f.side,
        beta,
        weight,
        f.rectT1,
        scratch,
      );
    }
    const nn = f.dim * f.dim;
    const a = scratch.a;
    const current = f.a.read(a);
    if (current !== a) ar.view(a).set(ar.view(current).subarray(0, nn));
    accumulateStatistic(ar, a, b.g, b.rows, b.cols, f.side, beta, weight);
    const next = ar.slice(a, 0, nn);
    if (!ar.allFinite(next)) return 'non-finite-input';
    return f.a.write(next) ? 'ok' : 'non-finite-input';
  }

  /** The candidate inverse root of a factor into `out` (valid only when 'ok'). */
  private rootOf(f: LowbitFactor<M>, exponent: number, out: M): RefreshStatus {
    const { ar, cfg, scratch } = this;
    const n = f.dim;
    if (f.form === 'eigen' && !this.newton) {
      return eigenFactorRoot(ar, f.vt, f.s, n, exponent, cfg.matrixEps, f.rectT2, scratch, out);
    }
    let a: M;
    if (f.form === 'eigen') {
      // `inv_root_mode=1`: Schur–Newton on the reconstructed factor `Vtᵀ·Diag(S)·Vt`.
      const basis = readEigenvectors(ar, f.vt, n, f.rectT2, scratch);
      reconstructFactor(ar, basis, f.s, n, scratch.w, scratch.a);
      a = scratch.a;
    } else {
      a = f.a.read(scratch.a);
      if (!this.newton) return denseFactorRoot(ar, a, n, exponent, cfg.matrixEps, scratch, out);
    }
    if (!ar.allFinite(ar.slice(a, 0, n * n))) return 'non-finite-input';
    return coupledNewtonInverseRoot(ar, a, n, 1 / exponent, cfg.matrixEps, this.newton!, out);
  }

  private gather(grad: FloatArray, p: LowbitParam<M>, b: LowbitBlock<M>): void {
    const g = this.ar.view(b.g);
    forEachRun(p.shape, b.block, (q, r, n) => {
      g.set(grad.subarray(q, q + n), r);
    });
  }

  private stepParam(
    p: LowbitParam<M>,
    pi: number,
    grad: FloatArray,
    t: number,
    stats: boolean,
    roots: boolean,
  ): void {
    const { ar, cfg } = this;
    // Statistics first, then roots (with T2 a multiple of T1 the new root sees this step's statistics).
    if (stats || roots) {
      for (const b of p.blocks) {
        let failure: Exclude<RefreshStatus, 'ok'> | null = null;
        if (stats) {
          this.gather(grad, p, b);
          for (const f of b.factors) {
            const status = this.updateFactor(f, b);
            if (status !== 'ok') failure = status;
          }
        }
        if (roots) {
          for (const f of b.factors) {
            const cand = ar.slice(this.candidate, 0, f.dim * f.dim);
            let status = this.rootOf(f, p.exponent, cand);
            if (status === 'ok' && !f.root.write(cand)) status = 'non-finite-output';
            if (status !== 'ok') failure = status;
          }
        }
        this.failures.record(pi, b.index, failure);
      }
    }

    // P: the blockwise preconditioned gradient, rescaled to the gradient's norm (layer-wise grafting).
    const P = ar.view(p.work);
    if (t >= cfg.startPrecStep) {
      if (p.blocks.length === 0) P.set(grad);
      for (const b of p.blocks) {
        this.gather(grad, p, b);
        const [left, right] = b.factors;
        const decoded = this.scratch.v;
        ar.gemm(false, false, b.rows, b.cols, b.rows, 1, left.root.read(decoded), b.g, 0, b.y);
        let out = b.y;
        if (right) {
          ar.gemm(false, false, b.rows, b.cols, b.cols, 1, b.y, right.root.read(decoded), 0, b.z);
          out = b.z;
        }
        const o = ar.view(out);
        forEachRun(p.shape, b.block, (q, r, n) => {
          P.set(o.subarray(r, r + n), q);
        });
      }
      // The reference computes both norms and the ratio in its element type (float32 in the library).
      const r = ar.round.bind(ar);
      const gNorm = r(Math.sqrt(sumSquares(grad)));
      const pNorm = r(Math.sqrt(ar.sumSquares(p.work)));
      const ratio = r(gNorm / r(pNorm + 1e-12));
      if (ratio !== 1) for (let i = 0; i < P.length; i++) P[i] *= ratio;
    } else {
      P.set(grad);
    }

    const W = this.state.weights[pi];
    if (cfg.optimizer === 'adamw') {
      this.adamw(p, W, t);
      return;
    }
    // ShampooSGD: P += λW; buf ← μ·buf + P; W ← W − lr·(nesterov ? P + μ·buf : buf).
    if (cfg.weightDecay !== 0) for (let i = 0; i < P.length; i++) P[i] += cfg.weightDecay * W[i];
    const bufState = p.buf!;
    const buf = ar.view(bufState.load());
    const mu = cfg.momentum;
    for (let i = 0; i < P.length; i++) buf[i] = ar.round(mu * buf[i]) + P[i];
    const lr = cfg.lr;
    if (cfg.nesterov) for (let i = 0; i < W.length; i++) W[i] -= lr * ar.round(P[i] + mu * buf[i]);
    else for (let i = 0; i < W.length; i++) W[i] -= lr * buf[i];
    bufState.store();
  }

  /**
   * torch.optim.AdamW on the direction in `p.work`: `W ← W·(1 − lr·λ)`; `m ← β1·m + (1−β1)·P`;
   * `v ← β2·v + (1−β2)·P²`; `W ← W − lr/(1−β1ᵗ) · m ⊘ (sqrt(v)/sqrt(1−β2ᵗ) + ε)`.
   */
  private adamw(p: LowbitParam<M>, W: FloatArray, t: number): void {
    const { ar, cfg } = this;
    const [beta1, beta2] = cfg.betas;
    const m = p.m!.load();
    const v = p.v!.load();
    ar.adamMoments(p.work, m, v, beta1, beta2);
    const bc1 = 1 - beta1 ** t;
    const bc2 = 1 - beta2 ** t;
    ar.adamDirection(m, v, 1 / Math.sqrt(bc2), cfg.eps, p.work);
    const dir = ar.view(p.work);
    const decay = 1 - cfg.lr * cfg.weightDecay;
    const stepSize = cfg.lr / bc1;
    for (let i = 0; i < W.length; i++) W[i] = ar.round(W[i] * decay) - stepSize * dir[i];
    p.m!.store();
    p.v!.store();
  }
}

/** Σ xᵢ² in float64 for a plain array (the gradient lives outside the arena). */
function sumSquares(x: FloatArray): number {
  let acc = 0;
  for (let i = 0; i < x.length; i++) acc += x[i] * x[i];
  return acc;
}
