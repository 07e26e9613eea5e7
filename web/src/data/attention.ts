// Attention of one input, at token or word level; and what `serve` adds to it: the model's
// outputs and the heads' query and key vectors.
import { readRange, unpack, type Storage } from './decode';
import type { AttentionDoc, PackedArray } from './types';

export interface MaskPrediction {
  token: string;
  id: number;
  probability: number;
}

// The task head's outputs for the input (POST /api/run, docs/viewer.md).
export interface ModelOutputs {
  head: 'masked_lm' | 'sequence_classification' | 'none';
  mask_token?: string;
  masked?: { position: number; token: string; top: MaskPrediction[] }[];
  activation?: 'softmax' | 'sigmoid' | 'none';
  classes?: { label: string; logit: number; probability?: number; value?: number }[];
}

// An attention document as `serve` answers it.
export interface ServedAttentionDoc extends AttentionDoc {
  truncated?: number; // tokens cut from an over-long input ("truncate": true)
  outputs?: ModelOutputs;
  head_dim?: number;
  query?: PackedArray; // [layers, heads, T, head_dim], bias added, unscaled
  key?: PackedArray;
}

// Per-head query and key vectors of one input, for the neuron view. They are decoded when first
// read, so an input whose vectors are never looked at costs no time to show.
export class HeadVectors {
  readonly dim: number;
  private decoded: { q: Storage; k: Storage } | null = null;

  constructor(
    readonly attn: AttentionSet,
    private readonly query: PackedArray,
    private readonly key: PackedArray,
  ) {
    const want = [attn.layers, attn.heads, attn.length];
    for (const [name, a] of [['query', query], ['key', key]] as const) {
      if (a.shape.length !== 4 || want.some((n, i) => a.shape[i] !== n)) {
        throw new Error(`${name}: shape [${a.shape.join(', ')}], expected [${want.join(', ')}, head_dim]`);
      }
    }
    if (query.shape[3] !== key.shape[3]) throw new Error(`query and key vectors of ${query.shape[3]} and ${key.shape[3]} dimensions`);
    this.dim = query.shape[3];
  }

  // Head (layer, head)'s vectors, [T x dim] row-major.
  queries(layer: number, head: number): Float32Array {
    return this.block(this.storage().q, layer, head);
  }
  keys(layer: number, head: number): Float32Array {
    return this.block(this.storage().k, layer, head);
  }

  private storage(): { q: Storage; k: Storage } {
    this.decoded ??= { q: unpack(this.query, 'query'), k: unpack(this.key, 'key') };
    return this.decoded;
  }

  private block(s: Storage, layer: number, head: number): Float32Array {
    const n = this.attn.length * this.dim;
    return readRange(s, (layer * this.attn.heads + head) * n, n);
  }
}

// The vectors of a served document, or null when it has none.
export function headVectors(attn: AttentionSet): HeadVectors | null {
  const d = attn.doc as ServedAttentionDoc;
  return d.query && d.key ? new HeadVectors(attn, d.query, d.key) : null;
}

// A position on the axes of a map: one token, or one word (its word pieces merged).
export interface Unit {
  label: string;
  segment: number; // 0 = text, 1 = text pair, -1 = special token ([CLS], [SEP])
  special: boolean;
  tokens: number[]; // token indices it covers
}

export class AttentionSet {
  readonly layers: number;
  readonly heads: number;
  readonly length: number;
  private readonly storage: Storage;
  private views = new Map<boolean, AttentionView>();

  constructor(readonly doc: AttentionDoc) {
    const [l, h, t, t2] = doc.attention.shape;
    if (doc.attention.shape.length !== 4 || t !== t2) {
      throw new Error(`attention: shape [${doc.attention.shape.join(', ')}], expected [layers, heads, T, T]`);
    }
    if (doc.tokens.length !== t) throw new Error(`attention: ${doc.tokens.length} tokens for maps of ${t} x ${t}`);
    this.layers = l;
    this.heads = h;
    this.length = t;
    this.storage = unpack(doc.attention, 'attention');
  }

  // Head (layer, head)'s token-level map, [T x T] row-major (row = query).
  tokenHead(layer: number, head: number, out?: Float32Array): Float32Array {
    const t = this.length;
    return readRange(this.storage, (layer * this.heads + head) * t * t, t * t, out);
  }

  view(wordLevel: boolean): AttentionView {
    let v = this.views.get(wordLevel);
    if (!v) {
      v = new AttentionView(this, wordLevel);
      this.views.set(wordLevel, v);
    }
    return v;
  }
}

function tokenUnits(doc: AttentionDoc): Unit[] {
  return doc.tokens.map((tok, i) => {
    const seq = doc.sequence_ids[i] ?? 0;
    return { label: tok, segment: seq, special: seq < 0, tokens: [i] };
  });
}

// Word pieces of one word are consecutive tokens with the same (segment, word id); special
// tokens stay words of their own.
function wordUnits(doc: AttentionDoc): Unit[] {
  const units: Unit[] = [];
  let prevKey = '';
  doc.tokens.forEach((tok, i) => {
    const seq = doc.sequence_ids[i] ?? 0;
    const wid = doc.word_ids[i] ?? -1;
    const key = seq >= 0 && wid >= 0 ? `${seq}:${wid}` : '';
    const piece = tok.startsWith('##') ? tok.slice(2) : tok;
    if (key && key === prevKey) {
      const u = units[units.length - 1];
      u.tokens.push(i);
      u.label += piece;
    } else {
      units.push({ label: tok, segment: seq, special: seq < 0, tokens: [i] });
    }
    prevKey = key;
  });
  return units;
}

const CACHE_LIMIT = 32;

// Maps over units. At word level, following Clark et al. (2019): attention *to* a word is the
// sum over its pieces (columns), attention *from* a word the mean over its pieces (rows), so
// rows still sum to 1.
export class AttentionView {
  readonly units: Unit[];
  readonly n: number;
  private cache = new Map<number, Float32Array>();
  private scratch: Float32Array;

  constructor(
    readonly set: AttentionSet,
    readonly wordLevel: boolean,
  ) {
    this.units = wordLevel ? wordUnits(set.doc) : tokenUnits(set.doc);
    this.n = this.units.length;
    this.scratch = new Float32Array(wordLevel ? set.length * set.length : 0);
  }

  get layers(): number {
    return this.set.layers;
  }
  get heads(): number {
    return this.set.heads;
  }

  // [n x n], row-major (row = query unit). Recently used maps are kept.
  head(layer: number, head: number): Float32Array {
    const key = layer * this.set.heads + head;
    const hit = this.cache.get(key);
    if (hit) {
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit;
    }
    const m = this.compute(layer, head);
    this.cache.set(key, m);
    if (this.cache.size > CACHE_LIMIT) this.cache.delete(this.cache.keys().next().value as number);
    return m;
  }

  // Like head(), without keeping the result (the grid reads all maps once).
  headUncached(layer: number, head: number, out?: Float32Array): Float32Array {
    const hit = this.cache.get(layer * this.set.heads + head);
    if (hit) return hit;
    return this.compute(layer, head, out);
  }

  private compute(layer: number, head: number, out?: Float32Array): Float32Array {
    if (!this.wordLevel) return this.set.tokenHead(layer, head, out);
    const t = this.set.length;
    const n = this.n;
    const a = this.set.tokenHead(layer, head, this.scratch);
    const colSum = new Float32Array(t * n);
    for (let i = 0; i < t; i++) {
      const row = i * t;
      const dst = i * n;
      for (let u = 0; u < n; u++) {
        let s = 0;
        for (const j of this.units[u].tokens) s += a[row + j];
        colSum[dst + u] = s;
      }
    }
    const m = out && out.length === n * n ? out : new Float32Array(n * n);
    for (let u = 0; u < n; u++) {
      const toks = this.units[u].tokens;
      const inv = 1 / toks.length;
      for (let v = 0; v < n; v++) {
        let s = 0;
        for (const i of toks) s += colSum[i * n + v];
        m[u * n + v] = s * inv;
      }
    }
    return m;
  }
}

export function maxOf(m: Float32Array): number {
  let hi = 0;
  for (let i = 0; i < m.length; i++) if (m[i] > hi) hi = m[i];
  return hi;
}
