import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, ConvergenceError, NonFiniteError, ShapeError, StateDictError } from '../src/errors.ts';
import { AdamW } from '../src/optimizers/adamw.ts';
import type { EigenbasisOptimizer } from '../src/optimizers/eigenbasis-optimizer.ts';
import { KLShampoo } from '../src/optimizers/kl-shampoo.ts';
import { KLSOAP } from '../src/optimizers/kl-soap.ts';
import type { Optimizer, Param, StateDict } from '../src/optimizers/optimizer.ts';
import { SOAP } from '../src/optimizers/soap.ts';
import { Rng } from './helpers/rng.ts';

type Make = (params: Param[], config?: Record<string, unknown>) => Optimizer;

interface Case {
  name: string;
  make: Make;
  /** Analytic state bytes of `shapes()` (ALGORITHMS.md §7 and the per-class docs). */
  bytes: number;
  /** Invalid values, one field at a time: [config, field the error must name]. */
  invalid: [Record<string, unknown>, string][];
}

const SHAPES = [[6, 5], [2, 3, 4], [5], [1, 4, 1, 3]];
const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
const sq = (ds: number[]) => ds.reduce((a, d) => a + d * d, 0);
const sum = (ds: number[]) => ds.reduce((a, d) => a + d, 0);

const COMMON_INVALID: [Record<string, unknown>, string][] = [
  [{ lr: -1 }, 'lr'],
  [{ lr: Number.NaN }, 'lr'],
  [{ betas: [1, 0.5] }, 'betas[0]'],
  [{ betas: [0.5, -0.1] }, 'betas[1]'],
  [{ betas: 0.9 }, 'betas'],
  [{ eps: -1 }, 'eps'],
  [{ epsilon: -1 }, 'eps'],
  [{ eps: 1e-8, epsilon: 1e-8 }, 'epsilon'],
  [{ weightDecay: -0.1 }, 'weightDecay'],
  [{ learningRate: 0.1 }, 'learningRate'],
  [{ precision: 'fp16' }, 'precision'],
  [{ engine: 'gpu' }, 'engine'],
  [{ nonFinite: 'ignore' }, 'nonFinite'],
];

const EIGEN_INVALID: [Record<string, unknown>, string][] = [
  [{ shampooBeta: 1.5 }, 'shampooBeta'],
  [{ preconditionFrequency: 0 }, 'preconditionFrequency'],
  [{ preconditionFrequency: 2.5 }, 'preconditionFrequency'],
  [{ initialBasis: 'random' }, 'initialBasis'],
  [{ maxConsecutiveFailures: -1 }, 'maxConsecutiveFailures'],
  [{ normalizeGrads: 'yes' }, 'normalizeGrads'],
  [{ rectT1: -1 }, 'rectT1'],
  [{ rectT2: 1.5 }, 'rectT2'],
  [{ rectTol: -1e-7 }, 'rectTol'],
  [{ rectTol: 0.01 }, 'rectTol'],
  [{ minLowbitSize: -1 }, 'minLowbitSize'],
  [{ quanBlocksize: 32 }, 'quanBlocksize'],
  [{ correlationBits: 6 }, 'correlationBits'],
  [{ correlationBits: '8' }, 'correlationBits'],
  [{ subspaceSize: 0 }, 'subspaceSize'],
  [{ subspaceSelection: 'random' }, 'subspaceSelection'],
  [{ momentPrecision: 'fp16' }, 'momentPrecision'],
  [{ stochasticRounding: 1 }, 'stochasticRounding'],
];

const KL_INVALID: [Record<string, unknown>, string][] = [
  ...COMMON_INVALID,
  ...EIGEN_INVALID,
  [{ initFactor: 0 }, 'initFactor'],
  [{ maxClampValue: 0 }, 'maxClampValue'],
  [{ usingDamping: 1 }, 'usingDamping'],
  [{ usingClamping: 'on' }, 'usingClamping'],
  [{ maxPrecondDim: 10 }, 'maxPrecondDim'],
];

const COUNTERS = 16 + 8; // steps/skipped (f64×2) + consecutive failures (f64)
// KL squeezes: [1,4,1,3] → [4,3]; [5] → AdamW fallback.
const KL_BLOCKS = [
  [6, 5],
  [2, 3, 4],
  [4, 3],
];
const KL_FALLBACK = 5;

const CASES: Case[] = [
  {
    name: 'AdamW',
    make: (p, c) => new AdamW(p, c),
    bytes: 8 * sum(SHAPES.map(numel)) + 16,
    invalid: COMMON_INVALID,
  },
  {
    name: 'SOAP',
    make: (p, c) => new SOAP(p, { preconditionFrequency: 2, ...c }),
    // 1-D: no factor by default; size-1 dims keep 1×1 factors (as the reference).
    bytes: 8 * sum(SHAPES.map(numel)) + 8 * (sq([6, 5]) + sq([2, 3, 4]) + sq([1, 4, 1, 3])) + COUNTERS,
    invalid: [
      ...COMMON_INVALID,
      ...EIGEN_INVALID,
      [{ maxPrecondDim: -1 }, 'maxPrecondDim'],
      [{ maxPreconditionerDim: 2.5 }, 'maxPrecondDim'],
      [{ maxPrecondDim: 10, maxPreconditionerDim: 10 }, 'maxPreconditionerDim'],
      [{ mergeDims: 1 }, 'mergeDims'],
      [{ precondition1d: 'no' }, 'precondition1d'],
      [{ dataFormat: 'nhwc' }, 'dataFormat'],
      [{ correctBias: 0 }, 'correctBias'],
      [{ initFactor: 0.1 }, 'initFactor'],
    ],
  },
  {
    name: 'KLShampoo',
    make: (p, c) => new KLShampoo(p, { preconditionFrequency: 2, lr: 1e-2, ...c }),
    bytes: sum(KL_BLOCKS.map((b) => 8 * sq(b) + 4 * sum(b) + 4 * numel(b))) + 8 * KL_FALLBACK + COUNTERS,
    invalid: KL_INVALID,
  },
  {
    name: 'KLSOAP',
    make: (p, c) => new KLSOAP(p, { preconditionFrequency: 2, lr: 1e-2, ...c }),
    bytes: sum(KL_BLOCKS.map((b) => 8 * sq(b) + 4 * sum(b) + 8 * numel(b))) + 8 * KL_FALLBACK + COUNTERS,
    invalid: KL_INVALID,
  },
];

function makeParams(seed = 1): Param[] {
  const rng = new Rng(seed);
  return SHAPES.map((shape, i) => ({
    name: `p${i}`,
    shape,
    data: Float32Array.from({ length: numel(shape) }, () => 0.1 * rng.normal()),
  }));
}

function makeGrads(step: number): Float32Array[] {
  const rng = new Rng(1000 + step);
  return SHAPES.map((shape) => Float32Array.from({ length: numel(shape) }, () => rng.normal()));
}

function snapshot(opt: Optimizer, params: Param[]): { state: StateDict; data: Float32Array[] } {
  return { state: opt.stateDict(), data: params.map((p) => p.data.slice()) };
}

function assertBitIdentical(a: ReturnType<typeof snapshot>, b: ReturnType<typeof snapshot>): void {
  assert.equal(a.state.tensors.length, b.state.tensors.length);
  a.state.tensors.forEach((t, i) => {
    const u = b.state.tensors[i];
    assert.equal(t.name, u.name);
    assert.deepEqual(
      new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
      new Uint8Array(u.data.buffer, u.data.byteOffset, u.data.byteLength),
      `tensor ${t.name} of param ${t.param} differs`,
    );
  });
  a.data.forEach((d, i) => {
    assert.deepEqual(new Uint32Array(d.buffer), new Uint32Array(b.data[i].buffer), `param ${i} differs`);
  });
}

for (const c of CASES) {
  describe(`${c.name} contract`, () => {
    test('rejects a wrong gradient count or length, leaving the state as it was', () => {
      const params = makeParams();
      const opt = c.make(params);
      opt.step(makeGrads(0));
      const before = snapshot(opt, params);
      assert.throws(() => opt.step(makeGrads(1).slice(0, 2)), ShapeError);
      const short = makeGrads(1);
      short[1] = short[1].subarray(0, 3);
      assert.throws(() => opt.step(short), ShapeError);
      assert.throws(() => opt.step([...makeGrads(1).slice(0, 3), new Float64Array(12) as never]), ShapeError);
      assertBitIdentical(before, snapshot(opt, params));
    });

    test('rejects a zero-element parameter', () => {
      assert.throws(() => c.make([{ data: new Float32Array(0), shape: [0, 3] }]), ShapeError);
    });

    test('rejects each invalid hyperparameter with a ConfigError naming it, before touching anything', () => {
      for (const [config, field] of c.invalid) {
        const params = makeParams();
        const copy = params.map((p) => p.data.slice());
        assert.throws(
          () => c.make(params, config),
          (e: unknown) => e instanceof ConfigError && e.field === field,
          `${JSON.stringify(config)} should fail on '${field}'`,
        );
        for (let i = 0; i < params.length; i++) assert.deepEqual(params[i].data, copy[i]);
      }
    });

    test('a non-finite gradient throws (state bit-identical) or is skipped and counted', () => {
      for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
        const params = makeParams();
        const opt = c.make(params);
        opt.step(makeGrads(0));
        opt.step(makeGrads(1));
        const before = snapshot(opt, params);
        const grads = makeGrads(2);
        grads[1][3] = bad;
        assert.throws(() => opt.step(grads), NonFiniteError);
        assertBitIdentical(before, snapshot(opt, params));
        assert.equal(opt.stepCount, 2);

        const skipping = c.make(makeParams(), { nonFinite: 'skip' });
        skipping.step(makeGrads(0));
        const before2 = skipping.stateDict();
        skipping.step(grads);
        assert.equal(skipping.skippedSteps, 1);
        assert.equal(skipping.stepCount, 1);
        const after2 = skipping.stateDict();
        // Only the skip counter moved.
        after2.tensors.forEach((t, i) => {
          if (t.name === 'steps') return;
          assert.deepEqual(t.data, before2.tensors[i].data);
        });
      }
    });

    test('a gradient whose statistics would overflow float32 is refused like a non-finite one', () => {
      const params = makeParams();
      const opt = c.make(params);
      opt.step(makeGrads(0));
      const before = snapshot(opt, params);
      const grads = makeGrads(1);
      grads[0].fill(1e18);
      assert.throws(() => opt.step(grads), NonFiniteError);
      assertBitIdentical(before, snapshot(opt, params));
    });

    test('stateDict round trip: a run restored at step k continues bit-identically', () => {
      const params = makeParams();
      const opt = c.make(params);
      for (let t = 0; t < 3; t++) opt.step(makeGrads(t));
      const saved = snapshot(opt, params);
      for (let t = 3; t < 8; t++) opt.step(makeGrads(t));
      const reference = snapshot(opt, params);

      const params2 = makeParams(99);
      const opt2 = c.make(params2);
      opt2.loadStateDict(saved.state);
      for (let i = 0; i < params2.length; i++) params2[i].data.set(saved.data[i]);
      assert.equal(opt2.stepCount, 3);
      for (let t = 3; t < 8; t++) opt2.step(makeGrads(t));
      assertBitIdentical(reference, snapshot(opt2, params2));
    });

    test('loadStateDict rejects another method, other shapes and damaged tensors, changing nothing', () => {
      const params = makeParams();
      const opt = c.make(params);
      opt.step(makeGrads(0));
      const state = opt.stateDict();
      const other = CASES.find((o) => o.name !== c.name)!;
      const foreign = other.make(makeParams());
      foreign.step(makeGrads(0));
      const before = snapshot(opt, params);
      assert.throws(() => opt.loadStateDict(foreign.stateDict()), StateDictError);
      const reshaped = c.make([{ data: new Float32Array(30), shape: [5, 6] }, ...makeParams().slice(1)]);
      assert.throws(() => reshaped.loadStateDict(state), StateDictError);
      const damaged = structuredClone(state);
      const big = damaged.tensors.reduce((a, t) => (t.data.length > a.data.length ? t : a));
      (big.data as Float32Array)[0] = Number.NaN;
      assert.throws(() => opt.loadStateDict(damaged), StateDictError);
      const truncated = structuredClone(state);
      truncated.tensors[truncated.tensors.length - 1].data = new Float32Array(1);
      assert.throws(() => opt.loadStateDict(truncated), StateDictError);
      assertBitIdentical(before, snapshot(opt, params));
    });

    test('stateBytes() equals the analytic count and the bytes of every state tensor', () => {
      const opt = c.make(makeParams());
      const bytes = opt.stateBytes();
      assert.equal(bytes.total, c.bytes);
      const held = opt.stateDict().tensors.reduce((a, t) => a + t.data.byteLength, 0);
      assert.equal(held, bytes.total);
      const byKind = Object.values(bytes.byKind).reduce((a, b) => a + (b ?? 0), 0);
      assert.equal(byKind, bytes.total);
    });
  });
}

test('stateBytes matches ALGORITHMS.md §7 for an m×n weight', () => {
  const m = 12;
  const n = 7;
  const p = () => [{ data: new Float32Array(m * n), shape: [m, n] }];
  assert.equal(new AdamW(p()).stateBytes().total, 8 * m * n + 16);
  assert.equal(new SOAP(p()).stateBytes().total, 8 * (m * m + n * n) + 8 * m * n + COUNTERS);
  assert.equal(
    new KLShampoo(p()).stateBytes().total,
    8 * (m * m + n * n) + 4 * (m + n) + 4 * m * n + COUNTERS,
  );
  assert.equal(new KLSOAP(p()).stateBytes().total, 8 * (m * m + n * n) + 4 * (m + n) + 8 * m * n + COUNTERS);
  const soap = new SOAP(p()).stateBytes().byKind;
  assert.deepEqual(soap, {
    counter: COUNTERS,
    moment: 8 * m * n,
    factor: 4 * (m * m + n * n),
    basis: 4 * (m * m + n * n),
  });
});

/** A factor with huge finite entries makes the power step F·Q overflow: every refresh fails. */
function poisonFactors(opt: Optimizer): void {
  const state = opt.stateDict();
  for (const t of state.tensors) if (t.kind === 'factor') (t.data as Float32Array).fill(3e38);
  opt.loadStateDict(state);
}

for (const c of CASES.filter((x) => x.name !== 'AdamW')) {
  test(`${c.name}: failed refreshes keep the bases, count, and the fatal one leaves everything unchanged`, () => {
    const params = makeParams();
    const opt = c.make(params, {
      preconditionFrequency: 1,
      maxConsecutiveFailures: 2,
    }) as EigenbasisOptimizer;
    opt.step(makeGrads(0));
    opt.step(makeGrads(1));
    assert.equal(opt.consecutiveFailures, 0);
    poisonFactors(opt);
    const bases = () => opt.stateDict().tensors.filter((t) => t.kind === 'basis');
    const basesBefore = bases();
    opt.step(makeGrads(2));
    assert.equal(opt.consecutiveFailures, 1);
    opt.step(makeGrads(3));
    assert.equal(opt.consecutiveFailures, 2);
    assert.deepEqual(bases(), basesBefore);
    // Parameters still moved, and nothing non-finite entered the state.
    for (const t of opt.stateDict().tensors) {
      for (const x of t.data as Float32Array) assert.ok(Number.isFinite(x), `${t.name} is not finite`);
    }
    const before = snapshot(opt, params);
    assert.throws(() => opt.step(makeGrads(4)), ConvergenceError);
    assertBitIdentical(before, snapshot(opt, params));
    assert.equal(opt.stepCount, 4);
    // A clean refresh resets the count.
    const fresh = c.make(makeParams(), {
      preconditionFrequency: 1,
      maxConsecutiveFailures: 2,
    }) as EigenbasisOptimizer;
    fresh.loadStateDict(before.state);
    const healed = fresh.stateDict();
    const original = c.make(makeParams(), { preconditionFrequency: 1 });
    original.step(makeGrads(0));
    original.step(makeGrads(1));
    const goodFactors = original.stateDict().tensors.filter((t) => t.kind === 'factor');
    for (const t of healed.tensors) {
      if (t.kind === 'factor')
        (t.data as Float32Array).set(
          goodFactors.find((g) => g.name === t.name && g.param === t.param)!.data as Float32Array,
        );
    }
    fresh.loadStateDict(healed);
    fresh.step(makeGrads(4));
    assert.equal(fresh.consecutiveFailures, 0);
  });
}
