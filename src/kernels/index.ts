import { Arena } from './arena.ts';
import { TsKernels } from './ts-kernels.ts';
import type { EngineName, Kernels } from './types.ts';

export { Arena, ArenaBuffer, type DType, type F32Buffer, type F64Buffer, type ViewOf } from './arena.ts';
export { TsKernels } from './ts-kernels.ts';
export type { EngineName, Kernels } from './types.ts';

export type EngineChoice = 'auto' | EngineName;

export interface ComputeOptions {
  /** Which engine to use; 'auto' picks the fastest available. Default 'auto'. */
  engine?: EngineChoice;
}

/**
 * A fresh compute context: its own memory, arena and kernels. Each optimizer owns one, so optimizers never
 * share buffers and a dropped optimizer frees its memory.
 */
export function createKernels(options: ComputeOptions = {}): Kernels {
  const engine = options.engine ?? 'auto';
  if (engine !== 'auto' && engine !== 'typescript') {
    throw new Error(`engine '${engine}' is not available in this build`);
  }
  const arena = new Arena(new WebAssembly.Memory({ initial: 1 }));
  return new TsKernels(arena);
}
