/**
 * The per-step update of a correlation triangle's values (see `correlation-triangle.ts`): the reference the
 * TypeScript codecs run and the WASM kernel (assembly/correlation.ts) reproduces bit for bit.
 */
import { ShapeError } from '../errors.ts';

/** Throws unless the buffers hold a d×d factor's triangle, increment and roots. */
export function checkCorrelationBuffers(
  what: string,
  d: number,
  values: number,
  increment: number,
  rootOld: number,
  rootNew: number,
): void {
  if (!Number.isInteger(d) || d < 0) throw new ShapeError(`${what}: dimension ${d} is not a size`);
  const pairs = (d * (d - 1)) / 2;
  if (values < pairs) throw new ShapeError(`${what}: triangle has ${values} values, needs ${pairs}`);
  if (increment < d * d) throw new ShapeError(`${what}: increment has ${increment} elements, needs ${d * d}`);
  if (rootOld < d || rootNew < d) {
    throw new ShapeError(`${what}: roots have ${rootOld} and ${rootNew} elements, need ${d}`);
  }
}

/**
 * Over the strict upper triangle, row by row (`c` holds pair (i, j), j > i, contiguously per row):
 * `c_ij ← (c_ij·β·rootOld_i·rootOld_j + w·inc_ij) / (rootNew_i·rootNew_j)`, or 0 where that denominator is not
 * positive. Every operation is in f64 in exactly this order, the result rounded to f32 once by the store; the
 * WASM kernel depends on that order to give the same bits.
 */
export function correlationEmaRows(
  c: Float32Array,
  increment: Float32Array,
  d: number,
  rootOld: Float64Array,
  rootNew: Float64Array,
  beta: number,
  weight: number,
): void {
  let t = 0;
  for (let i = 0; i < d; i++) {
    const ro = beta * rootOld[i];
    const rn = rootNew[i];
    const row = i * d;
    for (let j = i + 1; j < d; j++, t++) {
      const o = c[t] * ro * rootOld[j] + weight * increment[row + j];
      const den = rn * rootNew[j];
      c[t] = den > 0 ? o / den : 0;
    }
  }
}
