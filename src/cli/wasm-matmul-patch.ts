import * as tf from '@tensorflow/tfjs-core';

/**
 * The tfjs WASM backend runs matrix products with a transposed operand (`transposeA`/`transposeB`) far slower
 * than plain ones: on this project's 2-core reference machine `xᵀ·g` for a 128×784 by 128×512 pair took
 * ~90 ms against ~9 ms for an explicit transpose followed by a plain product. Backpropagation through every
 * dense layer produces exactly those transposed products, so training would be dominated by them.
 *
 * This wraps the backend's `BatchMatMul` and `_FusedMatMul` kernels: a transposed operand is first
 * materialized with the backend's own `Transpose` kernel, then the original kernel runs untransposed. The
 * arithmetic is the same sum of products in the same order, so results match the unpatched kernel.
 * Idempotent; a no-op where the kernels are not registered.
 */
const PATCHED = new Set<string>();

type KernelArgs = Parameters<tf.KernelFunc>[0];

interface BackendWithDispose {
  disposeData(dataId: object): boolean;
}

export function patchWasmTransposedMatMul(): void {
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
      if (!attrs.transposeA && !attrs.transposeB) return original.kernelFunc(args);
      const backend = args.backend as unknown as BackendWithDispose;
      const a = attrs.transposeA ? swapLastTwo(args.inputs.a as tf.TensorInfo, args.backend) : args.inputs.a;
      const b = attrs.transposeB ? swapLastTwo(args.inputs.b as tf.TensorInfo, args.backend) : args.inputs.b;
      try {
        return original.kernelFunc({
          ...args,
          inputs: { ...args.inputs, a, b },
          attrs: { ...args.attrs, transposeA: false, transposeB: false },
        });
      } finally {
        if (attrs.transposeA) backend.disposeData((a as tf.TensorInfo).dataId);
        if (attrs.transposeB) backend.disposeData((b as tf.TensorInfo).dataId);
      }
    };
    tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({ ...original, kernelFunc });
    PATCHED.add(kernelName);
  }
}
