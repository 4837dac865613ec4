/**
 * Which store holds a side under each precision, and how state buffers are named. The one entry point for a
 * method (`createFactorStore`), so a new precision or a new method needs no other wiring.
 */
import type { KroneckerSide } from '../preconditioner/kronecker-side.ts';
import { Bf16NaiveFactorStore } from './bf16-naive-store.ts';
import { EigenQuant4FactorStore } from './eigen-quant4-store.ts';
import { Fp32FactorStore } from './fp32-store.ts';
import { isLowbitSide } from './precision.ts';
import { Quant4NaiveFactorStore } from './quant4-naive-store.ts';
import { RotatedBf16FactorStore } from './rotated-bf16-store.ts';
import type { StateAllocator, StoreContext } from './store-context.ts';

/**
 * The store of side `mode` (a d×d factor) of one parameter under `ctx.storage.precision`. State buffers are
 * registered through `alloc` with names derived from the mode index (`GG{k}`/`Q{k}` in fp32, as the reference
 * implementations name factor and basis). Under '4bit' and '4bit-naive', sides with fewer than `minLowbitSize`
 * elements (or d = 1) use the fp32 store, as the 4-bit paper keeps small matrices in fp32.
 */
export function createFactorStore(
  ctx: StoreContext,
  d: number,
  mode: number,
  alloc: StateAllocator,
): KroneckerSide {
  const precision = ctx.storage.precision;
  const lowbit = isLowbitSide(ctx.storage, d);
  switch (precision) {
    case 'bf16':
      return new RotatedBf16FactorStore(d, { basis: `Q${mode}`, factor: `S${mode}` }, mode, alloc, ctx);
    case 'bf16-naive':
      return new Bf16NaiveFactorStore(d, { factor: `GG${mode}`, basis: `Q${mode}` }, mode, alloc, ctx);
    case '4bit':
      if (lowbit) {
        return new EigenQuant4FactorStore(
          d,
          { basis: `Q${mode}`, eigenvalues: `lambda${mode}`, factor: `S${mode}_offdiag` },
          alloc,
          ctx,
        );
      }
      break;
    case '4bit-naive':
      if (lowbit)
        return new Quant4NaiveFactorStore(d, { factor: `GG${mode}`, basis: `Q${mode}` }, alloc, ctx);
      break;
    case 'fp32':
      break;
  }
  return new Fp32FactorStore(
    d,
    alloc(`GG${mode}`, 'factor', 'f32', d * d),
    alloc(`Q${mode}`, 'basis', 'f32', d * d),
    ctx.scratch,
  );
}
