import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createKernels, type EngineName, type Kernels } from '../src/kernels/index.ts';
import { qr } from '../src/linalg/index.ts';
import { factorPanelTs, type PanelExports, qrFloat32 } from '../src/linalg/qr-f32.ts';
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

/** Runs qrFloat32 with `keepR` in a fresh context; returns Q and R (cols×cols), or null on failure. */
function runKeepR(
  engine: EngineName,
  c: Case,
  options: Parameters<typeof qrFloat32>[5] = {},
): { q: Float32Array; r: Float32Array } | null {
  const kernels = createKernels({ engine });
  const size = c.rows * c.cols;
  const a = kernels.arena.f32(size);
  const q = kernels.arena.f32(size);
  a.view().set(c.a);
  const used = kernels.arena.used;
  const ok = qrFloat32(kernels, c.rows, c.cols, a, q, { ...options, keepR: true });
  assert.equal(kernels.arena.used, used, `${c.name}: scratch not released`);
  return ok ? { q: q.view().slice(), r: a.view().slice(0, c.cols * c.cols) } : null;
}

/**
 * The kept R against the float64 QR: upper triangular with zeros below, diag ≥ 0 under 'positive-diagonal',
 * ‖A − Q·R‖_F at float32 level relative to ‖A‖_F, and R within float32 rounding of the float64 R (the cases are
 * well conditioned, so R is well determined: ‖ΔR‖_F ≲ √rows·u·‖A‖_F for a backward-stable QR).
 */
function checkR(
  c: Case,
  q: Float32Array,
  r: Float32Array,
  sign: 'positive-diagonal' | 'lapack',
  what: string,
) {
  const { rows, cols } = c;
  const r64 = new Float64Array(cols * cols);
  qr(c.a, rows, cols, sign, { r: r64 });
  let normA = 0;
  for (const x of c.a) normA += x * x;
  normA = Math.sqrt(normA);
  // Observed up to 0.5·√rows·u·‖A‖_F for both (n ≤ 100).
  const bound = 4 * Math.sqrt(rows) * U * normA;
  for (let i = 0; i < cols; i++) {
    for (let j = 0; j < i; j++) assert.ok(r[i * cols + j] === 0, `${what}: R_${i}${j} = ${r[i * cols + j]}`);
    if (sign === 'positive-diagonal') assert.ok(r[i * cols + i] >= 0, `${what}: R_${i}${i} < 0`);
  }
  let res = 0;
  for (let l = 0; l < rows; l++) {
    for (let j = 0; j < cols; j++) {
      let x = c.a[l * cols + j];
      for (let i = 0; i <= j; i++) x -= q[l * cols + i] * r[i * cols + j];
      res += x * x;
    }
  }
  assert.ok(Math.sqrt(res) <= bound, `${what}: ‖A − Q·R‖_F = ${Math.sqrt(res)}, bound ${bound}`);
  let diff = 0;
  for (let i = 0; i < cols * cols; i++) diff += (r[i] - r64[i]) ** 2;
  assert.ok(Math.sqrt(diff) <= bound, `${what}: ‖R − R₆₄‖_F = ${Math.sqrt(diff)}, bound ${bound}`);
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

describe('qrFloat32 with keepR', () => {
  for (const engine of ENGINES) {
    test(`${engine}: R against the float64 QR, Q unchanged by keepR (shapes, block boundaries, signs)`, () => {
      const cases: [Case, number | undefined][] = [
        [dense(1, 1, 80), undefined],
        [dense(3, 3, 81), undefined],
        [dense(33, 33, 82), undefined],
        [dense(100, 100, 83), undefined],
        [dense(70, 40, 84), undefined],
        [dense(130, 33, 85), undefined],
        [dense(9, 9, 86), 4],
        [dense(17, 17, 87), 8],
        [dense(23, 23, 88), 3],
        [dense(7, 7, 89), 1],
        [dense(50, 21, 90), 8],
        [dense(65, 65, 91), undefined],
      ];
      for (const [c, blockSize] of cases) {
        for (const sign of ['positive-diagonal', 'lapack'] as const) {
          const what = `${engine} ${c.name} block ${blockSize ?? 32} ${sign}`;
          const out = runKeepR(engine, c, { sign, blockSize });
          assert.ok(out !== null, `${what}: failed`);
          // The panel's own rows are final before the trailing update writes them: Q does not change.
          assert.deepEqual(
            out.q,
            runF32(engine, c, { sign, blockSize }),
            `${what}: Q differs from keepR off`,
          );
          checkR(c, out.q, out.r, sign, what);
        }
      }
    });

    test(`${engine}: R on triangular input, under scaling, and non-finite R`, () => {
      // Upper triangular: 'lapack' keeps R = A, 'positive-diagonal' negates the rows with a negative diagonal.
      const a = new Float32Array([-2, 1, 3, 1, 0, 5, 1, 2, 0, 0, -1, 4, 0, 0, 0, 3]);
      const tri: Case = { name: 'triangular', rows: 4, cols: 4, a };
      assert.deepEqual(runKeepR(engine, tri, { sign: 'lapack' })?.r, a);
      const flipped = new Float32Array([2, -1, -3, -1, 0, 5, 1, 2, 0, 0, 1, -4, 0, 0, 0, 3]);
      assert.deepEqual(runKeepR(engine, tri)?.r, flipped);
      // A rescaled inside (|log₂ RMS| > 40) gives R scaled back exactly: R(2^e·A) = 2^e·R(A).
      const c = dense(40, 40, 92);
      const base = runKeepR(engine, c);
      assert.ok(base !== null);
      for (const e of [100, -90]) {
        const out = runKeepR(engine, { ...c, a: c.a.map((x) => x * 2 ** e) });
        assert.ok(out !== null, `scaled by 2^${e}`);
        assert.deepEqual(out.q, base.q, `Q scaled by 2^${e}`);
        assert.deepEqual(
          out.r,
          base.r.map((x) => x * 2 ** e),
          `R scaled by 2^${e}`,
        );
      }
      // Entries near float32's largest: Q exists, but R's diagonal (column norms) overflows.
      const big = c.a.map((x) => x * 2 ** 126);
      assert.ok(big.every(Number.isFinite));
      assert.ok(runF32(engine, { ...c, a: big }) !== null);
      assert.equal(runKeepR(engine, { ...c, a: big }), null);
    });
  }

  test('the TypeScript and WASM paths give R within float32 rounding of each other', () => {
    const c = dense(70, 40, 93);
    const ref = runKeepR('typescript', c, { blockSize: 8 });
    assert.ok(ref !== null);
    let norm = 0;
    for (const x of ref.r) norm += x * x;
    for (const engine of ENGINES.filter((e) => e !== 'typescript')) {
      const out = runKeepR(engine, c, { blockSize: 8 });
      assert.ok(out !== null);
      let diff = 0;
      for (let i = 0; i < ref.r.length; i++) diff += (out.r[i] - ref.r[i]) ** 2;
      assert.ok(
        Math.sqrt(diff) <= 4 * Math.sqrt(c.rows) * U * Math.sqrt(norm),
        `${engine}: ${Math.sqrt(diff)}`,
      );
    }
  });
});

describe('qrFloat32 engines and conventions', () => {
  test('the WASM panel kernel qrPanelF32 matches its TypeScript twin', () => {
    for (const engine of ENGINES.filter((e) => e !== 'typescript')) {
      const kernels = createKernels({ engine });
      const exports = kernels.wasm?.exports as unknown as PanelExports;
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
        exports.qrPanelF32(a.byteOffset, lda, len, kb, panel.byteOffset, tau.byteOffset, rdiag.byteOffset, 0);
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
        // keepR: the same panel, τ and R_pp bit for bit; R[0..p, p] written back to A as float32 (the diagonal
        // exactly R_pp rounded, the rest as close as the two sums allow), every other entry of A untouched.
        const keptA = kernels.arena.f32(len * lda);
        keptA.view().set(values);
        const keptPanel = kernels.arena.f64(kb * len);
        const keptTau = kernels.arena.f64(kb);
        const keptDiag = kernels.arena.f64(kb);
        exports.qrPanelF32(
          keptA.byteOffset,
          lda,
          len,
          kb,
          keptPanel.byteOffset,
          keptTau.byteOffset,
          keptDiag.byteOffset,
          1,
        );
        assert.deepEqual(keptPanel.view(), panel.view(), `${what}: keepR changed the panel`);
        assert.deepEqual(keptTau.view(), tau.view(), `${what}: keepR changed τ`);
        assert.deepEqual(keptDiag.view(), rdiag.view(), `${what}: keepR changed R_pp`);
        const refA = values.slice();
        factorPanelTs(refA, 0, lda, len, kb, refPanel.fill(0), refTau, refDiag, true);
        compare('panel (keepR)', panel.view(), refPanel);
        const got = keptA.view();
        for (let r = 0; r < len; r++) {
          for (let p = 0; p < lda; p++) {
            const i = r * lda + p;
            if (p >= kb || r > p) {
              assert.equal(got[i], values[i], `${what}: A[${r}, ${p}] modified`);
              assert.equal(refA[i], values[i], `${what}: twin modified A[${r}, ${p}]`);
            } else if (r === p) {
              assert.equal(got[i], Math.fround(rdiag.view()[p]), `${what}: R_${p}${p}`);
              assert.equal(refA[i], Math.fround(refDiag[p]), `${what}: twin R_${p}${p}`);
            } else {
              // One float32 ulp where the float64 values straddle a rounding boundary.
              const ulp = 2 ** -23 * Math.abs(refA[i]) + 1e-13;
              assert.ok(Math.abs(got[i] - refA[i]) <= ulp, `${what}: R_${r}${p} ${got[i]} vs ${refA[i]}`);
            }
          }
        }
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
