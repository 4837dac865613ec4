// Convergence on a small ill-conditioned matrix least-squares problem whose Hessian is a Kronecker product:
//   f(W) = ½·tr((W − W*)ᵀ·Σ_L·(W − W*)·Σ_R),  ∇f = Σ_L·(W − W*)·Σ_R,
// with Σ_L, Σ_R rotated (not axis-aligned) and each spanning three orders of magnitude. Every method gets the
// same budget of steps and its best learning rate from the same grid; the Kronecker-factored methods must
// beat AdamW clearly.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { qr } from '../src/linalg/index.ts';
import { AdamW } from '../src/optimizers/adamw.ts';
import { KLShampoo } from '../src/optimizers/kl-shampoo.ts';
import { KLSOAP } from '../src/optimizers/kl-soap.ts';
import type { Optimizer, Param } from '../src/optimizers/optimizer.ts';
import { SOAP } from '../src/optimizers/soap.ts';
import { Rng } from './helpers/rng.ts';

// Large enough that the KL methods' default clamp on the inverse-sqrt estimates (10 for dims ≤ 10) does not bind.
// Large enough that the KL methods' default clamp on the inverse-sqrt estimates (10 for dims ≤ 10) does not bind.
const SCALE = 10;
const M = 12;
const N = 10;
const STEPS = 150;
const LRS = [1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1, 3];

/** Q·Diag(λ)·Qᵀ with Q a random orthogonal matrix and λ log-spaced from SCALE down to SCALE·`smallest`. */
function covariance(d: number, smallest: number, rng: Rng): Float64Array {
  const q = qr(
    Float64Array.from({ length: d * d }, () => rng.normal()),
    d,
    d,
  );
  const out = new Float64Array(d * d);
  for (let k = 0; k < d; k++) {
    const lambda = SCALE * smallest ** (k / (d - 1));
    for (let i = 0; i < d; i++)
      for (let j = 0; j < d; j++) out[i * d + j] += lambda * q[i * d + k] * q[j * d + k];
  }
  return out;
}

const rng = new Rng(2024);
const SL = covariance(M, 1e-3, rng);
const SR = covariance(N, 1e-3, rng);
const TARGET = Float64Array.from({ length: M * N }, () => rng.normal());
const START = Float32Array.from({ length: M * N }, () => 0.1 * rng.normal());

/** Loss and gradient at W (float64 math). */
function lossAndGrad(w: Float32Array, grad: Float32Array): number {
  const e = Float64Array.from(w, (x, i) => x - TARGET[i]);
  const le = new Float64Array(M * N); // Σ_L·E
  for (let i = 0; i < M; i++)
    for (let k = 0; k < M; k++) {
      const a = SL[i * M + k];
      for (let j = 0; j < N; j++) le[i * N + j] += a * e[k * N + j];
    }
  let loss = 0;
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let g = 0;
      for (let k = 0; k < N; k++) g += le[i * N + k] * SR[k * N + j];
      grad[i * N + j] = g;
      loss += 0.5 * e[i * N + j] * g;
    }
  return loss;
}

function run(make: (p: Param[], lr: number) => Optimizer, lr: number): number {
  const p: Param = { data: START.slice(), shape: [M, N] };
  const opt = make([p], lr);
  const g = new Float32Array(M * N);
  for (let t = 0; t < STEPS; t++) {
    lossAndGrad(p.data, g);
    opt.step([g]);
  }
  const loss = lossAndGrad(p.data, g);
  return Number.isFinite(loss) ? loss : Number.POSITIVE_INFINITY;
}

function best(make: (p: Param[], lr: number) => Optimizer): { loss: number; lr: number } {
  let out = { loss: Number.POSITIVE_INFINITY, lr: 0 };
  for (const lr of LRS) {
    const loss = run(make, lr);
    if (loss < out.loss) out = { loss, lr };
  }
  return out;
}

const common = { betas: [0.9, 0.95] as [number, number], weightDecay: 0, eps: 1e-8 };

test('Kronecker-factored methods beat AdamW on an ill-conditioned Kronecker least-squares problem', () => {
  const initial = lossAndGrad(START.slice(), new Float32Array(M * N));
  const adamw = best((p, lr) => new AdamW(p, { ...common, lr }));
  const results = {
    SOAP: best((p, lr) => new SOAP(p, { ...common, lr, preconditionFrequency: 5 })),
    KLShampoo: best((p, lr) => new KLShampoo(p, { ...common, lr, preconditionFrequency: 5 })),
    KLSOAP: best((p, lr) => new KLSOAP(p, { ...common, lr, preconditionFrequency: 5 })),
  };
  assert.ok(adamw.loss < initial, 'AdamW makes progress');
  for (const [name, r] of Object.entries(results)) {
    assert.ok(
      r.loss < 0.5 * adamw.loss,
      `${name}: best loss ${r.loss.toExponential(3)} (lr ${r.lr}) vs AdamW ${adamw.loss.toExponential(3)} (lr ${adamw.lr}), initial ${initial.toExponential(3)}`,
    );
  }
});
