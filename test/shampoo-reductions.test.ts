import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdamW } from '../src/optimizers/adamw.ts';
import type { Param } from '../src/optimizers/optimizer.ts';
import { Shampoo } from '../src/optimizers/shampoo.ts';
import type { ShampooConfig } from '../src/optimizers/shampoo-config.ts';
import { Rng } from './helpers/rng.ts';

/**
 * Reductions: with preconditioning switched off, each form of Shampoo must be exactly its base optimizer.
 * The oracles below are written from the references' formulas, independently of the implementation.
 */

// Shapes that exercise blocking (6×5 at max dim 4 → 4 blocks), 1-D, 0-D and size-1 dims.
const SHAPES = [[6, 5], [7], [], [2, 1, 3]];
const ENGINES = ['typescript', 'auto'] as const;
const STEPS = 12;

function makeParams(rng: Rng): Param[] {
  return SHAPES.map((shape) => {
    const n = shape.reduce((a, b) => a * b, 1);
    return { shape, data: rng.normals(n, 0.3) };
  });
}

function makeGrads(rng: Rng): Float32Array[][] {
  return Array.from({ length: STEPS }, () => SHAPES.map((s) => rng.normals(s.reduce((a, b) => a * b, 1))));
}

function clone(params: Param[]): Param[] {
  return params.map((p) => ({ shape: p.shape, data: p.data.slice() }));
}

/** Largest |a − b| / max(1, |b|) over all parameters. */
function worstRelative(a: Param[], b: Float32Array[] | Param[]): number {
  let worst = 0;
  a.forEach((p, i) => {
    const e = b[i] instanceof Float32Array ? (b[i] as Float32Array) : (b[i] as Param).data;
    for (let k = 0; k < p.data.length; k++) {
      worst = Math.max(worst, Math.abs(p.data[k] - e[k]) / Math.max(1, Math.abs(e[k])));
    }
  });
  return worst;
}

for (const engine of ENGINES) {
  test(`distributed, startPreconditioningStep = Infinity, Adam grafting ≡ Adam with the reference's conventions (${engine})`, () => {
    const rng = new Rng(11);
    const params = makeParams(rng);
    const grads = makeGrads(rng);
    const [lr, b1, b2g, epsG, wd] = [0.01, 0.9, 0.999, 1e-8, 0.01];
    const W = params.map((p) => Float64Array.from(p.data));
    const opt = new Shampoo(params, {
      engine,
      lr,
      betas: [b1, 0.99],
      weightDecay: wd,
      maxPreconditionerDim: 4,
      startPreconditioningStep: Number.POSITIVE_INFINITY,
      graftingConfig: { type: 'adam', beta2: b2g, epsilon: epsG },
    });
    // Oracle (float64): V ← β2V + (1−β2)G²; M ← β1M + (1−β1)G; P = (M/(1−β1ᵗ)) ⊘ (sqrt(V/(1−β2ᵗ)) + ε) + λW;
    // W ← W − fround(lr)·P.
    const M = params.map((p) => new Float64Array(p.data.length));
    const V = params.map((p) => new Float64Array(p.data.length));
    for (let t = 1; t <= STEPS; t++) {
      opt.step(grads[t - 1]);
      W.forEach((w, i) => {
        const g = grads[t - 1][i];
        for (let k = 0; k < w.length; k++) {
          V[i][k] = b2g * V[i][k] + (1 - b2g) * g[k] * g[k];
          M[i][k] = b1 * M[i][k] + (1 - b1) * g[k];
          const dir = M[i][k] / (1 - b1 ** t) / (Math.sqrt(V[i][k] / (1 - b2g ** t)) + epsG) + wd * w[k];
          w[k] -= Math.fround(lr) * dir;
        }
      });
      const err = worstRelative(
        params,
        W.map((w) => Float32Array.from(w)),
      );
      assert.ok(err < 3e-7 * t, `step ${t}: ${err}`);
    }
    // The factors were still accumulated (they are just never used).
    assert.equal(opt.stepCount, STEPS);
  });

  test(`distributed, startPreconditioningStep = Infinity, SGD grafting, β1 = 0 ≡ SGD (${engine})`, () => {
    const rng = new Rng(12);
    const params = makeParams(rng);
    const grads = makeGrads(rng);
    const [lr, wd] = [0.05, 0.02];
    const opt = new Shampoo(params, {
      engine,
      lr,
      betas: [0, 1],
      weightDecay: wd,
      maxPreconditionerDim: 4,
      startPreconditioningStep: Number.POSITIVE_INFINITY,
      graftingConfig: { type: 'sgd' },
    });
    // Oracle with the reference's float32 rounding: P = fround(G + λW); W ← fround(W + fround(−fround(lr)·P)).
    const W = params.map((p) => p.data.slice());
    for (let t = 0; t < STEPS; t++) {
      opt.step(grads[t]);
      W.forEach((w, i) => {
        const g = grads[t][i];
        for (let k = 0; k < w.length; k++) {
          const p = Math.fround(wd * w[k] + g[k]);
          w[k] += Math.fround(-Math.fround(lr) * p);
        }
      });
    }
    const err = worstRelative(params, W);
    // Bit-exact on the TypeScript engine; WASM may round the fused axpby differently in the last bit.
    if (engine === 'typescript') assert.equal(err, 0);
    else assert.ok(err < 1e-6, `${err}`);
  });

  test(`distributed, no grafting before the start step: P is the filtered gradient (${engine})`, () => {
    const rng = new Rng(13);
    const params = makeParams(rng);
    const grads = makeGrads(rng);
    const [lr, b1] = [0.05, 0.9];
    const opt = new Shampoo(params, {
      engine,
      lr,
      betas: [b1, 0.999],
      preconditionFrequency: 5,
      startPreconditioningStep: STEPS + 1,
    });
    const W = params.map((p) => Float64Array.from(p.data));
    const M = params.map((p) => new Float64Array(p.data.length));
    for (let t = 1; t <= STEPS; t++) {
      opt.step(grads[t - 1]);
      W.forEach((w, i) => {
        for (let k = 0; k < w.length; k++) {
          M[i][k] = b1 * M[i][k] + (1 - b1) * grads[t - 1][i][k];
          w[k] -= Math.fround(lr) * (M[i][k] / (1 - b1 ** t));
        }
      });
    }
    assert.ok(
      worstRelative(
        params,
        W.map((w) => Float32Array.from(w)),
      ) < 3e-6,
    );
  });

  test(`lowbit AdamW form that never reaches T2 ≡ AdamW, bit for bit (${engine})`, () => {
    const rng = new Rng(14);
    const params = makeParams(rng);
    const grads = makeGrads(rng);
    const hyper = { lr: 3e-3, betas: [0.9, 0.99] as [number, number], eps: 1e-7, weightDecay: 0.05 };
    const shampooParams = clone(params);
    const shampoo = new Shampoo(shampooParams, {
      variant: 'lowbit',
      engine,
      ...hyper,
      statComputeSteps: 2,
      precComputeSteps: STEPS + 1,
      precMaxorder: 4,
    });
    const adamParams = clone(params);
    const adam = new AdamW(adamParams, { engine, ...hyper });
    for (let t = 0; t < STEPS; t++) {
      shampoo.step(grads[t]);
      adam.step(grads[t]);
    }
    assert.equal(worstRelative(shampooParams, adamParams), 0);
  });

  test(`lowbit SGD form that never reaches T2 ≡ SGD with momentum (${engine})`, () => {
    const rng = new Rng(15);
    const params = makeParams(rng);
    const grads = makeGrads(rng);
    const [lr, mu, wd] = [0.05, 0.9, 5e-4];
    for (const nesterov of [false, true]) {
      const ps = clone(params);
      const opt = new Shampoo(ps, {
        variant: 'lowbit',
        optimizer: 'sgd',
        engine,
        lr,
        momentum: mu,
        nesterov,
        weightDecay: wd,
        statComputeSteps: 3,
        precComputeSteps: 1000,
      } as ShampooConfig);
      // torch SGD on P = G + λW: buf ← μ·buf + P; W ← W − lr·(nesterov ? P + μ·buf : buf), float32 storage.
      const W = clone(params).map((p) => p.data);
      const buf = W.map((w) => new Float32Array(w.length));
      for (let t = 0; t < STEPS; t++) {
        opt.step(grads[t]);
        W.forEach((w, i) => {
          for (let k = 0; k < w.length; k++) {
            const p = Math.fround(grads[t][i][k] + wd * w[k]);
            buf[i][k] = Math.fround(mu * buf[i][k]) + p;
            w[k] -= lr * (nesterov ? Math.fround(p + mu * buf[i][k]) : buf[i][k]);
          }
        });
      }
      assert.equal(worstRelative(ps, W), 0, `nesterov ${nesterov}`);
    }
  });
}
