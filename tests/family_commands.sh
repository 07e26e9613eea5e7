#!/usr/bin/env bash
# Every command end to end on a random model of one family (roberta, xlm-roberta, bert, distilbert, albert, deberta-v2, electra, modernbert): makes a
# masked-LM model and a sequence classifier with `make-model --family`, runs every analysis of the
# main job on them over the shipped data (scripts/run_suite.sh --quick), then `run`, `train mlm`
# (keeping its steps), `track`, `train classify` and `serve`, and checks each result document and folder.
#
#   tests/family_commands.sh FAMILY BERTSCOPE_BINARY WORK_DIR
set -euo pipefail
family=$1 bin=$2 work=$3
repo=$(cd "$(dirname "$0")/.." && pwd)
case "$family" in
  bert) tok=(--vocab "$repo/tests/data/bert-base-uncased/vocab.txt") ;;
  roberta) tok=(--tokenizer "$repo/tests/data/tokenizers/roberta-bpe") ;;
  xlm-roberta) tok=(--tokenizer "$repo/tests/data/tokenizers/xlmr-unigram") ;;
  distilbert) tok=(--vocab "$repo/tests/data/bert-base-uncased/vocab.txt") ;;
  albert) tok=(--tokenizer "$repo/tests/data/tokenizers/albert-unigram") ;;
  # DeBERTa-v3 style (make-model's defaults) on a SentencePiece unigram tokenizer.
  deberta-v2) tok=(--tokenizer "$repo/tests/data/tokenizers/xlmr-unigram") ;;
  electra) tok=(--vocab "$repo/tests/data/bert-base-uncased/vocab.txt") ;;  # the generator (ElectraForMaskedLM)
  # Byte-level BPE with BERT's specials, as ModernBERT's; a window of 16 so the main job's inputs
  # are longer than the sliding layers see.
  modernbert) tok=(--tokenizer "$repo/tests/data/tokenizers/modernbert-bpe" --local-attention 16) ;;
  *) echo "family_commands.sh: unknown family '$family'" >&2; exit 2 ;;
esac
rm -rf "$work"
mkdir -p "$work"
fail() { echo "family_commands.sh ($family): $*" >&2; exit 1; }
shape=(--layers 2 --hidden 48 --heads 3 --intermediate 64 --init-std 0.2)
"$bin" make-model --family "$family" "${tok[@]}" "${shape[@]}" --seed 11 --out "$work/mlm" >/dev/null
"$bin" make-model --family "$family" "${tok[@]}" "${shape[@]}" --seed 12 --labels 2 --out "$work/clf" >/dev/null

# Every analysis of the main job, the report and the summary.
"$repo/scripts/run_suite.sh" --model "$work/mlm" --classifier "$work/clf" --out "$work/suite" --bin "$bin" --quick \
  > "$work/suite.log" 2>&1 || { tail -20 "$work/suite.log" >&2; fail "run_suite.sh failed"; }
for method in surface cluster gradsep syntax probe coref patterns features compare ablate importance saliency \
              rollout flow influence; do
  doc="$work/suite/results/$method.json"
  [ -s "$doc" ] || fail "no $method.json"
  python3 - "$doc" "$method" <<'PY' || fail "$method.json is not a complete result document"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["method"] == sys.argv[2], d["method"]
assert d["results"], "empty results"
assert d["model"]["layers"] == 2 if "layers" in d["model"] else True
PY
done
[ -s "$work/suite/report/index.html" ] || fail "no report"
# Influence must find agreement examples whose candidates are single pieces of this tokenizer.
python3 - "$work/suite/results/influence.json" <<'PY' || fail "influence ran on no example"
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["results"]["examples"]) > 0
PY

# A trace, training from the model (MLM, then a classifier from that), the server.
"$bin" run --model "$work/mlm" --text "The keys to the cabinet are on the table." --out "$work/trace.npz" >/dev/null
[ -s "$work/trace.npz" ] || fail "run wrote no trace"
if [ "$family" = electra ]; then
  # The discriminator's replaced-token logits, one per token, in the trace.
  "$bin" make-model --family electra "${tok[@]}" "${shape[@]}" --seed 13 --discriminator --out "$work/disc" >/dev/null
  "$bin" run --model "$work/disc" --text "The keys to the cabinet are on the table." --out "$work/disc.npz" >/dev/null
  /usr/bin/python3 - "$work/disc.npz" <<'PY' || fail "run wrote no replaced-token logits"
import sys, numpy as np
z = np.load(sys.argv[1])
assert z["replaced_token_logits"].shape == z["input_ids"].shape, z["replaced_token_logits"].shape
PY
fi
head -c 30000 "$repo/data/prose/a_tale_of_two_cities.sentences.txt" > "$work/corpus.txt"
"$bin" train mlm --model "$work/mlm" --corpus "$work/corpus.txt" --out "$work/trained" --steps 2 --batch 2 --seq-len 32 \
  --keep-every 1 >/dev/null 2>"$work/train.err" || { cat "$work/train.err" >&2; fail "train mlm failed"; }
# Training dynamics over the two kept steps ([SEP] found by the family's token roles).
"$bin" track --checkpoints "$work/trained" --data "$repo/data/prose/a_tale_of_two_cities.sentences.txt" \
  --max-segments 8 --segment-length 64 \
  --ud "$repo/tests/data/clark/en_ewt-ud-dev.first60.conllu" --min-relation-count 20 \
  --agreement "$repo/data/marvin_linzen/simple_agrmt.sample.tsv" --split-words --out "$work/track.json" \
  >/dev/null 2>"$work/track.err" || { cat "$work/track.err" >&2; fail "track failed"; }
python3 - "$work/track.json" <<'PY' || fail "track's document is wrong"
import json, sys
r = json.load(open(sys.argv[1]))["results"]
assert r["steps"] == [1, 2], r["steps"]
assert all(0 < v <= 1 for v in r["sep"]["max"]), r["sep"]["max"]
assert len(r["positional"]["prev"][0]) == 2 and len(r["positional"]["prev"][0][0]) == 3
assert r["syntax"]["relations"] and len(r["agreement"]["accuracy"][1]) == 1
PY
head -n 41 "$repo/data/sst2/dev.tsv" > "$work/sst2.tsv"
"$bin" train classify --model "$work/trained" --data "$work/sst2.tsv" --out "$work/finetuned" --epochs 1 --batch 8 \
  >/dev/null 2>"$work/classify.err" || { cat "$work/classify.err" >&2; fail "train classify failed"; }
"$bin" info --model "$work/finetuned" > "$work/info.txt"
grep -q "^family         $family\$" "$work/info.txt" || fail "info does not name the family"
python3 - "$work/finetuned/config.json" "$family" <<'PY' || fail "the fine-tuned folder is not the family's classifier"
import json, sys
c = json.load(open(sys.argv[1]))
prefix = {"bert": "Bert", "roberta": "Roberta", "xlm-roberta": "XLMRoberta", "distilbert": "DistilBert",
          "albert": "Albert", "deberta-v2": "DebertaV2", "electra": "Electra", "modernbert": "ModernBert"}[sys.argv[2]]
assert c["model_type"] == sys.argv[2], c["model_type"]
assert c["architectures"] == [prefix + "ForSequenceClassification"], c["architectures"]
PY
# The trained folders tokenize like the model they came from.
for d in trained finetuned trained/steps/step-000001; do
  a=$("$bin" tokenize --model "$work/mlm" --text "Bonjour, naïve café owners!" --format ids)
  b=$("$bin" tokenize --model "$work/$d" --text "Bonjour, naïve café owners!" --format ids)
  [ "$a" = "$b" ] || fail "$d tokenizes differently: $b vs $a"
done

"$bin" serve --model "$work/clf" --port 0 --quiet > "$work/serve.out" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q "serving http" "$work/serve.out" && break; sleep 0.1; done
url=$(grep -o "http://[^/ ]*" "$work/serve.out" | head -1)
[ -n "$url" ] || { cat "$work/serve.out" >&2; fail "serve did not start"; }
python3 - "$url" <<'PY' || fail "serve: /api/run failed"
import json, sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/api/run", data=json.dumps({"text": "A fine, moving film."}).encode(),
                             headers={"Content-Type": "application/json"})
doc = json.load(urllib.request.urlopen(req, timeout=60))
assert doc["tokens"][0] in ("<s>", "[CLS]"), doc["tokens"][:3]
PY
echo "family_commands.sh ($family): every command ran"
