import { type Block, forEachRun, gatherBlock, lowbitLayout } from '../blocking.ts';
import type { F32Buffer, Kernels } from '../kernels/index.ts';
import { type CoupledNewtonScratch, coupledNewtonInverseRoot } from '../preconditioner/coupled-newton.ts';
import {
  type EigenFactorScratch,
  eigenFactorRoot,
  type FactorSide,
  reconstructFactor,
  updateEigenFactor,
} from '../preconditioner/eigen-factor.ts';
import type { RefreshStatus } from '../preconditioner/refresh-status.ts';
import { commit } from '../preconditioner/root-inverse.ts';
import { type AdamWHyper, adamwUpdate } from './adamw-update.ts';
import type { ResolvedLowbitConfig } from './shampoo-config.ts';
import {
  allocIdentity,
  checkFactorOrder,
  FailureCounters,
  type ShampooHost,
  type ShampooVariant,
} from './shampoo-host.ts';

/** One factor of a block: the eigen-parametrized statistics `(vt, s)` and the stored inverse root. */
interface EigenFactor {
  side: FactorSide;
  dim: number;
  vt: F32Buffer;
  s: F32Buffer;
  root: F32Buffer;
}

interface LowbitBlock {
  param: number;
  index: number;
  block: Block;
  rows: number;
  cols: number;
  factors: EigenFactor[];
  g: F32Buffer;
  y: F32Buffer;
  z: F32Buffer;
}

interface LowbitParam {
  shape: readonly number[];
  blocks: LowbitBlock[];
  exponent: number;
  /** AdamW moments or the SGD momentum buffer. */
  m: F32Buffer | null;
  v: F32Buffer | null;
  buf: F32Buffer | null;
  /** Full-parameter scratch: the preconditioned gradient P. */
  work: F32Buffer;
  adamWork: F32Buffer;
}

/**
 * The 4-bit paper's Shampoo (`shampoo2.py` `ShampooAdamW` / `ShampooSGD`) with fp32 state: statistics every
 * T1 steps through the eigen-parametrized factor, inverse roots every T2 steps, layer-wise norm grafting
 * `P·‖G‖/(‖P‖ + 1e-12)`, then AdamW (decoupled decay first) or SGD with momentum.
 */
export class LowbitShampoo implements ShampooVariant {
  private readonly host: ShampooHost;
  private readonly kernels: Kernels;
  private readonly cfg: ResolvedLowbitConfig;
  private readonly params: LowbitParam[];
  private readonly failures: FailureCounters;
  private readonly scratch: EigenFactorScratch;
  private readonly candidate: F32Buffer;
  private readonly newton: CoupledNewtonScratch | null;
  private readonly hyper: AdamWHyper;

  constructor(host: ShampooHost, cfg: ResolvedLowbitConfig) {
    this.host = host;
    this.kernels = host.kernels;
    this.cfg = cfg;
    this.failures = new FailureCounters(cfg.maxConsecutiveFailures);
    this.hyper = {
      lr: cfg.lr,
      beta1: cfg.betas[0],
      beta2: cfg.betas[1],
      eps: cfg.eps,
      weightDecay: cfg.weightDecay,
    };
    const arena = host.kernels.arena;
    const maxNumel = Math.max(...host.params.map((p) => p.data.length));
    const work = arena.f32(maxNumel);
    const adamWork = arena.f32(maxNumel);
    let maxBlock = 1;
    let maxDim = 1;
    const planned = host.params.map((p, pi) => {
      const layout = lowbitLayout(p.shape, cfg.precMaxorder);
      const rank = layout.shape.length;
      const preconditioned = rank === 2 || (rank === 1 && cfg.precondition1d);
      const blocks: Omit<LowbitBlock, 'g' | 'y' | 'z'>[] = [];
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
          const factors = sides.map(([side, dim], k) => {
            checkFactorOrder(host, pi, dim, 'precMaxorder');
            const s = host.allocState(pi, `block${bi}.eigenvalues${k}`, 'eigenvalues', 'f32', dim);
            s.view().fill(cfg.matrixEps);
            return {
              side,
              dim,
              vt: allocIdentity(host, pi, `block${bi}.eigenvectors${k}`, 'factor', dim),
              s,
              root: allocIdentity(host, pi, `block${bi}.root${k}`, 'root', dim),
            };
          });
          maxBlock = Math.max(maxBlock, block.numel);
          maxDim = Math.max(maxDim, rows, cols);
          blocks.push({ param: pi, index: bi, block, rows, cols, factors });
        });
        this.failures.add(host, pi, layout.blocks.length);
      }
      const n = p.data.length;
      const adam = cfg.optimizer === 'adamw';
      return {
        shape: layout.shape.length === 0 ? [1] : layout.shape,
        blocks,
        exponent: rank === 2 ? 1 / 4 : 1 / 2,
        m: adam ? host.allocState(pi, 'exp_avg', 'moment', 'f32', n) : null,
        v: adam ? host.allocState(pi, 'exp_avg_sq', 'moment', 'f32', n) : null,
        buf: adam ? null : host.allocState(pi, 'momentum', 'moment', 'f32', n),
        work: work.slice(0, n),
        adamWork: adamWork.slice(0, n),
      };
    });
    const g = arena.f32(maxBlock);
    const y = arena.f32(maxBlock);
    const z = arena.f32(maxBlock);
    this.params = planned.map((p) => ({
      ...p,
      blocks: p.blocks.map((b) => {
        const numel = b.rows * b.cols;
        return { ...b, g: g.slice(0, numel), y: y.slice(0, numel), z: z.slice(0, numel) };
      }),
    }));
    this.scratch = {
      a: arena.f32(maxDim * maxDim),
      w: arena.f32(maxDim * maxDim),
      r: arena.f32(maxDim * maxDim),
      s: arena.f32(maxDim),
    };
    this.candidate = arena.f32(maxDim * maxDim);
    const square = () => arena.f32(maxDim * maxDim);
    this.newton =
      cfg.invRootMode === 1 ? { x: square(), m: square(), t: square(), u: square(), v: square() } : null;
  }

  consecutiveFailures(): number {
    return this.failures.max();
  }

  step(grads: readonly Float32Array[], t: number): void {
    const cfg = this.cfg;
    const stats = t % cfg.statComputeSteps === 0;
    const roots = t % cfg.precComputeSteps === 0;
    const restore = (stats || roots) && this.failures.anyAtRisk() ? this.host.captureState() : null;
    try {
      this.params.forEach((p, i) => {
        this.stepParam(p, i, grads[i], t, stats, roots);
      });
    } catch (e) {
      restore?.();
      throw e;
    }
  }

  /** `inv_root_mode=1`: Schur–Newton on the reconstructed factor `Vtᵀ·Diag(S)·Vt`. */
  private newtonRoot(f: EigenFactor, exponent: number, out: F32Buffer): RefreshStatus {
    const { a, w } = this.scratch;
    reconstructFactor(this.kernels, f.vt, f.s, f.dim, w, a);
    if (!this.kernels.allFinite(a.slice(0, f.dim * f.dim))) return 'non-finite-input';
    return coupledNewtonInverseRoot(
      this.kernels,
      a,
      f.dim,
      1 / exponent,
      this.cfg.matrixEps,
      this.newton!,
      out,
    );
  }

  private stepParam(
    p: LowbitParam,
    pi: number,
    grad: Float32Array,
    t: number,
    stats: boolean,
    roots: boolean,
  ): void {
    const cfg = this.cfg;
    const k = this.kernels;
    // Statistics first, then roots (with T2 a multiple of T1 the new root sees this step's statistics).
    if (stats || roots) {
      for (const b of p.blocks) {
        let failure: Exclude<RefreshStatus, 'ok'> | null = null;
        if (stats) {
          gatherBlock(grad, p.shape, b.block, b.g.view());
          for (const f of b.factors) {
            const status = updateEigenFactor(
              k,
              f.vt,
              f.s,
              f.dim,
              b.g,
              b.rows,
              b.cols,
              f.side,
              cfg.statDecay,
              cfg.statDecay === 1 ? 1 : 1 - cfg.statDecay,
              0, // fp32 eigenvectors need no rectification (rectT1 applies to quantized storage)
              this.scratch,
            );
            if (status !== 'ok') failure = status;
          }
        }
        if (roots) {
          for (const f of b.factors) {
            const cand = this.candidate.slice(0, f.dim * f.dim);
            const status = this.newton
              ? this.newtonRoot(f, p.exponent, cand)
              : eigenFactorRoot(k, f.vt, f.s, f.dim, p.exponent, cfg.matrixEps, 0, this.scratch, cand);
            if (status === 'ok') commit(cand.view(), f.root);
            else failure = status;
          }
        }
        this.failures.record(this.host, pi, b.index, failure);
      }
    }

    // P: the blockwise preconditioned gradient, rescaled to the gradient's norm (layer-wise grafting).
    const P = p.work.view();
    if (t >= cfg.startPrecStep) {
      if (p.blocks.length === 0) P.set(grad);
      for (const b of p.blocks) {
        gatherBlock(grad, p.shape, b.block, b.g.view());
        const [left, right] = b.factors;
        k.gemm(false, false, b.rows, b.cols, b.rows, 1, left.root, b.g, 0, b.y);
        let out = b.y;
        if (right) {
          k.gemm(false, false, b.rows, b.cols, b.cols, 1, b.y, right.root, 0, b.z);
          out = b.z;
        }
        const o = out.view();
        forEachRun(p.shape, b.block, (q, r, n) => {
          P.set(o.subarray(r, r + n), q);
        });
      }
      // The reference computes both norms and the ratio in float32.
      const gNorm = Math.fround(Math.sqrt(sumSquares(grad)));
      const pNorm = Math.fround(Math.sqrt(k.sumSquares(p.work)));
      const ratio = Math.fround(gNorm / Math.fround(pNorm + 1e-12));
      if (ratio !== 1) for (let i = 0; i < P.length; i++) P[i] *= ratio;
    } else {
      P.set(grad);
    }

    const W = this.host.params[pi].data;
    if (cfg.optimizer === 'adamw') {
      adamwUpdate(k, W, P, p.m!, p.v!, p.adamWork, t, this.hyper);
      return;
    }
    // ShampooSGD: P += λW; buf ← μ·buf + P; W ← W − lr·(nesterov ? P + μ·buf : buf).
    if (cfg.weightDecay !== 0) for (let i = 0; i < P.length; i++) P[i] += cfg.weightDecay * W[i];
    const buf = p.buf!.view();
    const mu = cfg.momentum;
    for (let i = 0; i < P.length; i++) buf[i] = Math.fround(mu * buf[i]) + P[i];
    const lr = cfg.lr;
    if (cfg.nesterov) for (let i = 0; i < W.length; i++) W[i] -= lr * Math.fround(P[i] + mu * buf[i]);
    else for (let i = 0; i < W.length; i++) W[i] -= lr * buf[i];
  }
}

/** Σ xᵢ² in float64 for a plain array (the gradient lives outside the arena). */
function sumSquares(x: Float32Array): number {
  let acc = 0;
  for (let i = 0; i < x.length; i++) acc += x[i] * x[i];
  return acc;
}
