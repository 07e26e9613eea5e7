// A SentencePiece model file (.model), read with libsentencepiece.
#pragma once

#include <filesystem>
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

// The pieces libsentencepiece itself cuts `text` into (EncodeAsPieces), for comparisons.
std::vector<std::string> sentencepiece_pieces(const std::filesystem::path& model, const std::string& text);

}  // namespace bertscope::tokenizer
