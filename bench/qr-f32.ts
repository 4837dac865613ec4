// The basis refresh's QR, side by side: the float64 `qr` (src/linalg/qr.ts) against the float32 `qrFloat32`
// (src/linalg/qr-f32.ts, its products on the kernels' GEMM), square d×d, one thread. The runs of the two
// alternate within one process, so both see the same machine load; medians over the runs of CPU time (user +
// system, which does not count time other jobs hold the core) and of wall time are printed, with the rate in
// GFlop/s of the (8/3)d³ flops of a Householder QR with Q formed.
//
//   node --import tsx bench/qr-f32.ts [sizes=256,512,784,1024] [runs=5] [engines=wasm-relaxed-simd,wasm-simd]
import { cpus, loadavg } from 'node:os';
import { createKernels, type EngineName, enableRelaxedSimd } from '../src/kernels/index.ts';
import { qr, setLinalgEngine } from '../src/linalg/index.ts';
import { qrFloat32 } from '../src/linalg/qr-f32.ts';

const sizes = (process.argv[2] ?? '256,512,784,1024').split(',').map(Number);
const runs = Number(process.argv[3] ?? 5);
const engines = (process.argv[4] ?? 'wasm-relaxed-simd,wasm-simd').split(',') as EngineName[];
if (engines.includes('wasm-relaxed-simd')) enableRelaxedSimd();

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

/** A random d×d matrix in float32 (uniform entries; the QR's time does not depend on them). */
function randomMatrix(d: number, seed: number): Float32Array {
  let s = seed;
  const out = new Float32Array(d * d);
  for (let i = 0; i < out.length; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    out[i] = s / 2147483648 - 0.5;
  }
  return out;
}

const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
console.log(`# QR float64 vs float32 — ${cpus()[0]?.model ?? 'unknown CPU'}, node ${process.version}`);
console.log(`load average at start: ${load()}; ${runs} runs of each after 3 warm-ups, alternating\n`);
console.log(
  '| engine | d | float64 qr CPU (wall) ms | float32 qrFloat32 CPU (wall) ms | float32 GFlop/s | speed-up |',
);
console.log('|---|---:|---:|---:|---:|---:|');
for (const engine of engines) {
  setLinalgEngine(engine);
  const kernels = createKernels({ engine });
  for (const d of sizes) {
    const input = randomMatrix(d, d);
    const mark = kernels.arena.mark();
    const a = kernels.arena.f32(d * d);
    const q = kernels.arena.f32(d * d);
    const f64 = () => qr(input, d, d, 'positive-diagonal');
    const f32 = () => {
      a.view().set(input);
      if (!qrFloat32(kernels, d, d, a, q)) throw new Error('qrFloat32 failed');
    };
    // Warm-up: V8 optimises the TypeScript loops (panel, sorting of signs) before anything is timed.
    for (let w = 0; w < 3; w++) {
      f64();
      f32();
    }
    const cpu = { f64: [] as number[], f32: [] as number[] };
    const wall = { f64: [] as number[], f32: [] as number[] };
    for (let r = 0; r < runs; r++) {
      for (const [key, fn] of [
        ['f64', f64],
        ['f32', f32],
      ] as const) {
        const c0 = cpuMs();
        const w0 = performance.now();
        fn();
        wall[key].push(performance.now() - w0);
        cpu[key].push(cpuMs() - c0);
      }
    }
    const c64 = median(cpu.f64);
    const c32 = median(cpu.f32);
    const gflops = ((8 / 3) * d ** 3) / (c32 * 1e6);
    console.log(
      `| ${engine} | ${d} | ${c64.toFixed(1)} (${median(wall.f64).toFixed(1)}) | ${c32.toFixed(1)} (${median(wall.f32).toFixed(1)}) | ${gflops.toFixed(1)} | ${(c64 / c32).toFixed(1)}× |`,
    );
    kernels.arena.release(mark);
  }
}
console.log(`\nload average at end: ${load()}`);
