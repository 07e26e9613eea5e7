#include "analysis/segments.hpp"

#include <fstream>

#include <fmt/format.h>

#include "io/error.hpp"
#include "io/files.hpp"
#include "io/text_inputs.hpp"

namespace bertscope::analysis {

std::string_view python_version_name(PythonVersion v) { return v == PythonVersion::python3 ? "python3" : "python2"; }

PythonVersion parse_python_version(std::string_view name) {
  if (name == "python3") return PythonVersion::python3;
  if (name == "python2") return PythonVersion::python2;
  fail(ErrorKind::input, "random-number flavour \"{}\": expected python3 or python2", name);
}

namespace {
constexpr int kN = 624, kM = 397;
}

PyRandom::PyRandom(std::uint64_t seed, PythonVersion version) : version_(version) {
  // random.seed(n) for an int n: init_by_array over the 32-bit chunks of |n|, lowest first
  // (a single 0 chunk for n = 0), in both Python 2.7 and 3.
  std::vector<std::uint32_t> key;
  for (std::uint64_t n = seed; n != 0; n >>= 32) key.push_back(static_cast<std::uint32_t>(n & 0xffffffffu));
  if (key.empty()) key.push_back(0);
  mt_[0] = 19650218u;
  for (int i = 1; i < kN; ++i) mt_[i] = 1812433253u * (mt_[i - 1] ^ (mt_[i - 1] >> 30)) + static_cast<std::uint32_t>(i);
  int i = 1;
  std::size_t j = 0;
  for (std::size_t k = std::max<std::size_t>(kN, key.size()); k > 0; --k) {
    mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1664525u)) + key[j] + static_cast<std::uint32_t>(j);
    ++i;
    ++j;
    if (i >= kN) {
      mt_[0] = mt_[kN - 1];
      i = 1;
    }
    if (j >= key.size()) j = 0;
  }
  for (int k = kN - 1; k > 0; --k) {
    mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1566083941u)) - static_cast<std::uint32_t>(i);
    ++i;
    if (i >= kN) {
      mt_[0] = mt_[kN - 1];
      i = 1;
    }
  }
  mt_[0] = 0x80000000u;
  index_ = kN;
}

std::uint32_t PyRandom::genrand_uint32() {
  static constexpr std::uint32_t mag01[2] = {0u, 0x9908b0dfu};
  if (index_ >= kN) {
    int k = 0;
    for (; k < kN - kM; ++k) {
      const std::uint32_t y = (mt_[k] & 0x80000000u) | (mt_[k + 1] & 0x7fffffffu);
      mt_[k] = mt_[k + kM] ^ (y >> 1) ^ mag01[y & 1u];
    }
    for (; k < kN - 1; ++k) {
      const std::uint32_t y = (mt_[k] & 0x80000000u) | (mt_[k + 1] & 0x7fffffffu);
      mt_[k] = mt_[k + (kM - kN)] ^ (y >> 1) ^ mag01[y & 1u];
    }
    const std::uint32_t y = (mt_[kN - 1] & 0x80000000u) | (mt_[0] & 0x7fffffffu);
    mt_[kN - 1] = mt_[kM - 1] ^ (y >> 1) ^ mag01[y & 1u];
    index_ = 0;
  }
  std::uint32_t y = mt_[index_++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}

double PyRandom::random() {
  const std::uint32_t a = genrand_uint32() >> 5, b = genrand_uint32() >> 6;
  return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
}

std::uint32_t PyRandom::getrandbits(int k) {
  if (k < 1 || k > 32) fail(ErrorKind::internal, "getrandbits({}): only 1..32 bits", k);
  return genrand_uint32() >> (32 - k);
}

std::int64_t PyRandom::randbelow(std::int64_t n) {
  if (n <= 0) fail(ErrorKind::internal, "randbelow({}): n must be positive", n);
  if (n > (std::int64_t{1} << 32)) fail(ErrorKind::internal, "randbelow({}): n above 2^32 is not supported", n);
  if (version_ == PythonVersion::python2) return static_cast<std::int64_t>(random() * static_cast<double>(n));
  int k = 0;
  while ((std::int64_t{1} << k) <= n) ++k;  // n.bit_length()
  if (k > 32) k = 32;
  std::int64_t r = getrandbits(k);
  while (r >= n) r = getrandbits(k);
  return r;
}

namespace {

struct Sentence {
  std::vector<SegmentPiece> pieces;
  std::size_t line;
};

// BERT's truncate_seq_pair: trim the longer list at a random end until the pair fits.
void truncate_pair(std::vector<SegmentPiece>& a, std::vector<SegmentPiece>& b, std::size_t max_tokens, PyRandom& rng) {
  while (a.size() + b.size() > max_tokens) {
    auto& trunc = a.size() > b.size() ? a : b;
    if (rng.random() < 0.5) trunc.erase(trunc.begin());
    else trunc.pop_back();
  }
}

// prep_document of the script, line by line: it emits a segment whenever the chunk reaches the
// target length or the document ends, and abandons the rest of a document at the first segment
// with an empty side.
std::vector<Segment> prep_document(const std::vector<Sentence>& doc, std::size_t max_tokens, PyRandom& rng) {
  std::vector<Segment> out;
  std::vector<const Sentence*> chunk;
  std::size_t length = 0;
  for (std::size_t i = 0; i < doc.size(); ++i) {
    chunk.push_back(&doc[i]);
    length += doc[i].pieces.size();
    if (i + 1 != doc.size() && length < max_tokens) continue;
    std::size_t a_end = 1;
    if (chunk.size() >= 2) a_end = static_cast<std::size_t>(rng.randint(1, static_cast<std::int64_t>(chunk.size()) - 1));
    Segment s;
    s.line = chunk.front()->line;
    for (std::size_t j = 0; j < chunk.size(); ++j) {
      auto& side = j < a_end ? s.a : s.b;
      side.insert(side.end(), chunk[j]->pieces.begin(), chunk[j]->pieces.end());
    }
    truncate_pair(s.a, s.b, max_tokens, rng);
    if (s.a.empty() || s.b.empty()) break;
    out.push_back(std::move(s));
    chunk.clear();
    length = 0;
  }
  return out;
}

// The tokens of one sentence with their word starts and text spans.
std::vector<SegmentPiece> sentence_pieces(const model::Tokenizer& tokenizer, std::string_view text) {
  const model::Encoding enc = tokenizer.encode(text);
  std::vector<SegmentPiece> out;
  std::int32_t last_word = -1;
  std::pair<std::int64_t, std::int64_t> last_span{-1, -1};
  for (std::size_t i = 0; i < enc.size(); ++i) {
    if (enc.sequence_ids[i] < 0) continue;  // the post-processor's special tokens
    SegmentPiece p;
    p.token = enc.tokens[i];
    p.id = enc.ids[i];
    p.starts_word = enc.word_ids[i] != last_word;
    const auto span = enc.byte_offsets[i];
    if (span != last_span) {
      p.text = std::string(text.substr(static_cast<std::size_t>(span.first), static_cast<std::size_t>(span.second - span.first)));
    }
    last_word = enc.word_ids[i];
    last_span = span;
    out.push_back(std::move(p));
  }
  return out;
}

bool is_ascii_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }

}  // namespace

std::vector<Segment> build_segments(const std::filesystem::path& path, const model::Tokenizer& tokenizer,
                                    const SegmentOptions& options) {
  const std::size_t specials = tokenizer.num_special_tokens(true);
  if (options.max_sequence_length < specials + 2)
    fail(ErrorKind::input, "segment length {}: need at least {} tokens (one per side and {} special tokens)",
         options.max_sequence_length, specials + 2, specials);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::io, "{}: cannot open", path.string());
  PyRandom rng(options.seed, options.python);
  std::vector<Segment> segments;
  std::vector<Sentence> doc;
  const auto limit = options.max_segments;
  auto full = [&] { return limit != 0 && segments.size() >= limit; };
  auto finish_document = [&] {
    if (doc.empty()) return;
    for (auto& s : prep_document(doc, options.max_sequence_length - specials, rng)) {
      segments.push_back(std::move(s));
      if (full()) break;
    }
    doc.clear();
  };
  std::string line;
  for (std::size_t number = 1; std::getline(in, line); ++number) {
    if (number == 1 && line.starts_with("\xEF\xBB\xBF")) line.erase(0, 3);
    if (const auto bad = io::find_invalid_utf8(line); bad != std::string::npos)
      fail(ErrorKind::input, "{}:{}: invalid UTF-8 at byte {} of the line", path.string(), number, bad);
    std::size_t b = 0, e = line.size();
    while (b < e && is_ascii_space(line[b])) ++b;
    while (e > b && is_ascii_space(line[e - 1])) --e;
    if (b == e) {
      finish_document();
      if (full()) break;
      continue;
    }
    auto pieces = sentence_pieces(tokenizer, std::string_view(line).substr(b, e - b));
    if (!pieces.empty()) doc.push_back({std::move(pieces), number});
  }
  if (!full()) finish_document();
  if (in.bad()) fail(ErrorKind::io, "{}: read error", path.string());
  if (options.shuffle) rng.shuffle(segments);
  return segments;
}

model::Encoding segment_encoding(const Segment& s, const model::Tokenizer& tokenizer) {
  auto side = [](const std::vector<SegmentPiece>& pieces) {
    model::Encoding e;
    std::int32_t word = -1;
    for (const auto& p : pieces) {
      if (word < 0 || p.starts_word) ++word;
      e.ids.push_back(p.id);
      e.tokens.push_back(p.token);
      e.type_ids.push_back(0);
      e.sequence_ids.push_back(0);
      e.word_ids.push_back(word);
      e.roles.push_back(model::TokenRole::ordinary);
      e.char_offsets.emplace_back(0, 0);
      e.byte_offsets.emplace_back(0, 0);
    }
    return e;
  };
  return tokenizer.combine(side(s.a), side(s.b));
}

std::string pieces_text(const std::vector<SegmentPiece>& pieces) {
  std::string out;
  for (const auto& p : pieces) {
    if (p.starts_word && !out.empty()) out += ' ';
    out += p.text;
  }
  return out;
}

std::string LineInputs::where(std::size_t index) const {
  return index < lines.size() ? fmt::format("{}:{}", file, lines[index]) : fmt::format("{} input {}", file, index + 1);
}

LineInputs read_line_inputs(const std::filesystem::path& path) {
  LineInputs r;
  r.file = path.string();
  for (auto& t : io::read_text_inputs(path)) {
    AnalysisInput in;
    in.text = std::move(t.text);
    in.pair = std::move(t.pair);
    r.inputs.push_back(std::move(in));
    r.lines.push_back(t.line);
  }
  return r;
}

LineInputs segment_inputs(const std::filesystem::path& path, const model::Tokenizer& tokenizer, const SegmentOptions& options) {
  LineInputs r;
  r.file = path.string();
  for (const auto& s : build_segments(path, tokenizer, options)) {
    AnalysisInput in;
    in.text = pieces_text(s.a);
    in.pair = pieces_text(s.b);
    in.encoding = segment_encoding(s, tokenizer);
    r.inputs.push_back(std::move(in));
    r.lines.push_back(s.line);
  }
  return r;
}

}  // namespace bertscope::analysis
