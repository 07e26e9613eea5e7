#include "tokenizer/sentencepiece_model.hpp"

#include <memory>
#include <optional>
#include <string_view>

#include <sentencepiece_processor.h>

#include "io/error.hpp"

namespace bertscope::tokenizer {

namespace {

std::unique_ptr<sentencepiece::SentencePieceProcessor> load(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail(ErrorKind::io, "{}: no such file", path.string());
  auto processor = std::make_unique<sentencepiece::SentencePieceProcessor>();
  sentencepiece::util::Status status;
  try {
    status = processor->Load(path.string());
  } catch (const std::exception& e) {
    // The library validates the protobuf but not every piece: an empty piece makes its trie
    // builder (darts-clone) throw "zero-length key" (found by fuzz_sentencepiece, issue 21).
    fail(ErrorKind::format, "{}: not a readable SentencePiece model (truncated or corrupt?): {}", path.string(), e.what());
  }
  if (!status.ok()) {
    fail(ErrorKind::format, "{}: not a readable SentencePiece model (truncated or corrupt?): {}", path.string(),
         status.ToString());
  }
  return processor;
}

// libsentencepiece exposes pieces, scores and kinds, but not the two model fields below, and
// Debian ships neither its ModelProto header nor a libprotobuf it could share (the library
// bundles protobuf 3.14; linking Debian's 3.21 beside it aborts at start-up). So the model's
// own serialisation, which the library has already parsed and validated, is read for just these
// fields: ModelProto.pieces (1) .type (3), ModelProto.trainer_spec (2) .model_type (3), and
// ModelProto.normalizer_spec (3) .precompiled_charsmap (2), with the protobuf wire format's varint and length-delimited rules.
class FieldReader {
 public:
  explicit FieldReader(std::string_view bytes) : bytes_(bytes) {}

  // The payload of the first length-delimited field `number`, of all of them, or the value of a
  // varint one.
  std::optional<std::string_view> bytes_field(std::uint32_t number) const { return find(number, 2); }
  std::vector<std::string_view> all_bytes_fields(std::uint32_t number) const {
    std::vector<std::string_view> out;
    walk([&](std::uint32_t n, std::uint32_t wire, std::uint64_t, std::string_view payload) {
      if (n == number && wire == 2) out.push_back(payload);
    });
    return out;
  }
  std::optional<std::uint64_t> varint_field(std::uint32_t number) const {
    std::optional<std::uint64_t> value;
    walk([&](std::uint32_t n, std::uint32_t wire, std::uint64_t v, std::string_view) {
      if (n == number && wire == 0 && !value) value = v;
    });
    return value;
  }

 private:
  std::optional<std::string_view> find(std::uint32_t number, std::uint32_t wire_type) const {
    std::optional<std::string_view> found;
    walk([&](std::uint32_t n, std::uint32_t wire, std::uint64_t, std::string_view payload) {
      if (n == number && wire == wire_type && !found) found = payload;
    });
    return found;
  }

  template <typename Visit>
  void walk(Visit visit) const {
    std::size_t at = 0;
    while (at < bytes_.size()) {
      const std::uint64_t key = varint(at);
      const auto number = static_cast<std::uint32_t>(key >> 3), wire = static_cast<std::uint32_t>(key & 7);
      std::uint64_t value = 0;
      std::string_view payload;
      switch (wire) {
        case 0: value = varint(at); break;
        case 1: skip(at, 8); break;
        case 5: skip(at, 4); break;
        case 2: {
          const std::uint64_t n = varint(at);
          skip(at, n);
          payload = bytes_.substr(at - n, n);
          break;
        }
        default: throw std::out_of_range("unknown wire type");
      }
      visit(number, wire, value, payload);
    }
  }
  std::uint64_t varint(std::size_t& at) const {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (at >= bytes_.size()) throw std::out_of_range("varint past the end");
      const auto b = static_cast<unsigned char>(bytes_[at++]);
      v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
    throw std::out_of_range("varint too long");
  }
  void skip(std::size_t& at, std::uint64_t n) const {
    if (n > bytes_.size() - at) throw std::out_of_range("field past the end");
    at += n;
  }

  std::string_view bytes_;
};

}  // namespace

SentencePieceModel read_sentencepiece_model(const std::filesystem::path& path) {
  const auto processor = load(path);
  SentencePieceModel model;
  const int n = processor->GetPieceSize();
  model.pieces.reserve(static_cast<std::size_t>(n));
  for (int id = 0; id < n; ++id) {
    model.pieces.push_back({processor->IdToPiece(id), processor->GetScore(id), SentencePieceKind::normal});
  }
  try {
    const std::string serialized = processor->serialized_model_proto();
    const FieldReader top(serialized);
    const auto pieces = top.all_bytes_fields(1);
    if (pieces.size() != model.pieces.size()) {
      fail(ErrorKind::format, "{}: {} pieces in the model, {} seen by libsentencepiece", path.string(), pieces.size(),
           model.pieces.size());
    }
    for (std::size_t i = 0; i < pieces.size(); ++i) {
      // SentencePiece.Type: 1 NORMAL (the default), 2 UNKNOWN, 3 CONTROL, 4 USER_DEFINED, 5 UNUSED, 6 BYTE.
      switch (FieldReader(pieces[i]).varint_field(3).value_or(1)) {
        case 2: model.pieces[i].kind = SentencePieceKind::unknown; break;
        case 3: model.pieces[i].kind = SentencePieceKind::control; break;
        case 4: model.pieces[i].kind = SentencePieceKind::user_defined; break;
        case 5: model.pieces[i].kind = SentencePieceKind::unused; break;
        case 6: model.pieces[i].kind = SentencePieceKind::byte; break;
        default: break;
      }
    }
    if (auto trainer = top.bytes_field(2)) {
      // TrainerSpec.model_type: 1 UNIGRAM (the default), 2 BPE, 3 WORD, 4 CHAR.
      model.unigram = FieldReader(*trainer).varint_field(3).value_or(1) == 1;
    }
    if (auto normalizer = top.bytes_field(3)) {
      if (auto charsmap = FieldReader(*normalizer).bytes_field(2)) model.precompiled_charsmap = std::string(*charsmap);
    }
  } catch (const std::out_of_range& e) {
    fail(ErrorKind::format, "{}: malformed SentencePiece model: {}", path.string(), e.what());
  }
  return model;
}

struct SentencePieceEncoder::Processor {
  std::unique_ptr<sentencepiece::SentencePieceProcessor> spm;
};

SentencePieceEncoder::SentencePieceEncoder(const std::filesystem::path& model)
    : processor_(std::make_unique<Processor>(Processor{load(model)})), model_(model) {}

SentencePieceEncoder::~SentencePieceEncoder() = default;

std::vector<std::string> SentencePieceEncoder::pieces(const std::string& text) const {
  std::vector<std::string> out;
  const auto status = processor_->spm->Encode(text, &out);
  if (!status.ok()) fail(ErrorKind::input, "{}: SentencePiece could not encode the text: {}", model_.string(), status.ToString());
  return out;
}

}  // namespace bertscope::tokenizer
