// Dense linear algebra benchmark (src/linalg, one thread): eigh, its three phases, QR, one orthogonal-iteration
// step, Björck and the inverse root. Prints the median and minimum over several runs of the process's CPU time
// (user + system), which, unlike wall time, does not count the time other jobs on a shared machine hold the core;
// the median wall time of eigh and QR is printed too, with the load average.
//
//   node --import tsx bench/linalg.ts [sizes=256,512,1024] [runs=5] [engine=auto|typescript|wasm-simd|wasm-relaxed-simd]
//
// 'auto' uses relaxed SIMD only when enabled (pass --relaxed to enable it for the run).
import { cpus, loadavg } from 'node:os';
import { type EngineChoice, enableRelaxedSimd } from '../src/kernels/index.ts';
import { withWorkspace } from '../src/linalg/engine.ts';
import {
  bjorck,
  eigh,
  linalgEngine,
  matrixInverseRoot,
  orthogonalIterationStep,
  qr,
  setLinalgEngine,
} from '../src/linalg/index.ts';
import { tridiagonalEigen } from '../src/linalg/tridiagonal-dc.ts';
import { applyTridiagonalQ, tridiagonalize } from '../src/linalg/tridiagonalize.ts';

const sizes = (process.argv[2] ?? '256,512,1024').split(',').map(Number);
const runs = Number(process.argv[3] ?? 5);
const engine = (process.argv[4] ?? 'auto') as EngineChoice;
if (engine === 'wasm-relaxed-simd' || process.argv.includes('--relaxed')) enableRelaxedSimd();
setLinalgEngine(engine);

function randomSymmetric(n: number, seed: number): Float64Array {
  let s = seed;
  const next = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648 - 0.5;
  };
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const v = next();
      a[i * n + j] = v;
      a[j * n + i] = v;
    }
  }
  return a;
}

/** CPU time of this process in ms. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function stats(fn: () => void): { median: number; min: number; wall: number } {
  fn(); // warm-up: lets V8 optimise the loops
  const t: number[] = [];
  const w: number[] = [];
  for (let r = 0; r < runs; r++) {
    const c0 = cpuMs();
    const t0 = performance.now();
    fn();
    w.push(performance.now() - t0);
    t.push(cpuMs() - c0);
  }
  t.sort((x, y) => x - y);
  w.sort((x, y) => x - y);
  return { median: t[t.length >> 1], min: t[0], wall: w[w.length >> 1] };
}

const fmt = (x: { median: number; min: number }) => `${x.median.toFixed(1)} / ${x.min.toFixed(1)}`;

console.log(`# linalg benchmark — ${cpus()[0]?.model ?? 'unknown CPU'}, node ${process.version}`);
console.log(`engine: ${linalgEngine()}`);
console.log(
  `load average at start: ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}; ${runs} runs after 1 warm-up`,
);
console.log('CPU times in ms, median / min (eigh and QR: also median wall time)\n');
console.log(
  '| n | eigh | eigh wall | tridiagonalize | D&C | back-transform | QR | QR wall | orth. iter. step | Björck (1) | inverse root |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
for (const n of sizes) {
  const a = randomSymmetric(n, n);
  const phases = { tri: [] as number[], dc: [] as number[], back: [] as number[] };
  const e = stats(() => eigh(a, n));
  for (let r = 0; r < runs; r++) {
    // The phases on the engine's workspace, as eigh runs them.
    withWorkspace(8 * n * n, (ws) => {
      const w = ws.f64(n * n);
      w.set(a);
      const d = new Float64Array(n);
      const off = new Float64Array(n);
      const tau = new Float64Array(n);
      let t0 = cpuMs();
      tridiagonalize(w, n, d, off, tau, ws);
      phases.tri.push(cpuMs() - t0);
      const z = ws.f64(n * n);
      t0 = cpuMs();
      tridiagonalEigen(d, off, n, z, ws);
      phases.dc.push(cpuMs() - t0);
      t0 = cpuMs();
      applyTridiagonalQ(w, n, tau, z, n, ws);
      phases.back.push(cpuMs() - t0);
    });
  }
  const ph = (x: number[]) => {
    x.sort((p, q) => p - q);
    return `${x[x.length >> 1].toFixed(1)} / ${x[0].toFixed(1)}`;
  };
  const q0 = qr(a, n, n);
  const tq = stats(() => qr(a, n, n));
  const toi = stats(() => orthogonalIterationStep(a, q0, n, n, 'lapack'));
  const tb = stats(() => bjorck(q0, n, n, 1));
  const spd = a.slice();
  for (let i = 0; i < n; i++) spd[i * n + i] += n;
  const tr = stats(() => matrixInverseRoot(spd, n, 4, { kind: 'absolute', epsilon: 1e-12 }));
  console.log(
    `| ${n} | ${fmt(e)} | ${e.wall.toFixed(1)} | ${ph(phases.tri)} | ${ph(phases.dc)} | ${ph(phases.back)} | ${fmt(tq)} | ${tq.wall.toFixed(1)} | ${fmt(toi)} | ${fmt(tb)} | ${fmt(tr)} |`,
  );
}
console.log(
  `\nload average at end: ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`,
);
