import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { EngineError } from '../src/errors.ts';
import { wasmFor, withWorkspace } from '../src/linalg/engine.ts';
import { gemmNT, gemmNTScalar } from '../src/linalg/gemm-nt.ts';
import { eigvalsh, linalgEngine, setLinalgEngine, workspaceFallbacks } from '../src/linalg/index.ts';
import { tridiagonalQl } from '../src/linalg/tridiagonal-ql.ts';
import { tridiagonalize } from '../src/linalg/tridiagonalize.ts';
import { gaussian, linalgEngines, rng } from './helpers/linalg.ts';

const wasmEngines = linalgEngines().filter((e) => e !== 'typescript');

after(() => setLinalgEngine('auto'));

/** Naive C = alpha·A·Bᵀ + beta·C on the sub-matrices, the oracle of both kernels. */
function naive(
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: Float64Array,
  aOff: number,
  lda: number,
  b: Float64Array,
  bOff: number,
  ldb: number,
  beta: number,
  c: Float64Array,
  cOff: number,
  ldc: number,
): Float64Array {
  const out = c.slice();
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[aOff + i * lda + p] * b[bOff + j * ldb + p];
      const idx = cOff + i * ldc + j;
      out[idx] = alpha * s + (beta === 0 ? 0 : beta * c[idx]);
    }
  }
  return out;
}

const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [3, 3, 3],
  [2, 5, 1],
  [17, 17, 17],
  [64, 65, 63],
  [65, 64, 300],
  [7, 100, 257],
  [100, 7, 2],
  [37, 250, 260],
  [130, 130, 40],
  [0, 5, 5],
  [5, 5, 0],
];

describe('gemmNT: WASM twin vs TypeScript kernel vs naive', () => {
  for (const engine of wasmEngines) {
    test(`dgemmNT on ${engine}: shapes, offsets, leading dimensions, alpha/beta, lower part`, () => {
      setLinalgEngine(engine);
      const rand = rng(101);
      for (const [m, n, k] of SHAPES) {
        for (const [alpha, beta] of [
          [1, 0],
          [-1, 1],
          [0.5, 2],
          [0, 3],
        ]) {
          for (const part of ['full', 'lower'] as const) {
            if (part === 'lower' && m !== n) continue;
            const lda = k + 3;
            const ldb = k + 1;
            const ldc = n + 2;
            const aOff = 5;
            const bOff = 2;
            const cOff = 7;
            const aLen = aOff + Math.max(m, 1) * lda;
            const bLen = bOff + Math.max(n, 1) * ldb;
            const cLen = cOff + Math.max(m, 1) * ldc + 4;
            const a0 = gaussian(rand, aLen);
            const b0 = gaussian(rand, bLen);
            const c0 = gaussian(rand, cLen);
            const expected = naive(m, n, k, alpha, a0, aOff, lda, b0, bOff, ldb, beta, c0, cOff, ldc);
            const ts = c0.slice();
            gemmNTScalar(m, n, k, alpha, a0, aOff, lda, b0, bOff, ldb, beta, ts, cOff, ldc, part);
            const got = withWorkspace(aLen + bLen + cLen + 4096, (ws) => {
              const a = ws.f64(aLen);
              const b = ws.f64(bLen);
              const c = ws.f64(cLen);
              a.set(a0);
              b.set(b0);
              c.set(c0);
              gemmNT(m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc, part);
              return c.slice();
            });
            const label = `${engine} ${m}×${n}×${k} α=${alpha} β=${beta} ${part}`;
            for (let idx = 0; idx < cLen; idx++) {
              const rel = idx - cOff;
              const i = Math.floor(rel / ldc);
              const j = rel - i * ldc;
              const inside = rel >= 0 && i < m && j < n;
              if (!inside) {
                // Nothing outside C's sub-matrix is touched, in either kernel.
                assert.equal(got[idx], c0[idx], `${label}: wrote outside C at ${idx}`);
                assert.equal(ts[idx], c0[idx]);
                continue;
              }
              if (part === 'lower' && j > i) continue;
              const tol = 1e-13 * (1 + Math.abs(expected[idx])) * Math.max(1, Math.sqrt(k));
              assert.ok(Math.abs(got[idx] - expected[idx]) <= tol, `${label} (${i},${j}) wasm`);
              assert.ok(Math.abs(ts[idx] - expected[idx]) <= tol, `${label} (${i},${j}) ts`);
            }
          }
        }
      }
    });
  }

  test('buffers outside the workspace memory run the TypeScript kernel, with the same result', () => {
    const rand = rng(5);
    const a = gaussian(rand, 40 * 30);
    const b = gaussian(rand, 20 * 30);
    const c1 = new Float64Array(40 * 20);
    const c2 = new Float64Array(40 * 20);
    gemmNTScalar(40, 20, 30, 1, a, 0, 30, b, 0, 30, 0, c1, 0, 20);
    for (const engine of linalgEngines()) {
      setLinalgEngine(engine);
      withWorkspace(1 << 14, (ws) => {
        const inWs = ws.f64(40 * 30);
        inWs.set(a);
        // Mixed: A in the workspace, B and C plain arrays.
        gemmNT(40, 20, 30, 1, inWs, 0, 30, b, 0, 30, 0, c2, 0, 20);
      });
      assert.deepEqual(c2, c1);
    }
  });
});

describe('tridiagonalisation step: WASM twin vs TypeScript', () => {
  for (const engine of wasmEngines) {
    test(`dsytrdUpdate on ${engine} gives the same tridiagonal matrix and reflectors`, () => {
      for (const n of [3, 4, 5, 17, 64, 101]) {
        const rand = rng(n);
        const src = gaussian(rand, n * n);
        for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) src[i * n + j] = src[j * n + i];
        const run = (eng: 'typescript' | typeof engine) => {
          setLinalgEngine(eng);
          return withWorkspace(n * n + 8 * n + 2048, (ws) => {
            const a = ws.f64(n * n);
            a.set(src);
            const d = new Float64Array(n);
            const e = new Float64Array(n);
            const tau = new Float64Array(n);
            tridiagonalize(a, n, d, e, tau, ws);
            return { a: a.slice(), d, e, tau };
          });
        };
        const ts = run('typescript');
        const wa = run(engine);
        // The first steps agree to rounding; later entries of T are sensitive to rounding differences (as in
        // Lanczos), so the whole T is compared through its eigenvalues, which are well conditioned.
        for (const [x, y, what] of [
          [ts.d[0], wa.d[0], 'd[0]'],
          [ts.e[0], wa.e[0], 'e[0]'],
          [ts.tau[0], wa.tau[0], 'tau[0]'],
          [ts.d[1], wa.d[1], 'd[1]'],
        ] as const) {
          assert.ok(Math.abs(x - y) <= 1e-14 * (1 + Math.abs(x)), `${engine} n=${n} ${what}`);
        }
        const spectrum = (t: { d: Float64Array; e: Float64Array }) => {
          const d = t.d.slice();
          const e = t.e.slice();
          tridiagonalQl(d, e, n, null);
          return d.sort();
        };
        const l1 = spectrum(ts);
        const l2 = spectrum(wa);
        const oracle = eigvalsh(src, n);
        for (let i = 0; i < n; i++) {
          assert.ok(Math.abs(l1[i] - l2[i]) <= 1e-13 * n, `${engine} n=${n} λ[${i}]`);
          assert.ok(Math.abs(l2[i] - oracle[i]) <= 1e-13 * n, `${engine} n=${n} λ[${i}] vs eigvalsh`);
        }
      }
    });
  }
});

describe('engine selection and workspaces', () => {
  test('setLinalgEngine resolves, reports and rejects', () => {
    assert.equal(setLinalgEngine('typescript'), 'typescript');
    assert.equal(linalgEngine(), 'typescript');
    const auto = setLinalgEngine('auto');
    assert.ok(linalgEngines().includes(auto));
    assert.throws(() => setLinalgEngine('fortran' as 'auto'), EngineError);
  });

  test('allocations beyond the estimate fall back to plain arrays and are counted', () => {
    for (const engine of wasmEngines) {
      setLinalgEngine(engine);
      const before = workspaceFallbacks();
      withWorkspace(2048, (ws) => {
        const inside = ws.f64(1000);
        const outside = ws.f64(1 << 22);
        assert.notEqual(inside.buffer, outside.buffer);
        assert.equal(outside.length, 1 << 22);
        assert.ok(outside.every((x) => x === 0));
      });
      assert.equal(workspaceFallbacks(), before + 1);
    }
  });

  test('nested workspaces get separate memories; mark/release reuses space; arrays are zeroed', () => {
    for (const engine of wasmEngines) {
      setLinalgEngine(engine);
      withWorkspace(1 << 16, (outer) => {
        const x = outer.f64(4096);
        x.fill(7);
        withWorkspace(1 << 16, (inner) => {
          const y = inner.f64(4096);
          assert.notEqual(y.buffer, x.buffer);
          assert.ok(y.every((v) => v === 0));
        });
        const mark = outer.mark();
        const z1 = outer.f64(100);
        z1.fill(3);
        outer.release(mark);
        const z2 = outer.f64(100);
        assert.equal(z2.byteOffset, z1.byteOffset);
        assert.ok(z2.every((v) => v === 0));
        assert.ok(x.every((v) => v === 7));
      });
    }
  });

  test('every WASM build exports the kernels the linear algebra calls', () => {
    for (const engine of wasmEngines) {
      setLinalgEngine(engine);
      const found = withWorkspace(1 << 14, (ws) => {
        const a = ws.f64(4);
        return wasmFor(a, a, a);
      });
      assert.ok(found !== null);
      for (const name of ['dgemmNT', 'dgemmScratchBytes', 'dsytrdUpdate', 'dreflectRows'] as const) {
        assert.equal(typeof found.exports[name], 'function', `${engine}: ${name}`);
      }
      assert.equal(linalgEngine(), engine, `${engine} fell back to TypeScript: the build lacks the exports`);
    }
  });
});
