// Trace files: one NumPy .npz per input, as written by `bertscope run` and read by the
// analyses (`--traces DIR`), so attention saved by any framework can be analysed.
//
//   input_ids       int64   [T]
//   token_type_ids  int64   [T]
//   tokens          unicode [T]
//   word_ids        int64   [T]        -1 for special tokens
//   offsets         int64   [T, 2]     character span of each token in its segment's text
//   text            unicode [1 or 2]   the input text (and pair)
//   attentions      float32 [layers, heads, T, T]   when attn.probs was recorded in every layer
//   hidden_states   float32 [layers+1, T, hidden]   when embed.out and every layer.{l}.out were
//   logits          float32 [T, vocab] (MLM), [labels] (sequence) or [T, labels] (token classifier)
//   any other recorded site: stacked over layers under its short name ("attn.context"
//   [layers, heads, T, head_dim]) when recorded in every layer, else under its full name.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "model/model.hpp"
#include "model/tokenizer.hpp"

namespace bertscope::model {

struct TraceFileContent {
  const Encoding* encoding = nullptr;     // tokens, words, offsets (may be null: ids only)
  const ModelInput* input = nullptr;
  const ForwardResult* result = nullptr;
  std::vector<std::string> text;          // the text (and the pair)
  HeadKind logits_kind = HeadKind::none;  // which logits to store (none: no logits)
};

// Writes one trace file atomically.
void write_trace_file(const std::filesystem::path& path, const TraceFileContent& content, std::int64_t layers);

}  // namespace bertscope::model

namespace bertscope::model {

// A trace file read back: the token view and the attention maps (other arrays stay on disk).
struct TraceFileData {
  Encoding encoding;      // ids, type_ids, tokens, word_ids (sequence_ids/offsets when stored)
  core::Tensor attentions;  // [layers, heads, T, T]
  std::vector<std::string> text;
};

// Reads `input_ids`, `tokens`, `word_ids`, `attentions` (required) and `token_type_ids`,
// `offsets`, `text` (optional) from a trace .npz written by bertscope or by any framework.
// Errors name the file and the array (missing, wrong shape, rows that are not distributions).
TraceFileData read_trace_file(const std::filesystem::path& path);

}  // namespace bertscope::model
