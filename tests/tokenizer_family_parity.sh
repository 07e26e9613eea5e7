#!/usr/bin/env bash
# Compares `bertscope tokenize` with the Rust tokenizers goldens of the ALBERT-, DeBERTa-v3- and
# ModernBERT-style tokenizer folders (tools/reference/tokenizer/make_family_goldens.mjs): every UD
# English EWT dev sentence, every edge case and every pair of each folder's golden.json, ids exact.
#
#   tests/tokenizer_family_parity.sh BERTSCOPE_BINARY [FOLDER...]
#
# Prints "N/N ids" per folder and part (ewt_dev, edge_cases, pairs), then every input whose ids
# differ (input, expected, got). Exit status 0 when all agree, 1 when any differ, 2 on usage errors.
# Inputs go through `--input` (one per line, a tab for a pair) where they can; texts holding line
# breaks, tabs or nothing but spaces go one by one through `--text` / `--text-pair`. A text holding
# U+0000 cannot be an argument; it goes through `--input` like the others.
# Needs python3.
set -euo pipefail

if [[ $# -lt 1 ]]; then
  echo "usage: $0 BERTSCOPE_BINARY [FOLDER...]" >&2
  exit 2
fi
binary=$1
shift
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ $# -gt 0 ]]; then
  folders=("$@")
else
  folders=()
  for name in albert-lower-unigram albert-cased-unigram debertav3-unigram modernbert-bpe; do
    folders+=("$here/data/tokenizers/$name")
  done
fi

exec python3 - "$binary" "${folders[@]}" <<'PY'
import json, os, subprocess, sys, tempfile

binary, folders = sys.argv[1], sys.argv[2:]
# Characters a line-per-input file cannot carry (a tab separates a pair).
BREAKS = set('\n\r\t')

def by_file(text, pair):
    texts = [text] + ([] if pair is None else [pair])
    return all(t.strip(' ') != '' and not (set(t) & BREAKS) for t in texts)

def run(args):
    r = subprocess.run([binary, 'tokenize', *args], capture_output=True)
    if r.returncode != 0:
        return None, r.stderr.decode('utf-8', 'replace').strip()
    return r.stdout.decode('utf-8'), None

def encode_all(model, cases):
    """cases: list of (text, pair|None) -> list of id strings (or 'error: ...')."""
    got = [None] * len(cases)
    batch = [i for i, (t, p) in enumerate(cases) if by_file(t, p)]
    if batch:
        with tempfile.NamedTemporaryFile('w', encoding='utf-8', suffix='.txt', delete=False, newline='\n') as f:
            for i in batch:
                t, p = cases[i]
                f.write(t if p is None else t + '\t' + p)
                f.write('\n')
            name = f.name
        out, err = run(['--model', model, '--input', name, '--format', 'ids'])
        os.unlink(name)
        lines = out.split('\n')[:len(batch)] if out is not None else []
        if out is None or len(out.rstrip('\n').split('\n')) != len(batch):
            for i in batch:  # fall back to one call per input
                t, p = cases[i]
                if '\x00' in t or (p and '\x00' in p):
                    got[i] = 'error: cannot pass U+0000 as an argument (batch failed: %s)' % (err or 'line count')
                    continue
                o, e = run(['--model', model, '--text', t, '--format', 'ids'] + ([] if p is None else ['--text-pair', p]))
                got[i] = ' '.join(o.split()) if o is not None else 'error: ' + e
        else:
            for i, line in zip(batch, lines):
                got[i] = ' '.join(line.split())
    for i, (t, p) in enumerate(cases):
        if got[i] is not None:
            continue
        if '\x00' in t or (p and '\x00' in p):
            got[i] = 'error: not run (U+0000 and a line break: neither an argument nor one line of --input)'
            continue
        o, e = run(['--model', model, '--text', t, '--format', 'ids'] + ([] if p is None else ['--text-pair', p]))
        got[i] = ' '.join(o.split()) if o is not None else 'error: ' + e
    return got

def main():
    total_bad = 0
    report = []
    for folder in folders:
        golden = json.load(open(os.path.join(folder, 'golden.json'), encoding='utf-8'))
        sentences = [s for s in open(os.path.join(os.path.dirname(os.path.dirname(folder.rstrip('/'))), 'ud_ewt_dev_sentences.txt'),
                                     encoding='utf-8', newline='\n').read().split('\n') if s]
        parts = {
            'ewt_dev': [((s, None), g) for s, g in zip(sentences, golden['ewt_dev'])],
            'edge_cases': [((c['text'], None), c) for c in golden['edge_cases']],
            'pairs': [((c['text'], c['pair']), c) for c in golden['pairs']],
        }
        name = os.path.basename(folder.rstrip('/'))
        for part, items in parts.items():
            got = encode_all(folder, [c for c, _ in items])
            ids_ok = ids_all = inputs_ok = 0
            for (case, g), ids in zip(items, got):
                expected = g['ids'].split()
                actual = ids.split() if not ids.startswith('error:') else []
                ids_all += len(expected)
                ids_ok += sum(1 for i, e in enumerate(expected) if i < len(actual) and actual[i] == e) if len(actual) == len(expected) else 0
                if actual == expected:
                    inputs_ok += 1
                else:
                    report.append((name, part, case, g['ids'], ids, g.get('tokens')))
            total_bad += len(items) - inputs_ok
            print(f'{name} {part}: {ids_ok}/{ids_all} ids, {inputs_ok}/{len(items)} inputs')
    for name, part, (t, p), expected, got, tokens in report:
        print(f'\nMISMATCH {name} {part}: input {json.dumps(t, ensure_ascii=True)}' + ('' if p is None else f' pair {json.dumps(p, ensure_ascii=True)}'))
        print(f'  expected {expected}')
        if tokens:
            print(f'  expected tokens {json.dumps(tokens, ensure_ascii=False)}')
        print(f'  got      {got}')
    print('\nall ids agree' if total_bad == 0 else f'\n{total_bad} inputs differ')
    return 0 if total_bad == 0 else 1

sys.exit(main())
PY
