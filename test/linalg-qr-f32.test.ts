import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createKernels, type EngineName, type Kernels } from '../src/kernels/index.ts';
import { qr } from '../src/linalg/index.ts';
import { factorPanelTs, qrFloat32 } from '../src/linalg/qr-f32.ts';
import { powerStepProposal } from '../src/storage/power-step.ts';
import {
  fromSpectrum,
  gaussian,
  linalgEngines,
  matmul,
  orthogonalityError,
  randomOrthogonal,
  rng,
} from './helpers/linalg.ts';

// The float32 QR against the float64 `qr` as the oracle, on every engine. Error bounds use u = 2⁻²⁴ (float32's
// unit roundoff) and the standard analysis of Householder QR: the computed Q is orthonormal to O(√n·u) per
// entry in practice (O(n·u) in the worst case), and it is the exact Q of A + ΔA with ‖Δa_j‖ ≤ γ·‖a_j‖ column by
// column. To first order a column-wise ΔA moves column j of Q by at most γ·s_j (see `sensitivity`), so columns
// with a small s_j are well determined and must agree with the float64 Q; the others are only checked through
// orthogonality and the residual. Observed on these cases: ‖QᵀQ − I‖_F ≈ 0.2–0.7·√(rows·cols)·u and
// column distances ≤ 0.25·√rows·u·s_j; the bounds below leave a factor of 4 or more.

const U = 2 ** -24;
const ENGINES = linalgEngines();

interface Case {
  name: string;
  rows: number;
  cols: number;
  /** Row-major rows×cols, already rounded to float32 (both QRs see the same matrix). */
  a: Float32Array;
}

/** Gaussian entries. */
function dense(rows: number, cols: number, seed: number): Case {
  return {
    name: `dense ${rows}×${cols}`,
    rows,
    cols,
    a: Float32Array.from(gaussian(rng(seed), rows * cols)),
  };
}

/** Eigenvalues log-spaced from 1 down to 1e-6. */
function spread(n: number): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => 10 ** (n === 1 ? 0 : (-6 * i) / (n - 1)));
}

/** F·Q with F = U·Diag(1 … 1e-6)·Uᵀ and Q a random orthogonal matrix (no relation to F's eigenvectors). */
function factorTimesRandom(n: number, seed: number): Case {
  const rand = rng(seed);
  const f = fromSpectrum(randomOrthogonal(n, rand), spread(n), n);
  const a = Float32Array.from(matmul(f, randomOrthogonal(n, rand), n, n, n));
  return { name: `F·Q random ${n}`, rows: n, cols: n, a };
}

/**
 * The refresh's own input: F·Q_old with Q_old a slightly perturbed (then re-orthogonalised) copy of F's
 * eigenvectors in descending order, as after a few steps of EMA drift.
 */
function warmStart(n: number, seed: number): Case {
  const rand = rng(seed);
  const v = randomOrthogonal(n, rand);
  const f = fromSpectrum(v, spread(n), n);
  const noise = gaussian(rand, n * n);
  const drifted = new Float64Array(n * n);
  for (let i = 0; i < n * n; i++) drifted[i] = v[i] + 1e-3 * noise[i];
  const qOld = qr(drifted, n, n);
  return { name: `warm start ${n}`, rows: n, cols: n, a: Float32Array.from(matmul(f, qOld, n, n, n)) };
}

/** Runs qrFloat32 in a fresh context; returns Q (null on failure) and checks the arena was released. */
function runF32(
  engine: EngineName,
  c: Case,
  options: Parameters<typeof qrFloat32>[5] = {},
  kernels: Kernels = createKernels({ engine }),
): Float32Array | null {
  const size = c.rows * c.cols;
  const a = kernels.arena.f32(size);
  const q = kernels.arena.f32(size);
  a.view().set(c.a);
  const used = kernels.arena.used;
  const ok = qrFloat32(kernels, c.rows, c.cols, a, q, options);
  assert.equal(kernels.arena.used, used, `${c.name}: scratch not released`);
  return ok ? q.view().slice() : null;
}

/** Column norms of A and, from the float64 R, s_j = ‖(c_0 … c_j)‖ with c_i = Σ_l ‖a_l‖·|R⁻¹_li|. */
function sensitivity(c: Case, r: Float64Array): Float64Array {
  const n = c.cols;
  const norms = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    let s = 0;
    for (let i = 0; i < c.rows; i++) s += c.a[i * n + j] ** 2;
    norms[j] = Math.sqrt(s);
  }
  const out = new Float64Array(n);
  let acc = 0;
  const x = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    // x = R⁻¹·e_j by back substitution (entries below j are zero).
    x.fill(0);
    for (let i = j; i >= 0; i--) {
      let s = i === j ? 1 : 0;
      for (let l = i + 1; l <= j; l++) s -= r[i * n + l] * x[l];
      x[i] = s / r[i * n + i];
    }
    let cj = 0;
    for (let l = 0; l <= j; l++) cj += norms[l] * Math.abs(x[l]);
    acc += cj * cj;
    out[j] = Number.isFinite(acc) ? Math.sqrt(acc) : Number.POSITIVE_INFINITY;
  }
  return out;
}

/** ‖column j of X − column j of Y‖. */
function columnDistance(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  rows: number,
  cols: number,
  j: number,
): number {
  let s = 0;
  for (let i = 0; i < rows; i++) s += (x[i * cols + j] - y[i * cols + j]) ** 2;
  return Math.sqrt(s);
}

/**
 * The checks every case goes through; returns how many columns were well determined (and so compared with
 * the float64 Q).
 */
function checkAgainstOracle(c: Case, q: Float32Array, what: string): number {
  const { rows, cols } = c;
  const r64 = new Float64Array(cols * cols);
  const q64 = qr(c.a, rows, cols, 'positive-diagonal', { r: r64 });
  const scale = Math.sqrt(rows);
  // Orthonormal columns at float32 level.
  const orth = orthogonalityError(q, rows, cols);
  assert.ok(orth <= 3 * scale * U * Math.sqrt(cols), `${what}: ‖QᵀQ − I‖_F = ${orth}`);
  // R̂ = triu(QᵀA): the residual ‖A − Q·R̂‖_F/‖A‖_F and the strictly lower part of QᵀA at float32 level,
  // and R̂'s diagonal ≥ 0 wherever the float64 R's diagonal is clearly nonzero.
  const qta = new Float64Array(cols * cols);
  for (let i = 0; i < cols; i++) {
    for (let j = 0; j < cols; j++) {
      let s = 0;
      for (let l = 0; l < rows; l++) s += q[l * cols + i] * c.a[l * cols + j];
      qta[i * cols + j] = s;
    }
  }
  let normA = 0;
  for (const x of c.a) normA += x * x;
  normA = Math.sqrt(normA);
  let res = 0;
  let lower = 0;
  for (let l = 0; l < rows; l++) {
    for (let j = 0; j < cols; j++) {
      let s = c.a[l * cols + j];
      for (let i = 0; i <= j; i++) s -= q[l * cols + i] * qta[i * cols + j];
      res += s * s;
    }
  }
  for (let i = 0; i < cols; i++) for (let j = 0; j < i; j++) lower += qta[i * cols + j] ** 2;
  const bound = 3 * scale * U * Math.sqrt(cols) * normA;
  assert.ok(Math.sqrt(res) <= bound, `${what}: ‖A − Q·R̂‖_F = ${Math.sqrt(res)}, bound ${bound}`);
  assert.ok(Math.sqrt(lower) <= bound, `${what}: ‖tril(QᵀA)‖_F = ${Math.sqrt(lower)}, bound ${bound}`);
  const s = sensitivity(c, r64);
  let determined = 0;
  for (let j = 0; j < cols; j++) {
    const rjj = r64[j * cols + j];
    if (Math.abs(rjj) > 1e-3 * normA * U * scale) {
      assert.ok(
        qta[j * cols + j] >= 0,
        `${what}: R̂_${j}${j} = ${qta[j * cols + j]} < 0 (float64 R_jj = ${rjj})`,
      );
    }
    // Column j of Q is within γ·s_j of the float64 one, γ = 2√rows·u.
    const tol = 2 * scale * U * s[j];
    if (!(tol < 0.05)) continue;
    determined++;
    const dist = columnDistance(q, q64, rows, cols, j);
    assert.ok(dist <= tol, `${what}: column ${j} is ${dist} from the float64 Q (well determined: ${tol})`);
  }
  return determined;
}

describe('qrFloat32 against the float64 QR', () => {
  for (const engine of ENGINES) {
    test(`${engine}: random dense matrices, sizes 1, 2, 3, 33, 100, 130 and non-square`, () => {
      const cases = [1, 2, 3, 33, 100, 130].map((n) => dense(n, n, 10 + n));
      cases.push(dense(40, 17, 7), dense(130, 33, 8), dense(100, 1, 9), dense(5, 3, 11));
      for (const c of cases) {
        const q = runF32(engine, c);
        assert.ok(q !== null, `${c.name}: failed`);
        const determined = checkAgainstOracle(c, q, `${engine} ${c.name}`);
        // Gaussian matrices are well conditioned: every column is determined.
        assert.equal(determined, c.cols, `${c.name}: only ${determined} well-determined columns`);
      }
    });

    test(`${engine}: F·Q with F's eigenvalues spread over 1…1e-6`, () => {
      for (const n of [33, 100, 130]) {
        const warm = warmStart(n, 20 + n);
        const q = runF32(engine, warm);
        assert.ok(q !== null);
        // The refresh's own input (close to triangular after the rotation): nearly every column is determined,
        // the last ones (eigenvalues near 1e-6 behind a drifted basis) up to about 1e-4.
        const warmDetermined = checkAgainstOracle(warm, q, `${engine} ${warm.name}`);
        assert.ok(warmDetermined >= 0.9 * n, `${warm.name}: only ${warmDetermined} well-determined columns`);
        const rand = factorTimesRandom(n, 30 + n);
        const qr = runF32(engine, rand);
        assert.ok(qr !== null);
        // With a random Q the later columns are ill determined (condition 1e6); the leading ones are not.
        const determined = checkAgainstOracle(rand, qr, `${engine} ${rand.name}`);
        assert.ok(determined >= 4, `${rand.name}: only ${determined} well-determined columns`);
      }
    });

    test(`${engine}: block boundaries (small blocks, and sizes around the default 32)`, () => {
      for (const [n, blockSize] of [
        [7, 1],
        [9, 4],
        [17, 8],
        [16, 8],
        [23, 3],
        [31, 32],
        [32, 32],
        [64, 32],
        [65, 32],
      ] as const) {
        const c = dense(n, n, 40 + n + blockSize);
        const q = runF32(engine, c, { blockSize });
        assert.ok(q !== null);
        assert.equal(checkAgainstOracle(c, q, `${engine} ${c.name} block ${blockSize}`), n);
      }
      const tall = dense(50, 21, 3);
      const q = runF32(engine, tall, { blockSize: 8 });
      assert.ok(q !== null);
      assert.equal(checkAgainstOracle(tall, q, `${engine} ${tall.name} block 8`), 21);
    });
  }
});

describe('qrFloat32 engines and conventions', () => {
  test('the WASM panel kernel qrPanelF32 matches its TypeScript twin', () => {
    for (const engine of ENGINES.filter((e) => e !== 'typescript')) {
      const kernels = createKernels({ engine });
      const exports = kernels.wasm?.exports as unknown as {
        qrPanelF32(
          a: number,
          lda: number,
          len: number,
          kb: number,
          panel: number,
          tau: number,
          rdiag: number,
        ): void;
      };
      for (const [len, kb, lda] of [
        [37, 5, 9],
        [8, 8, 8],
        [1, 1, 3],
        [64, 32, 70],
        [40, 7, 7],
      ]) {
        const values = Float32Array.from(gaussian(rng(len * 100 + kb), len * lda));
        // Planted zero subcolumns below the diagonal of columns 0 and 1: τ = 0 for both (H₀ = I leaves column 1).
        for (let r = 1; r < len; r++) values[r * lda] = 0;
        for (let r = 2; r < len && kb > 1; r++) values[r * lda + 1] = 0;
        const a = kernels.arena.f32(len * lda);
        a.view().set(values);
        const panel = kernels.arena.f64(kb * len);
        const tau = kernels.arena.f64(kb);
        const rdiag = kernels.arena.f64(kb);
        exports.qrPanelF32(a.byteOffset, lda, len, kb, panel.byteOffset, tau.byteOffset, rdiag.byteOffset);
        const refPanel = new Float64Array(kb * len);
        const refTau = new Float64Array(kb);
        const refDiag = new Float64Array(kb);
        factorPanelTs(values, 0, lda, len, kb, refPanel, refTau, refDiag);
        const what = `${engine} ${len}×${kb} (lda ${lda})`;
        assert.deepEqual(a.view(), values, `${what}: A modified`);
        // Float64 sums in another order: agreement to ~1e-15 before the float32 rounding of v, so v itself may
        // differ by one float32 ulp where a value lies near a rounding boundary.
        const close = (x: number, y: number) => Math.abs(x - y) <= 2 ** -22 * Math.abs(y) + 1e-13;
        const compare = (name: string, got: Float64Array, ref: Float64Array) => {
          for (let i = 0; i < ref.length; i++) {
            assert.ok(close(got[i], ref[i]), `${what}: ${name}[${i}] ${got[i]} vs ${ref[i]}`);
          }
        };
        compare('panel', panel.view(), refPanel);
        compare('tau', tau.view(), refTau);
        compare('rdiag', rdiag.view(), refDiag);
        if (kb > 1 && len > 2)
          assert.deepEqual([...tau.view().subarray(0, 2)], [0, 0], `${what}: τ of zero subcolumns`);
        if (kb > 2 && len > 3) assert.ok(tau.view()[2] > 1, `${what}: τ ∈ (1, 2] for a live column`);
      }
    }
  });

  test('the TypeScript and WASM paths agree to float32 rounding on every column that is determined', () => {
    for (const c of [dense(100, 100, 5), warmStart(130, 6), dense(70, 40, 7)]) {
      const r64 = new Float64Array(c.cols * c.cols);
      qr(c.a, c.rows, c.cols, 'positive-diagonal', { r: r64 });
      const s = sensitivity(c, r64);
      const ref = runF32('typescript', c);
      assert.ok(ref !== null);
      for (const engine of ENGINES.filter((e) => e !== 'typescript')) {
        const q = runF32(engine, c);
        assert.ok(q !== null);
        for (let j = 0; j < c.cols; j++) {
          const dist = columnDistance(q, ref, c.rows, c.cols, j);
          assert.ok(
            dist <= 8 * Math.sqrt(c.rows) * U * s[j],
            `${engine} ${c.name}: column ${j} differs by ${dist}`,
          );
        }
      }
    }
  });

  for (const engine of ENGINES) {
    test(`${engine}: signs on triangular input (zero subcolumns: H = I, R_kk = a_kk)`, () => {
      // Upper triangular with diagonal signs − + − +: 'lapack' leaves Q = I, 'positive-diagonal' flips.
      const n = 4;
      const a = new Float32Array([-2, 1, 3, 1, 0, 5, 1, 2, 0, 0, -1, 4, 0, 0, 0, 3]);
      const c: Case = { name: 'triangular', rows: n, cols: n, a };
      const lapack = runF32(engine, c, { sign: 'lapack' });
      const positive = runF32(engine, c);
      const flips = [-1, 1, -1, 1];
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          // === so that a flipped zero (−0) counts as 0.
          assert.ok(lapack?.[i * n + j] === (i === j ? 1 : 0), `lapack (${i}, ${j})`);
          assert.ok(positive?.[i * n + j] === (i === j ? flips[j] : 0), `positive-diagonal (${i}, ${j})`);
        }
      }
    });

    test(`${engine}: 'lapack' signs match the float64 QR's`, () => {
      for (const c of [dense(33, 33, 50), dense(45, 20, 51)]) {
        const q = runF32(engine, c, { sign: 'lapack', blockSize: 8 });
        const q64 = qr(c.a, c.rows, c.cols, 'lapack');
        assert.ok(q !== null);
        for (let j = 0; j < c.cols; j++) {
          assert.ok(columnDistance(q, q64, c.rows, c.cols, j) < 1e-4, `${c.name}: column ${j}`);
        }
      }
    });

    test(`${engine}: non-finite input fails; scale by powers of two changes nothing`, () => {
      const c = dense(40, 40, 60);
      for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
        const a = c.a.slice();
        a[17 * 40 + 3] = bad;
        assert.equal(runF32(engine, { ...c, a }), null, `input with ${bad}`);
      }
      // Entries scaled into [−1, 1] (exactly, by a power of two), then by 2¹²⁷: with columns close to each other
      // (all near the ones vector), vᵀa_j ≈ ‖a_j‖ ≈ 6·2¹²⁷ overflows float32 unless the matrix is rescaled first.
      // By 2⁻¹⁰⁰: still normal numbers, rescaled exactly back.
      const noise = gaussian(rng(61), 40 * 40);
      for (const m of [c.a, Float32Array.from(noise, (x) => 1 + 0.1 * x)]) {
        let big = 0;
        for (const x of m) big = Math.max(big, Math.abs(x));
        const unit = m.map((x) => x * 2 ** -Math.ceil(Math.log2(big)));
        const base = runF32(engine, { ...c, a: unit });
        assert.ok(base !== null);
        for (const e of [127, -100]) {
          const a = unit.map((x) => x * 2 ** e);
          assert.ok(a.every(Number.isFinite));
          const q = runF32(engine, { ...c, a });
          assert.ok(q !== null, `scaled by 2^${e}`);
          assert.deepEqual(q, base, `scaled by 2^${e}`);
        }
      }
      // The zero matrix: every reflector is the identity.
      const zero = runF32(engine, { name: 'zero', rows: 3, cols: 3, a: new Float32Array(9) });
      assert.deepEqual(zero, new Float32Array([1, 0, 0, 0, 1, 0, 0, 0, 1]));
    });

    test(`${engine}: powerStepProposal = qr(F·Q[:, perm]) in float64, with the Rayleigh sort`, () => {
      const n = 48;
      const kernels = createKernels({ engine });
      const rand = rng(70);
      const f = fromSpectrum(randomOrthogonal(n, rand), spread(n), n);
      const basis = randomOrthogonal(n, rand);
      const buf = (values: ArrayLike<number>) => {
        const b = kernels.arena.f32(n * n);
        b.view().set(values);
        return b;
      };
      const factor = buf(f);
      const q = buf(basis);
      const prod = kernels.arena.f32(n * n);
      const next = kernels.arena.f32(n * n);
      const estimates = new Float64Array(n);
      const perm = new Int32Array(n);
      assert.ok(powerStepProposal(kernels, n, factor, q, prod, next, estimates, perm, true));
      // Oracle: the same float32 product (a product of float32 inputs rounded once per entry would differ in
      // the last bit from the kernels'; use the kernels' own product, permuted, as the QR input).
      const fq = new Float32Array(n * n);
      kernels.gemm(false, false, n, n, n, 1, factor, q, 0, prod);
      const p = prod.view();
      for (let j = 1; j < n; j++) assert.ok(estimates[perm[j - 1]] >= estimates[perm[j]], 'descending order');
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) fq[i * n + j] = p[i * n + perm[j]];
      const c: Case = { name: 'power step', rows: n, cols: n, a: fq };
      checkAgainstOracle(c, next.view(), `${engine} power step`);
      // Failure on a non-finite factor.
      factor.view()[5] = Number.NaN;
      assert.equal(powerStepProposal(kernels, n, factor, q, prod, next, estimates, perm, false), false);
    });
  }
});
