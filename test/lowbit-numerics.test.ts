/**
 * ALGORITHMS.md §8, items 3–5, reproduced on the storage codecs (float64 dense math around them).
 * The figures in comments were measured with these seeds (run bench/lowbit-numerics.ts for the full table);
 * the assertions are bounds around the specification's numbers, not the measured values.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eigh } from '../src/linalg/index.ts';
import {
  bf16Factor,
  eigenvectorQuantization,
  emaInStorage,
  illConditioned,
  matmul,
  randomOrthogonal,
  roundTrip4,
  transpose,
  wishartEigen,
} from './helpers/lowbit-experiments.ts';

test('§8.3: 4-bit eigenvectors of a 128×128 Wishart matrix + t Björck steps', () => {
  // Measured (seed 1, N = 4d): t=0 0.155 / 0.154, t=1 0.025 / 0.029, t=2 8.8e-4 / 0.0149, t=4 7.9e-12 / 0.0149
  // (orthogonality ‖VᵀV−I‖_F/√d / relative error of A^{-1/4}); the table: 0.154/0.154, 0.025/0.029,
  // 9e-4/0.015, ≈0/0.015.
  const d = 128;
  const { vt, values } = wishartEigen(d, 4 * d, 1);
  const [t0, t1, t2, t4] = eigenvectorQuantization(vt, values, d, [0, 1, 2, 4]);
  assert.ok(t0.orthogonality > 0.13 && t0.orthogonality < 0.18, `t=0 orthogonality ${t0.orthogonality}`);
  assert.ok(t0.rootError > 0.13 && t0.rootError < 0.18, `t=0 root error ${t0.rootError}`);
  assert.ok(t1.orthogonality > 0.018 && t1.orthogonality < 0.032, `t=1 orthogonality ${t1.orthogonality}`);
  assert.ok(t1.rootError < 0.04, `t=1 root error ${t1.rootError}`);
  assert.ok(t2.orthogonality > 3e-4 && t2.orthogonality < 2e-3, `t=2 orthogonality ${t2.orthogonality}`);
  assert.ok(t2.rootError < 0.02, `t=2 root error ${t2.rootError}`);
  assert.ok(t4.orthogonality < 1e-9, `t=4 orthogonality ${t4.orthogonality}`);
  // Björck restores orthogonality, not the lost information: the root error settles at a floor above 0.
  assert.ok(t4.rootError > 0.008 && t4.rootError < 0.02, `t=4 root error ${t4.rootError}`);
});

test('§5.7: a dequantized 4-bit random orthogonal matrix has singular values inside Björck’s (0, √3)', () => {
  const n = 128;
  const w = roundTrip4(randomOrthogonal(n, 7), n);
  const sv2 = eigh(matmul(transpose(w, n), w, n), n).values;
  const lo = Math.sqrt(sv2[0]);
  const hi = Math.sqrt(sv2[n - 1]);
  // Measured 0.851 … 1.151 (seed 7); the specification reports [0.84, 1.15] for d = 128…1024.
  assert.ok(lo > 0.75 && hi < 1.25, `singular values ${lo} … ${hi}`);
});

test('§8.4: ill-conditioned 256×256 (λ 1…1e-6): eigenvector quantization + Björck ≤ 0.1, naive A > 1', () => {
  // Measured (seed 2): eigenvector storage 0.154 (t=0), 0.077 (t=1), 0.074 (t=4); naive 1.12.
  // The specification: 0.153, 0.074, 0.071; naive 1.23.
  const r = illConditioned(256, 2, [0, 1, 4]);
  const [t0, t1, t4] = r.eigenvector;
  assert.ok(t0.rootError > 0.12 && t0.rootError < 0.2, `t=0 ${t0.rootError}`);
  assert.ok(t1.rootError <= 0.1, `t=1 ${t1.rootError}`);
  assert.ok(t4.rootError <= 0.1, `t=4 ${t4.rootError}`);
  assert.ok(r.naive > 1, `naive ${r.naive}`);
  assert.ok(r.naive > 10 * t4.rootError);
});

test('§8.5: bf16 dense factor loses its small eigenvalues; the rotated form keeps them', () => {
  // 256×256, λ geometric 1…1e-5. Measured (seed 3), the 5 smallest eigenvalues:
  // dense bf16 storage: relative errors 24…37 (the specification: 22–33);
  // rotated S = Q̃ᵀLQ̃ (fp32 diagonal, bf16 off-diagonal, bf16 Q̃): eigenvalues of S̃ within 3e-4,
  // the diagonal σ (the eigenvalue estimates themselves) within 3.2%; bf16 Q̃: max|Q̃ᵀQ̃−I| = 1.0e-3 (spec 1.2e-3).
  const r = bf16Factor(256, 3, 5);
  for (const e of r.denseErrors) assert.ok(e > 5, `dense bf16 relative error ${e}`);
  for (const e of r.rotatedErrors) assert.ok(e < 0.01, `rotated eigenvalue relative error ${e}`);
  for (const e of r.rotatedDiagErrors) assert.ok(e < 0.06, `rotated σ relative error ${e}`);
  assert.ok(r.rotatedDiagWorst < 0.06, `worst σ relative error ${r.rotatedDiagWorst}`);
  assert.ok(r.bf16Orthogonality > 2e-4 && r.bf16Orthogonality < 4e-3, `bf16 Q ${r.bf16Orthogonality}`);
});

test('§8.5 / P6: an EMA with β = 0.999 stored in bf16 is stuck at 1 while fp32 reaches 2 − 0.999^1000', () => {
  // Measured: fp32 1.6323, bf16 1 (the 0.001 increment is below half a bf16 ulp at 1, 2^-8).
  const { fp32, bf16 } = emaInStorage(0.999, 2, 1000);
  assert.ok(Math.abs(fp32 - (2 - 0.999 ** 1000)) < 1e-4, `fp32 ${fp32}`);
  assert.equal(bf16, 1);
  // With β = 0.9 the increment is large enough and bf16 storage does move.
  assert.ok(emaInStorage(0.9, 2, 100).bf16 > 1.9);
});
