// The second moment carried over a basis change by v ← (C∘C)·v, C = Q_newᵀ·Q_old: against float64 sums, the
// permutation it reduces to when the new basis only reorders the old one, and its effect in 4-bit SOAP, where
// every refresh re-quantizes the whole basis.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { availableEngines, createKernels, type F32Buffer, type Kernels } from '../src/kernels/index.ts';
import { qr } from '../src/linalg/index.ts';
import { SOAP } from '../src/optimizers/soap.ts';
import { modePermute, modeShape } from '../src/preconditioner/mode-products.ts';
import {
  applySquaredTransition,
  applyTransition,
  basisTransition,
} from '../src/preconditioner/second-moment-rotation.ts';
import { Rng } from './helpers/rng.ts';

function buffer(kernels: Kernels, values: ArrayLike<number>): F32Buffer {
  const b = kernels.arena.f32(values.length);
  b.view().set(values);
  return b;
}

function randomOrthogonal(rng: Rng, d: number): Float32Array {
  return Float32Array.from(qr(rng.normals(d * d), d, d));
}

/** Float64 reference: out[a, i, b] = Σ_j (Σ_r qNew[r, i]·qOld[r, j])²·v[a, j, b]. */
function reference(v: Float32Array, dims: number[], mode: number, qNew: Float32Array, qOld: Float32Array) {
  const { outer, dim: d, inner } = modeShape(dims, mode);
  const c2 = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) {
      let acc = 0;
      for (let r = 0; r < d; r++) acc += qNew[r * d + i] * qOld[r * d + j];
      c2[i * d + j] = acc * acc;
    }
  }
  const out = new Float64Array(v.length);
  for (let a = 0; a < outer; a++) {
    for (let i = 0; i < d; i++) {
      for (let b = 0; b < inner; b++) {
        let acc = 0;
        for (let j = 0; j < d; j++) acc += c2[i * d + j] * v[(a * d + j) * inner + b];
        out[(a * d + i) * inner + b] = acc;
      }
    }
  }
  return out;
}

for (const engine of availableEngines()) {
  test(`(C∘C)·v along every mode matches float64 sums (${engine})`, () => {
    const rng = new Rng(7);
    const dims = [3, 40, 5];
    for (let mode = 0; mode < dims.length; mode++) {
      const kernels = createKernels({ engine });
      const d = dims[mode];
      const qOld = randomOrthogonal(rng, d);
      const qNew = randomOrthogonal(rng, d);
      const v = Float32Array.from({ length: 600 }, () => rng.uniform() ** 4 + 1e-6);
      const expected = reference(v, dims, mode, qNew, qOld);
      const vb = buffer(kernels, v);
      const shape = modeShape(dims, mode);
      const c = kernels.arena.f32(d * d);
      basisTransition(kernels, d, buffer(kernels, qNew), buffer(kernels, qOld), c);
      applySquaredTransition(kernels, vb, shape, c, kernels.arena.f32(d * d), kernels.arena.f32(v.length));
      const got = vb.view();
      for (let e = 0; e < v.length; e++) {
        assert.ok(got[e] >= 0, `mode ${mode}: negative entry ${e}`);
        assert.ok(Math.abs(got[e] - expected[e]) <= 2e-5 * expected[e] + 1e-12, `mode ${mode}, entry ${e}`);
      }
    }
  });

  test(`C·m along a mode equals Q_newᵀ·(Q_old·m) in float64 (${engine})`, () => {
    const rng = new Rng(5);
    const dims = [4, 24, 3];
    const d = 24;
    const kernels = createKernels({ engine });
    const qOld = randomOrthogonal(rng, d);
    const qNew = randomOrthogonal(rng, d);
    const m = rng.normals(4 * d * 3);
    const c = kernels.arena.f32(d * d);
    basisTransition(kernels, d, buffer(kernels, qNew), buffer(kernels, qOld), c);
    const mb = buffer(kernels, m);
    applyTransition(kernels, mb, modeShape(dims, 1), c, kernels.arena.f32(m.length));
    for (let a = 0; a < 4; a++) {
      for (let b = 0; b < 3; b++) {
        // p = Q_old·m (back to parameter coordinates), then Q_newᵀ·p.
        const p = new Float64Array(d);
        for (let r = 0; r < d; r++)
          for (let j = 0; j < d; j++) p[r] += qOld[r * d + j] * m[(a * d + j) * 3 + b];
        for (let i = 0; i < d; i++) {
          let e = 0;
          for (let r = 0; r < d; r++) e += qNew[r * d + i] * p[r];
          assert.ok(Math.abs(mb.view()[(a * d + i) * 3 + b] - e) <= 1e-5, `entry ${a},${i},${b}`);
        }
      }
    }
  });

  test(`a new basis that reorders the old one moves v exactly as the permutation does (${engine})`, () => {
    // Q_old = H/4 (Sylvester–Hadamard, 16×16) is exactly orthogonal in float32, so C = Q_newᵀ·Q_old is exactly
    // the permutation matrix and (C∘C)·v must equal SOAP's permuted v bit for bit.
    const d = 16;
    const h = new Float32Array(d * d);
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) {
        let bits = i & j;
        let sign = 1;
        while (bits) {
          sign = -sign;
          bits &= bits - 1;
        }
        h[i * d + j] = sign / 4;
      }
    }
    const rng = new Rng(3);
    const perm = Int32Array.from({ length: d }, (_, j) => j);
    for (let j = d - 1; j > 0; j--) {
      const k = Math.floor(rng.uniform() * (j + 1));
      [perm[j], perm[k]] = [perm[k], perm[j]];
    }
    // New column j = old column perm[j].
    const qNew = new Float32Array(d * d);
    for (let r = 0; r < d; r++) for (let j = 0; j < d; j++) qNew[r * d + j] = h[r * d + perm[j]];
    const dims = [6, d];
    const v = Float32Array.from({ length: 6 * d }, () => rng.uniform() + 0.01);
    const expected = new Float32Array(v.length);
    modePermute(v, expected, modeShape(dims, 1), perm);
    const kernels = createKernels({ engine });
    const vb = buffer(kernels, v);
    const c = kernels.arena.f32(d * d);
    basisTransition(kernels, d, buffer(kernels, qNew), buffer(kernels, h), c);
    applySquaredTransition(
      kernels,
      vb,
      modeShape(dims, 1),
      c,
      kernels.arena.f32(d * d),
      kernels.arena.f32(v.length),
    );
    assert.deepEqual(Array.from(vb.view()), Array.from(expected));
  });
}

/**
 * RMS over coordinates of |m|/√v (both in the eigenbasis, before bias correction) right after the first refresh
 * of a SOAP run whose gradients have a few dominant, slowly turning directions. For Adam moments of one
 * coordinate stream with equal betas, |m| ≤ √v, so the fp32 run sits below 1.
 */
function ratioAfterRefresh(precision: 'fp32' | '4bit'): number {
  const rows = 64;
  const cols = 48;
  const rng = new Rng(11);
  const u = Array.from({ length: 3 }, () => rng.normals(rows));
  const w = Array.from({ length: 3 }, () => rng.normals(cols));
  const param = { data: rng.normals(rows * cols, 0.1), shape: [rows, cols] };
  const opt = new SOAP([param], {
    precision,
    preconditionFrequency: 5,
    minLowbitSize: 256,
    momentPrecision: 'fp32',
    engine: 'typescript',
  });
  for (let t = 0; t < 6; t++) {
    const g = rng.normals(rows * cols, 0.05);
    for (let k = 0; k < 3; k++) {
      const a = (k + 1) * (1 + 0.2 * Math.sin(t));
      for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) g[i * cols + j] += a * u[k][i] * w[k][j];
    }
    opt.step([g]);
  }
  const state = opt.stateDict();
  const m = state.tensors.find((t) => t.name === 'exp_avg')?.data as Float32Array;
  const v = state.tensors.find((t) => t.name === 'exp_avg_sq')?.data as Float32Array;
  let acc = 0;
  for (let e = 0; e < m.length; e++) acc += v[e] > 0 ? (m[e] * m[e]) / v[e] : 0;
  return Math.sqrt(acc / m.length);
}

test('4-bit SOAP: after a refresh the second moment still bounds the first (no Adam blow-up)', () => {
  const fp32 = ratioAfterRefresh('fp32');
  const lowbit = ratioAfterRefresh('4bit');
  assert.ok(fp32 < 1, `fp32 ratio ${fp32}`);
  assert.ok(lowbit < 1.5 * fp32 + 0.1, `4-bit ratio ${lowbit} against fp32 ${fp32}`);
});
