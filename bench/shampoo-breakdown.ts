// Where Shampoo's step time goes: for each weight shape, the median step without a root refresh, the step
// with one (Distributed Shampoo, preconditionFrequency 10, default blocking at 1024; the second refresh
// period is timed), and the amortized time at refresh periods 10 and 100 derived from the two. Run with
//   node --import tsx bench/shampoo-breakdown.ts [--shapes 1024x1024,4096x1024] [--engine auto]
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type { EngineChoice } from '../src/kernels/index.ts';
import { Shampoo } from '../src/optimizers/shampoo.ts';

const { values } = parseArgs({
  options: {
    shapes: { type: 'string', default: '1024x1024,4096x1024' },
    engine: { type: 'string', default: 'auto' },
  },
});

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

console.log('# Shampoo step breakdown');
console.log(
  `node ${process.version}, ${cpus()[0]?.model ?? 'unknown cpu'} ×${cpus().length}, load ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}\n`,
);
console.log(
  '| weight | engine | blocks | step without refresh (ms) | refresh step (ms) | amortized f=10 (ms) | amortized f=100 (ms) |',
);
console.log('|---|---|---:|---:|---:|---:|---:|');
for (const shape of values.shapes.split(',').map((s) => s.split('x').map(Number))) {
  const [m, n] = shape;
  const param = { data: new Float32Array(m * n).fill(0.01), shape };
  let seed = 0x2545f491;
  const grad = Float32Array.from({ length: m * n }, () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 4294967296 - 0.5;
  });
  const opt = new Shampoo([param], { preconditionFrequency: 10, engine: values.engine as EngineChoice });
  const plain: number[] = [];
  let refresh = 0;
  // Two refresh periods; only the second is timed, so JIT warm-up and first allocations are excluded.
  for (let t = 1; t <= 20; t++) {
    const t0 = performance.now();
    opt.step([grad]);
    const ms = performance.now() - t0;
    if (t === 20) refresh = ms;
    else if (t > 10) plain.push(ms);
  }
  const base = median(plain);
  const blocks = Math.ceil(m / 1024) * Math.ceil(n / 1024);
  const amortized = (f: number) => ((f - 1) * base + refresh) / f;
  console.log(
    `| ${m}×${n} | ${opt.engine} | ${blocks} | ${base.toFixed(0)} | ${refresh.toFixed(0)} | ${amortized(10).toFixed(0)} | ${amortized(100).toFixed(0)} |`,
  );
}
