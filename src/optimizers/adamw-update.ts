import type { F32Buffer, Kernels } from '../kernels/index.ts';

/** Hyperparameters of one AdamW update (torch.optim.AdamW conventions). */
export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/**
 * One torch.optim.AdamW update of a single parameter, in place:
 * `p ← p·(1 − lr·wd)`; `m ← β1·m + (1−β1)·g`; `v ← β2·v + (1−β2)·g²`;
 * `p ← p − lr/(1−β1ᵗ) · m ⊘ (sqrt(v)/sqrt(1−β2ᵗ) + ε)`.
 * `t` is this update's 1-based count. `work` is scratch of exactly `p.length` elements (it receives the
 * gradient, then the direction). Shared by AdamW and the AdamW fallback of the KL methods.
 */
export function adamwUpdate(
  kernels: Kernels,
  p: Float32Array,
  grad: Float32Array,
  m: F32Buffer,
  v: F32Buffer,
  work: F32Buffer,
  t: number,
  hp: AdamWHyper,
): void {
  work.view().set(grad);
  kernels.adamMoments(work, m, v, hp.beta1, hp.beta2);
  const bc1 = 1 - hp.beta1 ** t;
  const bc2 = 1 - hp.beta2 ** t;
  // sqrt(v)/sqrt(bc2) is folded into the kernel as sqrt(v)·vScale.
  kernels.adamDirection(m, v, 1 / Math.sqrt(bc2), hp.eps, work);
  const dir = work.view();
  const decay = 1 - hp.lr * hp.weightDecay;
  const stepSize = hp.lr / bc1;
  for (let i = 0; i < p.length; i++) p[i] = Math.fround(p[i] * decay) - stepSize * dir[i];
}
