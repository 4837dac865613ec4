/**
 * Save an optimizer's state to a checkpoint file, load it into a fresh optimizer, and continue: the resumed
 * run is bit-for-bit the uninterrupted one. Uses the core API only (no tfjs).
 *
 *   node --import tsx examples/checkpoint.ts [--short]
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckpointError, inspectCheckpoint, type Param, SOAP } from 'shampoo-ts';
import { loadCheckpoint, saveCheckpoint } from 'shampoo-ts/node';

const short = process.argv.includes('--short') || process.env.SHAMPOO_TS_EXAMPLE_SHORT === '1';
const steps = short ? 12 : 200;

// Least squares: find W (16×8) with X·W ≈ Y for fixed X (32×16), Y (32×8).
const [n, d, k] = [32, 16, 8];
const seeded = (seed: number) => () =>
  ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
const rand = seeded(42);
const X = Float32Array.from({ length: n * d }, rand);
const Y = Float32Array.from({ length: n * k }, rand);

/** Gradient of ½‖X·W − Y‖² / n with respect to W, and the loss. */
function gradient(w: Float32Array): { grad: Float32Array; loss: number } {
  const r = new Float64Array(n * k);
  let loss = 0;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < k; j++) {
      let s = -Y[i * k + j];
      for (let t = 0; t < d; t++) s += X[i * d + t] * w[t * k + j];
      r[i * k + j] = s;
      loss += (0.5 * s * s) / n;
    }
  const grad = new Float32Array(d * k);
  for (let t = 0; t < d; t++)
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += X[i * d + t] * r[i * k + j];
      grad[t * k + j] = s / n;
    }
  return { grad, loss };
}

const newParams = (): Param[] => [{ data: new Float32Array(d * k), shape: [d, k], name: 'W' }];
const config = { lr: 3e-2, preconditionFrequency: 5 };
const run = (opt: SOAP, count: number) => {
  let loss = Number.NaN;
  for (let s = 0; s < count; s++) {
    const g = gradient(opt.params[0].data);
    loss = g.loss;
    opt.step([g.grad]);
  }
  return loss;
};

const dir = mkdtempSync(join(tmpdir(), 'shampoo-ts-example-'));
try {
  const path = join(dir, 'soap.ckpt');

  const uninterrupted = new SOAP(newParams(), config);
  const finalLoss = run(uninterrupted, 2 * steps);

  const first = new SOAP(newParams(), config);
  const midLoss = run(first, steps);
  const bytes = await saveCheckpoint(first, path, { metadata: { step: steps, note: 'example' } });
  const info = inspectCheckpoint(readFileSync(path));
  console.log(
    `saved ${bytes} bytes after ${steps} steps (loss ${midLoss.toFixed(5)}): method ${info.method}, ` +
      `format v${info.formatVersion}, ${info.tensors.length} tensors, metadata ${JSON.stringify(info.metadata)}`,
  );

  // The parameters live with the model (saved separately in real training); the checkpoint holds the state.
  const params = newParams();
  params[0].data.set(first.params[0].data);
  const resumed = new SOAP(params, config);
  const report = await loadCheckpoint(resumed, path);
  const resumedLoss = run(resumed, steps);
  const identical = resumed.params[0].data.every((v, i) => Object.is(v, uninterrupted.params[0].data[i]));
  console.log(
    `resumed at step ${report.stepCount}; after ${2 * steps} steps: loss ${resumedLoss.toFixed(5)} ` +
      `(uninterrupted ${finalLoss.toFixed(5)}), parameters bit-identical: ${identical}`,
  );

  // A damaged file is rejected, and the optimizer it was loaded into is left as it was.
  const damaged = readFileSync(path);
  damaged[damaged.length - 1] ^= 0x20;
  writeFileSync(path, damaged);
  try {
    await loadCheckpoint(resumed, path);
  } catch (e) {
    if (!(e instanceof CheckpointError)) throw e;
    console.log(`damaged file rejected: reason '${e.reason}' (${e.message})`);
  }
  if (!identical) process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
