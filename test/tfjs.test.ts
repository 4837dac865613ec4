import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { encodeCheckpoint } from '../src/checkpoint/encode.ts';
import { CheckpointError, ShapeError } from '../src/errors.ts';
import type { Optimizer, Param } from '../src/optimizers/optimizer.ts';
import {
  CHECKPOINT_WEIGHT_NAME,
  decodeTfjsConfig,
  encodeTfjsConfig,
  type NamedTensor,
  packBytes,
  ShampooTsOptimizer as ShampooTsOptimizerBase,
  type ShampooTsOptimizerClass,
  TFJS_OPTIMIZER_CLASSES,
  unpackBytes,
} from '../src/tfjs/index.ts';
import { availableMethods, type MethodCase, supportedPrecisions } from './helpers/methods.ts';
import { BACKENDS, useBackend } from './helpers/tfjs-backends.ts';
import { ToyOptimizer } from './helpers/toy-optimizer.ts';
import { makeParams, rng, sameBits, train } from './helpers/training.ts';

interface Case {
  label: string;
  cls: ShampooTsOptimizerClass;
  config: Record<string, unknown>;
  core: MethodCase;
}

/** Every method (and Shampoo variant) × every precision it implements, with its adapter class. */
async function cases(): Promise<Case[]> {
  const methods = await availableMethods();
  return methods.flatMap((m) => {
    const cls = TFJS_OPTIMIZER_CLASSES.find((c) => c.className === `ShampooTs${m.className}`);
    if (!cls) throw new Error(`no tfjs adapter class for ${m.className}`);
    return supportedPrecisions(m, makeParams(1)).map((precision) => ({
      label: `${m.label} ${precision}`,
      cls,
      config: { ...m.config, precision },
      core: m,
    }));
  });
}

/** tfjs-layers' key/string conversion on load (generic_utils.toCamelCase), reimplemented as an oracle. */
function pythonicToTs(v: unknown): unknown {
  const camel = (s: string) =>
    s.length <= 1 || !s.includes('_') ? s : s.replace(/[_]+(\w|$)/g, (_m, c: string) => c.toUpperCase());
  if (typeof v === 'string') return camel(v);
  if (Array.isArray(v)) return v.map(pythonicToTs);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [camel(k), pythonicToTs(x)]));
  }
  return v;
}

/** An in-memory save/load target that, like a model.json on disk, passes everything but the weights through JSON. */
class MemoryStore {
  artifacts: tf.io.ModelArtifacts | null = null;
  readonly saver = tf.io.withSaveHandler(async (a) => {
    const { weightData, ...rest } = a;
    const copy = Array.isArray(weightData) ? weightData.map((b) => b.slice(0)) : weightData?.slice(0);
    this.artifacts = { ...JSON.parse(JSON.stringify(rest)), weightData: copy };
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  });
  loader(): tf.io.IOHandler {
    if (!this.artifacts) throw new Error('nothing saved');
    return tf.io.fromMemory(this.artifacts);
  }
}

const weightsOf = (model: tfl.LayersModel) => model.getWeights().map((w) => w.dataSync() as Float32Array);
const coreOf = (opt: tf.Optimizer): Optimizer => {
  const core = (opt as ShampooTsOptimizerBase).coreOptimizer;
  assert.ok(core, 'the core optimizer exists after a step');
  return core;
};

function tinyModel(): tfl.Sequential {
  return tfl.sequential({
    layers: [
      tfl.layers.dense({ units: 5, inputShape: [3], activation: 'tanh' }),
      tfl.layers.dense({ units: 2 }),
    ],
  });
}

function data(seed: number, n = 16) {
  const r = rng(seed);
  const x = Float32Array.from({ length: n * 3 }, () => r() * 2 - 1);
  const y = Float32Array.from({ length: n * 2 }, (_, i) => Math.sin(x[Math.floor(i / 2) * 3] * 2 + (i % 2)));
  return { x: tf.tensor2d(x, [n, 3]), y: tf.tensor2d(y, [n, 2]) };
}

/**
 * Trains a small model with `fit` (asserting no tensor leaks), saves it with its optimizer through a
 * JSON-faithful memory handler, reloads it, and checks that both continue bit-identically.
 */
async function fitSaveLoadContinue(
  cls: ShampooTsOptimizerClass,
  config: Record<string, unknown>,
  expectDescent = true,
): Promise<void> {
  const { x, y } = data(2);
  const model = tinyModel();
  model.compile({ optimizer: new cls(config), loss: 'meanSquaredError' });
  const first = await model.fit(x, y, { epochs: 1, batchSize: 4, shuffle: false, verbose: 0 });
  const before = tf.memory().numTensors;
  const h = await model.fit(x, y, { epochs: 6, batchSize: 4, shuffle: false, verbose: 0 });
  assert.equal(tf.memory().numTensors, before, 'fit leaks no tensors');
  const losses = h.history.loss as number[];
  if (expectDescent) {
    assert.ok(
      losses[5] < (first.history.loss[0] as number),
      `loss falls: ${first.history.loss[0]} → ${losses[5]}`,
    );
  }

  const store = new MemoryStore();
  await model.save(store.saver, { includeOptimizer: true });
  const specs = store.artifacts?.weightSpecs
    ?.filter((s) => s.group === 'optimizer')
    .map((s) => [s.name, s.dtype]);
  assert.deepEqual(specs, [
    ['iter', 'int32'],
    [CHECKPOINT_WEIGHT_NAME, 'int32'],
  ]);
  const restored = await tfl.loadLayersModel(store.loader());
  assert.equal(restored.optimizer.getClassName(), cls.className);
  assert.deepEqual(restored.optimizer.getConfig(), model.optimizer.getConfig());
  assert.equal(restored.optimizer.iterations, model.optimizer.iterations);
  assert.deepEqual((restored.optimizer as ShampooTsOptimizerBase).restoredConfigDifferences, []);
  // Variable names differ (tfjs adds suffixes); parameters are matched by position.
  assert.notDeepEqual(
    restored.trainableWeights.map((v) => v.name),
    model.trainableWeights.map((v) => v.name),
  );

  await model.fit(x, y, { epochs: 3, batchSize: 4, shuffle: false, verbose: 0 });
  await restored.fit(x, y, { epochs: 3, batchSize: 4, shuffle: false, verbose: 0 });
  const a = weightsOf(model);
  const b = weightsOf(restored);
  a.forEach((wa, i) => {
    assert.ok(sameBits(wa, b[i]), `weight ${i} identical after continuing`);
  });
  assert.deepEqual(encodeCheckpoint(coreOf(restored.optimizer)), encodeCheckpoint(coreOf(model.optimizer)));
  assert.equal(restored.optimizer.iterations, model.optimizer.iterations);

  model.optimizer.dispose();
  restored.optimizer.dispose();
  model.dispose();
  restored.dispose();
  tf.dispose([x, y]);
}

/** The all-dtype test optimizer as a registered tfjs optimizer. */
class ShampooTsToy extends ShampooTsOptimizerBase {
  static readonly className = 'ShampooTsToy';
  protected createCore(params: Param[], config: Record<string, unknown>): Optimizer {
    return new ToyOptimizer(params, config);
  }
}
tf.serialization.registerClass(ShampooTsToy);

describe('tfjs adapter: codecs and registration', () => {
  test('every core method has a registered adapter class', async () => {
    const cs = await cases();
    assert.ok(cs.length >= 1);
    const map = tf.serialization.SerializationMap.getMap().classNameMap;
    for (const c of cs) assert.equal(map[c.cls.className]?.[0], c.cls, `${c.cls.className} registered`);
    assert.deepEqual(
      TFJS_OPTIMIZER_CLASSES.map((c) => c.className).sort(),
      [...new Set(cs.map((c) => c.cls.className))].sort(),
      'no adapter class without a core method',
    );
  });

  test('configs survive JSON and tfjs-layers key conversion', () => {
    const config = {
      lr: 3e-3,
      betas: [0.95, 0.95],
      dataFormat: 'channels_first',
      percent: '100%_5F',
      never: Number.POSITIVE_INFINITY,
      floor: Number.NEGATIVE_INFINITY,
      missing: Number.NaN,
      nested: { snake_key: 'a_b', list: [1, 'x_y', null, true] },
      dropped: undefined,
    };
    const wire = pythonicToTs(JSON.parse(JSON.stringify(encodeTfjsConfig(config))));
    const back = decodeTfjsConfig(wire as tf.serialization.ConfigDict);
    const { dropped: _d, ...expected } = config;
    assert.deepEqual(back, expected);
    assert.ok(Number.isNaN(back.missing));
    assert.throws(() => encodeTfjsConfig({ f: () => 0 }));
  });

  test('the engine and the non-finite policy given to an adapter reach its core', async () => {
    await useBackend('cpu');
    const cls = TFJS_OPTIMIZER_CLASSES.find((c) => c.className === 'ShampooTsSOAP');
    assert.ok(cls);
    const opt = new cls({ engine: 'typescript', nonFinite: 'skip', preconditionFrequency: 2 });
    const w = tf.variable(tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]), true, 'runtime_keys_w');
    opt.applyGradients([{ name: w.name, tensor: tf.ones([2, 3]) }]);
    opt.applyGradients([{ name: w.name, tensor: tf.fill([2, 3], Number.NaN) }]);
    const core = opt.coreOptimizer;
    assert.ok(core);
    assert.equal(core.engine, 'typescript');
    assert.equal(core.skippedSteps, 1);
    assert.equal(opt.getConfig().nonFinite, 'skip');
    w.dispose();
    opt.dispose();
  });

  test('checkpoint bytes pack into int32 and back, bit-exactly', () => {
    const r = rng(9);
    const bytes = Uint8Array.from({ length: 64 }, () => Math.floor(r() * 256));
    bytes.set([0xff, 0xff, 0xff, 0x7f, 0x00, 0x00, 0x00, 0x80], 0);
    const packed = packBytes(bytes);
    assert.equal(packed[0], 0x7fffffff);
    assert.equal(packed[1], -0x80000000);
    assert.deepEqual(unpackBytes(packed), bytes);
    assert.deepEqual(unpackBytes(Array.from(packed)), bytes);
    assert.throws(() => packBytes(new Uint8Array(6)), RangeError);
    assert.throws(() => unpackBytes([1.5]), CheckpointError);
  });
});

for (const backend of BACKENDS) {
  describe(`tfjs adapter on the ${backend} backend`, async () => {
    const all = await cases();

    for (const c of all) {
      test(`${c.label}: minimize equals the core optimizer bit for bit, without leaks`, async () => {
        await useBackend(backend);
        const { x, y } = data(1);
        const init = makeParams(3, [[3, 2], [2]]);
        const w = tf.variable(tf.tensor(init[0].data, [3, 2]));
        const b = tf.variable(tf.tensor(init[1].data, [2]));
        const loss = (wt: tf.Tensor, bt: tf.Tensor) =>
          tf.losses.meanSquaredError(y, tf.add(tf.matMul(x, wt), bt));
        const opt = new c.cls(c.config);
        const oracle = c.core.create(makeParams(3, [[3, 2], [2]]), c.config);
        const before = tf.memory().numTensors;
        for (let s = 0; s < 8; s++) {
          // The oracle: gradients from tfjs on plain tensors of the oracle's own parameters, then a core step.
          const grads = tf.tidy(() => {
            const [gw, gb] = tf.grads((a: tf.Tensor, c2: tf.Tensor) => loss(a, c2) as tf.Scalar)([
              tf.tensor(oracle.params[0].data, [3, 2]),
              tf.tensor(oracle.params[1].data, [2]),
            ]);
            return [gw.dataSync().slice() as Float32Array, gb.dataSync().slice() as Float32Array];
          });
          oracle.step(grads);
          opt.minimize(() => loss(w, b) as tf.Scalar);
          if (s === 3) {
            // A change from outside between steps is picked up (the variable is the source of truth).
            const moved = Float32Array.from(w.dataSync(), (v, i) => v + 0.25 * Math.cos(i));
            tf.tidy(() => w.assign(tf.tensor(moved, [3, 2])));
            oracle.params[0].data.set(moved);
          }
          if (s === 0) assert.equal(tf.memory().numTensors, before, 'no tensor survives a step');
        }
        assert.equal(tf.memory().numTensors, before, 'flat after 8 minimize steps');
        assert.ok(sameBits(w.dataSync() as Float32Array, oracle.params[0].data), 'w equals the core run');
        assert.ok(sameBits(b.dataSync() as Float32Array, oracle.params[1].data), 'b equals the core run');
        assert.deepEqual(encodeCheckpoint(coreOf(opt)), encodeCheckpoint(oracle));
        assert.equal(opt.iterations, 8);
        opt.dispose();
        tf.dispose([w, b, x, y]);
      });

      test(`${c.label}: model.fit trains without leaks; save/load with the optimizer continues exactly`, async () => {
        await useBackend(backend);
        await fitSaveLoadContinue(c.cls, c.config);
      });
    }

    test('state of every dtype (f32, f64, u8, u16, i32) survives model.save and loadLayersModel', async () => {
      await useBackend(backend);
      await fitSaveLoadContinue(ShampooTsToy, { lr: 0.01 }, false);
    });

    test('getWeights tensors are owned by the optimizer and freed by dispose', async () => {
      await useBackend(backend);
      const c = all[0];
      const v = tf.variable(tf.tensor([1, 2, 3, 4], [2, 2]));
      const baseline = tf.memory().numTensors;
      const opt = new c.cls(c.config);
      assert.deepEqual(
        (await opt.getWeights()).map((w) => w.name),
        ['iter'],
        'no state before the first step',
      );
      for (let s = 0; s < 3; s++) opt.minimize(() => tf.sum(tf.square(v)) as tf.Scalar);
      await opt.getWeights();
      const weights = await opt.getWeights();
      assert.deepEqual(
        weights.map((w) => w.name),
        ['iter', CHECKPOINT_WEIGHT_NAME],
      );
      assert.equal(tf.memory().numTensors, baseline + 2, 'only the last getWeights result is held');
      // setWeights(getWeights()) is the identity.
      const bytes = encodeCheckpoint(coreOf(opt));
      await opt.setWeights(weights);
      assert.deepEqual(encodeCheckpoint(coreOf(opt)), bytes);
      // Another learning rate: the state is restored, the optimizer keeps its own config, the difference is listed.
      const other = new c.cls({ ...c.config, lr: 0.5 });
      await other.setWeights(weights);
      assert.deepEqual(other.restoredConfigDifferences, [`lr: ${c.config.lr} → 0.5`]);
      assert.equal(other.iterations, 3);
      other.minimize(() => tf.sum(tf.square(v)) as tf.Scalar);
      assert.equal(coreOf(other).stepCount, 4, 'continued from the restored state');
      // Without a checkpoint weight the optimizer starts afresh.
      await other.setWeights([weights[0]]);
      assert.equal((other as ShampooTsOptimizerBase).coreOptimizer, null);
      other.dispose();
      opt.dispose();
      assert.equal(tf.memory().numTensors, baseline, 'dispose frees everything');
      v.dispose();
    });

    test('wrong variables, wrong shapes and foreign state are rejected without changing anything', async () => {
      await useBackend(backend);
      const c = all[0];
      const v1 = tf.variable(tf.tensor(makeParams(4, [[3, 2]])[0].data, [3, 2]));
      const v2 = tf.variable(tf.tensor([0.5, -0.5], [2]));
      const opt = new c.cls(c.config);
      const f = () => tf.add(tf.sum(tf.square(v1)), tf.sum(v2)) as tf.Scalar;
      opt.minimize(f, false, [v1, v2]);
      const core = coreOf(opt);
      const state = encodeCheckpoint(core);
      const values = [v1.dataSync().slice(), v2.dataSync().slice()];
      const unchanged = (context: string) => {
        assert.deepEqual(encodeCheckpoint(coreOf(opt)), state, `${context}: state`);
        assert.deepEqual([v1.dataSync(), v2.dataSync()], values, `${context}: variables`);
        assert.equal(opt.iterations, 1, `${context}: iterations`);
      };

      assert.throws(() => opt.minimize(f, false, [v1]), ShapeError);
      unchanged('one variable fewer');
      assert.throws(() => opt.minimize(f, false, [v2, v1]), ShapeError);
      unchanged('swapped positions');
      assert.throws(() => opt.applyGradients({ nope: tf.zeros([2]) }), ShapeError);
      unchanged('unknown variable');
      const intVar = tf.variable(tf.tensor([1, 2], [2], 'int32'));
      assert.throws(() => opt.applyGradients([{ name: intVar.name, tensor: tf.zeros([2]) }]), ShapeError);
      unchanged('int32 variable');

      const weights = await opt.getWeights();
      const carrier = weights[1];
      const bytes = unpackBytes((await carrier.tensor.data()) as Int32Array);
      const withCheckpoint = (b: Uint8Array): NamedTensor[] => [
        weights[0],
        { name: CHECKPOINT_WEIGHT_NAME, tensor: tf.tensor1d(packBytes(b), 'int32') },
      ];
      const rejects = async (w: NamedTensor[], reason: CheckpointError['reason'], context: string) => {
        await assert.rejects(
          opt.setWeights(w),
          (e: unknown) => e instanceof CheckpointError && e.reason === reason,
          context,
        );
        unchanged(context);
      };
      const flipped = bytes.slice();
      flipped[bytes.length - 3] ^= 4;
      await rejects(withCheckpoint(flipped), 'corrupted', 'flipped byte');
      await rejects(withCheckpoint(bytes.subarray(0, bytes.length - 16)), 'truncated', 'truncated');
      const toy = new ToyOptimizer(makeParams(1, [[3, 2], [2]]));
      train(toy, 0, 2);
      await rejects(withCheckpoint(encodeCheckpoint(toy)), 'mismatch', 'other method');
      const otherShapes = c.core.create(makeParams(1, [[2, 3], [2]]), c.config);
      await rejects(withCheckpoint(encodeCheckpoint(otherShapes)), 'mismatch', 'other shapes');
      await rejects(
        [weights[0], { name: CHECKPOINT_WEIGHT_NAME, tensor: tf.tensor1d([1, 2], 'float32') }],
        'format',
        'float32 carrier',
      );

      // A restored state for other shapes, before the variables are known, fails at the first step.
      const fresh = new c.cls(c.config);
      await fresh.setWeights(withCheckpoint(encodeCheckpoint(otherShapes)));
      assert.throws(
        () => fresh.minimize(f, false, [v1, v2]),
        (e: unknown) => e instanceof CheckpointError && e.reason === 'mismatch',
      );
      assert.deepEqual([v1.dataSync(), v2.dataSync()], values, 'variables untouched');
      fresh.dispose();
      opt.dispose();
      tf.dispose([v1, v2, intVar]);
    });
  });
}
