import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { useBackend } from '../src/cli/backend.ts';
import { CausalSelfAttention } from '../src/cli/models/causal-self-attention.ts';
import { LayerNorm } from '../src/cli/models/layer-norm.ts';
import { buildMlp } from '../src/cli/models/mlp.ts';
import { TokenEmbedding } from '../src/cli/models/token-embedding.ts';
import { buildTransformerLm } from '../src/cli/models/transformer-lm.ts';
import { Prng } from '../src/cli/prng.ts';

function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const r = new Prng(seed);
  return Float32Array.from({ length: n }, () => (r.next() * 2 - 1) * scale);
}

/** Multi-head causal attention in float64, straight from the definition. */
function attentionOracle(
  x: Float32Array,
  [B, T, D]: number[],
  heads: number,
  w: {
    q: Float32Array;
    k: Float32Array;
    v: Float32Array;
    o: Float32Array;
    bq: Float32Array;
    bk: Float32Array;
    bv: Float32Array;
    bo: Float32Array;
  },
): Float64Array {
  const dh = D / heads;
  const proj = (W: Float32Array, b: Float32Array) => {
    const out = new Float64Array(B * T * D);
    for (let r = 0; r < B * T; r++)
      for (let j = 0; j < D; j++) {
        let s = b[j];
        for (let i = 0; i < D; i++) s += x[r * D + i] * W[i * D + j];
        out[r * D + j] = s;
      }
    return out;
  };
  const q = proj(w.q, w.bq);
  const k = proj(w.k, w.bk);
  const v = proj(w.v, w.bv);
  const mixed = new Float64Array(B * T * D);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < heads; h++)
      for (let t = 0; t < T; t++) {
        const scores: number[] = [];
        for (let u = 0; u <= t; u++) {
          let s = 0;
          for (let e = 0; e < dh; e++) s += q[(b * T + t) * D + h * dh + e] * k[(b * T + u) * D + h * dh + e];
          scores.push(s / Math.sqrt(dh));
        }
        const m = Math.max(...scores);
        const p = scores.map((s) => Math.exp(s - m));
        const z = p.reduce((a, c) => a + c, 0);
        for (let e = 0; e < dh; e++) {
          let s = 0;
          for (let u = 0; u <= t; u++) s += (p[u] / z) * v[(b * T + u) * D + h * dh + e];
          mixed[(b * T + t) * D + h * dh + e] = s;
        }
      }
  const out = new Float64Array(B * T * D);
  for (let r = 0; r < B * T; r++)
    for (let j = 0; j < D; j++) {
      let s = w.bo[j];
      for (let i = 0; i < D; i++) s += mixed[r * D + i] * w.o[i * D + j];
      out[r * D + j] = s;
    }
  return out;
}

for (const backend of ['cpu', 'wasm'] as const) {
  test(`causal self-attention equals a float64 oracle (${backend})`, async () => {
    await useBackend(backend);
    const [B, T, D, H] = [2, 5, 8, 2];
    const layer = new CausalSelfAttention({ heads: H, seed: 3 });
    const input = tfl.input({ shape: [T, D] });
    const model = tfl.model({ inputs: input, outputs: layer.apply(input) as tfl.SymbolicTensor });
    // Non-zero biases so that they are checked too (they start at zero).
    const names = ['q', 'k', 'v', 'o', 'bq', 'bk', 'bv', 'bo'] as const;
    const order = layer.getWeights().map((t) => t.shape);
    const values = order.map((shape, i) =>
      randomArray(
        shape.reduce((a, b) => a * b, 1),
        10 + i,
        0.5,
      ),
    );
    layer.setWeights(values.map((v, i) => tf.tensor(v, order[i])));
    const weightNames = layer.weights.map((w) => w.originalName.split('/').pop());
    const byName = Object.fromEntries(
      weightNames.map((n, i) => [
        {
          query_kernel: 'q',
          key_kernel: 'k',
          value_kernel: 'v',
          output_kernel: 'o',
          query_bias: 'bq',
          key_bias: 'bk',
          value_bias: 'bv',
          output_bias: 'bo',
        }[n!]!,
        values[i],
      ]),
    ) as Record<(typeof names)[number], Float32Array>;
    const x = randomArray(B * T * D, 99);
    const y = tf.tidy(() => (model.predict(tf.tensor3d(x, [B, T, D])) as tf.Tensor).dataSync());
    const want = attentionOracle(x, [B, T, D], H, byName);
    for (let i = 0; i < want.length; i++)
      assert.ok(Math.abs(y[i] - want[i]) < 2e-5, `${i}: ${y[i]} vs ${want[i]}`);
    model.dispose();
  });
}

test('Transformer LM: logits shape, causality (a later token never changes earlier outputs), seeded weights', async () => {
  await useBackend('cpu');
  const cfg = { vocabSize: 11, context: 8, width: 16, layers: 2, heads: 2 };
  const model = buildTransformerLm(cfg, 5);
  const tokens = Int32Array.from({ length: 2 * 8 }, (_, i) => (i * 7) % 11);
  const changed = tokens.slice();
  changed[5] = (changed[5] + 3) % 11; // sequence 0, position 5
  const [a, b] = [tokens, changed].map((t) =>
    tf.tidy(() => (model.predict(tf.tensor2d(t, [2, 8], 'int32')) as tf.Tensor).arraySync() as number[][][]),
  );
  assert.deepEqual([a.length, a[0].length, a[0][0].length], [2, 8, 11]);
  for (let t = 0; t < 5; t++) assert.deepEqual(a[0][t], b[0][t], `position ${t} must not see position 5`);
  for (let t = 5; t < 8; t++) assert.notDeepEqual(a[0][t], b[0][t], `position ${t} sees position 5`);
  assert.deepEqual(a[1], b[1], 'the other sequence is untouched');

  const weights = (m: tfl.LayersModel) => m.getWeights().map((w) => Array.from(w.dataSync()));
  const same = buildTransformerLm(cfg, 5);
  const other = buildTransformerLm(cfg, 6);
  assert.deepEqual(weights(same), weights(model));
  assert.notDeepEqual(weights(other)[0], weights(model)[0]);
  // Every attention layer draws its own seed: the two blocks' query kernels differ.
  const queries = model.getWeights().filter((_, i) => model.weights[i].originalName.endsWith('query_kernel'));
  assert.equal(queries.length, 2);
  assert.notDeepEqual(Array.from(queries[0].dataSync()), Array.from(queries[1].dataSync()));
  for (const m of [model, same, other]) m.dispose();
});

for (const backend of ['cpu', 'wasm'] as const) {
  test(`token embedding: same rows and gradient as a gather (${backend})`, async () => {
    await useBackend(backend);
    const layer = new TokenEmbedding({ vocabSize: 7, width: 3, seed: 1 });
    const ids = tf.tensor2d([0, 6, 2, 2, 5, 1], [2, 3], 'int32');
    const out = layer.apply(ids) as tf.Tensor;
    const table = layer.getWeights()[0];
    assert.deepEqual(out.shape, [2, 3, 3]);
    assert.deepEqual(
      Array.from(out.dataSync()),
      Array.from(tf.gather(table, tf.reshape(ids, [6])).dataSync()),
    );
    // d/dtable of sum(w · emb): row r gets w summed over the positions holding token r (2 twice → doubled).
    const w = tf.tensor3d(randomArray(18, 4), [2, 3, 3]);
    const variable = layer.trainableWeights[0].read() as tf.Variable;
    const { grads } = tf.variableGrads(
      () => tf.sum(tf.mul(layer.apply(ids) as tf.Tensor, w)) as tf.Scalar,
      [variable],
    );
    const g = grads[variable.name];
    const wv = w.dataSync();
    const want = new Float32Array(21);
    [0, 6, 2, 2, 5, 1].forEach((id, p) => {
      for (let j = 0; j < 3; j++) want[id * 3 + j] += wv[p * 3 + j];
    });
    const gv = g.dataSync();
    for (let i = 0; i < 21; i++) assert.ok(Math.abs(gv[i] - want[i]) < 1e-6, `${i}: ${gv[i]} vs ${want[i]}`);
    layer.dispose();
  });
}

test('layer norm over the last axis equals a float64 oracle, and so do its γ and β gradients', async () => {
  await useBackend('wasm');
  const [rows, width] = [6, 5];
  const layer = new LayerNorm({ epsilon: 1e-5 });
  const x = randomArray(rows * width, 21, 3);
  const input = tf.tensor3d(x, [2, 3, width]);
  layer.apply(input);
  const gamma = randomArray(width, 22);
  const beta = randomArray(width, 23);
  layer.setWeights([tf.tensor1d(gamma), tf.tensor1d(beta)]);
  const dy = randomArray(rows * width, 24);
  const vars = layer.trainableWeights.map((w) => w.read() as tf.Variable);
  const { value, grads } = tf.variableGrads(
    () => tf.sum(tf.mul(layer.apply(input) as tf.Tensor, tf.tensor3d(dy, [2, 3, width]))) as tf.Scalar,
    vars,
  );
  const y = (layer.apply(input) as tf.Tensor).dataSync();
  const gGamma = new Float64Array(width);
  const gBeta = new Float64Array(width);
  let dot = 0;
  for (let r = 0; r < rows; r++) {
    const row = Array.from(x.subarray(r * width, (r + 1) * width));
    const mean = row.reduce((a, b) => a + b, 0) / width;
    const variance = row.reduce((a, b) => a + (b - mean) ** 2, 0) / width;
    for (let j = 0; j < width; j++) {
      const normed = (row[j] - mean) / Math.sqrt(variance + 1e-5);
      const want = normed * gamma[j] + beta[j];
      assert.ok(Math.abs(y[r * width + j] - want) < 1e-5, `y[${r},${j}]`);
      gGamma[j] += dy[r * width + j] * normed;
      gBeta[j] += dy[r * width + j];
      dot += dy[r * width + j] * want;
    }
  }
  assert.ok(Math.abs(value.dataSync()[0] - dot) < 1e-4);
  const [gg, gb] = vars.map((v) => grads[v.name].dataSync());
  for (let j = 0; j < width; j++) {
    assert.ok(Math.abs(gg[j] - gGamma[j]) < 1e-5, `dγ[${j}]`);
    assert.ok(Math.abs(gb[j] - gBeta[j]) < 1e-5, `dβ[${j}]`);
  }
  layer.dispose();
});

test('MLP: 784-512-256-10 shapes, seeded and reproducible', async () => {
  await useBackend('cpu');
  const a = buildMlp(784, [512, 256], 10, 1);
  assert.deepEqual(
    a.trainableWeights.map((w) => w.shape),
    [[784, 512], [512], [512, 256], [256], [256, 10], [10]],
  );
  const b = buildMlp(784, [512, 256], 10, 1);
  const c = buildMlp(784, [512, 256], 10, 2);
  const first = (m: tfl.LayersModel) => Array.from(m.getWeights()[0].dataSync().subarray(0, 50));
  assert.deepEqual(first(a), first(b));
  assert.notDeepEqual(first(a), first(c));
  for (const m of [a, b, c]) m.dispose();
});

test('WASM matmul fast paths (transposes, batched SIMD gemm): same products and gradients as the CPU backend, nothing leaked', async () => {
  const cases: [number[], number[], boolean, boolean][] = [
    [[7, 5], [5, 3], false, false],
    [[5, 7], [5, 3], true, false],
    [[7, 5], [3, 5], false, true],
    [[5, 7], [3, 5], true, true],
    [[2, 3, 6, 4], [2, 3, 6, 5], true, false],
    [[2, 3, 4, 6], [1, 3, 5, 6], false, true],
    // Batched products (the SIMD gemm path): equal batch dims, a broadcast side, batch 1, both transposes.
    [[4, 2, 7, 5], [4, 2, 5, 3], false, false],
    [[4, 2, 5, 7], [4, 2, 3, 5], true, true],
    [[1, 7, 5], [3, 5, 2], false, false],
    [[3, 7, 5], [1, 2, 5], false, true],
    [[1, 17, 9], [1, 9, 65], false, false],
    [[6, 3, 4, 5], [5, 2], false, false],
  ];
  const compute = () =>
    cases.map(([sa, sb, ta, tb], i) =>
      tf.tidy(() => {
        const a = tf.tensor(
          randomArray(
            sa.reduce((x, y) => x * y),
            2 * i + 1,
          ),
          sa,
        );
        const b = tf.tensor(
          randomArray(
            sb.reduce((x, y) => x * y),
            2 * i + 2,
          ),
          sb,
        );
        const product = tf.matMul(a, b, ta, tb);
        // Gradients of a dense layer through the fused kernel (bias + relu): its backward pass uses transposes.
        const w = tf.tensor2d(randomArray(6 * 4, 50 + i), [6, 4]);
        const x = tf.tensor2d(randomArray(9 * 6, 60 + i), [9, 6]);
        const bias = tf.tensor1d(randomArray(4, 70 + i));
        const g = tf.grads((xx: tf.Tensor, ww: tf.Tensor) =>
          tf.sum(tf.fused.matMul({ a: xx as tf.Tensor2D, b: ww as tf.Tensor2D, bias, activation: 'relu' })),
        )([x, w]);
        return [product, ...g].map((t) => Array.from(t.dataSync()));
      }),
    );
  await useBackend('cpu');
  const want = compute();
  await useBackend('wasm');
  const backend = tf.engine().backend;
  const before = backend.numDataIds();
  const got = compute();
  assert.equal(backend.numDataIds(), before, 'transposed intermediates are freed');
  for (const [i, outs] of got.entries()) {
    for (const [j, values] of outs.entries()) {
      for (const [k, v] of values.entries()) {
        assert.ok(
          Math.abs(v - want[i][j][k]) < 1e-5,
          `case ${i} output ${j}[${k}]: ${v} vs ${want[i][j][k]}`,
        );
      }
    }
  }
});
