import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { CliRunError } from './usage-error.ts';
import { patchWasmMatMul } from './wasm-matmul-patch.ts';

export const BACKENDS = ['wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

let wasmPathsSet = false;

/**
 * Selects the tfjs backend. For `wasm`, the .wasm binaries are loaded from the installed
 * @tensorflow/tfjs-backend-wasm package (its `dist/` folder), so nothing is fetched over the network.
 */
export async function useBackend(name: BackendName): Promise<{ backend: string; wasmFeatures?: string }> {
  // Production mode: no console banners from tfjs (the CPU backend's "install tfjs-node" notice) in the
  // CLI's output; it disables only debug checks the CLI does not use.
  tf.env().set('PROD', true);
  if (name === 'wasm' && !wasmPathsSet) {
    const require = createRequire(import.meta.url);
    const root = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
    // A directory prefix (trailing separator): tfjs appends the binary's file name (simd or plain).
    setWasmPaths(`${join(root, 'dist')}/`);
    wasmPathsSet = true;
  }
  // The WASM backend's Emscripten glue installs process-wide handlers that rethrow every uncaught exception
  // and rejection, which makes Node print the whole minified glue file instead of the real error. The CLI
  // handles its own errors, so those handlers are removed again once the backend is up.
  const before = {
    uncaughtException: process.listeners('uncaughtException'),
    unhandledRejection: process.listeners('unhandledRejection'),
  };
  let ok: boolean;
  try {
    ok = await tf.setBackend(name);
    await tf.ready();
  } catch (e) {
    throw new CliRunError(`cannot start the tfjs '${name}' backend: ${(e as Error).message}`);
  } finally {
    for (const listener of process.listeners('uncaughtException')) {
      if (!before.uncaughtException.includes(listener)) process.removeListener('uncaughtException', listener);
    }
    for (const listener of process.listeners('unhandledRejection')) {
      if (!before.unhandledRejection.includes(listener))
        process.removeListener('unhandledRejection', listener);
    }
  }
  if (!ok || tf.getBackend() !== name) throw new CliRunError(`cannot start the tfjs '${name}' backend`);
  if (name === 'wasm') {
    patchWasmMatMul();
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    const threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
    return { backend: name, wasmFeatures: `simd=${simd}, threads=${threads}` };
  }
  return { backend: name };
}
