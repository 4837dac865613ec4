// Every method × every storage precision × both engines: runs, continues bit-identically after a state round
// trip (through a fresh optimizer, which rebuilds its decoded and rectified bases from the stored codes),
// refuses non-finite gradients without touching the state, and holds exactly the bytes of the analytic formulas
// in bench/state-formulas.ts (docs/storage.md §5).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stateBytes, total } from '../bench/state-formulas.ts';
import { NonFiniteError, StateDictError } from '../src/errors.ts';
import { KLShampoo } from '../src/optimizers/kl-shampoo.ts';
import { KLSOAP } from '../src/optimizers/kl-soap.ts';
import type { Optimizer, Param, StateDict } from '../src/optimizers/optimizer.ts';
import { SOAP } from '../src/optimizers/soap.ts';
import { PRECISIONS, type Precision } from '../src/storage/precision.ts';
import { sameBits } from './helpers/training.ts';

type Make = (params: Param[], config: Record<string, unknown>) => Optimizer;
const METHODS: { name: 'soap' | 'kl-soap' | 'kl-shampoo'; make: Make }[] = [
  { name: 'soap', make: (p, c) => new SOAP(p, c) },
  { name: 'kl-soap', make: (p, c) => new KLSOAP(p, c) },
  { name: 'kl-shampoo', make: (p, c) => new KLShampoo(p, c) },
];

/** A matrix with two 4-bit sides, a 3-D tensor with one (the others stay fp32), and a vector. */
const SHAPES = [[72, 64], [3, 64, 2], [8]];

function makeParams(seed: number): Param[] {
  let s = seed;
  const next = () => {
    s = (s * 1103515245 + 12345) >>> 0;
    return s / 4294967296 - 0.5;
  };
  return SHAPES.map((shape, i) => ({
    name: `p${i}`,
    shape,
    data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, next),
  }));
}

/** Gradients of a fixed ill-conditioned quadratic plus a step-dependent drift. */
function grads(params: readonly Param[], step: number): Float32Array[] {
  return params.map((p, i) =>
    Float32Array.from(p.data, (x, k) => x * (1 + (k % 7)) + 0.3 * Math.sin(step * 0.9 + k * 0.37 + i)),
  );
}

function snapshot(opt: Optimizer, params: readonly Param[]) {
  return { state: opt.stateDict(), params: params.map((p) => p.data.slice()) };
}

function assertSameState(a: StateDict, b: StateDict, label: string): void {
  assert.equal(a.tensors.length, b.tensors.length);
  for (const t of a.tensors) {
    const u = b.tensors.find((x) => x.param === t.param && x.name === t.name);
    assert.ok(u, `${label}: tensor ${t.name} missing`);
    assert.ok(sameBits(t.data, u.data), `${label}: tensor ${t.name} of param ${t.param} differs`);
  }
}

const CONFIG = {
  lr: 1e-2,
  preconditionFrequency: 2,
  // k < d on the 64- and 72-sides, so the subspace refresh is exercised.
  subspaceSize: 16,
};

for (const engine of ['typescript', 'auto'] as const) {
  for (const method of METHODS) {
    for (const precision of PRECISIONS) {
      for (const stochasticRounding of precision === 'bf16' ? [false, true] : [false]) {
        const label = `${method.name} ${precision}${stochasticRounding ? ' (stochastic rounding)' : ''} (${engine})`;
        const config = { ...CONFIG, precision, engine, stochasticRounding };
        test(`${label}: runs, round trip continues bit-identically, non-finite refused`, () => {
          const params = makeParams(7);
          const opt = method.make(params, config);
          assert.equal(opt.config.precision, precision);
          for (let t = 0; t < 5; t++) opt.step(grads(params, t));
          for (const p of params) for (const x of p.data) assert.ok(Number.isFinite(x));
          // Restore into a fresh optimizer (its caches start empty) and continue both over two refreshes.
          const saved = snapshot(opt, params);
          const params2 = makeParams(99);
          const copy = method.make(params2, config);
          copy.loadStateDict(saved.state);
          params2.forEach((p, i) => {
            p.data.set(saved.params[i]);
          });
          for (let t = 5; t < 10; t++) {
            opt.step(grads(params, t));
            copy.step(grads(params2, t));
          }
          params.forEach((p, i) => {
            assert.ok(
              sameBits(p.data, params2[i].data),
              `${label}: param ${i} diverged after the round trip`,
            );
          });
          assertSameState(opt.stateDict(), copy.stateDict(), label);
          // A non-finite gradient throws before anything changes.
          const before = snapshot(opt, params);
          const bad = grads(params, 10);
          bad[0][3] = Number.NaN;
          assert.throws(() => opt.step(bad), NonFiniteError);
          assertSameState(before.state, opt.stateDict(), `${label} after NaN`);
          params.forEach((p, i) => {
            assert.ok(sameBits(p.data, before.params[i]));
          });
        });
      }
    }
  }
}

test('stateBytes of every method × precision equals the analytic formula, by kind', () => {
  // 72: a 4-bit side; 40: below minLowbitSize (fp32 under the 4-bit precisions).
  for (const [m, n] of [
    [72, 40],
    [130, 96],
  ]) {
    for (const method of METHODS) {
      for (const precision of PRECISIONS) {
        for (const extra of [
          {},
          { momentPrecision: 'fp32' },
          { momentPrecision: 'bf16' },
          { stochasticRounding: true },
          { correlationBits: 8 },
        ]) {
          const opt = method.make([{ data: new Float32Array(m * n), shape: [m, n] }], {
            precision,
            engine: 'typescript',
            ...extra,
          });
          const expected = stateBytes(method.name, m, n, { precision, ...(extra as object) });
          const got = opt.stateBytes();
          const label = `${method.name} ${precision} ${m}×${n} ${JSON.stringify(extra)}`;
          assert.deepEqual(got.byKind, expected, label);
          assert.equal(got.total, total(expected), label);
          const tensorBytes = opt.stateDict().tensors.reduce((a, t) => a + t.data.byteLength, 0);
          assert.equal(tensorBytes, got.total, `${label}: bytes of the state dict`);
        }
      }
    }
  }
});

test('low-precision state: NaN in a bf16 tensor is refused on load; moments follow the auto rule', () => {
  const params = makeParams(3);
  const opt = new SOAP(params, { precision: 'bf16' });
  opt.step(grads(params, 0));
  const state = opt.stateDict();
  const kinds = Object.fromEntries(state.tensors.filter((t) => t.param === 0).map((t) => [t.name, t.dtype]));
  assert.deepEqual(kinds, {
    exp_avg: 'u16',
    exp_avg_sq: 'u16',
    Q0: 'u16',
    S0_diag: 'f32',
    S0_offdiag: 'u16',
    S0_cursor: 'f64',
    Q1: 'u16',
    S1_diag: 'f32',
    S1_offdiag: 'u16',
    S1_cursor: 'f64',
  });
  const q = state.tensors.find((t) => t.name === 'Q0' && t.param === 0);
  (q?.data as Uint16Array)[5] = 0x7f80;
  assert.throws(() => opt.loadStateDict(state), StateDictError);
  // KL-SOAP: β1 = 0.9 → bf16, β2 = 0.98 → fp32; KL-Shampoo's momentum (parameter space) → fp32.
  const dtypes = (o: Optimizer) =>
    Object.fromEntries(
      o
        .stateDict()
        .tensors.filter((t) => t.param === 0 && t.kind === 'moment')
        .map((t) => [t.name, t.dtype]),
    );
  assert.deepEqual(dtypes(new KLSOAP(makeParams(1), { precision: '4bit' })), {
    exp_avg: 'u16',
    exp_avg_sq: 'f32',
  });
  assert.deepEqual(dtypes(new KLShampoo(makeParams(1), { precision: '4bit' })), { exp_avg: 'f32' });
  assert.deepEqual(dtypes(new KLShampoo(makeParams(1), { precision: 'fp32', momentPrecision: 'bf16' })), {
    exp_avg: 'u16',
  });
  assert.deepEqual(dtypes(new SOAP(makeParams(1), { precision: 'bf16-naive', momentPrecision: 'fp32' })), {
    exp_avg: 'f32',
    exp_avg_sq: 'f32',
  });
});

test('precision is validated per method', () => {
  for (const method of METHODS) {
    for (const precision of PRECISIONS) method.make(makeParams(1), { precision } as { precision: Precision });
    assert.throws(() => method.make(makeParams(1), { precision: 'int8' }), /precision/);
  }
});
