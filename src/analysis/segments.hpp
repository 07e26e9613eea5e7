// Clark et al.'s input segments built from running text (methods.md 1.3; their
// preprocess_unlabeled.py): "[CLS] A [SEP] B [SEP]" pairs of at most 128 word pieces made of
// consecutive sentences of one document, split at a random sentence boundary and trimmed at
// random ends, then shuffled.
//
// The randomness is Python's `random` module reproduced exactly: the MT19937 generator seeded
// as `random.seed(n)` does (init_by_array over the 32-bit chunks of |n|), `random()` from two
// 27/26-bit draws, and randint/shuffle either as Python 3 does them (rejection sampling with
// getrandbits) or as Python 2.7 did (int(random() * n)). With the same text, vocabulary and
// seed the segments are the script's, word piece for word piece.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "analysis/attention_source.hpp"
#include "model/tokenizer.hpp"

namespace bertscope::analysis {

enum class PythonVersion { python3, python2 };
std::string_view python_version_name(PythonVersion v);      // "python3" / "python2"
PythonVersion parse_python_version(std::string_view name);  // throws Error(input)

// Python's `random.Random`: the same stream of numbers for the same seed.
class PyRandom {
 public:
  explicit PyRandom(std::uint64_t seed, PythonVersion version = PythonVersion::python3);
  std::uint32_t genrand_uint32();
  double random();                                  // [0, 1), 53 bits
  std::uint32_t getrandbits(int k);                 // 1 <= k <= 32
  std::int64_t randbelow(std::int64_t n);           // [0, n): Python 3's _randbelow, or int(random()*n) for 2.7
  std::int64_t randint(std::int64_t a, std::int64_t b) { return a + randbelow(b - a + 1); }
  template <typename T>
  void shuffle(std::vector<T>& x) {
    for (std::size_t i = x.size(); i-- > 1;) std::swap(x[i], x[static_cast<std::size_t>(randbelow(static_cast<std::int64_t>(i + 1)))]);
  }

 private:
  std::array<std::uint32_t, 624> mt_{};
  int index_ = 624;
  PythonVersion version_;
};

struct SegmentOptions {
  std::size_t max_sequence_length = 128;  // word pieces including [CLS] and two [SEP]s
  std::size_t max_segments = 1000;        // stop after this many (0: the whole file)
  std::uint64_t seed = 0;                 // random.seed(0) in the script
  PythonVersion python = PythonVersion::python3;
  bool shuffle = true;                    // random.shuffle(segments) at the end, as the script does
};

// One token of a segment, with what word-level tools and the text writer need.
struct SegmentPiece {
  std::string token;  // vocabulary string ("##ing", "Ġthe", "▁the")
  std::int32_t id = 0;
  bool starts_word = false;  // the first token of a word of its sentence
  std::string text;          // the input text it covers ("" when the token before covers it too)
};

struct Segment {
  std::vector<SegmentPiece> a, b;  // the tokens of the two segments (no special tokens)
  std::size_t line = 0;            // 1-based line of the first sentence of its document
};

// Reads one sentence per line, documents separated by blank lines, and builds the segments
// exactly as the script does, except that a last document not followed by a blank line is used
// too (the script silently drops it). The file is streamed and reading stops once max_segments
// are made. Invalid UTF-8 throws Error(input) "FILE:LINE: ...".
std::vector<Segment> build_segments(const std::filesystem::path& text_file, const model::Tokenizer& tokenizer,
                                    const SegmentOptions& options);

// The pair encoding of a segment as the tokenizer's post-processor makes it ("[CLS] A [SEP] B
// [SEP]", "<s> A </s></s> B </s>"), with word ids that start a new word wherever a word of the
// original sentences starts (so word-level tools see whole words).
model::Encoding segment_encoding(const Segment& segment, const model::Tokenizer& tokenizer);

// Tokens joined back into text (words separated by one space: "play ##ing the" -> "playing the"),
// for writing segments out as a tab-separated pair file. Re-tokenizing it gives the same tokens
// except where a segment was cut inside a word.
std::string pieces_text(const std::vector<SegmentPiece>& pieces);

// The inputs of `surface` and `cluster` with where each came from, for error messages.
struct LineInputs {
  std::string file;
  std::vector<AnalysisInput> inputs;
  std::vector<std::size_t> lines;        // 1-based line of each input (a segment: its first sentence)
  std::string where(std::size_t index) const;  // "FILE:LINE"
};
// One text per line, a tab separating a pair (io::read_text_inputs).
LineInputs read_line_inputs(const std::filesystem::path& path);
// Clark's segments of a running-text file, as pre-built encodings.
LineInputs segment_inputs(const std::filesystem::path& path, const model::Tokenizer& tokenizer, const SegmentOptions& options);

}  // namespace bertscope::analysis
