/**
 * Constants and byte-level helpers of the checkpoint format (docs/checkpoints.md is the full specification).
 *
 *   identity  [0, 16)   magic[8] · formatVersion u32 · CRC-32 of bytes [0, 12)       — the same in every version
 *   layout    [16, 48)  fileLength u64 · headerLength u32 · tensorCount u32 · headerCrc u32 · payloadCrc u32 ·
 *                       flags u32 · CRC-32 of bytes [16, 44)
 *   header    [48, payloadOffset)  UTF-8 JSON, zero-padded to a multiple of 16
 *   payload   [payloadOffset, fileLength)  tensor data, each tensor at a 16-byte aligned offset, zero gaps
 *
 * Every integer is little-endian. Every byte of a file lies in exactly one CRC-protected section, so any
 * flipped byte is detected.
 */

/** "\x89STS\r\n\x1a\n": a non-ASCII first byte, then line endings and EOF that text-mode transfers would alter. */
export const MAGIC = Uint8Array.of(0x89, 0x53, 0x54, 0x53, 0x0d, 0x0a, 0x1a, 0x0a);

/** The format version this library writes and the newest it reads. */
export const CHECKPOINT_FORMAT_VERSION = 1;

export const IDENTITY_BYTES = 16;
export const LAYOUT_BYTES = 32;
export const HEADER_START = IDENTITY_BYTES + LAYOUT_BYTES;
/** Alignment of the payload and of every tensor in it, and the granularity of the file length. */
export const ALIGN = 16;

/** Byte offsets of the layout block's fields. */
export const LAYOUT = {
  fileLength: 16,
  headerLength: 24,
  tensorCount: 28,
  headerCrc: 32,
  payloadCrc: 36,
  flags: 40,
  layoutCrc: 44,
} as const;

export const alignUp = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;

/** True on little-endian hosts (all mainstream ones); typed arrays use host byte order. */
export const HOST_LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** Reverses the byte order of each `elementSize`-byte element in place (host order ↔ little-endian). */
export function swapBytesInPlace(bytes: Uint8Array, elementSize: number): void {
  if (elementSize === 1) return;
  for (let i = 0; i + elementSize <= bytes.length; i += elementSize) {
    for (let a = i, b = i + elementSize - 1; a < b; a++, b--) {
      const t = bytes[a];
      bytes[a] = bytes[b];
      bytes[b] = t;
    }
  }
}
