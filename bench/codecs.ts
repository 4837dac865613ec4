// Codec throughput: 4-bit quantize/dequantize (plain and DiagReal) and bf16 encode/decode on each engine, as
// nanoseconds per element (median). Run with `node --import tsx bench/codecs.ts`.
import { cpus, loadavg } from 'node:os';
import { availableEngines, createKernels, type EngineName, enableRelaxedSimd } from '../src/kernels/index.ts';
import { createCodecs, quant4Layout } from '../src/storage/index.ts';

function median(fn: () => void, runs = 9): number {
  fn();
  fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  times.sort((x, y) => x - y);
  return times[runs >> 1];
}

enableRelaxedSimd();
const engines: EngineName[] = availableEngines().filter((e) => e !== 'wasm-relaxed-simd');
const sizes = [128, 512, 1024];

console.log(
  `node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} × ${cpus().length}, load ${loadavg()[0].toFixed(2)}`,
);
console.log('');
console.log(
  '| n×n | engine | quantize | dequantize | DiagReal q | DiagReal dq | bf16 encode | bf16 decode |',
);
console.log('|---|---|---:|---:|---:|---:|---:|---:|');
for (const n of sizes) {
  for (const engine of engines) {
    const kernels = createKernels({ engine });
    const codecs = createCodecs(kernels);
    const arena = kernels.arena;
    const l = quant4Layout(n, n);
    const x = arena.f32(n * n);
    const xv = x.view();
    for (let i = 0; i < xv.length; i++) xv[i] = Math.sin(i * 0.7311) * (1 + (i % 7));
    const codes = arena.alloc('u8', l.codeBytes);
    const scales = arena.f32(l.scaleCount);
    const diag = arena.f32(n);
    const out = arena.f32(n * n);
    const u = arena.alloc('u16', n * n);
    const per = (ms: number) => ((ms * 1e6) / (n * n)).toFixed(2);
    const q = median(() => codecs.quantize4(x, n, n, codes, scales, 'linear-2'));
    const dq = median(() => codecs.dequantize4(codes, scales, n, n, out, 'linear-2'));
    const qd = median(() => codecs.quantize4DiagReal(x, n, codes, scales, diag, 'linear-2'));
    const dqd = median(() => codecs.dequantize4DiagReal(codes, scales, diag, n, out, 'linear-2'));
    const be = median(() => codecs.bf16Encode(x, u));
    const bd = median(() => codecs.bf16Decode(u, out));
    console.log(
      `| ${n} | ${engine} | ${per(q)} | ${per(dq)} | ${per(qd)} | ${per(dqd)} | ${per(be)} | ${per(bd)} |`,
    );
  }
}
console.log('');
console.log('ns per element, median of 9 runs.');
