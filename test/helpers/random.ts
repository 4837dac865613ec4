/** A small seeded generator (mulberry32) so every random test input is reproducible from its seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fills `out` with uniform values in [lo, hi), rounded to float32 where `out` is a Float32Array. */
export function fillUniform(out: Float32Array | Float64Array, random: () => number, lo = -1, hi = 1): void {
  for (let i = 0; i < out.length; i++) out[i] = lo + (hi - lo) * random();
}
