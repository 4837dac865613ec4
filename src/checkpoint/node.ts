/**
 * Checkpoint files on disk (Node only; browsers use `encodeCheckpoint` / `loadCheckpointInto` on bytes).
 * Writes are atomic: the bytes go to a temporary file beside the target, which is flushed and renamed over
 * it, so a crash mid-write leaves the previous checkpoint intact.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Optimizer } from '../optimizers/optimizer.ts';
import { type EncodeOptions, encodeCheckpoint } from './encode.ts';
import { type LoadOptions, type LoadReport, loadCheckpointInto } from './load.ts';

const tempPath = (path: string) =>
  join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.tmp`);

/** Writes `optimizer`'s state to `path` atomically; resolves to the number of bytes written. */
export async function saveCheckpoint(
  optimizer: Optimizer,
  path: string,
  options?: EncodeOptions,
): Promise<number> {
  const bytes = encodeCheckpoint(optimizer, options);
  const tmp = tempPath(path);
  try {
    const handle = await open(tmp, 'w');
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  return bytes.length;
}

/** Reads `path` and loads it into `optimizer` (see `loadCheckpointInto`: verified completely first). */
export async function loadCheckpoint(
  optimizer: Optimizer,
  path: string,
  options?: LoadOptions,
): Promise<LoadReport> {
  return loadCheckpointInto(optimizer, await readFile(path), options);
}

/** Synchronous `saveCheckpoint`. */
export function saveCheckpointSync(optimizer: Optimizer, path: string, options?: EncodeOptions): number {
  const bytes = encodeCheckpoint(optimizer, options);
  const tmp = tempPath(path);
  try {
    const fd = openSync(tmp, 'w');
    try {
      let done = 0;
      while (done < bytes.length) done += writeSync(fd, bytes, done);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  return bytes.length;
}

/** Synchronous `loadCheckpoint`. */
export function loadCheckpointSync(optimizer: Optimizer, path: string, options?: LoadOptions): LoadReport {
  return loadCheckpointInto(optimizer, readFileSync(path), options);
}
