// The numbers of ALGORITHMS.md §8 items 3–5 on the storage codecs, including d = 512 (too slow for the unit
// tests). Prints markdown tables. Run with `node --import tsx bench/lowbit-numerics.ts` (about a minute).
import {
  bf16Factor,
  eigenvectorQuantization,
  emaInStorage,
  illConditioned,
  wishartEigen,
} from '../test/helpers/lowbit-experiments.ts';

const fmt = (x: number) => (x < 1e-3 ? x.toExponential(1) : x.toFixed(4));

console.log(
  '§8.3: 4-bit (linear-2, block 64) eigenvectors of a Wishart matrix X·Xᵀ/N, N = 4d, + t Björck steps',
);
console.log('orthogonality ‖VᵀV−I‖_F/√d / relative error of A^{-1/4}\n');
console.log('| t | d = 128 | d = 512 |');
console.log('|---|---|---|');
const ts = [0, 1, 2, 4];
const columns = [128, 512].map((d) => {
  const { vt, values } = wishartEigen(d, 4 * d, 1);
  return eigenvectorQuantization(vt, values, d, ts);
});
ts.forEach((t, i) => {
  const cells = columns.map((c) => `${fmt(c[i].orthogonality)} / ${fmt(c[i].rootError)}`);
  console.log(`| ${t} | ${cells.join(' | ')} |`);
});

console.log('\n§8.4: 256×256, eigenvalues geometric 1…1e-6, relative error of A^{-1/4}\n');
const ic = illConditioned(256, 2, [0, 1, 4]);
console.log('| storage | relative error |');
console.log('|---|---|');
for (const r of ic.eigenvector) console.log(`| 4-bit eigenvectors, t = ${r.t} | ${fmt(r.rootError)} |`);
console.log(`| naive: A with fp32 diagonal, 4-bit off-diagonal | ${fmt(ic.naive)} |`);

console.log(
  '\n§8.5: 256×256 factor, eigenvalues geometric 1…1e-5; relative errors of the 5 smallest eigenvalues\n',
);
const b = bf16Factor(256, 3, 5);
console.log('| λ | dense bf16 | rotated: eig(S̃) | rotated: σ = diag(S̃) |');
console.log('|---|---|---|---|');
b.smallest.forEach((v, i) => {
  console.log(
    `| ${v.toExponential(3)} | ${b.denseErrors[i].toFixed(1)} | ${fmt(b.rotatedErrors[i])} | ${fmt(b.rotatedDiagErrors[i])} |`,
  );
});
console.log(`\nworst σ relative error over all 256: ${fmt(b.rotatedDiagWorst)}`);
console.log(`bf16 Q: max|QᵀQ−I| = ${b.bf16Orthogonality.toExponential(2)}`);
const ema = emaInStorage(0.999, 2, 1000);
console.log(`EMA β = 0.999 from 1 towards 2, 1000 steps: fp32 ${ema.fp32.toFixed(4)}, bf16 ${ema.bf16}`);
