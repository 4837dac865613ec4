/**
 * How a parameter's shape is turned into the tensor the Kronecker preconditioner works on, and how its
 * elements move between the two orders.
 *
 * - SOAP keeps size-1 dims (they get 1×1 factors), optionally merges adjacent dims (`mergeDims`), and with
 *   `dataFormat: 'channels_last'` reads a 4-D tensor as permute(0, 3, 1, 2) before merging.
 * - The KL methods squeeze every size-1 dim.
 * Row-major order is preserved by squeezing and merging, so only the channels-last permutation moves data.
 */
export interface TensorLayout {
  /** Dims of the working tensor. */
  readonly dims: readonly number[];
  /** True when working order equals the parameter's row-major order. */
  readonly identity: boolean;
  /** `dst` (working order) ← `src` (parameter order). */
  toWork(src: Float32Array, dst: Float32Array): void;
  /** `dst` (parameter order) ← `src` (working order). */
  toParam(src: Float32Array, dst: Float32Array): void;
}

/** The shape without its size-1 dims (a tensor of only size-1 dims, or a scalar, becomes `[]`). */
export function squeezeDims(shape: readonly number[]): number[] {
  return shape.filter((d) => d !== 1);
}

/**
 * SOAP's `merge_dims`: scan left to right with a running product c (initially 1); a dim joins c while
 * `c·d ≤ maxDim`; otherwise c is emitted (if > 1) and restarts at d, or d is emitted alone when c = 1.
 * At the end c is emitted if > 1 or if nothing was emitted. Example: (64, 3, 3, 3), 10000 → (1728).
 */
export function soapMergeDims(shape: readonly number[], maxDim: number): number[] {
  const out: number[] = [];
  let c = 1;
  for (const d of shape) {
    const merged = c * d;
    if (merged > maxDim) {
      if (c > 1) {
        out.push(c);
        c = d;
      } else {
        out.push(d);
        c = 1;
      }
    } else {
      c = merged;
    }
  }
  if (c > 1 || out.length === 0) out.push(c);
  return out;
}

function copyLayout(dims: readonly number[]): TensorLayout {
  return {
    dims,
    identity: true,
    toWork: (src, dst) => dst.set(src.subarray(0, dst.length)),
    toParam: (src, dst) => dst.set(src.subarray(0, dst.length)),
  };
}

/** A layout that keeps the parameter's element order (any reshape of row-major data). */
export function reshapeLayout(dims: readonly number[]): TensorLayout {
  return copyLayout([...dims]);
}

/**
 * A 4-D channels-last parameter (N, H, W, C) read as (N, C, H, W), then reshaped to `dims` (whose product is
 * N·C·H·W). Working element (n, c, h, w) is parameter element (n, h, w, c).
 */
export function channelsLastLayout(shape: readonly number[], dims: readonly number[]): TensorLayout {
  const [N, H, W, C] = shape;
  const HW = H * W;
  return {
    dims: [...dims],
    identity: false,
    toWork(src, dst) {
      for (let n = 0; n < N; n++) {
        const base = n * HW * C;
        for (let c = 0; c < C; c++) {
          const out = base + c * HW;
          for (let p = 0; p < HW; p++) dst[out + p] = src[base + p * C + c];
        }
      }
    },
    toParam(src, dst) {
      for (let n = 0; n < N; n++) {
        const base = n * HW * C;
        for (let c = 0; c < C; c++) {
          const from = base + c * HW;
          for (let p = 0; p < HW; p++) dst[base + p * C + c] = src[from + p];
        }
      }
    },
  };
}
