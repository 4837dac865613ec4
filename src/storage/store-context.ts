import type { ArenaBuffer, DType, F32Buffer, Kernels } from '../kernels/index.ts';
import type { StateKind } from '../optimizers/optimizer.ts';
import type { SideScratch } from '../preconditioner/kronecker-side.ts';
import type { Bf16Writer } from './bf16-writer.ts';
import type { Codecs } from './codecs.ts';
import type { ResolvedStorage } from './precision.ts';

/**
 * Allocates one registered state buffer of the parameter a store belongs to (so it is part of `stateDict`,
 * `loadStateDict` and `stateBytes`). Names are unique per parameter. Every u16 buffer a store allocates holds
 * bf16 values (and is registered as such).
 */
export type StateAllocator = <D extends DType>(
  name: string,
  kind: StateKind,
  dtype: D,
  length: number,
) => ArenaBuffer<D>;

/** What every store of one optimizer shares. */
export interface StoreContext {
  kernels: Kernels;
  codecs: Codecs;
  scratch: SideScratch;
  storage: ResolvedStorage;
  /** bf16 encoding (with the optimizer's stochastic-rounding counter when enabled). */
  writer: Bf16Writer;
}

/**
 * An fp32 d×d buffer shared by every side with the same tensor mode and order, into which a bf16 store decodes
 * its basis. The owner tag tells whether the buffer still holds a given side's basis, so a basis is decoded
 * once per step of its parameter (and not at all when only one parameter uses the slot).
 */
export class DecodeSlot {
  readonly buffer: F32Buffer;
  owner: object | null = null;

  constructor(buffer: F32Buffer) {
    this.buffer = buffer;
  }

  static for(ctx: StoreContext, mode: number, d: number): DecodeSlot {
    return ctx.scratch.shared(`decode-slot:${mode}:${d}`, () => new DecodeSlot(ctx.kernels.arena.f32(d * d)));
  }
}
