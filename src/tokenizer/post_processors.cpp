#include "tokenizer/post_processors.hpp"

#include "tokenizer/pre_tokenizers.hpp"
#include "tokenizer/text.hpp"

namespace bertscope::tokenizer {

namespace {

void push_special(Encoding& out, const SpecialToken& token, std::int32_t type_id) {
  out.ids.push_back(token.id);
  out.type_ids.push_back(type_id);
  out.tokens.push_back(token.content);
  out.word_ids.push_back(-1);
  out.sequence_ids.push_back(-1);
  out.roles.push_back(TokenRole::ordinary);  // the pipeline assigns roles by id
  out.char_offsets.emplace_back(0, 0);
  out.byte_offsets.emplace_back(0, 0);
}

void push_segment(Encoding& out, Encoding&& segment, std::int32_t type_id) {
  for (auto& t : segment.type_ids) t = type_id;
  out.append(std::move(segment));
}

}  // namespace

// tokenizers' process_offsets: a token's leading and trailing spaces ('Ġ' or whitespace) leave
// its span, except the one space add_prefix_space put before the first token.
void trim_byte_level_offsets(Encoding& encoding, bool add_prefix_space) {
  const char32_t space = byte_to_char(static_cast<unsigned char>(0x20));
  for (std::size_t i = 0; i < encoding.size(); ++i) {
    const std::u32string cps = to_u32(encoding.tokens[i]);
    auto is_space = [&](char32_t c) { return c == space || is_white_space(c); };
    // Offsets move by characters; byte offsets by those characters' length in the input ('Ġ'
    // stands for the one-byte space).
    auto input_bytes = [&](char32_t c) { return static_cast<std::int64_t>(c == space ? 1 : utf8_length(c)); };
    std::size_t leading = 0, trailing = 0;
    while (leading < cps.size() && is_space(cps[leading])) ++leading;
    while (trailing < cps.size() && is_space(cps[cps.size() - 1 - trailing])) ++trailing;
    auto& [begin, end] = encoding.char_offsets[i];
    auto& [byte_begin, byte_end] = encoding.byte_offsets[i];
    if (leading > 0) {
      const bool is_first = i == 0 || begin == 0;
      if (is_first && add_prefix_space && leading == 1) leading = 0;
      std::int64_t bytes = 0;
      for (std::size_t k = 0; k < leading; ++k) bytes += input_bytes(cps[k]);
      begin = std::min(begin + static_cast<std::int64_t>(leading), end);
      byte_begin = std::min(byte_begin + bytes, byte_end);
    }
    if (trailing > 0 && end >= static_cast<std::int64_t>(trailing)) {
      std::int64_t bytes = 0;
      for (std::size_t k = 0; k < trailing; ++k) bytes += input_bytes(cps[cps.size() - 1 - k]);
      end = std::max(end - static_cast<std::int64_t>(trailing), begin);
      byte_end = std::max(byte_end - bytes, byte_begin);
    }
  }
}

void ByteLevelProcessor::process(std::vector<Encoding>& segments) const {
  if (!trim_) return;
  for (auto& s : segments) trim_byte_level_offsets(s, add_prefix_space_);
}

void RobertaProcessor::process(std::vector<Encoding>& segments) const {
  if (trim_) {
    for (auto& s : segments) trim_byte_level_offsets(s, add_prefix_space_);
  }
  Encoding out;
  push_special(out, cls_, 0);
  push_segment(out, std::move(segments[0]), 0);
  push_special(out, sep_, 0);
  if (segments.size() > 1) {
    push_special(out, sep_, 0);
    push_segment(out, std::move(segments[1]), 0);
    push_special(out, sep_, 0);
  }
  segments.assign(1, std::move(out));
}

void BertProcessor::process(std::vector<Encoding>& segments) const {
  Encoding out;
  push_special(out, cls_, 0);
  push_segment(out, std::move(segments[0]), 0);
  push_special(out, sep_, 0);
  if (segments.size() > 1) {
    push_segment(out, std::move(segments[1]), 1);
    push_special(out, sep_, 1);
  }
  segments.assign(1, std::move(out));
}

std::size_t TemplateProcessor::added_tokens(bool pair) const {
  std::size_t n = 0;
  for (const auto& piece : pair ? pair_ : single_) n += piece.is_sequence ? 0 : piece.special.size();
  return n;
}

void TemplateProcessor::process(std::vector<Encoding>& segments) const {
  Encoding out;
  for (const auto& piece : segments.size() > 1 ? pair_ : single_) {
    if (!piece.is_sequence) {
      for (const auto& token : piece.special) push_special(out, token, piece.type_id);
    } else if (piece.sequence < segments.size()) {
      push_segment(out, std::move(segments[piece.sequence]), piece.type_id);
    }
  }
  segments.assign(1, std::move(out));
}

std::size_t ProcessorSequence::added_tokens(bool pair) const {
  std::size_t n = 0;
  for (const auto& step : steps_) n += step->added_tokens(pair);
  return n;
}

void ProcessorSequence::process(std::vector<Encoding>& segments) const {
  for (const auto& step : steps_) step->process(segments);
}

}  // namespace bertscope::tokenizer
