import { type EngineChoice, type EngineName, selectEngine } from '../kernels/index.ts';
import type { WasmEngineName } from '../kernels/types.ts';
import { instantiateWasm, wasmMinPages } from '../kernels/wasm-module.ts';

/**
 * Where the dense linear algebra runs. The algorithms are TypeScript; their inner loops (the float64 products,
 * the tridiagonal update) also exist as WASM SIMD kernels (assembly/linalg.ts). Those run when every buffer a
 * kernel touches lives in a WASM memory, so each public routine allocates its working arrays from a
 * {@link Workspace}: views into an instance's memory on a WASM engine, plain arrays on the TypeScript one. A
 * kernel called with any other array falls back to its TypeScript twin, so results never depend on where a
 * buffer came from, only the speed does.
 *
 * The engine follows the same rules as the optimizers' kernels (see docs/kernels.md): 'auto' picks
 * wasm-relaxed-simd where relaxed SIMD is enabled (fused multiply-add, last bits may differ between CPUs), then
 * wasm-simd, then typescript. It is resolved on first use; call {@link setLinalgEngine} to change it.
 */

/** The WASM exports the linear algebra uses (byte offsets into the instance's memory). */
export interface LinalgExports {
  heapBase(): number;
  dgemmNT(
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
    lower: number,
    scratch: number,
  ): void;
  dgemmScratchBytes(): number;
  dsytrdUpdate(n: number, a: number, i0: number, v: number, w: number, u: number, q: number): void;
  dreflectRows(a: number, ld: number, k: number, len: number, tau: number, j0: number, j1: number): void;
}

/** The kernels of one instance, and the scratch its GEMM packs into. */
export interface WasmTarget {
  readonly exports: LinalgExports;
  /** Byte offset of `dgemmScratchBytes()` bytes reserved for dgemmNT. */
  readonly scratch: number;
}

interface Context extends WasmTarget {
  readonly memory: WebAssembly.Memory;
  readonly base: number;
  buffer: ArrayBuffer;
  inUse: boolean;
}

let choice: EngineChoice = 'auto';
let allowRelaxed: boolean | undefined;
let resolved: EngineName | null = null;
/** One context kept between calls (up to CACHE_BYTES), so small and medium calls reuse their memory. */
let cached: Context | null = null;
/** Contexts of the calls in progress, innermost last (the kernels look their buffers up here). */
const active: Context[] = [];
let fallbacks = 0;

const PAGE = 65536;
/** Largest memory kept alive between calls; bigger problems get a memory of their own that is then dropped. */
const CACHE_BYTES = 48 * 1024 * 1024;
/** Below this many doubles a workspace is plain arrays: copying into WASM memory would not pay off. */
const MIN_WASM_DOUBLES = 1024;

/**
 * Chooses the engine of the dense linear algebra for this process: 'auto' (default), 'wasm-relaxed-simd',
 * 'wasm-simd' or 'typescript'. Returns the engine now in use.
 *
 * @throws EngineError if an explicitly named WASM engine is unavailable here.
 */
export function setLinalgEngine(
  engine: EngineChoice,
  options: { allowRelaxedSimd?: boolean } = {},
): EngineName {
  const name = selectEngine({ engine, allowRelaxedSimd: options.allowRelaxedSimd });
  choice = engine;
  allowRelaxed = options.allowRelaxedSimd;
  resolved = name;
  cached = null;
  return name;
}

/** The engine the dense linear algebra runs on (resolving 'auto' on first use). */
export function linalgEngine(): EngineName {
  if (resolved === null) {
    try {
      resolved = selectEngine({ engine: choice, allowRelaxedSimd: allowRelaxed });
    } catch {
      resolved = 'typescript';
    }
  }
  return resolved;
}

/**
 * How many workspace allocations did not fit and fell back to plain arrays (running the TypeScript kernels).
 * Zero unless a routine under-estimates its needs; the tests watch it.
 */
export function workspaceFallbacks(): number {
  return fallbacks;
}

/** Scratch arrays for one call. On a WASM engine they are views into the instance's memory. */
export interface Workspace {
  /** A zeroed float64 array of `count` entries. */
  f64(count: number): Float64Array;
  /** Allocation position, for {@link Workspace.release}. */
  mark(): number;
  /** Frees everything allocated after `mark` (the arrays must not be used afterwards). */
  release(mark: number): void;
}

/** Plain arrays: the TypeScript kernels run on them. */
export class HeapWorkspace implements Workspace {
  f64(count: number): Float64Array {
    return new Float64Array(count);
  }
  mark(): number {
    return 0;
  }
  release(_mark: number): void {}
}

class WasmWorkspace implements Workspace {
  private top: number;
  constructor(private readonly ctx: Context) {
    this.top = ctx.base;
  }
  f64(count: number): Float64Array {
    const bytes = count * 8;
    const start = this.top;
    if (start + bytes > this.ctx.buffer.byteLength) {
      fallbacks++;
      return new Float64Array(count);
    }
    // 64-byte alignment: rows start on cache lines.
    this.top = (start + bytes + 63) & ~63;
    const view = new Float64Array(this.ctx.buffer, start, count);
    view.fill(0);
    return view;
  }
  mark(): number {
    return this.top;
  }
  release(mark: number): void {
    this.top = mark;
  }
}

/** A fresh memory and instance, or null if the build lacks the linear-algebra exports. */
function createContext(engine: WasmEngineName, bytes: number): Context | null {
  // + 8 pages for the module's static data and the GEMM packing scratch.
  const pages = Math.max(wasmMinPages(engine), 1) + Math.ceil(bytes / PAGE) + 8;
  const memory = new WebAssembly.Memory({ initial: pages });
  const exports = instantiateWasm(engine, memory).exports as unknown as LinalgExports;
  for (const name of ['dgemmNT', 'dgemmScratchBytes', 'dsytrdUpdate', 'dreflectRows'] as const) {
    if (typeof exports[name] !== 'function') return null;
  }
  const scratch = (exports.heapBase() + 63) & ~63;
  const base = (scratch + exports.dgemmScratchBytes() + 63) & ~63;
  if (base > memory.buffer.byteLength) memory.grow(Math.ceil((base - memory.buffer.byteLength) / PAGE) + 1);
  return { memory, exports, scratch, base, buffer: memory.buffer, inUse: false };
}

/**
 * Runs `fn` with a workspace able to hold `doubles` float64 values (plus alignment). A routine's
 * estimate only affects speed: what does not fit is allocated as a plain array.
 */
export function withWorkspace<T>(doubles: number, fn: (ws: Workspace) => T): T {
  const engine = linalgEngine();
  if (engine === 'typescript' || doubles < MIN_WASM_DOUBLES) return fn(new HeapWorkspace());
  const bytes = doubles * 8 + 64 * 256;
  let ctx: Context | null;
  if (cached !== null && !cached.inUse && bytes <= CACHE_BYTES) {
    ctx = cached;
    const have = ctx.buffer.byteLength - ctx.base;
    if (have < bytes) {
      ctx.memory.grow(Math.ceil((bytes - have) / PAGE));
      ctx.buffer = ctx.memory.buffer;
    }
  } else {
    try {
      ctx = createContext(engine, bytes);
    } catch (error) {
      // A memory this large cannot be had (wasm32 tops out at 4 GiB): plain arrays still can be.
      if (error instanceof RangeError) return fn(new HeapWorkspace());
      throw error;
    }
    if (ctx === null) {
      // A build without these kernels (stale build/): stay on TypeScript.
      resolved = 'typescript';
      return fn(new HeapWorkspace());
    }
    if (cached === null && bytes <= CACHE_BYTES) cached = ctx;
  }
  ctx.inUse = true;
  active.push(ctx);
  try {
    return fn(new WasmWorkspace(ctx));
  } finally {
    active.pop();
    ctx.inUse = false;
  }
}

/** The WASM kernels whose memory holds all of the given arrays, or null (then the TypeScript twin runs). */
export function wasmFor(a: Float64Array, b: Float64Array, c: Float64Array): WasmTarget | null {
  for (let i = active.length - 1; i >= 0; i--) {
    const ctx = active[i];
    const buf = ctx.buffer;
    if (c.buffer === buf) return a.buffer === buf && b.buffer === buf ? ctx : null;
  }
  return null;
}

/** Like {@link wasmFor} for any number of arrays. */
export function wasmForAll(arrays: readonly Float64Array[]): WasmTarget | null {
  if (arrays.length === 0) return null;
  const ex = wasmFor(arrays[0], arrays[0], arrays[0]);
  if (ex === null) return null;
  const buf = arrays[0].buffer;
  for (const x of arrays) if (x.buffer !== buf) return null;
  return ex;
}
