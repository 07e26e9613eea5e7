// The documents the viewer shows. Shapes are documented in docs/viewer.md.

// A numeric array packed as base64 bytes (little-endian), to keep [L][H][T][T] attention
// compact in JSON: float16 halves the size of float32 and keeps 3 significant digits.
export interface PackedArray {
  dtype: 'float16' | 'float32';
  shape: number[];
  encoding: 'base64';
  data: string;
}

// One input run through the model: what `POST /api/run` returns, and what `bertscope report`
// embeds for each trace .npz.
export interface AttentionDoc {
  kind: 'attention';
  model?: Record<string, unknown>;
  text?: string;
  text_pair?: string | null;
  tokens: string[];
  ids?: number[];
  word_ids: number[]; // word index within its segment, -1 for [CLS]/[SEP]
  sequence_ids: number[]; // 0 = text, 1 = text pair, -1 = special token
  type_ids?: number[];
  offsets?: [number, number][];
  layers: number;
  heads: number;
  length: number;
  attention: PackedArray; // [layers, heads, length, length]; row = query, column = key
}

// An analysis result document (src/report/results.hpp).
export interface ResultDoc {
  method: string;
  model?: unknown;
  data?: unknown;
  params?: unknown;
  results: unknown;
  bertscope_version?: string;
}

export type Document =
  | { name: string; kind: 'attention'; doc: AttentionDoc }
  | { name: string; kind: 'result'; doc: ResultDoc };

export function classify(name: string, json: unknown): Document {
  if (json && typeof json === 'object' && !Array.isArray(json)) {
    const o = json as Record<string, unknown>;
    if (o.kind === 'attention' && Array.isArray(o.tokens) && o.attention) {
      return { name, kind: 'attention', doc: o as unknown as AttentionDoc };
    }
    if (typeof o.method === 'string' && 'results' in o) {
      return { name, kind: 'result', doc: o as unknown as ResultDoc };
    }
  }
  throw new Error(
    `${name}: neither a bertscope result document (with "method" and "results") nor an attention document (with "kind": "attention")`,
  );
}
