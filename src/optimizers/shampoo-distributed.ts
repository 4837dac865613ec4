import { type Block, distributedLayout, forEachRun, gatherBlock, squeezeShape } from '../blocking.ts';
import type { F32Buffer, Kernels } from '../kernels/index.ts';
import {
  type ModeShape,
  modeProduct,
  modeScale,
  modeShape,
  modeStatistics,
} from '../preconditioner/mode-products.ts';
import type { RefreshStatus } from '../preconditioner/refresh-status.ts';
import {
  commit,
  eighEigendecomposition,
  eighInverseRoot,
  type FactorRegularization,
  qrAlgorithmEigendecomposition,
  type RootScratch,
  regularizedFactor,
  stabilizedInversePower,
} from '../preconditioner/root-inverse.ts';
import type { ResolvedDistributedConfig } from './shampoo-config.ts';
import {
  allocIdentity,
  checkFactorOrder,
  FailureCounters,
  type ShampooHost,
  type ShampooVariant,
  scaleInto,
} from './shampoo-host.ts';

/** One preconditioned dim of a block. */
interface Factor {
  mode: number;
  dim: number;
  shape: ModeShape;
  exponent: number;
  factor: F32Buffer;
  /** rootInv: the inverse root `F^(−e)` (init I). */
  root?: F32Buffer;
  /** eigendecomposed: eigenvectors as columns (init I) and eigenvalues (init 1). */
  vectors?: F32Buffer;
  values?: F32Buffer;
}

interface BlockState {
  param: number;
  index: number;
  block: Block;
  numel: number;
  factors: Factor[];
  /** 1-D parameter with `precondition1d: false`: always the grafting direction. */
  graftOnly: boolean;
  filtered: F32Buffer | null;
  grafting: F32Buffer | null;
  momentum: F32Buffer | null;
  // Scratch views of exactly `numel` elements (elementwise kernels work over a buffer's whole length).
  g: F32Buffer;
  w: F32Buffer;
  bar: F32Buffer;
  ping: F32Buffer;
  pong: F32Buffer;
  graft: F32Buffer;
}

/** Inverse exponent of dim `dim` of an order-`order` block: the override, else `1/(2·max(order, 1))`. */
export function inverseExponent(
  override: ResolvedDistributedConfig['preconditioner']['inverseExponentOverride'],
  order: number,
  dim: number,
): number {
  const byOrder = override[String(order)];
  if (typeof byOrder === 'number') return byOrder;
  const perDim = byOrder?.[String(dim)];
  return perDim ?? 1 / (2 * Math.max(order, 1));
}

/**
 * Distributed Shampoo (facebookresearch/optimizers `DistributedShampoo`) on one process: per block, factor
 * statistics from the raw gradient, inverse roots every `preconditionFrequency` steps from
 * `startPreconditioningStep`, the filtered gradient, per-block grafting, weight decay, optional momentum, and
 * `W ← W − fround(lr)·P`.
 */
export class DistributedShampoo implements ShampooVariant {
  private readonly host: ShampooHost;
  private readonly kernels: Kernels;
  private readonly cfg: ResolvedDistributedConfig;
  private readonly layouts: (readonly number[])[];
  private readonly blocks: BlockState[];
  private readonly failures: FailureCounters;
  private readonly reg: FactorRegularization;
  private readonly rootScratch: RootScratch;
  private readonly candidate: F32Buffer;
  private readonly a64: Float64Array;
  private readonly lambda: Float32Array;
  private readonly vectors: Float32Array;
  private readonly powScratch: F32Buffer;

  constructor(host: ShampooHost, cfg: ResolvedDistributedConfig) {
    this.host = host;
    this.kernels = host.kernels;
    this.cfg = cfg;
    this.failures = new FailureCounters(cfg.maxConsecutiveFailures, (i) => host.paramLabel(i));
    this.reg = {
      epsilon: cfg.epsilon,
      perturbBeforeComputation: cfg.preconditioner.perturbBeforeComputation,
      traceScalingExponent: cfg.preconditioner.traceScalingExponent,
    };
    const pc = cfg.preconditioner;
    const [beta1] = cfg.betas;
    const graftState = cfg.grafting.kind !== 'none' && cfg.grafting.kind !== 'sgd';
    const planned: Omit<BlockState, 'g' | 'w' | 'bar' | 'ping' | 'pong' | 'graft'>[] = [];
    this.layouts = [];
    host.params.forEach((p, pi) => {
      const layout = distributedLayout(p.shape, cfg.maxPreconditionerDim, cfg.targetParameterDimensionality);
      this.layouts.push(layout.shape);
      const isVector = squeezeShape(p.shape).length === 1;
      layout.blocks.forEach((block, bi) => {
        const order = block.size.length;
        const graftOnly = isVector && !cfg.precondition1d;
        const factors: Factor[] = [];
        if (!graftOnly) {
          block.size.forEach((dim, mode) => {
            const exponent = inverseExponent(pc.inverseExponentOverride, order, mode);
            if (exponent === 0) return;
            checkFactorOrder(host, pi, dim, 'maxPreconditionerDim');
            const f: Factor = {
              mode,
              dim,
              shape: modeShape(block.size, mode),
              exponent,
              factor: host.allocState(pi, `block${bi}.factor${mode}`, 'factor', 'f32', dim * dim),
            };
            if (pc.type === 'rootInv') {
              f.root = allocIdentity(host, pi, `block${bi}.root${mode}`, 'root', dim);
            } else {
              f.vectors = allocIdentity(host, pi, `block${bi}.eigenvectors${mode}`, 'basis', dim);
              f.values = host.allocState(pi, `block${bi}.eigenvalues${mode}`, 'eigenvalues', 'f32', dim);
              f.values.view().fill(1);
            }
            factors.push(f);
          });
        }
        planned.push({
          param: pi,
          index: bi,
          block,
          numel: block.numel,
          factors,
          graftOnly,
          filtered:
            beta1 !== 0
              ? host.allocState(pi, `block${bi}.filtered_grad`, 'moment', 'f32', block.numel)
              : null,
          grafting: graftState
            ? host.allocState(pi, `block${bi}.grafting`, 'grafting', 'f32', block.numel)
            : null,
          momentum: cfg.momentum
            ? host.allocState(pi, `block${bi}.momentum`, 'moment', 'f32', block.numel)
            : null,
        });
      });
      if (layout.blocks.length > 0) {
        this.failures.add(
          pi,
          host.allocState(pi, 'refresh_failures', 'counter', 'i32', layout.blocks.length),
        );
      }
    });

    // Scratch, allocated once for the largest block and factor and shared by all of them.
    const arena = host.kernels.arena;
    const maxNumel = Math.max(...planned.map((b) => b.numel));
    const maxDim = Math.max(1, ...planned.flatMap((b) => b.factors.map((f) => f.dim)));
    const scratch = {
      g: arena.f32(maxNumel),
      w: arena.f32(maxNumel),
      bar: arena.f32(maxNumel),
      ping: arena.f32(maxNumel),
      pong: arena.f32(maxNumel),
      graft: arena.f32(maxNumel),
    };
    this.blocks = planned.map((b) => ({
      ...b,
      g: scratch.g.slice(0, b.numel),
      w: scratch.w.slice(0, b.numel),
      bar: scratch.bar.slice(0, b.numel),
      ping: scratch.ping.slice(0, b.numel),
      pong: scratch.pong.slice(0, b.numel),
      graft: scratch.graft.slice(0, b.numel),
    }));
    this.rootScratch = {
      q: arena.f32(maxDim * maxDim),
      qs: arena.f32(maxDim * maxDim),
      s: arena.f32(maxDim),
    };
    this.candidate = arena.f32(maxDim * maxDim);
    this.powScratch = arena.f32(maxDim);
    this.a64 = new Float64Array(maxDim * maxDim);
    this.lambda = new Float32Array(maxDim);
    this.vectors = new Float32Array(maxDim * maxDim);
  }

  consecutiveFailures(): number {
    return this.failures.max();
  }

  step(grads: readonly Float32Array[], t: number): void {
    const cfg = this.cfg;
    const s = cfg.startPreconditioningStep;
    const amortize = (t % cfg.preconditionFrequency === 0 && t > s) || t === s;
    const restore = amortize && this.failures.anyAtRisk() ? this.host.captureState() : null;
    try {
      for (const b of this.blocks) this.stepBlock(b, grads[b.param], t, amortize);
    } catch (e) {
      restore?.();
      throw e;
    }
  }

  private stepBlock(b: BlockState, grad: Float32Array, t: number, amortize: boolean): void {
    const cfg = this.cfg;
    const k = this.kernels;
    const [beta1, beta2] = cfg.betas;
    const beta3 = cfg.beta3;
    const shape = this.layouts[b.param];
    const param = this.host.params[b.param].data;
    const wd = cfg.weightDecay;

    gatherBlock(grad, shape, b.block, b.g.view());
    const needW = wd !== 0;
    if (needW) gatherBlock(param, shape, b.block, b.w.view());
    if (needW && cfg.weightDecayType === 'L2') k.axpby(wd, b.w, 1, b.g);

    // 1. Factor statistics from the raw gradient.
    const drop = cfg.preconditioner.dropWeightingFactorOnGsquare;
    const weight = beta2 === 1 || drop ? 1 : 1 - beta2;
    for (const f of b.factors) modeStatistics(k, b.g, f.shape, weight, beta2, f.factor);

    // Grafting accumulator.
    const gr = cfg.grafting;
    if (b.grafting) {
      const gw = gr.beta2 === 1 || gr.dropWeightingFactorOnGsquare ? 1 : 1 - gr.beta2;
      k.emaSquare(gr.beta2, b.grafting, gw, b.g);
    }

    // 2. Amortized roots, before this step's preconditioning.
    if (amortize && b.factors.length > 0) {
      const bc2 = cfg.useBiasCorrection && beta2 < 1 && !drop ? 1 - beta2 ** t : 1;
      let failure: Exclude<RefreshStatus, 'ok'> | null = null;
      for (const f of b.factors) {
        const status = this.refresh(f, bc2);
        if (status !== 'ok') failure = status;
      }
      this.failures.record(b.param, b.index, failure);
    }

    // 3. Filtered gradient Ḡ.
    let bar: F32Buffer = b.g;
    if (b.filtered) {
      if (beta3 !== beta1) {
        b.bar.view().set(b.filtered.view());
        k.axpby(1 - beta3, b.g, beta3, b.bar);
        bar = b.bar;
      }
      k.axpby(1 - beta1, b.g, beta1, b.filtered);
      if (beta3 === beta1) bar = b.filtered;
      if (cfg.useBiasCorrection) {
        scaleInto(bar.view(), 1 / (1 - beta3 * beta1 ** (t - 1)), b.bar.view());
        bar = b.bar;
      }
    }

    // 4. Direction: grafting method before the start step (or always for graft-only blocks), else Shampoo.
    let dir: F32Buffer;
    const useGraftingMethod = (t < cfg.startPreconditioningStep || b.graftOnly) && gr.kind !== 'none';
    if (useGraftingMethod) {
      dir = this.graftingDirection(b, bar, t);
    } else {
      dir = this.precondition(b, bar);
      if (gr.kind !== 'none') {
        const graftNorm = Math.sqrt(k.sumSquares(this.graftingDirection(b, bar, t)));
        const shampooNorm = Math.sqrt(k.sumSquares(dir));
        const d = dir.view();
        scaleInto(d, graftNorm / (shampooNorm + 1e-16), d);
      }
    }

    // 5. Weight decay folded into the direction.
    if (needW && cfg.weightDecayType !== 'L2') {
      const alpha =
        cfg.weightDecayType === 'DECOUPLED'
          ? wd
          : cfg.weightDecayType === 'CORRECTED'
            ? (wd * cfg.lr) / cfg.peakLr
            : wd / cfg.peakLr;
      k.axpby(alpha, b.w, 1, dir);
    }

    // 6. Classic momentum.
    if (b.momentum && cfg.momentum) {
      const { momentum, dampening, useNesterov } = cfg.momentum;
      k.axpby(1 - dampening, dir, momentum, b.momentum);
      if (useNesterov) k.axpby(momentum, b.momentum, 1 - dampening, dir);
      else dir = b.momentum;
    }

    // W ← W + fround(−lr·P): the reference scales the direction by the float32 lr, then adds it.
    const neg = -Math.fround(cfg.lr);
    const d = dir.view();
    forEachRun(shape, b.block, (p, q, n) => {
      for (let i = 0; i < n; i++) param[p + i] += Math.fround(neg * d[q + i]);
    });
  }

  /** `Ḡ ⊘ (sqrt(V/bc) + ε)` (SGD grafting: Ḡ) into the block's graft scratch. */
  private graftingDirection(b: BlockState, bar: F32Buffer, t: number): F32Buffer {
    const gr = this.cfg.grafting;
    if (!b.grafting) {
      b.graft.view().set(bar.view());
      return b.graft;
    }
    const bc = gr.kind === 'adam' && gr.beta2 < 1 && !gr.dropWeightingFactorOnGsquare ? 1 - gr.beta2 ** t : 1;
    this.kernels.adamDirection(bar, b.grafting, 1 / Math.sqrt(bc), gr.epsilon, b.graft);
    return b.graft;
  }

  /** Ḡ ×₁ Finv₁ ⋯ ×ₖ Finvₖ over the preconditioned dims (a copy of Ḡ if none). */
  private precondition(b: BlockState, bar: F32Buffer): F32Buffer {
    const k = this.kernels;
    let x = bar;
    let next = b.ping;
    for (const f of b.factors) {
      if (f.root) {
        // Contracts the mode with the root's first axis (the reference's tensordot), i.e. Finvᵀ acts on it.
        modeProduct(k, x, f.shape, f.root, false, next);
        x = next;
      } else {
        // Q·Diag(λ^(−e))·Qᵀ applied as three mode operations (Qᵀ, scale, Q).
        const tmp = x === b.ping ? b.pong : b.ping;
        modeProduct(k, x, f.shape, f.vectors!, false, tmp);
        stabilizedInversePower(
          f.values!.view(),
          f.dim,
          this.reg,
          f.exponent,
          this.powScratch.view(),
          this.a64,
        );
        modeScale(k, tmp, f.shape, this.powScratch);
        const out = tmp === b.ping ? b.pong : b.ping;
        modeProduct(k, tmp, f.shape, f.vectors!, true, out);
        x = out;
      }
      next = x === b.ping ? b.pong : b.ping;
    }
    if (x === bar) {
      b.ping.view().set(bar.view());
      return b.ping;
    }
    return x;
  }

  /** One factor's amortized computation; commits the result only on success. */
  private refresh(f: Factor, bc2: number): RefreshStatus {
    const n = f.dim;
    const pc = this.cfg.preconditioner;
    if (!regularizedFactor(f.factor.view(), n, bc2, this.reg, this.a64)) return 'non-finite-input';
    if (f.root) {
      const cand = this.candidate.slice(0, n * n);
      const status = eighInverseRoot(this.kernels, this.a64, n, this.reg, f.exponent, this.rootScratch, cand);
      if (status === 'ok') commit(cand.view(), f.root);
      return status;
    }
    const status =
      pc.computation === 'qr'
        ? qrAlgorithmEigendecomposition(
            this.a64,
            n,
            f.vectors!.view(),
            pc.maxIterations,
            pc.tolerance,
            this.lambda,
            this.vectors,
          )
        : eighEigendecomposition(this.a64, n, f.vectors!.view(), pc.tolerance, this.lambda, this.vectors);
    if (status === 'ok') {
      commit(this.lambda, f.values!);
      commit(this.vectors, f.vectors!);
    }
    return status;
  }
}
