// Checks the branch-free threshold form of the 4-bit nearest-code search (what the WASM kernels use) against
// the reference binary search `dQuantize` on every float32 with |x| ≤ 2, for one codebook. About 2 minutes.
// Run with `node --import tsx bench/quant4-exhaustive.ts linear-2` (or `dynamic`).
import { type Codebook4Name, codebook4, codebookThresholds, dQuantize } from '../src/storage/index.ts';

const name = (process.argv[2] ?? 'linear-2') as Codebook4Name;
const cb = codebook4(name);
const t = codebookThresholds(cb);
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
let mismatches = 0;
let count = 0;
const start = performance.now();
for (const sign of [0, 0x80000000]) {
  for (let b = 0; b <= 0x40000000; b++) {
    u32[0] = (b | sign) >>> 0;
    const x = f32[0];
    let q = 0;
    for (let j = 0; j < 15; j++) if (x > t[j]) q++;
    if (q !== dQuantize(cb, x) && ++mismatches <= 5) console.log(`mismatch at ${x}`);
    count++;
  }
}
const seconds = ((performance.now() - start) / 1000).toFixed(0);
console.log(`${name}: ${count} float32 values with |x| <= 2, ${mismatches} mismatches (${seconds} s)`);
