import { CheckpointError } from '../errors.ts';

/*
 * tfjs serializes optimizer weights as float32/int32 tensors. A float32 tensor cannot carry arbitrary bit
 * patterns (NaN payloads may be canonicalized, and u8/u16/f64 state is not float32), so the checkpoint bytes
 * travel as an int32 tensor holding 4 bytes per element, little-endian. Checkpoints are always a multiple
 * of 16 bytes long, so nothing is padded.
 */

const HOST_LE = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** Packs bytes (length a multiple of 4) into int32 values, 4 little-endian bytes each. */
export function packBytes(bytes: Uint8Array): Int32Array {
  if (bytes.length % 4 !== 0) throw new RangeError(`${bytes.length} bytes is not a multiple of 4`);
  const out = new Int32Array(bytes.length / 4);
  if (HOST_LE) {
    new Uint8Array(out.buffer).set(bytes);
  } else {
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < out.length; i++) out[i] = dv.getInt32(4 * i, true);
  }
  return out;
}

/** Inverse of `packBytes`. */
export function unpackBytes(values: ArrayLike<number>): Uint8Array {
  if (HOST_LE && values instanceof Int32Array) {
    return new Uint8Array(values.buffer, values.byteOffset, values.byteLength).slice();
  }
  const out = new Uint8Array(values.length * 4);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) {
      throw new CheckpointError('corrupted', `optimizer weight element ${i} is not an int32 (${v})`);
    }
    dv.setInt32(4 * i, v, true);
  }
  return out;
}
