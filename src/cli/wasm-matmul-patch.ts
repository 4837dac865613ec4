import * as tf from '@tensorflow/tfjs-core';
import { createKernels, type Kernels } from '../kernels/index.ts';

/**
 * Two fast paths for matrix products on the tfjs WASM backend, installed by wrapping its `BatchMatMul` and
 * `_FusedMatMul` kernels. Measured on this project's 2-core reference machine:
 *
 * 1. A transposed operand (`transposeA`/`transposeB`, which every dense layer's backward pass produces) ran
 *    ~10× slower than a plain product: `xᵀ·g` for 128×784 by 128×512 took ~90 ms against ~9 ms for an
 *    explicit transpose followed by a plain product. Such operands are now transposed first with the
 *    backend's own `Transpose` kernel.
 * 2. A product with a batch dimension (attention's per-head `q·kᵀ` and `p·v`) runs through the backend's
 *    generic loop at under 1 GFLOP/s: 128 products of 64×32 by 32×64 took ~35 ms. Those now run as one
 *    `gemm` per batch entry on shampoo-ts's own WASM SIMD kernels (the ones the optimizers use), ~5× faster.
 *
 * Both compute the same sums of products; the tests compare them with the CPU backend. Idempotent; a no-op
 * where the kernels are not registered.
 */
const PATCHED = new Set<string>();

type KernelArgs = Parameters<tf.KernelFunc>[0];

/** What this module uses of the WASM backend object (public methods of tfjs' BackendWasm). */
interface WasmBackendLike {
  disposeData(dataId: object): boolean;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
}

let kernels: Kernels | undefined;

function product(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/**
 * `out[i] = op(a[i])·op(b[i])` over the batch dimensions with the SIMD gemm kernel; a side whose batch
 * dimensions are all 1 is broadcast. Returns null (caller falls back) for other broadcasts or dtypes.
 */
function batchedGemm(args: KernelArgs, transposeA: boolean, transposeB: boolean): tf.TensorInfo | null {
  const a = args.inputs.a as tf.TensorInfo;
  const b = args.inputs.b as tf.TensorInfo;
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 3 || b.shape.length < 3) return null;
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const batchA = product(outerA);
  const batchB = product(outerB);
  const sameOuter = outerA.length === outerB.length && outerA.every((d, i) => d === outerB[i]);
  if (!sameOuter && batchA !== 1 && batchB !== 1) return null;
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const m = transposeA ? ac : ar;
  const k = transposeA ? ar : ac;
  const n = transposeB ? br : bc;
  if (k !== (transposeB ? bc : br)) return null; // let the original kernel report the mismatch
  const batch = Math.max(batchA, batchB);
  const outer = batchA >= batchB ? outerA : outerB;
  kernels ??= createKernels({ engine: 'auto' });
  const backend = args.backend as unknown as WasmBackendLike;
  const arena = kernels.arena;
  const mark = arena.mark();
  try {
    const A = arena.f32(batchA * ar * ac);
    const B = arena.f32(batchB * br * bc);
    const C = arena.f32(batch * m * n);
    A.view().set(backend.typedArrayFromHeap(a));
    B.view().set(backend.typedArrayFromHeap(b));
    for (let i = 0; i < batch; i++) {
      const ai = batchA === 1 ? 0 : i;
      const bi = batchB === 1 ? 0 : i;
      kernels.gemm(
        transposeA,
        transposeB,
        m,
        n,
        k,
        1,
        A.slice(ai * ar * ac, ar * ac),
        B.slice(bi * br * bc, br * bc),
        0,
        C.slice(i * m * n, m * n),
      );
    }
    const out = backend.makeOutput([...outer, m, n], 'float32');
    backend.typedArrayFromHeap(out).set(C.view());
    return out;
  } finally {
    arena.release(mark);
  }
}

export function patchWasmMatMul(): void {
  const transpose = tf.getKernel('Transpose', 'wasm');
  if (!transpose) return;
  for (const kernelName of ['BatchMatMul', '_FusedMatMul']) {
    if (PATCHED.has(kernelName)) continue;
    const original = tf.getKernel(kernelName, 'wasm');
    if (!original) continue;
    const swapLastTwo = (x: tf.TensorInfo, backend: KernelArgs['backend']): tf.TensorInfo => {
      const rank = x.shape.length;
      const perm = Array.from({ length: rank }, (_, i) => i);
      perm[rank - 2] = rank - 1;
      perm[rank - 1] = rank - 2;
      return transpose.kernelFunc({ inputs: { x }, backend, attrs: { perm } }) as tf.TensorInfo;
    };
    const kernelFunc: tf.KernelFunc = (args) => {
      const attrs = args.attrs as { transposeA?: boolean; transposeB?: boolean };
      const transposeA = attrs.transposeA === true;
      const transposeB = attrs.transposeB === true;
      if (kernelName === 'BatchMatMul') {
        const fast = batchedGemm(args, transposeA, transposeB);
        if (fast) return fast;
      }
      if (!transposeA && !transposeB) return original.kernelFunc(args);
      const backend = args.backend as unknown as WasmBackendLike;
      const a = transposeA ? swapLastTwo(args.inputs.a as tf.TensorInfo, args.backend) : args.inputs.a;
      const b = transposeB ? swapLastTwo(args.inputs.b as tf.TensorInfo, args.backend) : args.inputs.b;
      try {
        return original.kernelFunc({
          ...args,
          inputs: { ...args.inputs, a, b },
          attrs: { ...args.attrs, transposeA: false, transposeB: false },
        });
      } finally {
        if (transposeA) backend.disposeData((a as tf.TensorInfo).dataId);
        if (transposeB) backend.disposeData((b as tf.TensorInfo).dataId);
      }
    };
    tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({ ...original, kernelFunc });
    PATCHED.add(kernelName);
  }
}
