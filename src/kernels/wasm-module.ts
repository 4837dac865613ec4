import { EngineError } from '../errors.ts';
import type { WasmEngineName } from './types.ts';
import {
  WASM_RELAXED_SIMD_BASE64,
  WASM_RELAXED_SIMD_MIN_PAGES,
  WASM_SIMD_BASE64,
  WASM_SIMD_MIN_PAGES,
} from './wasm-binaries.generated.ts';

/**
 * The two WebAssembly builds of the kernels: loading, feature detection, the relaxed-SIMD opt-in, and one
 * compiled `WebAssembly.Module` per build per process (each compute context instantiates its own copy).
 */

interface Build {
  base64: string;
  minPages: number;
  bytes: Uint8Array | null;
  module: WebAssembly.Module | null;
  /** Why the build cannot be used here, once known. */
  failure: string | null;
}

const builds: Record<WasmEngineName, Build> = {
  'wasm-relaxed-simd': {
    base64: WASM_RELAXED_SIMD_BASE64,
    minPages: WASM_RELAXED_SIMD_MIN_PAGES,
    bytes: null,
    module: null,
    failure: null,
  },
  'wasm-simd': {
    base64: WASM_SIMD_BASE64,
    minPages: WASM_SIMD_MIN_PAGES,
    bytes: null,
    module: null,
    failure: null,
  },
};

function decodeBase64(text: string): Uint8Array {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

function bytesOf(engine: WasmEngineName): Uint8Array {
  const build = builds[engine];
  build.bytes ??= decodeBase64(build.base64);
  return build.bytes;
}

/** Pages the build's imported memory must start with. */
export function wasmMinPages(engine: WasmEngineName): number {
  return builds[engine].minPages;
}

/** Whether this runtime accepts the build's instructions (SIMD128, and relaxed SIMD for the relaxed build). */
export function wasmValidates(engine: WasmEngineName): boolean {
  if (typeof WebAssembly !== 'object' || typeof WebAssembly.validate !== 'function') return false;
  return WebAssembly.validate(bytesOf(engine) as BufferSource);
}

interface V8Flags {
  setFlagsFromString(flags: string): void;
}

/** `node:v8` when running in Node (≥ 20.16, where `process.getBuiltinModule` exists), else null. */
function nodeV8(): V8Flags | null {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const v8 = proc?.getBuiltinModule?.('node:v8') as V8Flags | undefined;
  return v8 && typeof v8.setFlagsFromString === 'function' ? v8 : null;
}

let relaxedFlagSet = false;

/**
 * Opts in to relaxed SIMD on Node versions that ship it behind a V8 flag (Node 20: it cannot be passed through
 * NODE_OPTIONS, but V8 accepts it at run time before the module is compiled). Does nothing where relaxed SIMD
 * already validates (browsers, newer Node). Returns whether the relaxed build now validates.
 *
 * The flag is process-wide and affects only WebAssembly compiled after this call; call it before the first
 * compute context is created.
 */
export function enableRelaxedSimd(): boolean {
  if (wasmValidates('wasm-relaxed-simd')) return true;
  const v8 = nodeV8();
  if (v8 !== null && !relaxedFlagSet) {
    v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
    relaxedFlagSet = true;
    builds['wasm-relaxed-simd'].failure = null;
  }
  return wasmValidates('wasm-relaxed-simd');
}

function unsupportedReason(engine: WasmEngineName): string {
  if (typeof WebAssembly !== 'object') return 'WebAssembly is not available in this runtime';
  if (engine === 'wasm-simd') return 'this runtime does not support WebAssembly SIMD128';
  return nodeV8() !== null && !relaxedFlagSet
    ? 'relaxed SIMD is behind a V8 flag in this Node version: call enableRelaxedSimd() or pass allowRelaxedSimd: true'
    : 'this runtime does not support WebAssembly relaxed SIMD';
}

/** Why the build cannot be used, or null when it can (the check compiles the build if needed). */
export function wasmUnavailableReason(engine: WasmEngineName): string | null {
  const build = builds[engine];
  if (build.module !== null) return null;
  if (!wasmValidates(engine)) return unsupportedReason(engine);
  try {
    compileWasm(engine);
    return null;
  } catch (error) {
    return build.failure ?? String(error);
  }
}

/**
 * The compiled module of a build, compiled synchronously on first use and cached for the process. Browsers
 * limit synchronous compilation on the main thread; `preloadWasm` compiles asynchronously instead.
 */
export function compileWasm(engine: WasmEngineName): WebAssembly.Module {
  const build = builds[engine];
  if (build.module !== null) return build.module;
  // A refused synchronous compilation is not retried on every call; preloadWasm clears it.
  if (build.failure !== null) throw new EngineError(`${engine}: ${build.failure}`);
  if (!wasmValidates(engine)) throw new EngineError(`${engine}: ${unsupportedReason(engine)}`);
  try {
    build.module = new WebAssembly.Module(bytesOf(engine) as BufferSource);
  } catch (error) {
    build.failure = `synchronous compilation failed (${String(error)}); await preloadKernels() first`;
    throw new EngineError(`${engine}: ${build.failure}`);
  }
  return build.module;
}

/** Compiles every build this runtime supports, asynchronously; returns the engines that are ready. */
export async function preloadWasm(): Promise<WasmEngineName[]> {
  const ready: WasmEngineName[] = [];
  for (const engine of ['wasm-relaxed-simd', 'wasm-simd'] as const) {
    const build = builds[engine];
    if (build.module === null && wasmValidates(engine)) {
      build.module = await WebAssembly.compile(bytesOf(engine) as BufferSource);
      build.failure = null;
    }
    if (build.module !== null) ready.push(engine);
  }
  return ready;
}

/** The functions every build exports (all pointers are byte offsets into the instance's memory). */
export interface KernelExports {
  heapBase(): number;
  gemmScratchBytes(): number;
  gemm(
    transA: number,
    transB: number,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: number,
    b: number,
    beta: number,
    c: number,
    scratch: number,
  ): void;
  gemmStrided(
    transA: number,
    transB: number,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: number,
    lda: number,
    b: number,
    ldb: number,
    beta: number,
    c: number,
    ldc: number,
    scratch: number,
  ): void;
  syrk(
    trans: number,
    n: number,
    k: number,
    alpha: number,
    a: number,
    beta: number,
    c: number,
    scratch: number,
  ): void;
  axpby(n: number, alpha: number, x: number, beta: number, y: number): void;
  emaSquare(n: number, beta: number, y: number, alpha: number, x: number): void;
  adamMoments(
    n: number,
    g: number,
    m: number,
    v: number,
    beta1: number,
    w1: number,
    beta2: number,
    w2: number,
  ): void;
  adamDirection(n: number, m: number, v: number, vScale: number, eps: number, out: number): void;
  sumSquares(n: number, x: number): number;
  scaleRows(x: number, rows: number, cols: number, s: number): void;
  scaleCols(x: number, rows: number, cols: number, s: number): void;
  allFinite(n: number, x: number): number;
}

/** A fresh instance of a build over `memory` (which must have at least `wasmMinPages(engine)` pages). */
export function instantiateWasm(engine: WasmEngineName, memory: WebAssembly.Memory): WebAssembly.Instance {
  const module = compileWasm(engine);
  const abort = (): never => {
    throw new EngineError(`${engine}: a kernel aborted`);
  };
  return new WebAssembly.Instance(module, { env: { memory, abort } });
}
