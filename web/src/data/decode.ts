// Unpacking base64 float16/float32 arrays (see PackedArray).
import type { PackedArray } from './types';

export function base64ToBytes(b64: string): Uint8Array {
  // Uint8Array.fromBase64 decodes natively (and far faster on 100 MB inputs) where it exists.
  const native = (Uint8Array as unknown as { fromBase64?: (s: string) => Uint8Array }).fromBase64;
  if (native) return native(b64);
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

let halfTable: Float32Array | null = null;
// All 65536 half-precision values as float32; decoding is then one table read per value.
export function halfToFloatTable(): Float32Array {
  if (halfTable) return halfTable;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    let v: number;
    if (exp === 0) v = frac * 2 ** -24;
    else if (exp === 31) v = frac ? NaN : Infinity;
    else v = (1 + frac / 1024) * 2 ** (exp - 15);
    t[h] = sign * v;
  }
  halfTable = t;
  return t;
}

// The values of a packed array: float32 arrays are used in place, float16 ones stay 16-bit
// (half the memory for a 512-token bert-base input: 75 MB instead of 151 MB) and are read
// through halfToFloatTable.
export type Storage = { kind: 'f32'; values: Float32Array } | { kind: 'f16'; values: Uint16Array };

export function unpack(a: PackedArray, what: string): Storage {
  const count = a.shape.reduce((x, y) => x * y, 1);
  const bytes = base64ToBytes(a.data);
  const width = a.dtype === 'float16' ? 2 : a.dtype === 'float32' ? 4 : 0;
  if (!width) throw new Error(`${what}: unknown dtype "${String(a.dtype)}" (float16 or float32)`);
  if (bytes.byteLength !== count * width) {
    throw new Error(
      `${what}: ${bytes.byteLength} bytes for shape [${a.shape.join(', ')}] of ${a.dtype}, expected ${count * width}`,
    );
  }
  // The decoded buffer is fresh and starts at offset 0, so typed views are aligned.
  const buffer = bytes.byteOffset % width === 0 ? bytes.buffer : bytes.slice().buffer;
  const offset = bytes.byteOffset % width === 0 ? bytes.byteOffset : 0;
  return width === 2
    ? { kind: 'f16', values: new Uint16Array(buffer, offset, count) }
    : { kind: 'f32', values: new Float32Array(buffer, offset, count) };
}

// Copies `count` values starting at `start` into a float32 array.
export function readRange(s: Storage, start: number, count: number, out?: Float32Array): Float32Array {
  const dst = out ?? new Float32Array(count);
  if (s.kind === 'f32') {
    dst.set(s.values.subarray(start, start + count));
  } else {
    const t = halfToFloatTable();
    const v = s.values;
    for (let i = 0; i < count; i++) dst[i] = t[v[start + i]];
  }
  return dst;
}
