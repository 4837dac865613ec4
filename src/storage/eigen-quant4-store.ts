import { isAllFinite } from '../finite.ts';
import type { F32Buffer, Kernels } from '../kernels/index.ts';
import { qrFloat32 } from '../linalg/qr-f32.ts';
import type { KroneckerSide } from '../preconditioner/kronecker-side.ts';
import type { ModeShape } from '../preconditioner/mode-products.ts';
import {
  applySquaredTransition,
  applyTransition,
  basisTransition,
} from '../preconditioner/second-moment-rotation.ts';
import {
  accumulateCorrelations,
  allocateCorrelations,
  type CorrelationTriangle,
  clearCorrelations,
  expandCorrelations,
} from './correlation-triangle.ts';
import { descendingEigenvectors } from './power-step.ts';
import { Quant4Basis } from './quant4-basis.ts';
import type { StateAllocator, StoreContext } from './store-context.ts';

/**
 * The '4bit' store: an eigen-parametrized factor whose eigenvectors are the basis (ALGORITHMS.md §5 applied
 * to SOAP and the KL methods). State per side:
 *
 * - `Q{k}_codes`, `Q{k}_scales`: the basis, 4-bit as `Quant4Basis` stores it (Qᵀ rows = eigenvectors, block B,
 *   fp32 absmax scales). Its dequantized, Björck-rectified form is at once the factor's eigenvectors and the
 *   basis the method rotates with.
 * - `lambda{k}` (fp32, d): the factor's eigenvalue estimates, i.e. the diagonal of `S = QᵀLQ`.
 * - `acc{k}_codes`, `acc{k}_scales`: the off-diagonal of S accumulated since the last refresh, as a packed
 *   strict upper triangle (N = d(d−1)/2 values, one row of 4-bit blocks of B), normalized by `sqrt(λ_i·λ_j)`
 *   so that every entry is a correlation in [−1, 1] and one block scale fits all of its entries.
 *
 * Between refreshes the statistics accumulate every step in the rotated coordinates, as the fp32 factor would:
 * the increment `ΔS = Q̃ᵀ·(X_(k)X_(k)ᵀ)·Q̃` (`statistics = 'rotated'`) updates `λ ← β·λ + w·diag(ΔS)` exactly in
 * fp32 and the triangle `O ← β·O + w·offdiag(ΔS)` (decoded, updated in fp32, re-quantized). So
 * `L = Q̃·(Diag(λ) + O)·Q̃ᵀ` is the fp32 EMA up to the 4-bit rounding of O, and no step rebuilds a factor.
 *
 * A refresh rebuilds `S = Diag(λ) + O` (d×d fp32 scratch) in the current basis and applies the method's rule
 * there (ALGORITHMS.md P3: `qr(L·Q).Q = Q·qr(QᵀLQ).Q`): optionally sort by λ (the Rayleigh quotients), then
 * `W = qr(S_π).Q` (float32 Householder on the kernels, as the fp32 power step), `Q_new = B_π·W` (B: Q̃ with part
 * of its rounding carried, see `carriedBasis`),
 * `λ ← diag(Wᵀ·S_π·W)` (= diag(R·W) with R = Wᵀ·S_π the QR's own triangle: O(d²)), Q_new quantized, O
 * reset to 0 — as in the 4-bit paper, the factor is re-parametrized by its new eigenvector estimates and the
 * residual off-diagonal is dropped. Björck on dequantization: at most max(rectT1, rectT2) steps, to rectTol
 * (exactly that many first-order steps when rectTol is 0).
 */
export class EigenQuant4FactorStore implements KroneckerSide {
  readonly dim: number;
  readonly statistics = 'rotated' as const;
  private readonly ctx: StoreContext;
  private readonly basis: Quant4Basis;
  private readonly lambda: F32Buffer;
  /** The off-diagonal O, as 4-bit correlations. */
  private readonly tri: CorrelationTriangle;
  private readonly pendingLambda: Float32Array;
  private readonly rayleigh: Float64Array;
  /** Whether the 'product' scratch holds the transition of the current proposal. */
  private transitionReady = false;

  constructor(
    dim: number,
    name: { basis: string; eigenvalues: string; factor: string },
    alloc: StateAllocator,
    ctx: StoreContext,
  ) {
    this.dim = dim;
    this.ctx = ctx;
    const { quanBlocksize, rectT1, rectT2, rectTol } = ctx.storage;
    this.basis = new Quant4Basis(
      dim,
      name.basis,
      alloc,
      ctx.kernels,
      ctx.codecs,
      ctx.scratch,
      quanBlocksize,
      Math.max(rectT1, rectT2),
      rectTol,
    );
    this.lambda = alloc(name.eigenvalues, 'eigenvalues', 'f32', dim);
    this.tri = allocateCorrelations(
      dim,
      { codes: `${name.factor}_codes`, scales: `${name.factor}_scales` },
      alloc,
      ctx.scratch,
      ctx.kernels,
      quanBlocksize,
      ctx.storage.correlationBits,
    );
    const maxDim = ctx.scratch.maxDim;
    const shared = ctx.scratch.shared('eigen-quant4', () => ({
      lambda: new Float32Array(maxDim),
      rayleigh: new Float64Array(maxDim),
    }));
    this.pendingLambda = shared.lambda.subarray(0, dim);
    this.rayleigh = shared.rayleigh.subarray(0, dim);
    ctx.scratch.matrix('work', dim);
    this.basis.setIdentity();
    clearCorrelations(this.ctx.codecs, this.tri);
  }

  basisF32(): F32Buffer {
    return this.basis.get(this.ctx.kernels);
  }

  incrementBuffer(): F32Buffer {
    return this.ctx.scratch.matrix('increment', this.dim);
  }

  accumulate(kernels: Kernels, beta: number, weight: number): boolean {
    const inc = this.incrementBuffer();
    if (!kernels.allFinite(inc)) return false;
    const d = this.dim;
    const a = inc.view();
    const lam = this.lambda.view();
    const next = this.pendingLambda;
    for (let i = 0; i < d; i++) next[i] = beta * lam[i] + weight * a[i * d + i];
    if (!isAllFinite(next)) return false;
    if (!accumulateCorrelations(kernels, this.ctx.codecs, this.tri, inc, d, lam, next, beta, weight))
      return false;
    lam.set(next);
    return true;
  }

  initialise(kernels: Kernels, beta: number, weight: number, basis: 'eigh' | 'identity'): boolean {
    // The state is empty (λ = 0, O = 0, Q = I), so the rotated statistics are in parameter coordinates.
    const ok = this.accumulate(kernels, beta, weight);
    if (!ok || basis === 'identity') return ok;
    // Eigenvectors of the exact fp32 first factor (not of its 4-bit off-diagonal).
    const d = this.dim;
    const s = this.ctx.scratch.matrix('work', d);
    const sv = s.view();
    const a = this.incrementBuffer().view();
    for (let i = 0; i < d * d; i++) sv[i] = weight * a[i];
    const q = this.ctx.scratch.matrix('next', d);
    if (!descendingEigenvectors(sv, d, q.view(), this.pendingLambda) || !this.basis.propose(kernels, q)) {
      return false;
    }
    this.basis.commit(q);
    this.lambda.view().set(this.pendingLambda);
    clearCorrelations(this.ctx.codecs, this.tri);
    return true;
  }

  proposeRefresh(kernels: Kernels, sortByRayleigh: boolean): boolean {
    this.transitionReady = false;
    const d = this.dim;
    const sc = this.ctx.scratch;
    // Rectified now if it is not yet (that uses the scratch matrices the refresh fills below).
    this.basisF32();
    const perm = sc.perm.subarray(0, d);
    const lam = this.lambda.view();
    for (let j = 0; j < d; j++) perm[j] = j;
    if (sortByRayleigh) perm.sort((x, y) => lam[y] - lam[x] || x - y);
    // S_π = Diag(λ) + O in the sorted order, fp32 (the 'product' scratch).
    const inv = sc.estimates;
    for (let j = 0; j < d; j++) inv[perm[j]] = j;
    expandCorrelations(this.ctx.codecs, this.tri, lam, inv, sc.matrix('product', d).view());
    // W = qr(S_π).Q in float32 on the kernels (as the fp32 power step), R = Wᵀ·S_π left in 'product'.
    const sBuf = sc.matrix('product', d);
    const wf = sc.matrix('work', d);
    if (!qrFloat32(kernels, d, d, sBuf, wf, { keepR: true })) return false;
    // λ_new = diag(Wᵀ·S_π·W) = diag(R·W) (S_π = W·R): λ_j = Σ_{k≥j} R_jk·W_kj, O(d²), accumulated in float64.
    const lamNew = this.rayleigh;
    const rv = sBuf.view();
    const wv = wf.view();
    for (let j = 0; j < d; j++) {
      const row = j * d;
      let acc = 0;
      for (let k = j; k < d; k++) acc += rv[row + k] * wv[k * d + j];
      lamNew[j] = acc;
    }
    if (!isAllFinite(lamNew)) return false;
    this.pendingLambda.set(lamNew);
    // Q_new = B_π·W with B = γ·D + (1 − γ)·Q̃ (views taken after the QR, whose scratch may have grown the arena).
    const next = sc.matrix('next', d);
    const qp = sc.matrix('product', d);
    this.carriedBasis(perm, next, qp);
    kernels.gemm(false, false, d, d, d, 1, qp, wf, 0, next);
    return this.basis.propose(kernels, next);
  }

  /**
   * `out = (γ·D + (1 − γ)·Q̃)_π` with γ = `requantCarry`, D the decoded and Q̃ the rectified basis (`decoded` is
   * scratch). Why: polar(D) = Q̃, so B_π·W has the polar factor Q̃_π·W that the refresh computed whatever γ, but
   * with γ > 0 its entries sit nearer the old codes: an unchanged basis (W = I) re-quantizes to the codes it had
   * (γ = 1) or to codes within half a step of them (γ = ½), instead of being rounded afresh — which turned every
   * vector by the full quantization error at each refresh, and Adam's moments with it. γ < 1 keeps the stored
   * basis from drifting away from orthogonal: its non-orthogonal part is scaled by γ at each refresh before the
   * new rounding is added.
   */
  private carriedBasis(perm: Int32Array, decoded: F32Buffer, out: F32Buffer): void {
    const d = this.dim;
    const gamma = this.ctx.storage.requantCarry;
    const cache = this.basisF32().view();
    const ov = out.view();
    if (gamma === 0) {
      for (let i = 0; i < d * d; i += d) for (let j = 0; j < d; j++) ov[i + j] = cache[i + perm[j]];
      return;
    }
    this.basis.decode(decoded);
    const dv = decoded.view();
    for (let i = 0; i < d * d; i += d) {
      for (let j = 0; j < d; j++) {
        const k = i + perm[j];
        ov[i + j] = cache[k] + gamma * (dv[k] - cache[k]);
      }
    }
  }

  perm(): Int32Array {
    return this.ctx.scratch.perm.subarray(0, this.dim);
  }

  /** m ← C·m with the transition C = Q̃_newᵀ·Q̃_old (one product along the mode once C is formed). */
  rotateMoment(kernels: Kernels, x: F32Buffer, shape: ModeShape, tmp: F32Buffer, _tmp2: F32Buffer): void {
    applyTransition(kernels, x, shape, this.transition(kernels), tmp);
  }

  /**
   * Re-quantizing the whole basis turns every eigenvector by the quantization error (far more than the power
   * step's own turn), so the second moment follows the full rotation, `v ← (C∘C)·v`, not the permutation alone.
   */
  rotateSecondMoment(
    kernels: Kernels,
    v: F32Buffer,
    shape: ModeShape,
    tmp: F32Buffer,
    _tmp2: F32Buffer,
  ): void {
    const c = this.transition(kernels);
    applySquaredTransition(kernels, v, shape, c, this.ctx.scratch.matrix('work', this.dim), tmp);
  }

  /**
   * C = Q̃_newᵀ·Q̃_old in the 'product' scratch, formed once per proposal and shared by both moments ('product'
   * and 'work' are free between a proposal and its commit; the proposed basis is in 'next').
   */
  private transition(kernels: Kernels): F32Buffer {
    const d = this.dim;
    const c = this.ctx.scratch.matrix('product', d);
    if (!this.transitionReady) {
      basisTransition(kernels, d, this.ctx.scratch.matrix('next', d), this.basisF32(), c);
      this.transitionReady = true;
    }
    return c;
  }

  commit(): void {
    this.transitionReady = false;
    this.basis.commit(this.ctx.scratch.matrix('next', this.dim));
    this.lambda.view().set(this.pendingLambda);
    clearCorrelations(this.ctx.codecs, this.tri);
  }

  invalidate(): void {
    this.basis.invalidate();
  }
}
