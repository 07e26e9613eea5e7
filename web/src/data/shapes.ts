// Recognising JSON shapes: numeric n-d arrays, per-head lists, flat records.

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };
export type Scalar = null | boolean | number | string;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function isNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

export function isScalar(v: unknown): v is Scalar {
  return v === null || typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean';
}

export function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string');
}

// The shape of a rectangular array of numbers (null allowed as "missing"), or null. At least
// one value must be a number.
export function numericShape(v: unknown): number[] | null {
  if (!Array.isArray(v) || v.length === 0) return null;
  let anyNumber = false;
  const rec = (a: unknown, depth: number, shape: number[]): boolean => {
    if (!Array.isArray(a)) return false;
    if (shape.length === depth) shape.push(a.length);
    else if (shape[depth] !== a.length) return false;
    if (a.length === 0) return false;
    if (Array.isArray(a[0])) return a.every((x) => rec(x, depth + 1, shape)) && shape.length > depth + 1;
    if (shape.length !== depth + 1) return false;
    for (const x of a) {
      if (x === null) continue;
      if (!isNumber(x)) return false;
      anyNumber = true;
    }
    return true;
  };
  const shape: number[] = [];
  return rec(v, 0, shape) && anyNumber ? shape : null;
}

// Reads element `index` (row-major) of a numeric nested array as number | null.
export function numericAt(v: unknown, index: number[]): number | null {
  let a: unknown = v;
  for (const i of index) a = (a as unknown[])[i];
  return isNumber(a) ? a : null;
}

// Flattens one level of nested plain objects into dotted keys ({"best": {"layer": 7}} ->
// {"best.layer": 7}); deeper values and arrays are dropped. Returns null when the object has
// nothing scalar.
export function flatRecord(o: JsonObject): Record<string, Scalar> | null {
  const out: Record<string, Scalar> = {};
  let any = false;
  for (const [k, v] of Object.entries(o)) {
    if (isScalar(v)) {
      out[k] = v;
      any = true;
    } else if (isObject(v)) {
      for (const [k2, v2] of Object.entries(v)) {
        if (isScalar(v2)) {
          out[`${k}.${k2}`] = v2;
          any = true;
        }
      }
    }
  }
  return any ? out : null;
}

// An array of objects each naming a head with integer `layer` and `head` (0-based).
export function isHeadTable(v: unknown): v is JsonObject[] {
  return (
    Array.isArray(v) &&
    v.length > 0 &&
    v.every(
      (x) =>
        isObject(x) && Number.isInteger(x.layer) && Number.isInteger(x.head) && (x.layer as number) >= 0 && (x.head as number) >= 0,
    )
  );
}

// Columns that say what a row is come first (documents written by nlohmann::json have
// their keys sorted, so the file's order is no guide).
const LEADING_COLUMNS = ['name', 'layer', 'head', 'label'];

// Columns of a list of flat records: naming columns first, then in first-seen order.
export function columnsOf(rows: Record<string, Scalar>[]): string[] {
  const seen = new Set<string>();
  for (const r of rows) for (const k of Object.keys(r)) seen.add(k);
  const lead = LEADING_COLUMNS.filter((c) => seen.has(c));
  return [...lead, ...[...seen].filter((c) => !LEADING_COLUMNS.includes(c))];
}

// Columns whose values are all numbers or missing (at least one number).
export function numericColumns(rows: Record<string, Scalar>[], exclude: string[] = []): string[] {
  return columnsOf(rows).filter(
    (c) =>
      !exclude.includes(c) &&
      rows.some((r) => isNumber(r[c])) &&
      rows.every((r) => r[c] === undefined || r[c] === null || isNumber(r[c])),
  );
}

// Columns whose values are all strings (or missing) with few distinct values: categories.
export function categoryColumns(rows: Record<string, Scalar>[], exclude: string[] = [], maxDistinct = 30): string[] {
  return columnsOf(rows).filter((c) => {
    if (exclude.includes(c)) return false;
    const values = new Set<string>();
    for (const r of rows) {
      const v = r[c];
      if (v === undefined || v === null) continue;
      if (typeof v !== 'string' && typeof v !== 'boolean') return false;
      values.add(String(v));
    }
    return values.size >= 1 && values.size <= maxDistinct && values.size < rows.length + 1;
  });
}
