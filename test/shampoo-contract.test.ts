import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, ConvergenceError, NonFiniteError, ShapeError } from '../src/errors.ts';
import type { Param, StateDict } from '../src/optimizers/optimizer.ts';
import { Shampoo } from '../src/optimizers/shampoo.ts';
import type { ShampooConfig } from '../src/optimizers/shampoo-config.ts';
import { Rng } from './helpers/rng.ts';

const SHAPES = [[6, 5], [7], [], [2, 1, 3]];
const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);

function params(seed: number, shapes = SHAPES): Param[] {
  const rng = new Rng(seed);
  return shapes.map((shape, i) => ({ name: `p${i}`, shape, data: rng.normals(numel(shape), 0.3) }));
}

function grads(rng: Rng, shapes = SHAPES, scale = 1): Float32Array[] {
  return shapes.map((s) => rng.normals(numel(s), scale));
}

function clone(ps: Param[]): Param[] {
  return ps.map((p) => ({ ...p, data: p.data.slice() }));
}

function tensor(sd: StateDict, param: number, name: string): Float32Array {
  const t = sd.tensors.find((x) => x.param === param && x.name === name);
  assert.ok(t, `tensor ${name} of param ${param}`);
  return t.data as Float32Array;
}

const CONFIGS: [string, ShampooConfig][] = [
  [
    'distributed, Adam grafting',
    {
      lr: 1e-2,
      betas: [0.9, 0.999],
      maxPreconditionerDim: 4,
      preconditionFrequency: 2,
      startPreconditioningStep: 2,
      graftingConfig: { type: 'adam', beta2: 0.999, epsilon: 1e-8 },
      weightDecay: 1e-3,
    },
  ],
  [
    'distributed, eigendecomposed by QR, AdaGrad grafting, L2, β3 ≠ β1, Nesterov momentum',
    {
      lr: 1e-2,
      betas: [0.9, 0.99],
      beta3: 0.8,
      epsilon: 1e-8,
      maxPreconditionerDim: 4,
      preconditionFrequency: 2,
      weightDecay: 1e-3,
      weightDecayType: 'L2',
      graftingConfig: { type: 'adagrad', epsilon: 1e-8 },
      iterateAveragingConfig: { type: 'classicMomentum', momentum: 0.5, dampening: 0.1, useNesterov: true },
      preconditionerConfig: {
        type: 'eigendecomposed',
        amortizedComputationConfig: { type: 'qr', maxIterations: 2, tolerance: 0.001 },
      },
    },
  ],
  [
    'distributed, eigendecomposed by eigh with skip tolerance, RMSprop, corrected decay, trace scaling',
    {
      lr: 1e-2,
      betas: [0.5, 0.95],
      maxPreconditionerDim: 4,
      weightDecay: 1e-3,
      weightDecayType: 'CORRECTED',
      peakLr: 2e-2,
      graftingConfig: { type: 'rmsprop', beta2: 0.9, epsilon: 1e-6 },
      preconditionerConfig: {
        type: 'eigendecomposed',
        amortizedComputationConfig: { type: 'eigh', tolerance: 0.01 },
        useTraceScaling: true,
      },
    },
  ],
  [
    'distributed, summed factors, SGD grafting, 1-D unpreconditioned, exponent override',
    {
      lr: 1e-2,
      betas: [0, 1],
      maxPreconditionerDim: 4,
      precondition1d: false,
      graftingConfig: { type: 'sgd' },
      preconditionerConfig: { inverseExponentOverride: { 2: { 0: 0.5, 1: 0 } } },
    },
  ],
  [
    'lowbit AdamW',
    {
      variant: 'lowbit',
      lr: 1e-2,
      startPrecStep: 2,
      statComputeSteps: 1,
      precComputeSteps: 2,
      precMaxorder: 4,
      weightDecay: 0.01,
    },
  ],
  [
    'lowbit AdamW, Schur–Newton roots',
    {
      variant: 'lowbit',
      lr: 1e-2,
      statComputeSteps: 1,
      precComputeSteps: 2,
      precMaxorder: 4,
      invRootMode: 1,
    },
  ],
  [
    'lowbit SGD, Nesterov, 1-D preconditioned',
    {
      variant: 'lowbit',
      optimizer: 'sgd',
      lr: 1e-2,
      nesterov: true,
      weightDecay: 5e-4,
      statComputeSteps: 1,
      precComputeSteps: 3,
      precMaxorder: 4,
      precondition1d: true,
    },
  ],
];

for (const [name, config] of CONFIGS) {
  test(`stateDict round trip continues bit-identically: ${name}`, () => {
    const rng = new Rng(3);
    const seq = Array.from({ length: 12 }, () => grads(rng));
    const a = params(1);
    const optA = new Shampoo(a, config);
    for (let t = 0; t < 6; t++) optA.step(seq[t]);
    const sd = optA.stateDict();
    const b = clone(a);
    const optB = new Shampoo(b, config);
    optB.loadStateDict(sd);
    assert.equal(optB.stepCount, 6);
    for (let t = 6; t < 12; t++) {
      optA.step(seq[t]);
      optB.step(seq[t]);
    }
    a.forEach((p, i) => {
      assert.deepEqual(b[i].data, p.data, `param ${i}`);
      assert.ok(p.data.every(Number.isFinite));
    });
    const sa = optA.stateDict();
    const sb = optB.stateDict();
    sa.tensors.forEach((t, i) => {
      assert.deepEqual(sb.tensors[i].data, t.data, t.name);
    });
    // The trajectory moved away from the start (the test is not vacuous).
    assert.ok(a[0].data.some((v, k) => v !== params(1)[0].data[k]));
  });
}

test('stateBytes: the analytic count of §7, equal to what the state dict holds', () => {
  // [6,5] at max dim 4 → blocks (4,4) (4,1) (2,4) (2,1): Σd² = 74; [7] → (4) (3): 25; [] → (1): 1;
  // [2,1,3] → (2,3): 13. Factors and roots 4·Σd² each; filtered gradient and Adam grafting 4·numel each.
  const sumSq = 74 + 25 + 1 + 13;
  const n = 30 + 7 + 1 + 6;
  const counters = 4 * (4 + 2 + 1 + 1) + 16; // per-block failure counters (i32) + steps/skipped (f64×2)
  const ds = new Shampoo(params(1), CONFIGS[0][1]);
  const bytes = ds.stateBytes();
  assert.deepEqual(bytes.byKind, {
    factor: 4 * sumSq,
    root: 4 * sumSq,
    moment: 4 * n,
    grafting: 4 * n,
    counter: counters,
  });
  assert.equal(bytes.total, 8 * sumSq + 8 * n + counters);
  const held = ds.stateDict().tensors.reduce((a, t) => a + t.data.byteLength, 0);
  assert.equal(held, bytes.total);

  // §7 for one m×n block, fp32 unpacked, Adam grafting, β1 > 0: 8(m²+n²) + 8mn (+ counters).
  const one = new Shampoo([{ shape: [24, 40], data: new Float32Array(960) }], {
    maxPreconditionerDim: 64,
    graftingConfig: { type: 'adam' },
  });
  assert.equal(one.stateBytes().total, 8 * (24 * 24 + 40 * 40) + 8 * 960 + 4 + 16);

  // Low-bit form: per factor of order d, eigenvectors d² + eigenvalues d + root d² (fp32); AdamW m, v.
  // [6,5] → same 4 blocks (Σd² = 74, Σd = 22); [7] and [] get no preconditioner; [2,1,3] → (2,3) (13, 5).
  const lb = new Shampoo(params(1), CONFIGS[4][1]); // lowbit AdamW
  const lbBytes = lb.stateBytes();
  assert.deepEqual(lbBytes.byKind, {
    factor: 4 * (74 + 13),
    eigenvalues: 4 * (22 + 5),
    root: 4 * (74 + 13),
    moment: 8 * n,
    counter: 4 * (4 + 1) + 16,
  });
  assert.equal(
    lb.stateDict().tensors.reduce((a, t) => a + t.data.byteLength, 0),
    lbBytes.total,
  );
});

/** Factors with huge finite entries: their bias-corrected form (float32) or reconstruction overflows. */
function poisonFactors(opt: Shampoo): void {
  const state = opt.stateDict();
  for (const t of state.tensors) if (t.kind === 'factor') (t.data as Float32Array).fill(3e38);
  opt.loadStateDict(state);
}

function failures(sd: StateDict): number {
  return (sd.tensors.find((x) => x.name === 'refresh_failures')!.data as Int32Array)[0];
}

test('failure policy (distributed): a non-finite factor keeps the previous root, counts, then throws atomically', () => {
  const shapes = [[6, 5]];
  const ps = params(2, shapes);
  const opt = new Shampoo(ps, {
    lr: 1e-2,
    betas: [0.9, 0.999],
    maxPreconditionerDim: 8,
    preconditionFrequency: 2,
    startPreconditioningStep: 2,
    graftingConfig: { type: 'adam' },
  });
  const rng = new Rng(5);
  opt.step(grads(rng, shapes));
  opt.step(grads(rng, shapes)); // t = 2: first root refresh succeeds
  const healthy = opt.stateDict();
  const root = tensor(healthy, 0, 'block0.root0').slice();
  assert.ok(
    root.some((v, i) => v !== (i % 7 === 0 ? 1 : 0)),
    'the root moved away from I',
  );
  // F/(1 − β2ᵗ) overflows float32 from now on: every refresh fails.
  poisonFactors(opt);
  for (let t = 3; t <= 9; t++) {
    opt.step(grads(rng, shapes));
    const sd = opt.stateDict();
    assert.equal(failures(sd), Math.floor(t / 2) - 1, `t = ${t}`);
    assert.equal(opt.consecutiveFailures, Math.floor(t / 2) - 1);
    assert.deepEqual(tensor(sd, 0, 'block0.root0'), root, 'previous root kept');
    for (const x of sd.tensors) assert.ok((x.data as Float32Array).every(Number.isFinite), x.name);
    assert.ok(ps[0].data.every(Number.isFinite));
  }
  // t = 10: a fourth failure in a row exceeds the default tolerance of 3 → ConvergenceError, nothing changed.
  const before = opt.stateDict();
  const paramsBefore = ps[0].data.slice();
  assert.throws(() => opt.step(grads(rng, shapes)), ConvergenceError);
  assert.deepEqual(opt.stateDict(), before);
  assert.deepEqual(ps[0].data, paramsBefore);
  assert.equal(opt.stepCount, 9);
  // With healthy factors again, the next refresh succeeds and resets the count.
  const healed = opt.stateDict();
  for (const x of healed.tensors)
    if (x.kind === 'factor') (x.data as Float32Array).set(tensor(healthy, x.param, x.name));
  opt.loadStateDict(healed);
  opt.step(grads(rng, shapes));
  assert.equal(opt.consecutiveFailures, 0);
  assert.notDeepEqual(tensor(opt.stateDict(), 0, 'block0.root0'), root);
});

test('failure policy (lowbit): failed refreshes keep (Vt, S) and the root; four in a row throw atomically', () => {
  const shapes = [[6, 5]];
  const ps = params(4, shapes);
  const opt = new Shampoo(ps, {
    variant: 'lowbit',
    statComputeSteps: 1,
    precComputeSteps: 2,
    maxConsecutiveFailures: 3,
  });
  const rng = new Rng(6);
  opt.step(grads(rng, shapes));
  opt.step(grads(rng, shapes));
  poisonFactors(opt);
  const sd = opt.stateDict();
  const vt = tensor(sd, 0, 'block0.eigenvectors0').slice();
  const s = tensor(sd, 0, 'block0.eigenvalues0').slice();
  const root = tensor(sd, 0, 'block0.root0').slice();
  for (let k = 1; k <= 3; k++) {
    opt.step(grads(rng, shapes));
    const now = opt.stateDict();
    assert.deepEqual(tensor(now, 0, 'block0.eigenvectors0'), vt);
    assert.deepEqual(tensor(now, 0, 'block0.eigenvalues0'), s);
    assert.deepEqual(tensor(now, 0, 'block0.root0'), root);
    assert.equal(failures(now), k);
    assert.ok(ps[0].data.every(Number.isFinite));
  }
  const before = opt.stateDict();
  const paramsBefore = ps[0].data.slice();
  assert.throws(() => opt.step(grads(rng, shapes)), ConvergenceError);
  assert.deepEqual(opt.stateDict(), before);
  assert.deepEqual(ps[0].data, paramsBefore);
});

test('maxConsecutiveFailures: 0 throws on the first failed refresh, atomically', () => {
  const shapes = [[3, 2]];
  const ps = params(7, shapes);
  const opt = new Shampoo(ps, { betas: [0.9, 0.99], maxPreconditionerDim: 4, maxConsecutiveFailures: 0 });
  poisonFactors(opt);
  const before = ps[0].data.slice();
  assert.throws(() => opt.step(grads(new Rng(1), shapes)), ConvergenceError);
  assert.equal(opt.stepCount, 0);
  assert.deepEqual(ps[0].data, before);
});

test('gradients whose statistics would overflow float32 are refused like non-finite ones', () => {
  const shapes = [[3, 2]];
  const ps = params(7, shapes);
  for (const config of [{}, { variant: 'lowbit' }] as ShampooConfig[]) {
    const opt = new Shampoo(ps, config);
    const before = opt.stateDict();
    assert.throws(() => opt.step(grads(new Rng(1), shapes, 1e19)), NonFiniteError);
    assert.deepEqual(opt.stateDict(), before);
    const skipping = new Shampoo(ps, { ...config, nonFinite: 'skip' });
    skipping.step(grads(new Rng(1), shapes, 1e19));
    assert.equal(skipping.skippedSteps, 1);
  }
});

const INVALID: [Record<string, unknown>, string][] = [
  [{ lr: -1 }, 'lr'],
  [{ betas: [1, 0.9] }, 'betas[0]'],
  [{ betas: [0.9, 0] }, 'betas[1]'],
  [{ betas: [0.9] }, 'betas'],
  [{ beta3: 1 }, 'beta3'],
  [{ epsilon: 0 }, 'epsilon'],
  [{ eps: 1e-8 }, 'eps'],
  [{ preconditionFrequency: 10, startPreconditioningStep: 5 }, 'startPreconditioningStep'],
  [{ preconditionFrequency: 0 }, 'preconditionFrequency'],
  [{ maxPreconditionerDim: 0 }, 'maxPreconditionerDim'],
  [{ weightDecayType: 'decoupled' }, 'weightDecayType'],
  [{ graftingConfig: { type: 'adamw' } }, 'graftingConfig.type'],
  [{ graftingConfig: { type: 'adam', beta2: 0 } }, 'graftingConfig.beta2'],
  [{ graftingConfig: { type: 'sgd', epsilon: 1e-8 } }, 'graftingConfig.epsilon'],
  [{ iterateAveragingConfig: { type: 'classicMomentum', momentum: 0 } }, 'iterateAveragingConfig.momentum'],
  [
    { preconditionerConfig: { amortizedComputationConfig: { type: 'qr' } } },
    'preconditionerConfig.amortizedComputationConfig.type',
  ],
  [
    { preconditionerConfig: { inverseExponentOverride: { 2: { 5: 0.25 } } } },
    'preconditionerConfig.inverseExponentOverride.2.5',
  ],
  [
    { preconditionerConfig: { inverseExponentOverride: { 1: -0.5 } } },
    'preconditionerConfig.inverseExponentOverride.1',
  ],
  [
    { preconditionerConfig: { factorMatrixDtype: 'torch.bfloat16' } },
    'preconditionerConfig.factorMatrixDtype',
  ],
  [
    { maxConsecutiveFailures: 2, preconditionerConfig: { numToleratedFailedAmortizedComputations: 3 } },
    'maxConsecutiveFailures',
  ],
  [{ variant: 'soap' }, 'variant'],
  [{ variant: 'lowbit', epsilon: 1e-12 }, 'epsilon'],
  [{ variant: 'lowbit', momentum: 0.9 }, 'momentum'],
  [{ variant: 'lowbit', optimizer: 'sgd', eps: 1e-8 }, 'eps'],
  [{ variant: 'lowbit', precBits: 8 }, 'precBits'],
  [{ variant: 'lowbit', precBits: 4, precision: 'fp32' }, 'precBits'],
  [{ variant: 'lowbit', subspaceSize: 8 }, 'subspaceSize'],
  [{ precBits: 4 }, 'precBits'],
  [{ precision: 'fp16' }, 'precision'],
  [{ momentPrecision: 'fp16' }, 'momentPrecision'],
  [{ variant: 'lowbit', statComputeSteps: 0 }, 'statComputeSteps'],
  [{ variant: 'lowbit', statDecay: 1.5 }, 'statDecay'],
  [{ variant: 'lowbit', quanBlocksize: 100 }, 'quanBlocksize'],
  [{ variant: 'lowbit', invRootMode: 2 }, 'invRootMode'],
  [{ variant: 'lowbit', matrixEps: 0 }, 'matrixEps'],
];

test('invalid config → ConfigError naming the field, before anything else is checked or allocated', () => {
  for (const [config, field] of INVALID) {
    assert.throws(
      () => new Shampoo(params(1), config as ShampooConfig),
      (e: unknown) => e instanceof ConfigError && e.field === field,
      `${JSON.stringify(config)} → ${field}`,
    );
    // Config is validated before the parameters: a bad parameter list does not mask the config error.
    assert.throws(
      () => new Shampoo([{ shape: [2], data: new Float32Array(3) }], config as ShampooConfig),
      ConfigError,
    );
  }
});

test('the reference class names are accepted for the type tags', () => {
  const opt = new Shampoo(params(1), {
    graftingConfig: { type: 'AdamPreconditionerConfig', beta2: 0.99, epsilon: 1e-8 },
    preconditionerConfig: {
      type: 'EigendecomposedShampooPreconditionerConfig',
      amortizedComputationConfig: {
        type: 'QREigendecompositionConfig',
        rankDeficientStabilityConfig: { type: 'PerturbationConfig', perturbBeforeComputation: false },
      },
    },
    iterateAveragingConfig: { type: 'ClassicMomentumConfig' },
    distributedConfig: { type: 'SingleDeviceDistributedConfig', targetParameterDimensionality: 1 },
  });
  const c = opt.config;
  assert.equal(c.variant, 'distributed');
  if (c.variant !== 'distributed') return;
  assert.equal(c.graftingConfig?.type, 'adam');
  assert.equal(c.preconditionerConfig?.type, 'eigendecomposed');
  const a = c.preconditionerConfig?.amortizedComputationConfig;
  assert.equal(a?.type, 'qr');
  assert.equal(a?.rankDeficientStabilityConfig?.perturbBeforeComputation, false);
  assert.deepEqual(c.iterateAveragingConfig, {
    type: 'classicMomentum',
    momentum: 0.5,
    dampening: 0,
    useNesterov: false,
  });
});

test("defaults are the references'", () => {
  const ds = new Shampoo(params(1)).config;
  assert.equal(ds.variant, 'distributed');
  if (ds.variant === 'distributed') {
    assert.equal(ds.lr, 1e-2);
    assert.deepEqual(ds.betas, [0.9, 1]);
    assert.equal(ds.beta3, 0.9);
    assert.equal(ds.epsilon, 1e-12);
    assert.equal(ds.maxPreconditionerDim, 1024);
    assert.equal(ds.preconditionFrequency, 1);
    assert.equal(ds.startPreconditioningStep, 1);
    assert.equal(ds.graftingConfig, null);
    assert.equal(ds.weightDecayType, 'DECOUPLED');
    assert.equal(ds.maxConsecutiveFailures, 3);
  }
  const lb = new Shampoo(params(1), { variant: 'lowbit' }).config;
  assert.equal(lb.variant, 'lowbit');
  if (lb.variant === 'lowbit') {
    assert.equal(lb.lr, 1e-3);
    assert.equal(lb.statComputeSteps, 100);
    assert.equal(lb.precComputeSteps, 500);
    assert.equal(lb.statDecay, 0.95);
    assert.equal(lb.matrixEps, 1e-6);
    assert.equal(lb.precMaxorder, 1200);
    assert.equal(lb.rectT1, 1);
    assert.equal(lb.rectT2, 4);
  }
  const sgd = new Shampoo(params(1), { variant: 'lowbit', optimizer: 'sgd' }).config;
  if (sgd.variant === 'lowbit') assert.equal(sgd.lr, 0.1);
});

test('weight decay types: CORRECTED with peakLr = lr and INDEPENDENT with peakLr = 1 match DECOUPLED; L2 differs', () => {
  const run = (extra: Record<string, unknown>) => {
    const ps = params(8);
    const opt = new Shampoo(ps, {
      lr: 0.05,
      maxPreconditionerDim: 4,
      weightDecay: 0.1,
      graftingConfig: { type: 'adam' },
      ...extra,
    } as ShampooConfig);
    const rng = new Rng(9);
    for (let t = 0; t < 4; t++) opt.step(grads(rng));
    return ps.map((p) => p.data);
  };
  const decoupled = run({});
  const independent = run({ weightDecayType: 'INDEPENDENT', peakLr: 1 });
  assert.deepEqual(independent, decoupled);
  const corrected = run({ weightDecayType: 'CORRECTED', peakLr: 0.05 });
  corrected.forEach((p, i) => {
    p.forEach((v, k) => {
      assert.ok(Math.abs(v - decoupled[i][k]) <= 1e-7);
    });
  });
  const l2 = run({ weightDecayType: 'L2' });
  assert.ok(l2[0].some((v, k) => Math.abs(v - decoupled[0][k]) > 1e-5));
});

test('a factor too large to allocate is a ShapeError naming the parameter and the option', () => {
  const long = [{ name: 'embedding', shape: [20000], data: new Float32Array(20000) }];
  assert.throws(
    () => new Shampoo(long, { maxPreconditionerDim: Number.POSITIVE_INFINITY }),
    (e: unknown) =>
      e instanceof ShapeError && /embedding/.test(e.message) && /maxPreconditionerDim/.test(e.message),
  );
  const wide = [{ name: 'w', shape: [2, 20000], data: new Float32Array(40000) }];
  assert.throws(
    () => new Shampoo(wide, { variant: 'lowbit', precMaxorder: 30000 }),
    (e: unknown) => e instanceof ShapeError && /precMaxorder/.test(e.message),
  );
  // The defaults block such parameters instead.
  assert.ok(new Shampoo(long).stateBytes().total > 0);
});

test('the resolved config is an input config: new Shampoo(params, opt.config) is the same optimizer', () => {
  const variants: ShampooConfig[] = [
    {},
    { variant: 'lowbit' },
    { variant: 'lowbit', optimizer: 'sgd' },
    { variant: 'lowbit', precBits: 32 },
    { graftingConfig: { type: 'AdaGradPreconditionerConfig' }, maxPreconditionerDim: Infinity },
    { preconditionerConfig: { type: 'eigendecomposed', amortizedComputationConfig: { type: 'qr' } } },
    ...CONFIGS.map(([, c]) => c),
  ];
  for (const config of variants) {
    const label = JSON.stringify(config);
    const a = params(1);
    const optA = new Shampoo(a, config);
    const b = clone(a);
    const optB = new Shampoo(b, structuredClone(optA.config) as ShampooConfig);
    assert.deepEqual(optB.config, optA.config, label);
    assert.equal(optB.method, optA.method, label);
    assert.deepEqual(optB.stateDict().config, optA.stateDict().config, label);
    const rng = new Rng(5);
    for (let t = 0; t < 4; t++) {
      const g = grads(rng);
      optA.step(g);
      optB.step(g);
    }
    a.forEach((p, i) => {
      assert.deepEqual(b[i].data, p.data, `${label}: param ${i}`);
    });
  }
});
