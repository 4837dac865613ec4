import {
  type ArenaBuffer,
  createKernels,
  type DType,
  type EngineChoice,
  type Kernels,
} from '../../src/kernels/index.ts';
import { resolveStorage } from '../../src/optimizers/storage-config.ts';
import { type KroneckerSide, SideScratch } from '../../src/preconditioner/kronecker-side.ts';
import { Bf16Writer } from '../../src/storage/bf16-writer.ts';
import { createFactorStore } from '../../src/storage/factor-stores.ts';
import type { Precision } from '../../src/storage/precision.ts';
import type { StoreContext } from '../../src/storage/store-context.ts';
import { createCodecs } from '../../src/storage/wasm-codecs.ts';

/** A factor store on its own, with its state buffers by name, for unit tests of the storage layer. */
export interface StoreHarness {
  kernels: Kernels;
  ctx: StoreContext;
  side: KroneckerSide;
  state: Map<string, ArenaBuffer<DType>>;
}

export function makeStore(
  precision: Precision,
  d: number,
  options: Record<string, unknown> = {},
  engine: EngineChoice = 'typescript',
  maxDim = d,
): StoreHarness {
  const kernels = createKernels({ engine });
  const codecs = createCodecs(kernels);
  const ctx: StoreContext = {
    kernels,
    codecs,
    scratch: new SideScratch(kernels, maxDim),
    storage: resolveStorage(options, precision),
    writer: new Bf16Writer(codecs, null),
  };
  const state = new Map<string, ArenaBuffer<DType>>();
  const side = createFactorStore(ctx, d, 0, (name, _kind, dtype, length) => {
    const b = kernels.arena.alloc(dtype, length);
    state.set(name, b as ArenaBuffer<DType>);
    return b;
  });
  return { kernels, ctx, side, state };
}

/** `increment ← X·Xᵀ` (float32 SYRK of the row-major d×cols matrix x) in the side's increment buffer. */
export function setIncrement(h: StoreHarness, x: Float64Array, cols: number): void {
  const d = h.side.dim;
  const buf = h.kernels.arena.f32(d * cols);
  buf.view().set(x);
  h.kernels.syrk(false, d, cols, 1, buf, 0, h.side.incrementBuffer());
}
