/**
 * Gradients whose squared Frobenius norm exceeds this are refused like non-finite ones. Below it, every
 * quantity the methods derive from a gradient in float32 stays finite: g², Adam's second moment, the entries
 * of Gram matrices G·Gᵀ (bounded by ‖G‖² by Cauchy–Schwarz) and rotated gradients (‖QᵀGQ‖ = ‖G‖).
 */
export const MAX_GRAD_SQUARED_NORM = 1e36;

/** A message naming the first gradient whose squared norm exceeds `MAX_GRAD_SQUARED_NORM`, or null. */
export function oversizedGradient(grads: readonly Float32Array[]): string | null {
  for (let i = 0; i < grads.length; i++) {
    const g = grads[i];
    let acc = 0;
    for (let k = 0; k < g.length; k++) acc += g[k] * g[k];
    if (acc > MAX_GRAD_SQUARED_NORM) {
      return `gradient ${i} is too large (squared norm ${acc.toExponential(2)} > ${MAX_GRAD_SQUARED_NORM}: its statistics would overflow float32); state unchanged`;
    }
  }
  return null;
}
