// Shampoo's storage precisions on a factor with an exact null space (inputs that never receive gradient, like
// MNIST's never-lit pixels), against ε: final loss of a 96×8 least-squares problem whose first 32 rows get no
// gradient (row scales 1, 0.1, 0.01, 0.001 elsewhere), and how far those dead rows drift from 0.
// Run with `node --import tsx bench/shampoo-null-space.ts` (≈ 10 s).
import { Shampoo } from '../src/optimizers/shampoo.ts';
import { Rng } from '../test/helpers/rng.ts';

const d = 96;
const n = 8;
const dead = 32;
const precisions = ['fp32', 'bf16', '4bit', 'bf16-naive', '4bit-naive'] as const;
console.log(`| ε | ${precisions.map((p) => `${p}: loss / dead-row drift`).join(' | ')} |`);
console.log(`|---:|${precisions.map(() => '---:').join('|')}|`);
for (const epsilon of [1e-12, 1e-6, 1e-3]) {
  const cells = precisions.map((precision) => {
    const rng = new Rng(3);
    const target = rng.normals(d * n, 1);
    const w = new Float32Array(d * n);
    const opt = new Shampoo([{ shape: [d, n], data: w }], {
      precision,
      epsilon,
      lr: 0.05,
      betas: [0.9, 0.999],
      preconditionFrequency: 5,
      graftingConfig: { type: 'adam' },
      minLowbitSize: 64,
    });
    const scale = Float32Array.from({ length: d }, (_, i) => (i < dead ? 0 : 10 ** -(i % 4)));
    for (let t = 0; t < 150; t++) {
      const noise = rng.normals(d * n, 0.01);
      const g = new Float32Array(d * n);
      for (let i = 0; i < d; i++)
        for (let j = 0; j < n; j++) {
          const k = i * n + j;
          g[k] = scale[i] * scale[i] * (w[k] - target[k]) + scale[i] * noise[k];
        }
      opt.step([g]);
    }
    let loss = 0;
    for (let i = 0; i < d; i++)
      for (let j = 0; j < n; j++) loss += 0.5 * (scale[i] * (w[i * n + j] - target[i * n + j])) ** 2;
    let drift = 0;
    for (let k = 0; k < dead * n; k++) drift = Math.max(drift, Math.abs(w[k]));
    return `${loss.toFixed(4)} / ${drift.toExponential(1)}`;
  });
  console.log(`| ${epsilon} | ${cells.join(' | ')} |`);
}
