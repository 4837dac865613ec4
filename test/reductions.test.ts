// Reduction identities: with an identity basis and refreshes disabled, each eigenbasis method collapses to
// its first-order core run in parameter space. The oracles below are float64 loops written from the
// formulas in docs/methods.md, independent of the optimizer code.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdamW } from '../src/optimizers/adamw.ts';
import { KLShampoo } from '../src/optimizers/kl-shampoo.ts';
import { KLSOAP } from '../src/optimizers/kl-soap.ts';
import type { Optimizer, Param } from '../src/optimizers/optimizer.ts';
import { SOAP } from '../src/optimizers/soap.ts';
import { Rng } from './helpers/rng.ts';

const SHAPES = [[5, 7], [3, 2, 4], [6]];
const STEPS = 12;

function setup(seed: number): { params: Param[]; grads: Float32Array[][] } {
  const rng = new Rng(seed);
  const params = SHAPES.map((shape) => {
    const n = shape.reduce((a, b) => a * b, 1);
    return { shape, data: rng.normals(n, 0.3) };
  });
  // Gradients with very different scales per coordinate, so a wrong ε or bias convention shows.
  const grads = Array.from({ length: STEPS }, () =>
    params.map((p) => Float32Array.from(p.data, (_, i) => rng.normal() * 10 ** ((i % 5) - 2))),
  );
  return { params, grads };
}

interface Oracle {
  /** Per-element update of w given the EMA states; returns the new w. */
  step(w: number, m: number, v: number, t: number): number;
  beta1: number;
  beta2: number;
}

/** Runs `oracle` on every element, calls 2..STEPS (the first call of the eigenbasis methods only initialises). */
function runOracle(
  params: Param[],
  grads: Float32Array[][],
  oracle: Oracle,
  skipFirst: boolean,
): Float64Array[] {
  return params.map((p, pi) => {
    const w = Float64Array.from(p.data);
    const m = new Float64Array(w.length);
    const v = new Float64Array(w.length);
    let t = 0;
    for (let s = skipFirst ? 1 : 0; s < STEPS; s++) {
      t += 1;
      const g = grads[s][pi];
      for (let i = 0; i < w.length; i++) {
        m[i] = oracle.beta1 * m[i] + (1 - oracle.beta1) * g[i];
        v[i] = oracle.beta2 * v[i] + (1 - oracle.beta2) * g[i] * g[i];
        w[i] = oracle.step(w[i], m[i], v[i], t);
      }
    }
    return w;
  });
}

function runOptimizer(opt: Optimizer, grads: Float32Array[][]): void {
  for (const g of grads) opt.step(g);
}

function assertClose(actual: Param[], expected: Float64Array[], rtol: number): void {
  actual.forEach((p, pi) => {
    for (let i = 0; i < p.data.length; i++) {
      const e = expected[pi][i];
      assert.ok(
        Math.abs(p.data[i] - e) <= rtol * Math.max(1e-3, Math.abs(e)),
        `param ${pi}[${i}]: ${p.data[i]} vs ${e}`,
      );
    }
  });
}

test('SOAP with identity bases and no refreshes is Adam with SOAP’s ε and bias conventions', () => {
  const { params, grads } = setup(3);
  const [b1, b2] = [0.9, 0.95];
  const lr = 0.01;
  const wd = 0.1;
  const eps = 1e-3;
  const start = params.map((p) => ({ ...p, data: p.data.slice() }));
  const opt = new SOAP(params, {
    lr,
    betas: [b1, b2],
    eps,
    weightDecay: wd,
    initialBasis: 'identity',
    preconditionFrequency: Number.POSITIVE_INFINITY,
    precondition1d: true,
  });
  runOptimizer(opt, grads);
  const expected = runOracle(
    start,
    grads,
    {
      beta1: b1,
      beta2: b2,
      step: (w, m, v, t) => {
        const alpha = (lr * Math.sqrt(1 - b2 ** t)) / (1 - b1 ** t);
        const next = w - (alpha * m) / (Math.sqrt(v) + eps);
        return next - lr * wd * next;
      },
    },
    true,
  );
  assertClose(params, expected, 2e-5);
  // The bases never moved.
  for (const t of opt.stateDict().tensors) {
    if (t.kind !== 'basis') continue;
    const d = Math.round(Math.sqrt(t.data.length));
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) assert.equal(t.data[i * d + j], i === j ? 1 : 0);
  }
});

test('SOAP’s convention differs from torch AdamW (the oracle above can tell them apart)', () => {
  const { params, grads } = setup(3);
  const adamw = params.map((p) => ({ ...p, data: p.data.slice() }));
  const a = new AdamW(adamw, { lr: 0.01, betas: [0.9, 0.95], eps: 1e-3, weightDecay: 0 });
  const soap = new SOAP(params, {
    lr: 0.01,
    betas: [0.9, 0.95],
    eps: 1e-3,
    weightDecay: 0,
    initialBasis: 'identity',
    preconditionFrequency: Number.POSITIVE_INFINITY,
  });
  soap.step(grads[0]);
  for (const g of grads.slice(1)) {
    soap.step(g);
    a.step(g);
  }
  let maxDiff = 0;
  params.forEach((p, i) => {
    for (let k = 0; k < p.data.length; k++)
      maxDiff = Math.max(maxDiff, Math.abs(p.data[k] - adamw[i].data[k]));
  });
  assert.ok(maxDiff > 1e-4, `ε placement should matter here, max diff ${maxDiff}`);
});

test('KL-SOAP with identity bases and no refreshes is Adam without bias correction', () => {
  const { params, grads } = setup(5);
  const [b1, b2] = [0.8, 0.9];
  const lr = 0.003;
  const wd = 0.2;
  const eps = 1e-4;
  const start = params.map((p) => ({ ...p, data: p.data.slice() }));
  const opt = new KLSOAP(params, {
    lr,
    betas: [b1, b2],
    eps,
    weightDecay: wd,
    initialBasis: 'identity',
    preconditionFrequency: Number.POSITIVE_INFINITY,
  });
  runOptimizer(opt, grads);
  const eigen = { beta1: b1, beta2: b2 };
  const expected = runOracle(
    start.slice(0, 2),
    grads,
    {
      ...eigen,
      step: (w, m, v) => {
        const next = w - (lr * m) / (Math.sqrt(v) + eps);
        return next - lr * wd * next;
      },
    },
    true,
  );
  assertClose(params.slice(0, 2), expected, 2e-5);
});

test('KL-Shampoo with identity bases and frozen estimates is SGD with momentum scaled by Π s/(1 + ε·Π s)', () => {
  const { params, grads } = setup(7);
  const b1 = 0.9;
  const lr = 0.002;
  const wd = 0.05;
  const eps = 1e-3;
  const initFactor = 0.25;
  const start = params.map((p) => ({ ...p, data: p.data.slice() }));
  const opt = new KLShampoo(params, {
    lr,
    betas: [b1, 0.5],
    shampooBeta: 1, // factors and eigenvalue estimates never move
    eps,
    weightDecay: wd,
    initFactor,
    initialBasis: 'identity',
    preconditionFrequency: Number.POSITIVE_INFINITY,
  });
  runOptimizer(opt, grads);
  // s = 1/sqrt(f) on each of the k sides; S = Π s/(1 + ε·Π s) with Π s = f^(−k/2): 1/(f + ε) for a matrix.
  const expected = start.slice(0, 2).map((p) => {
    const prod = initFactor ** (-p.shape.length / 2);
    const scale = prod / (1 + eps * prod);
    return runOracle(
      [p],
      grads.map((g) => [g[start.indexOf(p)]]),
      {
        beta1: b1,
        beta2: 0,
        step: (w, m) => {
          const next = w - lr * scale * m;
          return next - lr * wd * next;
        },
      },
      true,
    )[0];
  });
  assertClose(params.slice(0, 2), expected, 2e-5);
});

test('KL methods step order < 2 parameters exactly like AdamW with the same hyperparameters', () => {
  for (const Cls of [KLShampoo, KLSOAP]) {
    const { params, grads } = setup(11);
    const vector = params[2];
    const alone: Param[] = [{ shape: [1, 6, 1], data: vector.data.slice() }];
    const cfg = { lr: 0.01, betas: [0.8, 0.9] as [number, number], eps: 1e-6, weightDecay: 0.3 };
    const kl = new Cls(params, cfg);
    const adamw = new AdamW(alone, cfg);
    for (const g of grads) {
      kl.step(g);
      adamw.step([g[2]]);
    }
    assert.deepEqual(vector.data, alone[0].data);
  }
});
