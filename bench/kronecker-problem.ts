// A small ill-conditioned problem whose Hessian is a Kronecker product, for comparing storage precisions:
//   f(W) = ½·tr((W − W*)ᵀ·Σ_L·(W − W*)·Σ_R),   ∇f = Σ_L·(W − W*)·Σ_R,
// with Σ_L, Σ_R = U·Diag(λ)·Uᵀ, U random orthogonal, λ log-spaced from `scale` down to `scale·smallest`.
// Optional: Gaussian gradient noise (stochastic gradients, a loss floor), and a drift that rotates both
// eigenbases by a small fixed rotation every step (the preconditioner must keep tracking). Float64 math.
// Shared by bench/subspace-selection.ts, bench/precision-convergence.ts and test/precision-convergence.test.ts.
import { qr } from '../src/linalg/index.ts';

export interface ProblemOptions {
  m: number;
  n: number;
  /** Smallest eigenvalue relative to the largest, per side. */
  smallest: number;
  /** Largest eigenvalue. Default 10. */
  scale?: number;
  /** Standard deviation of the noise added to each gradient entry. Default 0. */
  noise?: number;
  /** Rotation angle (radians) per step of the drift, applied to both eigenbases. Default 0. */
  drift?: number;
  seed: number;
}

/** mulberry32 + Box–Muller. */
export class Normal {
  private state: number;
  private spare: number | null = null;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  uniform(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  next(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    const a = 2 * Math.PI * this.uniform();
    this.spare = r * Math.sin(a);
    return r * Math.cos(a);
  }
}

function orthogonal(d: number, rng: Normal): Float64Array {
  return qr(
    Float64Array.from({ length: d * d }, () => rng.next()),
    d,
    d,
  );
}

/** A·B for row-major a (r×k) and b (k×c). */
function mul(a: Float64Array, b: Float64Array, r: number, k: number, c: number): Float64Array {
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++)
    for (let p = 0; p < k; p++) {
      const x = a[i * k + p];
      if (x === 0) continue;
      for (let j = 0; j < c; j++) out[i * c + j] += x * b[p * c + j];
    }
  return out;
}

/** A rotation by `angle` in d/2 random planes (so every direction moves). */
function smallRotation(d: number, angle: number, rng: Normal): Float64Array {
  const basis = orthogonal(d, rng);
  const g = new Float64Array(d * d);
  for (let i = 0; i < d; i++) g[i * d + i] = 1;
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  for (let p = 0; p + 1 < d; p += 2) {
    g[p * d + p] = c;
    g[p * d + p + 1] = -s;
    g[(p + 1) * d + p] = s;
    g[(p + 1) * d + p + 1] = c;
  }
  // basis·G·basisᵀ
  const bg = mul(basis, g, d, d, d);
  const bt = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) bt[j * d + i] = basis[i * d + j];
  return mul(bg, bt, d, d, d);
}

export class KroneckerProblem {
  readonly m: number;
  readonly n: number;
  readonly start: Float32Array;
  private readonly target: Float64Array;
  private readonly lambdaL: Float64Array;
  private readonly lambdaR: Float64Array;
  private uL: Float64Array;
  private uR: Float64Array;
  private sL: Float64Array;
  private sR: Float64Array;
  private readonly rotL: Float64Array | null;
  private readonly rotR: Float64Array | null;
  private readonly noise: number;
  private readonly rng: Normal;

  constructor(o: ProblemOptions) {
    const rng = new Normal(o.seed);
    const scale = o.scale ?? 10;
    this.m = o.m;
    this.n = o.n;
    this.noise = o.noise ?? 0;
    const spectrum = (d: number) =>
      Float64Array.from({ length: d }, (_, k) => scale * o.smallest ** (k / (d - 1)));
    this.lambdaL = spectrum(o.m);
    this.lambdaR = spectrum(o.n);
    this.uL = orthogonal(o.m, rng);
    this.uR = orthogonal(o.n, rng);
    this.rotL = o.drift ? smallRotation(o.m, o.drift, rng) : null;
    this.rotR = o.drift ? smallRotation(o.n, o.drift, rng) : null;
    this.sL = this.covariance(this.uL, this.lambdaL, o.m);
    this.sR = this.covariance(this.uR, this.lambdaR, o.n);
    this.target = Float64Array.from({ length: o.m * o.n }, () => rng.next());
    this.start = Float32Array.from({ length: o.m * o.n }, () => 0.1 * rng.next());
    this.rng = new Normal(o.seed ^ 0x9e3779b9);
  }

  private covariance(u: Float64Array, lambda: Float64Array, d: number): Float64Array {
    const ul = Float64Array.from(u, (x, i) => x * lambda[i % d]);
    const ut = new Float64Array(d * d);
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) ut[j * d + i] = u[i * d + j];
    return mul(ul, ut, d, d, d);
  }

  /** The exact loss at w; with `grad`, also writes the (noisy) gradient. */
  evaluate(w: Float32Array, grad?: Float32Array): number {
    const { m, n } = this;
    const e = Float64Array.from(w, (x, i) => x - this.target[i]);
    const g = mul(mul(this.sL, e, m, m, n), this.sR, m, n, n);
    let loss = 0;
    for (let i = 0; i < m * n; i++) loss += 0.5 * e[i] * g[i];
    if (grad)
      for (let i = 0; i < m * n; i++) grad[i] = g[i] + (this.noise ? this.noise * this.rng.next() : 0);
    return loss;
  }

  /** Advances the drift by one step (no-op without drift). */
  advance(): void {
    if (!this.rotL || !this.rotR) return;
    this.uL = mul(this.rotL, this.uL, this.m, this.m, this.m);
    this.uR = mul(this.rotR, this.uR, this.n, this.n, this.n);
    this.sL = this.covariance(this.uL, this.lambdaL, this.m);
    this.sR = this.covariance(this.uR, this.lambdaR, this.n);
  }
}

/** Runs `steps` optimizer steps on a fresh copy of the start point; returns the exact final loss. */
export function runProblem(
  problem: KroneckerProblem,
  step: (w: Float32Array, grad: Float32Array) => void,
  steps: number,
): number {
  const w = problem.start.slice();
  const g = new Float32Array(w.length);
  for (let t = 0; t < steps; t++) {
    problem.evaluate(w, g);
    step(w, g);
    problem.advance();
  }
  const loss = problem.evaluate(w);
  return Number.isFinite(loss) ? loss : Number.POSITIVE_INFINITY;
}
