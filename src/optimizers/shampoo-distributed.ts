import { type Block, distributedLayout, forEachRun, gatherBlock, squeezeShape } from '../blocking.ts';
import type { F32Buffer, Kernels } from '../kernels/index.ts';
import { rayleighQuotients } from '../linalg/index.ts';
import { SideScratch } from '../preconditioner/kronecker-side.ts';
import { type ModeShape, modeProduct, modeScale, modeShape } from '../preconditioner/mode-products.ts';
import type { RefreshStatus } from '../preconditioner/refresh-status.ts';
import {
  eighEigendecomposition,
  eighInverseRoot,
  type FactorRegularization,
  qrAlgorithmEigendecomposition,
  type RootScratch,
  regularizedFactor,
  stabilizedInversePower,
} from '../preconditioner/root-inverse.ts';
import { isLowbitSide } from '../storage/precision.ts';
import {
  ParameterFactorStore,
  RotatedFactorStore,
  type ShampooFactorStore,
} from '../storage/shampoo-factor-stores.ts';
import type { MatrixFormat, StoredMatrix } from '../storage/stored-matrix.ts';
import type { ResolvedDistributedConfig } from './shampoo-config.ts';
import {
  checkFactorOrder,
  FailureCounters,
  type MomentState,
  type ShampooVariant,
  scaleInto,
} from './shampoo-host.ts';
import type { KernelShampooState } from './shampoo-state.ts';

/** One preconditioned dim of a block. */
interface Factor {
  mode: number;
  dim: number;
  shape: ModeShape;
  exponent: number;
  /** The statistics F, in parameter coordinates or rotated into a stored basis. */
  store: ShampooFactorStore;
  /** rootInv: the inverse root `F^(−e)` (init I). */
  root?: StoredMatrix<F32Buffer>;
  /**
   * eigendecomposed: eigenvectors as columns (init I) and eigenvalues (init 1). A rotated store's basis is
   * the eigenvectors (no `vectors` then).
   */
  vectors?: StoredMatrix<F32Buffer>;
  values?: StoredMatrix<F32Buffer>;
}

/** How one factor of order d is stored under the configured precision (docs/storage.md, Shampoo section). */
export interface DistributedFactorStorage {
  /** Parameter coordinates in a matrix format, or rotated ('bf16': bf16 basis and off-diagonal; '4bit'). */
  factor:
    | { coordinates: 'parameter'; format: MatrixFormat }
    | { coordinates: 'rotated'; format: 'bf16' | '4bit' };
  root: MatrixFormat;
  /** eigendecomposed, parameter coordinates only. */
  vectors: MatrixFormat;
  values: 'fp32' | 'bf16';
}

export function distributedFactorStorage(
  cfg: ResolvedDistributedConfig,
  d: number,
): DistributedFactorStorage {
  const lowbit = isLowbitSide(cfg, d);
  const fp32: DistributedFactorStorage = {
    factor: { coordinates: 'parameter', format: 'fp32' },
    root: 'fp32',
    vectors: 'fp32',
    values: 'fp32',
  };
  switch (cfg.precision) {
    case 'fp32':
      return fp32;
    case 'bf16':
      return {
        factor: { coordinates: 'rotated', format: 'bf16' },
        root: 'bf16-diag',
        vectors: 'fp32',
        values: 'fp32',
      };
    case '4bit':
      return lowbit
        ? {
            factor: { coordinates: 'rotated', format: '4bit' },
            root: '4bit-diag',
            vectors: 'fp32',
            values: 'fp32',
          }
        : fp32;
    case 'bf16-naive':
      return {
        factor: { coordinates: 'parameter', format: 'bf16' },
        root: 'bf16',
        vectors: 'bf16',
        values: 'bf16',
      };
    case '4bit-naive':
      return lowbit
        ? {
            factor: { coordinates: 'parameter', format: '4bit-diag' },
            root: '4bit-diag',
            vectors: '4bit',
            values: 'fp32',
          }
        : fp32;
  }
}

interface BlockState {
  param: number;
  index: number;
  block: Block;
  numel: number;
  factors: Factor[];
  /** 1-D parameter with `precondition1d: false`: always the grafting direction. */
  graftOnly: boolean;
  filtered: MomentState<F32Buffer> | null;
  grafting: MomentState<F32Buffer> | null;
  momentum: MomentState<F32Buffer> | null;
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
  private readonly state: KernelShampooState;
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
  /** d×d scratch: a decoded factor or root, decoded eigenvectors, a new basis. */
  private readonly decoded: F32Buffer;
  /** Eigendecomposed with parameter-coordinate stores only: the decoded current eigenvectors. */
  private readonly decodedVectors: F32Buffer | null;
  private readonly eigenvectors64: Float64Array;
  private readonly sideScratch: SideScratch | null;

  constructor(state: KernelShampooState, cfg: ResolvedDistributedConfig) {
    const host = state.host;
    this.state = state;
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
    // Every factor's order first: the scratch the stores share is sized for the largest.
    const layouts = host.params.map((p) =>
      distributedLayout(p.shape, cfg.maxPreconditionerDim, cfg.targetParameterDimensionality),
    );
    const factorDims = (pi: number, size: readonly number[]): number[] =>
      squeezeShape(host.params[pi].shape).length === 1 && !cfg.precondition1d
        ? []
        : size.filter((_, mode) => inverseExponent(pc.inverseExponentOverride, size.length, mode) !== 0);
    const dims = layouts.flatMap((l, pi) =>
      l.blocks.flatMap((b) =>
        factorDims(pi, b.size).map((d) => {
          checkFactorOrder(host, pi, d, 'maxPreconditionerDim');
          return d;
        }),
      ),
    );
    const maxDim = Math.max(1, ...dims);
    const arena = host.kernels.arena;
    const rotated = cfg.precision === 'bf16' || cfg.precision === '4bit';
    this.sideScratch = rotated ? new SideScratch(host.kernels, maxDim) : null;
    this.decoded = arena.f32(maxDim * maxDim);
    this.decodedVectors =
      cfg.preconditioner.type === 'eigendecomposed' && !rotated ? arena.f32(maxDim * maxDim) : null;
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
    this.eigenvectors64 = new Float64Array(maxDim * maxDim);
    const planned: Omit<BlockState, 'g' | 'w' | 'bar' | 'ping' | 'pong' | 'graft'>[] = [];
    this.layouts = [];
    host.params.forEach((p, pi) => {
      const layout = layouts[pi];
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
            factors.push(this.createFactor(pi, bi, mode, dim, modeShape(block.size, mode), exponent));
          });
        }
        // The filtered gradient is preconditioned by dense roots afterwards (not per coordinate); grafting
        // and momentum act per coordinate.
        planned.push({
          param: pi,
          index: bi,
          block,
          numel: block.numel,
          factors,
          graftOnly,
          filtered:
            beta1 !== 0
              ? state.moment(pi, `block${bi}.filtered_grad`, block.numel, beta1, 'filtered', false)
              : null,
          grafting: graftState
            ? state.moment(
                pi,
                `block${bi}.grafting`,
                block.numel,
                cfg.grafting.beta2,
                'grafting',
                true,
                'grafting',
              )
            : null,
          momentum: cfg.momentum
            ? state.moment(pi, `block${bi}.momentum`, block.numel, cfg.momentum.momentum, 'momentum', true)
            : null,
        });
      });
      if (layout.blocks.length > 0) {
        this.failures.add(pi, state.counters(pi, 'refresh_failures', layout.blocks.length));
      }
    });

    // Scratch, allocated once for the largest block and factor and shared by all of them.
    const maxNumel = Math.max(...planned.map((b) => b.numel));
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
  }

  /** One factor's state in the configured precision, initialized (F = 0, root and eigenvectors I, λ = 1). */
  private createFactor(
    pi: number,
    bi: number,
    mode: number,
    dim: number,
    shape: ModeShape,
    exponent: number,
  ): Factor {
    const { state, cfg } = this;
    const how = distributedFactorStorage(cfg, dim);
    const eye = this.decoded.slice(0, dim * dim);
    const e = eye.view();
    e.fill(0);
    for (let i = 0; i < dim; i++) e[i * dim + i] = 1;
    let store: ShampooFactorStore;
    if (how.factor.coordinates === 'parameter') {
      const f = state.matrix(pi, `block${bi}.factor${mode}`, 'factor', dim, dim, how.factor.format);
      store = new ParameterFactorStore(dim, f, this.decoded);
    } else {
      const host = state.host;
      store = new RotatedFactorStore(
        dim,
        how.factor.format,
        { basis: `block${bi}.basis${mode}`, factor: `block${bi}.factor${mode}` },
        mode,
        (name, kind, dtype, length) =>
          host.allocState(pi, name, kind, dtype, length, { bf16: dtype === 'u16' }),
        {
          kernels: this.kernels,
          writer: state.writer,
          scratch: this.sideScratch!,
          quanBlocksize: cfg.quanBlocksize,
          rectify: Math.max(cfg.rectT1, cfg.rectT2),
        },
      );
    }
    const f: Factor = { mode, dim, shape, exponent, store };
    if (cfg.preconditioner.type === 'rootInv') {
      f.root = state.matrix(pi, `block${bi}.root${mode}`, 'root', dim, dim, how.root);
      f.root.write(eye);
    } else {
      if (store.coordinates === 'parameter') {
        f.vectors = state.matrix(pi, `block${bi}.eigenvectors${mode}`, 'basis', dim, dim, how.vectors);
        f.vectors.write(eye);
      }
      f.values = state.matrix(pi, `block${bi}.eigenvalues${mode}`, 'eigenvalues', 1, dim, how.values);
      const ones = this.powScratch.slice(0, dim);
      ones.view().fill(1);
      f.values.write(ones);
    }
    return f;
  }

  consecutiveFailures(): number {
    return this.failures.max();
  }

  step(grads: readonly Float32Array[], t: number): void {
    const cfg = this.cfg;
    const s = cfg.startPreconditioningStep;
    const amortize = (t % cfg.preconditionFrequency === 0 && t > s) || t === s;
    const restore = amortize && this.failures.anyAtRisk() ? this.state.captureState() : null;
    try {
      for (const b of this.blocks) this.stepBlock(b, grads[b.param], t, amortize);
    } catch (e) {
      restore?.();
      throw e;
    }
  }

  /** The stores forget what they derived from their state (after a load or an undone step). */
  invalidate(): void {
    for (const b of this.blocks) for (const f of b.factors) f.store.invalidate();
  }

  private stepBlock(b: BlockState, grad: Float32Array, t: number, amortize: boolean): void {
    const cfg = this.cfg;
    const k = this.kernels;
    const [beta1, beta2] = cfg.betas;
    const beta3 = cfg.beta3;
    const shape = this.layouts[b.param];
    const param = this.state.weights[b.param];
    const wd = cfg.weightDecay;

    gatherBlock(grad, shape, b.block, b.g.view());
    const needW = wd !== 0;
    if (needW) gatherBlock(param, shape, b.block, b.w.view());
    if (needW && cfg.weightDecayType === 'L2') k.axpby(wd, b.w, 1, b.g);

    // 1. Factor statistics from the raw gradient. A store that refuses an update (its result would not be
    // finite) keeps its previous statistics; the refresh then finds them as they were.
    const drop = cfg.preconditioner.dropWeightingFactorOnGsquare;
    const weight = beta2 === 1 || drop ? 1 : 1 - beta2;
    for (const f of b.factors) f.store.update(k, b.g, f.shape, weight, beta2, b.pong);

    // Grafting accumulator.
    const gr = cfg.grafting;
    const grafting = b.grafting?.load() ?? null;
    if (grafting) {
      const gw = gr.beta2 === 1 || gr.dropWeightingFactorOnGsquare ? 1 : 1 - gr.beta2;
      k.emaSquare(gr.beta2, grafting, gw, b.g);
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
    const filtered = b.filtered?.load() ?? null;
    if (filtered) {
      if (beta3 !== beta1) {
        b.bar.view().set(filtered.view());
        k.axpby(1 - beta3, b.g, beta3, b.bar);
        bar = b.bar;
      }
      k.axpby(1 - beta1, b.g, beta1, filtered);
      if (beta3 === beta1) bar = filtered;
      if (cfg.useBiasCorrection) {
        scaleInto(bar.view(), 1 / (1 - beta3 * beta1 ** (t - 1)), b.bar.view());
        bar = b.bar;
      } else if (bar === filtered) {
        // A bf16 filtered gradient is decoded into shared scratch: use a copy past this point.
        b.bar.view().set(filtered.view());
        bar = b.bar;
      }
    }

    // 4. Direction: grafting method before the start step (or always for graft-only blocks), else Shampoo.
    let dir: F32Buffer;
    const useGraftingMethod = (t < cfg.startPreconditioningStep || b.graftOnly) && gr.kind !== 'none';
    if (useGraftingMethod) {
      dir = this.graftingDirection(b, grafting, bar, t);
    } else {
      dir = this.precondition(b, bar);
      if (gr.kind !== 'none') {
        const graftNorm = Math.sqrt(k.sumSquares(this.graftingDirection(b, grafting, bar, t)));
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
      const buffer = b.momentum.load();
      k.axpby(1 - dampening, dir, momentum, buffer);
      if (useNesterov) k.axpby(momentum, buffer, 1 - dampening, dir);
      else {
        b.ping.view().set(buffer.view());
        dir = b.ping;
      }
      b.momentum.store();
    }

    // W ← W + fround(−lr·P): the reference scales the direction by the float32 lr, then adds it.
    const neg = -Math.fround(cfg.lr);
    const d = dir.view();
    forEachRun(shape, b.block, (p, q, n) => {
      for (let i = 0; i < n; i++) param[p + i] += Math.fround(neg * d[q + i]);
    });
    b.filtered?.store();
    b.grafting?.store();
  }

  /** `Ḡ ⊘ (sqrt(V/bc) + ε)` (SGD grafting: Ḡ) into the block's graft scratch. */
  private graftingDirection(b: BlockState, grafting: F32Buffer | null, bar: F32Buffer, t: number): F32Buffer {
    const gr = this.cfg.grafting;
    if (!grafting) {
      b.graft.view().set(bar.view());
      return b.graft;
    }
    const bc = gr.kind === 'adam' && gr.beta2 < 1 && !gr.dropWeightingFactorOnGsquare ? 1 - gr.beta2 ** t : 1;
    this.kernels.adamDirection(bar, grafting, 1 / Math.sqrt(bc), gr.epsilon, b.graft);
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
        modeProduct(k, x, f.shape, f.root.read(this.decoded), false, next);
        x = next;
      } else {
        // Q·Diag(λ^(−e))·Qᵀ applied as three mode operations (Qᵀ, scale, Q).
        const vectors = f.vectors ? f.vectors.read(this.decoded) : f.store.basis()!;
        const tmp = x === b.ping ? b.pong : b.ping;
        modeProduct(k, x, f.shape, vectors, false, tmp);
        const values = f.values!.read(this.candidate);
        stabilizedInversePower(values.view(), f.dim, this.reg, f.exponent, this.powScratch.view(), this.a64);
        modeScale(k, tmp, f.shape, this.powScratch);
        const out = tmp === b.ping ? b.pong : b.ping;
        modeProduct(k, tmp, f.shape, vectors, true, out);
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
    const k = this.kernels;
    const pc = this.cfg.preconditioner;
    const factor = f.store.read(this.decoded);
    if (!regularizedFactor(factor.view(), n, bc2, this.reg, this.a64)) return 'non-finite-input';
    const basis = f.store.basis();
    if (f.root) {
      const cand = this.candidate.slice(0, n * n);
      const status = eighInverseRoot(
        k,
        this.a64,
        n,
        this.reg,
        f.exponent,
        this.rootScratch,
        cand,
        basis ? { basis, eigenvectors: this.eigenvectors64 } : undefined,
      );
      if (status !== 'ok' || !f.root.write(cand)) return status === 'ok' ? 'non-finite-output' : status;
      if (basis) return this.rebase(f, factor, this.eigenvectors64, this.rootScratch.q);
      return 'ok';
    }
    // Eigendecomposed: a rotated store's current eigenvector estimate is its basis, i.e. I in its coordinates.
    let current: Float32Array;
    if (basis) {
      current = this.vectors;
      current.fill(0, 0, n * n);
      for (let i = 0; i < n; i++) current[i * n + i] = 1;
    } else {
      current = f.vectors!.read(this.decodedVectors!).view();
    }
    const status =
      pc.computation === 'qr'
        ? qrAlgorithmEigendecomposition(
            this.a64,
            n,
            current,
            pc.maxIterations,
            pc.tolerance,
            this.lambda,
            this.vectors,
          )
        : eighEigendecomposition(this.a64, n, current, pc.tolerance, this.lambda, this.vectors);
    if (status !== 'ok') return status;
    const values = this.powScratch.slice(0, n);
    values.view().set(this.lambda.subarray(0, n));
    if (!basis) {
      const vectors = this.candidate.slice(0, n * n);
      vectors.view().set(this.vectors.subarray(0, n * n));
      if (!k.allFinite(values) || !f.vectors!.write(vectors)) return 'non-finite-output';
      f.values!.write(values);
      return 'ok';
    }
    if (!k.allFinite(values)) return 'non-finite-output';
    // A skipped decomposition leaves the basis as it is (re-storing it would re-quantize it).
    let identity = true;
    for (let i = 0; i < n && identity; i++)
      for (let j = 0; j < n; j++) if (this.vectors[i * n + j] !== (i === j ? 1 : 0)) identity = false;
    if (!identity) {
      const w = this.eigenvectors64;
      for (let i = 0; i < n * n; i++) w[i] = this.vectors[i];
      const b = this.rootScratch.qs.slice(0, n * n);
      b.view().set(this.vectors.subarray(0, n * n));
      const qw = this.rootScratch.q.slice(0, n * n);
      k.gemm(false, false, n, n, n, 1, basis, b, 0, qw);
      const status2 = this.rebase(f, factor, w, this.rootScratch.q);
      if (status2 !== 'ok') return status2;
    }
    f.values!.write(values);
    return 'ok';
  }

  /**
   * A rotated store after its S (`factor`, fp32 d×d) was decomposed with eigenvectors W (float64, columns):
   * the new basis `qw = Q̃·W` and `σ = diag(Wᵀ·S·W)`.
   */
  private rebase(f: Factor, factor: F32Buffer, w: Float64Array, qw: F32Buffer): RefreshStatus {
    const n = f.dim;
    let sigma: Float64Array;
    try {
      sigma = rayleighQuotients(factor.view().subarray(0, n * n), w.subarray(0, n * n), n);
    } catch {
      return 'non-finite-output';
    }
    return f.store.rebase(this.kernels, qw.slice(0, n * n), sigma) ? 'ok' : 'non-finite-output';
  }
}
