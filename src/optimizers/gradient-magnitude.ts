/**
 * Gradients whose squared Frobenius norm exceeds this are refused like non-finite ones. Below it, every
 * quantity the methods derive from a gradient in float32 stays finite: g², Adam's second moment, the entries
 * of Gram matrices G·Gᵀ (bounded by ‖G‖² by Cauchy–Schwarz) and rotated gradients (‖QᵀGQ‖ = ‖G‖).
 */
export const MAX_GRAD_SQUARED_NORM = 1e36;
