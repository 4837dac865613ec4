import { isAllFinite } from '../finite.ts';
import type { F32Buffer, F64Buffer, Kernels } from '../kernels/index.ts';
import { qrFloat32 } from '../linalg/qr-f32.ts';
import { mirrorUpper, upperOfTriangularProduct } from '../linalg/triangular-product.ts';
import type { KroneckerSide } from '../preconditioner/kronecker-side.ts';
import { type ModeShape, modePermute, modeProduct } from '../preconditioner/mode-products.ts';
import type { U16Buffer } from './codecs.ts';
import { descendingEigenvectors } from './power-step.ts';
import { DecodeSlot, type StateAllocator, type StoreContext } from './store-context.ts';
import { selectSubspace } from './subspace.ts';

/**
 * The 'bf16' store: the rotated-factor reparametrization of ALGORITHMS.md §6.2 (a reconstruction of arXiv
 * 2605.26327 from its abstract; see docs/storage.md for what is ours). Per side:
 *
 * - `Q{k}` (bf16, d×d): the basis, columns = eigenvector estimates;
 * - `S{k}_diag` (fp32, d): σ = diag(S), the eigenvalue estimates, where `S = QᵀLQ` is the factor in the basis;
 * - `S{k}_offdiag` (bf16, d×d, zero diagonal): the rest of S;
 * - `S{k}_cursor` (counter): how many refreshes were committed (the round-robin position).
 *
 * The factor L itself is never formed. Statistics arrive rotated (`ΔS = Q̃ᵀ·(X_(k)X_(k)ᵀ)·Q̃`) and update
 * `σ ← β·σ + w·diag(ΔS)` in fp32 and `O ← bf16(β·O + w·offdiag(ΔS))` (fp32 arithmetic, rounded once). S is
 * nearly diagonal once Q tracks the eigenvectors, so bf16 rounding of its small off-diagonal is harmless, while
 * a dense bf16 L would lose its small eigenvalues (§8.5).
 *
 * A refresh rotates only k = min(subspaceSize, d) basis vectors: optionally sort by σ (SOAP's Rayleigh sort;
 * the second moment follows through `perm()`), choose positions J, `W = qr(S_JJ).Q` (k×k), `Q[:,J] ← Q[:,J]·W`
 * and `S ← TᵀST` with T = I except T_JJ = W, i.e. `S[J,:] ← Wᵀ·S[J,:]`, `S[:,J] ← S[:,J]·W` (O(dk²)); the
 * other d−k vectors stay as they are, so the basis stays complete. The first moment is rotated the same way
 * (`M̂[J] ← Wᵀ·M̂[J]` along the mode). With k = d this is exactly the full refresh `Q ← qr(L·Q).Q`
 * (P3: `qr(LQ).Q = Q·qr(QᵀLQ).Q`), with S kept exactly in the new basis; there `S ← Wᵀ·S_π·W = R·W` with R
 * from the QR (S_π = W·R), of which only the upper triangle is computed (R is triangular: ⅔d³ flops instead of
 * the 4d³ of two GEMMs).
 */
export class RotatedBf16FactorStore implements KroneckerSide {
  readonly dim: number;
  readonly statistics = 'rotated' as const;
  private readonly ctx: StoreContext;
  private readonly basis: U16Buffer;
  private readonly sigma: F32Buffer;
  private readonly offdiag: U16Buffer;
  private readonly cursor: F64Buffer;
  private readonly slot: DecodeSlot;
  private readonly k: number;
  private readonly pendingQ: U16Buffer;
  private readonly pendingO: U16Buffer;
  private readonly pendingSigma: Float32Array;
  private readonly subset: Int32Array;
  private readonly score: Float64Array;
  private readonly w: F32Buffer;
  private readonly g1: F32Buffer;
  private readonly g2: F32Buffer;
  private sorted = false;

  constructor(
    dim: number,
    name: { basis: string; factor: string },
    mode: number,
    alloc: StateAllocator,
    ctx: StoreContext,
  ) {
    this.dim = dim;
    this.ctx = ctx;
    const n2 = dim * dim;
    this.basis = alloc(name.basis, 'basis', 'u16', n2);
    this.sigma = alloc(`${name.factor}_diag`, 'eigenvalues', 'f32', dim);
    this.offdiag = alloc(`${name.factor}_offdiag`, 'factor', 'u16', n2);
    this.cursor = alloc(`${name.factor}_cursor`, 'counter', 'f64', 1);
    this.slot = DecodeSlot.for(ctx, mode, dim);
    this.k = Math.min(ctx.storage.subspaceSize, dim);
    const maxDim = ctx.scratch.maxDim;
    const maxK = Math.min(ctx.storage.subspaceSize, maxDim);
    const arena = ctx.kernels.arena;
    const sh = ctx.scratch.shared('rotated-bf16', () => ({
      q: arena.alloc('u16', maxDim * maxDim),
      o: arena.alloc('u16', maxDim * maxDim),
      sigma: new Float32Array(maxDim),
      subset: new Int32Array(maxDim),
      score: new Float64Array(maxDim),
      w: arena.f32(maxK * maxK),
      g1: arena.f32(maxDim * maxK),
      g2: arena.f32(maxDim * maxK),
    }));
    this.pendingQ = sh.q.slice(0, n2);
    this.pendingO = sh.o.slice(0, n2);
    this.pendingSigma = sh.sigma.subarray(0, dim);
    this.subset = sh.subset.subarray(0, this.k);
    this.score = sh.score.subarray(0, dim);
    this.w = sh.w.slice(0, this.k * this.k);
    this.g1 = sh.g1.slice(0, dim * this.k);
    this.g2 = sh.g2.slice(0, dim * this.k);
    // Q = I (exact in bf16); σ and O start at 0.
    const eye = ctx.scratch.matrix('next', dim);
    const v = eye.view();
    v.fill(0);
    for (let i = 0; i < dim; i++) v[i * dim + i] = 1;
    ctx.writer.nearest(eye, this.basis);
  }

  basisF32(): F32Buffer {
    if (this.slot.owner !== this) {
      this.ctx.writer.decode(this.basis, this.slot.buffer);
      this.slot.owner = this;
    }
    return this.slot.buffer;
  }

  incrementBuffer(): F32Buffer {
    return this.ctx.scratch.matrix('increment', this.dim);
  }

  accumulate(kernels: Kernels, beta: number, weight: number): boolean {
    const inc = this.incrementBuffer();
    if (!kernels.allFinite(inc)) return false;
    const d = this.dim;
    const a = inc.view();
    const sig = this.sigma.view();
    const next = this.pendingSigma;
    for (let i = 0; i < d; i++) next[i] = beta * sig[i] + weight * a[i * d + i];
    if (!isAllFinite(next)) return false;
    const o = this.ctx.scratch.matrix('product', d);
    this.ctx.writer.decode(this.offdiag, o);
    kernels.axpby(weight, inc, beta, o);
    const ov = o.view();
    for (let i = 0; i < d; i++) ov[i * d + i] = 0;
    if (!kernels.allFinite(o)) return false;
    this.ctx.writer.average(o, this.offdiag);
    sig.set(next);
    return true;
  }

  initialise(kernels: Kernels, beta: number, weight: number, basis: 'eigh' | 'identity'): boolean {
    // The state is empty and Q = I: the statistics are in parameter coordinates.
    const ok = this.accumulate(kernels, beta, weight);
    if (!ok || basis === 'identity') return ok;
    const d = this.dim;
    const sc = this.ctx.scratch;
    // L = weight·increment, in place (the increment has been folded in already).
    const l = this.incrementBuffer();
    const lv = l.view();
    for (let i = 0; i < d * d; i++) lv[i] *= weight;
    const q = sc.matrix('next', d);
    if (!descendingEigenvectors(lv, d, q.view())) return false;
    // S = Q̃ᵀ·L·Q̃ with the basis as bf16 will hold it, so that S is exactly the factor in the stored basis.
    this.ctx.writer.nearest(q, this.pendingQ);
    this.ctx.writer.decode(this.pendingQ, q);
    const p = sc.matrix('product', d);
    kernels.gemm(false, false, d, d, d, 1, l, q, 0, p);
    kernels.gemm(true, false, d, d, d, 1, q, p, 0, l);
    if (!kernels.allFinite(l)) return false;
    this.storeRotated(l);
    this.basis.view().set(this.pendingQ.view());
    this.slot.buffer.view().set(q.view());
    this.slot.owner = this;
    this.offdiag.view().set(this.pendingO.view());
    this.sigma.view().set(this.pendingSigma);
    return true;
  }

  proposeRefresh(kernels: Kernels, sortByRayleigh: boolean): boolean {
    const d = this.dim;
    const k = this.k;
    const sc = this.ctx.scratch;
    const perm = sc.perm.subarray(0, d);
    const sig = this.sigma.view();
    for (let j = 0; j < d; j++) perm[j] = j;
    if (sortByRayleigh) perm.sort((x, y) => sig[y] - sig[x] || x - y);
    this.sorted = sortByRayleigh;
    // S (fp32) is decoded into the increment scratch (free at a refresh).
    const s = sc.matrix('increment', d);
    this.ctx.writer.decode(this.offdiag, s);
    const sv = s.view();
    for (let i = 0; i < d; i++) sv[i * d + i] = sig[i];
    const sp = sc.matrix('product', d);
    const next = sc.matrix('next', d);
    const rotated =
      k === d
        ? this.fullRotation(kernels, sv, perm, sp, next)
        : this.subspaceRotation(kernels, sv, perm, sp, next);
    if (!rotated || !kernels.allFinite(next) || !kernels.allFinite(sp)) return false;
    // The basis as bf16 will hold it (moments are rotated into exactly that), and S split into σ and O.
    this.ctx.writer.nearest(next, this.pendingQ);
    this.ctx.writer.decode(this.pendingQ, next);
    this.storeRotated(sp);
    return true;
  }

  perm(): Int32Array {
    return this.ctx.scratch.perm.subarray(0, this.dim);
  }

  /** m ← C·m for the proposal's transition C = Ŵᵀ·Pᵀ: the permutation, then Wᵀ on the positions J. */
  rotateMoment(kernels: Kernels, x: F32Buffer, shape: ModeShape, tmp: F32Buffer, tmp2: F32Buffer): void {
    this.applyTransition(kernels, x, shape, tmp, tmp2, this.w);
  }

  /**
   * v ← (C∘C)·v: the permutation, then (W∘W)ᵀ on the positions J, so that the second moment turns with the
   * first in the k rotated directions (see src/preconditioner/second-moment-rotation.ts). With SOAP's rule
   * (permutation only) a partial refresh left the rotated directions with the second moment of the ones they
   * replaced.
   */
  rotateSecondMoment(
    kernels: Kernels,
    v: F32Buffer,
    shape: ModeShape,
    tmp: F32Buffer,
    tmp2: F32Buffer,
  ): void {
    const k = this.k;
    // g1 (the refresh's gather scratch) is free between a proposal and its commit.
    const squared = this.g1.slice(0, k * k);
    const w = this.w.view();
    const sq = squared.view();
    for (let i = 0; i < k * k; i++) sq[i] = w[i] * w[i];
    this.applyTransition(kernels, v, shape, tmp, tmp2, squared);
  }

  /** x ← Ŵᵀ·Pᵀ·x along the mode, Ŵ = I except M on the positions J (M = W or W∘W). */
  private applyTransition(
    kernels: Kernels,
    x: F32Buffer,
    shape: ModeShape,
    tmp: F32Buffer,
    tmp2: F32Buffer,
    m: F32Buffer,
  ): void {
    const { outer, inner } = shape;
    const d = this.dim;
    const k = this.k;
    const J = this.subset;
    const xv = x.view();
    const tv = tmp.view();
    // tmp ← x with the mode permuted; then Mᵀ acts on the positions J.
    if (this.sorted) modePermute(xv, tv, shape, this.perm());
    else tv.set(xv);
    if (k === d) {
      // J = 0 … d−1: one product over the whole mode.
      modeProduct(kernels, tmp, shape, m, false, x);
      return;
    }
    // The J slices of tmp go through tmp2 → (Mᵀ) → x and back into tmp.
    const len = outer * k * inner;
    const gathered = tmp2.slice(0, len);
    const rotated = x.slice(0, len);
    moveModeSlices(tv, gathered.view(), outer, d, k, inner, J, 'gather');
    modeProduct(kernels, gathered, { outer, dim: k, inner }, m, false, rotated);
    moveModeSlices(rotated.view(), tv, outer, d, k, inner, J, 'scatter');
    xv.set(tv);
  }

  commit(): void {
    this.basis.view().set(this.pendingQ.view());
    this.offdiag.view().set(this.pendingO.view());
    this.sigma.view().set(this.pendingSigma);
    this.cursor.view()[0] += 1;
    this.slot.buffer.view().set(this.ctx.scratch.matrix('next', this.dim).view());
    this.slot.owner = this;
  }

  invalidate(): void {
    this.slot.owner = null;
  }

  /**
   * k = d: W = qr(S_π).Q, `S ← R·W` (= Wᵀ·S_π·W, R from the same QR), `Q ← Q_π·W`, into `sp` and `next`.
   * S_π goes straight into the QR's input: nothing else reads it.
   */
  private fullRotation(
    kernels: Kernels,
    sv: Float32Array,
    perm: Int32Array,
    sp: F32Buffer,
    next: F32Buffer,
  ): boolean {
    const d = this.dim;
    permuteBoth(sv, this.basisF32().view(), perm, d, this.g1.view(), next.view());
    // In float32 on the kernels' GEMM, as the fp32 power step computes qr(L·Q_π).
    if (!qrFloat32(kernels, d, d, this.g1, this.w, { keepR: true })) return false;
    // S ← R·W: its upper triangle, mirrored, since S must stay symmetric.
    upperOfTriangularProduct(kernels, d, this.g1, this.w, this.g2);
    mirrorUpper(this.g2.view(), d, sp.view());
    // Q ← Q_π·W
    kernels.gemm(false, false, d, d, d, 1, next, this.w, 0, this.g2);
    next.view().set(this.g2.view());
    return true;
  }

  /**
   * k < d: choose J, W = qr(S_JJ).Q (k×k), `Q[:, J] ← Q_π[:, J]·W`, `S[J, :] ← Wᵀ·S_π[J, :]`, then
   * `S[:, J] ← S[:, J]·W`, into `sp` and `next`.
   */
  private subspaceRotation(
    kernels: Kernels,
    sv: Float32Array,
    perm: Int32Array,
    sp: F32Buffer,
    next: F32Buffer,
  ): boolean {
    const d = this.dim;
    const k = this.k;
    let spv = sp.view();
    let qp = next.view();
    permuteBoth(sv, this.basisF32().view(), perm, d, spv, qp);
    const J = this.subset;
    selectSubspace(this.ctx.storage.subspaceSelection, spv, d, k, this.cursor.view()[0], this.score, J);
    let g1 = this.g1.view();
    for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) g1[a * k + b] = spv[J[a] * d + J[b]];
    if (!qrFloat32(kernels, k, k, this.g1.slice(0, k * k), this.w)) return false;
    // The QR takes its scratch from the arena, which may have grown: views taken before it are stale.
    spv = sp.view();
    qp = next.view();
    g1 = this.g1.view();
    this.gatherColumns(qp, d, g1);
    kernels.gemm(false, false, d, k, k, 1, this.g1, this.w, 0, this.g2);
    this.scatterColumns(this.g2.view(), d, qp);
    for (let a = 0; a < k; a++) g1.set(spv.subarray(J[a] * d, J[a] * d + d), a * d);
    kernels.gemm(true, false, k, d, k, 1, this.w, this.g1, 0, this.g2);
    const g2 = this.g2.view();
    for (let a = 0; a < k; a++) spv.set(g2.subarray(a * d, a * d + d), J[a] * d);
    this.gatherColumns(spv, d, g1);
    kernels.gemm(false, false, d, k, k, 1, this.g1, this.w, 0, this.g2);
    this.scatterColumns(g2, d, spv);
    return true;
  }

  /** σ ← diag(s) (pending), O ← bf16(offdiag(s)) (pending); s's diagonal is zeroed. */
  private storeRotated(s: F32Buffer): void {
    const d = this.dim;
    const v = s.view();
    for (let i = 0; i < d; i++) {
      this.pendingSigma[i] = v[i * d + i];
      v[i * d + i] = 0;
    }
    this.ctx.writer.nearest(s, this.pendingO);
  }

  private gatherColumns(m: Float32Array, d: number, out: Float32Array): void {
    const J = this.subset;
    const k = this.k;
    for (let i = 0; i < d; i++) for (let a = 0; a < k; a++) out[i * k + a] = m[i * d + J[a]];
  }

  private scatterColumns(src: Float32Array, d: number, m: Float32Array): void {
    const J = this.subset;
    const k = this.k;
    for (let i = 0; i < d; i++) for (let a = 0; a < k; a++) m[i * d + J[a]] = src[i * k + a];
  }
}

/**
 * Between a tensor `full` (outer × d × inner) and the compact `part` (outer × k × inner) holding its slices at
 * the mode positions J: 'gather' copies full → part, 'scatter' part → full.
 */
function moveModeSlices(
  from: Float32Array,
  to: Float32Array,
  outer: number,
  d: number,
  k: number,
  inner: number,
  J: Int32Array,
  direction: 'gather' | 'scatter',
): void {
  for (let o = 0; o < outer; o++) {
    for (let a = 0; a < k; a++) {
      const fullAt = (o * d + J[a]) * inner;
      const partAt = (o * k + a) * inner;
      const src = direction === 'gather' ? fullAt : partAt;
      const dst = direction === 'gather' ? partAt : fullAt;
      // Element by element: for the last mode (inner = 1) a subarray per element would dominate the cost.
      for (let b = 0; b < inner; b++) to[dst + b] = from[src + b];
    }
  }
}

/** `sOut ← P·S·Pᵀ` (S_π: rows and columns in the order `perm`) and `qOut ← Q·Pᵀ` (Q_π: columns reordered). */
function permuteBoth(
  s: Float32Array,
  q: Float32Array,
  perm: Int32Array,
  d: number,
  sOut: Float32Array,
  qOut: Float32Array,
): void {
  for (let i = 0; i < d; i++) {
    const src = perm[i] * d;
    const row = i * d;
    for (let j = 0; j < d; j++) {
      sOut[row + j] = s[src + perm[j]];
      qOut[row + j] = q[row + perm[j]];
    }
  }
}
