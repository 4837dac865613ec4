import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { UsageError } from '../usage-error.ts';

/**
 * A strict reader for the IDX format of MNIST and Fashion-MNIST (LeCun et al.): a 4-byte magic
 * `0x00 0x00 <dtype> <ndims>`, then `ndims` big-endian uint32 dimensions, then the values in row-major order,
 * big-endian. The file must be exactly that long: a truncated download or a file with trailing bytes is an
 * error, not a dataset of a different size.
 */
export const IDX_DTYPES = {
  8: { name: 'ubyte', bytes: 1 },
  9: { name: 'sbyte', bytes: 1 },
  11: { name: 'short', bytes: 2 },
  12: { name: 'int', bytes: 4 },
  13: { name: 'float', bytes: 4 },
  14: { name: 'double', bytes: 8 },
} as const;

export type IdxDtypeCode = keyof typeof IDX_DTYPES;
export type IdxDtypeName = (typeof IDX_DTYPES)[IdxDtypeCode]['name'];

export interface IdxArray {
  dtype: IdxDtypeName;
  dims: number[];
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

/** A bad IDX file given on the command line: reported like any other bad argument. */
export class IdxError extends UsageError {
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = 'IdxError';
  }
}

/** Parses IDX bytes; `where` names the source in error messages. */
export function parseIdx(bytes: Uint8Array, where: string): IdxArray {
  if (bytes.length < 4)
    throw new IdxError(where, `not an IDX file: ${bytes.length} bytes, shorter than the header`);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    throw new IdxError(where, 'is gzip-compressed; give it a name ending in .gz or decompress it first');
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new IdxError(
      where,
      `not an IDX file: magic starts with 0x${hex(bytes[0])} 0x${hex(bytes[1])}, expected 0x00 0x00`,
    );
  }
  const code = bytes[2];
  if (!Object.hasOwn(IDX_DTYPES, code)) {
    throw new IdxError(where, `unknown IDX data type 0x${hex(code)} (known: 0x08 0x09 0x0b 0x0c 0x0d 0x0e)`);
  }
  const dtype = IDX_DTYPES[code as IdxDtypeCode];
  const ndims = bytes[3];
  if (ndims === 0) throw new IdxError(where, 'IDX header declares 0 dimensions');
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) {
    throw new IdxError(
      where,
      `truncated: header needs ${headerBytes} bytes for ${ndims} dimensions, file has ${bytes.length}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  let count = 1;
  for (let i = 0; i < ndims; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    count *= d;
  }
  const expected = headerBytes + count * dtype.bytes;
  if (bytes.length !== expected) {
    const what = bytes.length < expected ? 'truncated' : 'has trailing bytes';
    throw new IdxError(
      where,
      `${what}: dimensions [${dims.join(', ')}] of ${dtype.name} need ${expected} bytes, file has ${bytes.length}`,
    );
  }
  return { dtype: dtype.name, dims, data: decode(view, headerBytes, count, dtype.name) };
}

function decode(view: DataView, offset: number, count: number, dtype: IdxDtypeName): IdxArray['data'] {
  switch (dtype) {
    case 'ubyte':
      return new Uint8Array(view.buffer, view.byteOffset + offset, count).slice();
    case 'sbyte':
      return new Int8Array(view.buffer, view.byteOffset + offset, count).slice();
    case 'short': {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(offset + 2 * i, false);
      return out;
    }
    case 'int': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(offset + 4 * i, false);
      return out;
    }
    case 'float': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(offset + 4 * i, false);
      return out;
    }
    case 'double': {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(offset + 8 * i, false);
      return out;
    }
  }
}

/** Reads an IDX file; a path ending in `.gz` is gunzipped first. */
export function readIdxFile(path: string): IdxArray {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : String(e);
    throw new IdxError(path, `cannot read: ${reason}`);
  }
  if (path.toLowerCase().endsWith('.gz')) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw new IdxError(path, `cannot gunzip: ${(e as Error).message}`);
    }
  }
  return parseIdx(bytes, path);
}

/** Encodes an IDX file (used by tests and by anyone converting data for `--task idx`). */
export function encodeIdx(
  dtype: IdxDtypeName,
  dims: readonly number[],
  values: ArrayLike<number>,
): Uint8Array {
  const entry = Object.entries(IDX_DTYPES).find(([, v]) => v.name === dtype);
  if (!entry) throw new Error(`unknown dtype ${dtype}`);
  const [code, { bytes: size }] = entry;
  const count = dims.reduce((a, b) => a * b, 1);
  if (values.length !== count) throw new Error(`${values.length} values for dims [${dims.join(', ')}]`);
  const header = 4 + 4 * dims.length;
  const out = new Uint8Array(header + count * size);
  const view = new DataView(out.buffer);
  out[2] = Number(code);
  out[3] = dims.length;
  dims.forEach((d, i) => {
    view.setUint32(4 + 4 * i, d, false);
  });
  for (let i = 0; i < count; i++) {
    const o = header + i * size;
    const v = values[i];
    if (dtype === 'ubyte') view.setUint8(o, v);
    else if (dtype === 'sbyte') view.setInt8(o, v);
    else if (dtype === 'short') view.setInt16(o, v, false);
    else if (dtype === 'int') view.setInt32(o, v, false);
    else if (dtype === 'float') view.setFloat32(o, v, false);
    else view.setFloat64(o, v, false);
  }
  return out;
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
}
