// Finds every code point where Hugging Face `tokenizers` (Rust) treats a character differently from
// what bertscope's rules give with utf8proc's Unicode tables, and writes the exceptions to
// src/tokenizer/rust_tables.inc, plus golden ids for a sample of them.
//
// Why: tokenizers asks the `unicode_categories` crate (tables of about Unicode 9) whether a
// character is a control/format/private-use character (dropped by clean_text), punctuation (split
// off by the pre-tokenizer) or a nonspacing mark (dropped by strip_accents), and decomposes with
// `unicode-normalization-alignments` (also older), whose is_combining_mark also decides what the
// StripAccents normaliser drops; its lower-casing is Rust's own (newer than utf8proc 2.8's
// Unicode 15). Where these disagree with utf8proc, bertscope follows the Rust code.
//
// Usage (from the repository root; needs g++ and libutf8proc-dev):
//   node tools/reference/tokenizer/unicode_tables.mjs
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import tokenizers from 'tokenizers';
import { bertConverterJson } from './bert_converter.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bertscope-unicode-'));

// 1. What utf8proc says about every code point.
const dumpExe = path.join(tmp, 'utf8proc_dump');
execFileSync('g++', ['-O2', '-o', dumpExe, path.join(here, 'utf8proc_dump.cpp'), '-lutf8proc']);
const info = new Map();
for (const line of execFileSync(dumpExe, { maxBuffer: 1 << 30 }).toString().split('\n')) {
  if (!line) continue;
  const [cp, cat, lower, ...decomp] = line.split(' ');
  info.set(parseInt(cp, 16), { cat: Number(cat), lower: parseInt(lower, 16), decomp: decomp.map((x) => parseInt(x, 16)) });
}
const CAT = { Mn: 6, Mc: 7, Me: 8, P_first: 12, P_last: 18, Zs: 23, Zp: 25, Cc: 26, Cf: 27, Co: 29 };

// bertscope's rules (src/model/tokenizer.cpp) on utf8proc's tables.
const predicted = {
  control: (cp) => cp !== 9 && cp !== 10 && cp !== 13 && [CAT.Cc, CAT.Cf, CAT.Co].includes(info.get(cp).cat),
  white: (cp) => (cp >= 9 && cp <= 13) || cp === 0x20 || cp === 0x85 || (info.get(cp).cat >= CAT.Zs && info.get(cp).cat <= CAT.Zp),
  punct: (cp) => (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126) ||
    (info.get(cp).cat >= CAT.P_first && info.get(cp).cat <= CAT.P_last),
  strip: (cp) => info.get(cp).decomp.filter((c) => info.get(c).cat !== CAT.Mn),
  lower: (cp) => (cp === 0x130 ? [0x69, 0x307] : [info.get(cp).lower]),
  // The StripAccents normaliser (src/tokenizer/simple_normalizers.cpp): drops Mn, Mc and Me.
  mark: (cp) => [CAT.Mn, CAT.Mc, CAT.Me].includes(info.get(cp).cat),
};

// 2. What the Rust tokenizer does with each.
const clean = tokenizers.bertNormalizer({ cleanText: true, handleChineseChars: false, stripAccents: false, lowercase: false });
const strip = tokenizers.bertNormalizer({ cleanText: false, handleChineseChars: false, stripAccents: true, lowercase: false });
const lower = tokenizers.bertNormalizer({ cleanText: false, handleChineseChars: false, stripAccents: false, lowercase: true });
const pre = tokenizers.bertPreTokenizer();
const stripAccents = tokenizers.stripAccentsNormalizer();
const cps = (s) => [...s].map((c) => c.codePointAt(0));
const same = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);

// not_mark / mark: the StripAccents normaliser's is_combining_mark against utf8proc's M*.
const ranges = { not_control: [], control: [], not_punctuation: [], punctuation: [], not_mark: [], mark: [] };
const mappings = { strip_accents: [], lowercase: [] };
for (const cp of info.keys()) {
  const s = String.fromCodePoint(cp);
  if (cp !== 0 && cp !== 0xfffd && !predicted.white(cp)) {
    const rustDropped = clean.normalizeString(`a${s}b`) === 'ab';
    if (predicted.control(cp) && !rustDropped) ranges.not_control.push(cp);
    if (!predicted.control(cp) && rustDropped) ranges.control.push(cp);
    const rustPunct = pre.preTokenizeString(`a${s}b`).length === 3;
    if (predicted.punct(cp) && !rustPunct) ranges.not_punctuation.push(cp);
    if (!predicted.punct(cp) && rustPunct) ranges.punctuation.push(cp);
  }
  const rustMark = stripAccents.normalizeString(`a${s}b`) === 'ab';
  if (predicted.mark(cp) && !rustMark) ranges.not_mark.push(cp);
  if (!predicted.mark(cp) && rustMark) ranges.mark.push(cp);
  const rustStrip = cps(strip.normalizeString(s));
  if (!same(rustStrip, predicted.strip(cp))) mappings.strip_accents.push([cp, rustStrip]);
  const rustLower = cps(lower.normalizeString(s));
  if (!same(rustLower, predicted.lower(cp))) mappings.lowercase.push([cp, rustLower]);
}

// 3. The C++ tables.
const hex = (n) => `0x${n.toString(16).toUpperCase()}`;
function toRanges(list) {
  const out = [];
  for (const cp of list) {
    const last = out[out.length - 1];
    if (last && last[1] + 1 === cp) last[1] = cp;
    else out.push([cp, cp]);
  }
  return out;
}
let inc = '// Generated by tools/reference/tokenizer/unicode_tables.mjs from utf8proc and the Rust `tokenizers`\n' +
  '// binding; do not edit. Where tokenizers (older Unicode tables in its dependencies, newer ones in\n' +
  '// Rust\'s own lower-casing) and utf8proc disagree, these lists say what tokenizers does. Sorted.\n';
const summary = {};
for (const [kind, list] of Object.entries(ranges)) {
  const r = toRanges(list);
  summary[kind] = `${list.length} code points in ${r.length} ranges`;
  inc += `constexpr CodePointRange k_rust_${kind}[] = {\n`;
  inc += r.length === 0 ? '    {0x110000, 0x110000},  // none\n' : `${r.map(([a, b]) => `    {${hex(a)}, ${hex(b)}},`).join('\n')}\n`;
  inc += '};\n';
}
for (const [kind, list] of Object.entries(mappings)) {
  summary[kind] = `${list.length} code points`;
  if (list.some(([, to]) => to.length > 3)) throw new Error(`${kind}: a mapping longer than 3 code points`);
  inc += `constexpr CodePointMapping k_rust_${kind}[] = {\n`;
  inc += list.length === 0 ? '    {0x110000, 0, {0, 0, 0}},  // none\n'
    : `${list.map(([from, to]) => `    {${hex(from)}, ${to.length}, {${[0, 1, 2].map((i) => (i < to.length ? hex(to[i]) : '0')).join(', ')}}},`).join('\n')}\n`;
  inc += '};\n';
}
fs.writeFileSync(path.join(root, 'src/tokenizer/rust_tables.inc'), inc);

// 4. Golden ids for "a" + c + "b" at the first and last code point of every range and at every
// mapped code point, from the Rust tokenizer with both models. The StripAccents lists (not_mark,
// mark) play no part in a BERT tokenizer and are left out.
const sample = new Set();
for (const [kind, list] of Object.entries(ranges)) {
  if (kind === 'not_mark' || kind === 'mark') continue;
  for (const [a, b] of toRanges(list)) { sample.add(a); sample.add(b); }
}
for (const list of Object.values(mappings)) for (const [cp] of list) sample.add(cp);
const uncasedFile = path.join(root, 'tests/data/bert-base-uncased/tokenizer.json');
const casedFile = path.join(tmp, 'cased.json');
fs.writeFileSync(casedFile, JSON.stringify(bertConverterJson(path.join(root, 'tests/data/bert-base-cased/vocab.txt'), false)));
const models = { uncased: tokenizers.Tokenizer.fromFile(uncasedFile), cased: tokenizers.Tokenizer.fromFile(casedFile) };
const golden = [];
for (const cp of [...sample].sort((x, y) => x - y)) {
  const text = `a${String.fromCodePoint(cp)}b`;
  const entry = { code_point: hex(cp), text };
  for (const [name, tok] of Object.entries(models)) entry[name] = (await tok.encode(text)).getIds();
  golden.push(entry);
}
fs.writeFileSync(path.join(root, 'tests/data/tokenizer/unicode_versions.golden.json'), `${JSON.stringify(golden, null, 1)}\n`);
fs.rmSync(tmp, { recursive: true, force: true });
console.log(JSON.stringify(summary, null, 1));
console.log(`golden sample: ${golden.length} code points`);
