// Kernel benchmark: GEMM and SYRK on each engine, eigh and QR from src/linalg. Prints the machine and one
// markdown table of medians. Run with `npm run bench:kernels`.
import { cpus, loadavg } from 'node:os';
import {
  availableEngines,
  createKernels,
  type EngineName,
  enableRelaxedSimd,
  type Kernels,
  selectEngine,
} from '../src/kernels/index.ts';
import { eigh, qr } from '../src/linalg/index.ts';

interface Timing {
  medianMs: number;
  runs: number;
}

/**
 * Median wall time of `fn`. Runs at least `minRuns` and at most `maxRuns` times, stopping early once
 * `budgetMs` is spent; a slow case therefore gets few repetitions. `warmup` calls first let V8 tier the WASM
 * code up from its baseline compiler.
 */
function measure(fn: () => void, { minRuns = 3, maxRuns = 9, budgetMs = 1500, warmup = 2 } = {}): Timing {
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < maxRuns) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
    if (times.length >= minRuns && performance.now() - start > budgetMs) break;
  }
  times.sort((x, y) => x - y);
  const mid = times.length >> 1;
  const medianMs = times.length % 2 === 1 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
  return { medianMs, runs: times.length };
}

/** Like `measure`, but alternates two functions run for run, so background load hits both alike. */
function measurePair(f: () => void, g: () => void, runs: number): [Timing, Timing] {
  f();
  g();
  f();
  g();
  const tf: number[] = [];
  const tg: number[] = [];
  for (let i = 0; i < runs; i++) {
    let t0 = performance.now();
    f();
    tf.push(performance.now() - t0);
    t0 = performance.now();
    g();
    tg.push(performance.now() - t0);
  }
  const median = (t: number[]): number => {
    t.sort((x, y) => x - y);
    return t.length % 2 === 1 ? t[t.length >> 1] : (t[t.length / 2 - 1] + t[t.length / 2]) / 2;
  };
  return [
    { medianMs: median(tf), runs },
    { medianMs: median(tg), runs },
  ];
}

/** A deterministic pseudo-random fill in [-1, 1). */
function fill(out: Float32Array | Float64Array, seed: number): void {
  let s = seed >>> 0;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
}

const rows: string[][] = [];
const row = (...cells: string[]): void => {
  rows.push(cells);
};
const ms = (t: Timing): string => (t.medianMs < 10 ? t.medianMs.toFixed(2) : t.medianMs.toFixed(1));

const relaxedEnabled = enableRelaxedSimd();
const engines = availableEngines();
const wasmEngines = (['wasm-relaxed-simd', 'wasm-simd'] as const).filter((e) => engines.includes(e));
const benchStart = performance.now();

const GEMM_CASES = [
  { name: 'NN', transA: false, transB: false },
  { name: 'NT', transA: false, transB: true },
  { name: 'TN', transA: true, transB: false },
] as const;

function gemmRows(kernels: Kernels, engine: EngineName, n: number): void {
  const arena = kernels.arena;
  const mark = arena.mark();
  const a = arena.f32(n * n);
  const b = arena.f32(n * n);
  const c = arena.f32(n * n);
  fill(a.view(), 1);
  fill(b.view(), 2);
  const flops = 2 * n ** 3;
  for (const { name, transA, transB } of GEMM_CASES) {
    const slow = engine === 'typescript';
    const t = measure(() => kernels.gemm(transA, transB, n, n, n, 1, a, b, 0, c), {
      minRuns: slow ? 3 : 5,
      maxRuns: slow ? 3 : 11,
      budgetMs: 1500,
      warmup: slow ? 1 : 3,
    });
    row(
      `GEMM ${name}`,
      String(n),
      engine,
      ms(t),
      `${(flops / t.medianMs / 1e6).toFixed(1)} GFLOP/s`,
      String(t.runs),
    );
  }
  arena.release(mark);
}

function syrkRow(kernels: Kernels, engine: EngineName, n: number): void {
  const arena = kernels.arena;
  const mark = arena.mark();
  const a = arena.f32(n * n);
  const c = arena.f32(n * n);
  fill(a.view(), 3);
  // SYRK A·Aᵀ against the GEMM it replaces (A·Aᵀ as NT), interleaved run for run.
  const [syrk, gemm] = measurePair(
    () => kernels.syrk(false, n, n, 1, a, 0, c),
    () => kernels.gemm(false, true, n, n, n, 1, a, a, 0, c),
    n >= 1024 ? 5 : 9,
  );
  row(
    'SYRK A·Aᵀ vs GEMM NT',
    String(n),
    engine,
    `${ms(syrk)} vs ${ms(gemm)}`,
    `${(gemm.medianMs / syrk.medianMs).toFixed(2)}× faster`,
    String(syrk.runs),
  );
  arena.release(mark);
}

for (const engine of wasmEngines) {
  const kernels = createKernels({ engine });
  for (const n of [256, 512, 1024]) gemmRows(kernels, engine, n);
  for (const n of [512, 1024]) syrkRow(kernels, engine, n);
}
gemmRows(createKernels({ engine: 'typescript' }), 'typescript', 256);

/**
 * Runs eigh or QR at growing n within `budgetMs` for the whole series: a size whose cubic extrapolation from
 * the previous one would not fit in what is left is skipped, and a failure is reported in the table.
 */
function linalgRows(name: string, run: (n: number) => () => void, budgetMs = 40_000): void {
  const start = performance.now();
  let previous: { n: number; ms: number } | null = null;
  for (const n of [128, 256, 512, 1024]) {
    const left = budgetMs - (performance.now() - start);
    const estimate = previous === null ? 0 : previous.ms * (n / previous.n) ** 3;
    if (previous === null ? left <= 0 : estimate > left) {
      row(name, String(n), 'linalg', '—', `skipped (≈ ${(estimate / 1000).toFixed(1)} s per run)`, '0');
      continue;
    }
    const fn = run(n);
    const single = estimate > left / 4;
    try {
      const t = measure(fn, {
        minRuns: single ? 1 : 3,
        maxRuns: 7,
        budgetMs: Math.min(5000, left / 3),
        warmup: single ? 0 : 1,
      });
      row(name, String(n), 'linalg', ms(t), '', String(t.runs));
      previous = { n, ms: t.medianMs };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      row(name, String(n), 'linalg', '—', `failed: ${message}`, '0');
      previous = { n, ms: performance.now() - start };
    }
  }
}

linalgRows('eigh (symmetric, float64)', (n) => {
  const g = new Float64Array(n * n);
  fill(g, 4);
  // A symmetric matrix with a spread spectrum: G + Gᵀ plus a graded diagonal.
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) a[i * n + j] = g[i * n + j] + g[j * n + i];
    a[i * n + i] += i / n;
  }
  return () => {
    eigh(a, n);
  };
});
linalgRows('QR (square, Householder)', (n) => {
  const a = new Float64Array(n * n);
  fill(a, 5);
  return () => {
    qr(a, n, n);
  };
});

const cpu = cpus();
const header = [
  `Machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} logical cores, Node ${process.version}`,
  `Engines: ${engines.join(', ')} (relaxed SIMD ${relaxedEnabled ? 'enabled via enableRelaxedSimd()' : 'unavailable'}); default engine: ${selectEngine()}`,
  `Load average at the end (1 min): ${loadavg()[0].toFixed(2)}; total bench time ${((performance.now() - benchStart) / 1000).toFixed(0)} s`,
  'Times are medians over the runs shown; GFLOP/s counts 2·n³ per product.',
];
console.log(header.join('\n'));
console.log('');
console.log('| operation | n | engine | median ms | throughput / ratio | runs |');
console.log('|---|---:|---|---:|---|---:|');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
