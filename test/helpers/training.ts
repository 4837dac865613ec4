import type { Optimizer, Param, TypedArray } from '../../src/optimizers/optimizer.ts';

/** A small deterministic PRNG (mulberry32): tests must not depend on Math.random. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Shapes that exercise matrices, vectors and a 3-D tensor. */
export const TEST_SHAPES: readonly (readonly number[])[] = [[6, 5], [7], [2, 3, 4]];

export function makeParams(seed = 1, shapes = TEST_SHAPES): Param[] {
  const r = rng(seed);
  return shapes.map((shape, i) => {
    const n = shape.reduce((a, b) => a * b, 1);
    return { data: Float32Array.from({ length: n }, () => r() * 2 - 1), shape: [...shape], name: `p${i}` };
  });
}

export const cloneParams = (params: readonly Param[]): Param[] =>
  params.map((p) => ({ ...p, data: p.data.slice(), shape: [...p.shape] }));

/** Gradients of a fixed quadratic-plus-drift loss: they depend on the current parameters and the step. */
export function gradsFor(params: readonly Param[], step: number): Float32Array[] {
  return params.map((p, i) =>
    Float32Array.from(p.data, (x, k) => 0.5 * x + Math.sin(step * 0.7 + k * 1.3 + i) * (1 + (k % 3))),
  );
}

/** Takes steps `from, from+1, ..., to-1`. */
export function train(opt: Optimizer, from: number, to: number): void {
  for (let s = from; s < to; s++) opt.step(gradsFor(opt.params, s));
}

export const bytesOf = (a: TypedArray | Float32Array): Uint8Array =>
  new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Bitwise equality of two typed arrays (distinguishes −0 from 0 and compares NaN payloads). */
export function sameBits(a: TypedArray, b: TypedArray): boolean {
  if (a.constructor !== b.constructor || a.length !== b.length) return false;
  return Buffer.compare(bytesOf(a), bytesOf(b)) === 0;
}
