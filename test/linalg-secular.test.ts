import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { solveRankOneUpdate } from '../src/linalg/secular.ts';
import { rng } from './helpers/linalg.ts';

/** Checks Diag(d) + ρ·z·zᵀ against its computed eigenpairs: residual, orthogonality, interlacing. */
function check(label: string, d: Float64Array, z: Float64Array, rho: number): void {
  const k = d.length;
  const lambda = new Float64Array(k);
  const u = new Float64Array(k * k);
  solveRankOneUpdate(k, d, z, rho, lambda, u);
  let dmax = 0;
  for (const x of d) dmax = Math.max(dmax, Math.abs(x));
  const scale = dmax + rho;
  for (let i = 0; i < k; i++) {
    let zu = 0;
    for (let j = 0; j < k; j++) zu += z[j] * u[i * k + j];
    for (let j = 0; j < k; j++) {
      const r = d[j] * u[i * k + j] + rho * z[j] * zu - lambda[i] * u[i * k + j];
      assert.ok(Math.abs(r) <= 1e-14 * scale, `${label}: residual of pair ${i} at ${j}: ${r}`);
    }
    for (let m = 0; m < i; m++) {
      let s = 0;
      for (let j = 0; j < k; j++) s += u[i * k + j] * u[m * k + j];
      assert.ok(Math.abs(s) < 1e-13, `${label}: u${i}·u${m} = ${s}`);
    }
    // λ_i ∈ [d_i, d_{i+1}] (ties only where λ − d is below d's rounding).
    assert.ok(lambda[i] >= d[i], `${label}: λ[${i}] < d[${i}]`);
    if (i + 1 < k) assert.ok(lambda[i] <= d[i + 1], `${label}: λ[${i}] > d[${i + 1}]`);
  }
  let zz = 0;
  for (const x of z) zz += x * x;
  assert.ok(lambda[k - 1] <= d[k - 1] + rho * zz * (1 + 1e-14));
  // The trace is preserved: Σλ = Σd + ρ‖z‖².
  let sl = 0;
  let sd = 0;
  for (let i = 0; i < k; i++) {
    sl += lambda[i];
    sd += d[i];
  }
  assert.ok(Math.abs(sl - sd - rho * zz) <= 1e-12 * k * scale, `${label}: trace`);
}

function unit(z: Float64Array): Float64Array {
  let n = 0;
  for (const x of z) n += x * x;
  return z.map((x) => x / Math.sqrt(n));
}

describe('secular equation (rank-one update of a diagonal)', () => {
  const rand = rng(77);
  const k = 200;
  const even = Float64Array.from({ length: k }, (_, i) => i);
  test('well separated poles, ρ from 1e-3 to 1e3', () => {
    const z = unit(Float64Array.from({ length: k }, () => rand() - 0.5));
    for (const rho of [1e-3, 1, 1e3]) check(`ρ=${rho}`, even, z, rho);
  });
  test('z entries spanning 15 orders of magnitude (roots hugging their poles)', () => {
    check('tiny z', even, unit(Float64Array.from({ length: k }, () => 10 ** (-15 * rand()))), 1);
  });
  test('pairs of poles 1e-9 apart, graded poles, clustered poles with large ρ', () => {
    const pairs = Float64Array.from({ length: k }, (_, i) => i + (i % 2) * 1e-9);
    check('pairs', pairs, unit(Float64Array.from({ length: k }, () => rand() + 0.1)), 1);
    const graded = Float64Array.from({ length: k }, (_, i) => Math.exp(i / 10));
    check('graded', graded, unit(Float64Array.from({ length: k }, () => rand() + 0.01)), 10);
    const cluster = Float64Array.from({ length: k }, (_, i) => i * 1e-6);
    check('cluster', cluster, unit(new Float64Array(k).fill(1)), 100);
  });
  test('sizes 1 and 2 (closed forms)', () => {
    const lambda = new Float64Array(2);
    const u = new Float64Array(4);
    solveRankOneUpdate(1, Float64Array.of(3), Float64Array.of(0.5), 2, lambda, u);
    assert.equal(lambda[0], 3.5);
    // Diag(0, 1) + 1·(1,1)(1,1)ᵀ/2 = [[0.5, 0.5], [0.5, 1.5]]: λ = 1 ± √2/2.
    solveRankOneUpdate(2, Float64Array.of(0, 1), Float64Array.of(Math.SQRT1_2, Math.SQRT1_2), 1, lambda, u);
    assert.ok(
      Math.abs(lambda[0] - (1 - Math.SQRT1_2)) < 1e-15 && Math.abs(lambda[1] - (1 + Math.SQRT1_2)) < 1e-15,
    );
  });
});
