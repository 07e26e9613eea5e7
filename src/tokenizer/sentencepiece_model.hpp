// A SentencePiece model file (.model), read with libsentencepiece.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace bertscope::tokenizer {

enum class SentencePieceKind { normal, unknown, control, user_defined, unused, byte };

struct SentencePieceEntry {
  std::string piece;
  double score;
  SentencePieceKind kind;
};

struct SentencePieceModel {
  std::vector<SentencePieceEntry> pieces;  // in id order
  bool unigram = true;                     // else BPE (or word/char)
  std::string precompiled_charsmap;        // normalizer_spec's rules; empty when the model has none
};

// Errors (missing, truncated or malformed file) name the file.
SentencePieceModel read_sentencepiece_model(const std::filesystem::path& path);

// libsentencepiece's own encoder, for comparisons with the converted pipeline.
class SentencePieceEncoder {
 public:
  explicit SentencePieceEncoder(const std::filesystem::path& model);
  ~SentencePieceEncoder();
  // The pieces libsentencepiece cuts `text` into (EncodeAsPieces).
  std::vector<std::string> pieces(const std::string& text) const;

 private:
  struct Processor;
  std::unique_ptr<Processor> processor_;
  std::filesystem::path model_;
};

}  // namespace bertscope::tokenizer
