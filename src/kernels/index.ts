import { EngineError } from '../errors.ts';
import { Arena } from './arena.ts';
import { TsKernels } from './ts-kernels.ts';
import type { EngineName, Kernels, WasmEngineName } from './types.ts';
import { WasmKernels } from './wasm-kernels.ts';
import {
  enableRelaxedSimd,
  instantiateWasm,
  type KernelExports,
  preloadWasm,
  wasmMinPages,
  wasmUnavailableReason,
} from './wasm-module.ts';

export { Arena, ArenaBuffer, type DType, type F32Buffer, type F64Buffer, type ViewOf } from './arena.ts';
export { TsKernels } from './ts-kernels.ts';
export type { EngineName, Kernels, WasmEngineName, WasmHandle } from './types.ts';
export { WasmKernels } from './wasm-kernels.ts';
export { enableRelaxedSimd } from './wasm-module.ts';

export type EngineChoice = 'auto' | EngineName;

export interface ComputeOptions {
  /** Which engine to use; 'auto' picks the fastest available. Default 'auto'. */
  engine?: EngineChoice;
  /**
   * Relaxed SIMD (fused multiply-add; results may differ in the last bits between CPUs). `true` opts in,
   * setting the V8 flag Node 20 needs (see `enableRelaxedSimd`); `false` keeps 'auto' off it. Left unset,
   * 'auto' uses it only where the runtime already supports it (browsers, newer Node, or after
   * `enableRelaxedSimd()`). Naming `engine: 'wasm-relaxed-simd'` counts as opting in.
   */
  allowRelaxedSimd?: boolean;
}

/** Fastest first: the order 'auto' tries. */
const PREFERENCE: readonly EngineName[] = ['wasm-relaxed-simd', 'wasm-simd', 'typescript'];

export interface EngineSupport {
  engine: EngineName;
  available: boolean;
  /** Why the engine cannot be used here (absent when available). */
  reason?: string;
}

/** Each engine, fastest first, with whether it can run in this process now and why not. */
export function engineSupport(): EngineSupport[] {
  return PREFERENCE.map((engine) => {
    if (engine === 'typescript') return { engine, available: true };
    const reason = wasmUnavailableReason(engine);
    return reason === null ? { engine, available: true } : { engine, available: false, reason };
  });
}

/** The engines that can run in this process now, fastest first. */
export function availableEngines(): EngineName[] {
  return engineSupport()
    .filter((s) => s.available)
    .map((s) => s.engine);
}

/** The engine `createKernels(options)` would use. Throws `EngineError` if an explicit engine is unavailable. */
export function selectEngine(options: ComputeOptions = {}): EngineName {
  const choice = options.engine ?? 'auto';
  if (choice === 'wasm-relaxed-simd' || (choice === 'auto' && options.allowRelaxedSimd === true)) {
    enableRelaxedSimd();
  }
  if (choice !== 'auto') {
    if (!PREFERENCE.includes(choice)) throw new EngineError(`unknown engine '${String(choice)}'`);
    if (choice !== 'typescript') {
      const reason = wasmUnavailableReason(choice);
      if (reason !== null) throw new EngineError(`engine '${choice}' is unavailable: ${reason}`);
    }
    return choice;
  }
  for (const engine of PREFERENCE) {
    if (engine === 'typescript') return engine;
    if (engine === 'wasm-relaxed-simd' && options.allowRelaxedSimd === false) continue;
    if (wasmUnavailableReason(engine) === null) return engine;
  }
  return 'typescript';
}

/**
 * A fresh compute context: its own memory, arena and kernels. Each optimizer owns one, so optimizers never
 * share buffers and a dropped optimizer frees its memory. The WASM engines compile their module once per
 * process and instantiate it here over the new memory; the arena starts above the module's static data.
 */
export function createKernels(options: ComputeOptions = {}): Kernels {
  const engine = selectEngine(options);
  if (engine === 'typescript') return new TsKernels(new Arena(new WebAssembly.Memory({ initial: 1 })));
  return createWasmKernels(engine);
}

function createWasmKernels(engine: WasmEngineName): WasmKernels {
  const memory = new WebAssembly.Memory({ initial: Math.max(1, wasmMinPages(engine)) });
  const instance = instantiateWasm(engine, memory);
  const heapBase = (instance.exports as unknown as KernelExports).heapBase();
  return new WasmKernels(engine, instance, new Arena(memory, heapBase));
}

/**
 * Compiles the WASM builds asynchronously and caches them, so later `createKernels` calls need no synchronous
 * compilation (which browsers restrict on the main thread). Returns the engines available afterwards. Call
 * `enableRelaxedSimd()` first to include the relaxed build on Node 20.
 */
export async function preloadKernels(): Promise<EngineName[]> {
  await preloadWasm();
  return availableEngines();
}
