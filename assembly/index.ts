// Entry point of the AssemblyScript kernels (compiled by scripts/build-wasm.mjs into a SIMD and a relaxed-SIMD
// build). Every export takes plain numbers and byte offsets into the imported memory; nothing here allocates.
// Modules that add kernels re-export them from this file.

/** First byte above the module's static data: the arena hands out memory from here up. */
export function heapBase(): usize {
  return __heap_base;
}

export * from './correlation';
export * from './elementwise';
export * from './gemm';
export * from './linalg';
export * from './qr-panel';
export * from './quant';
export * from './quant8';
