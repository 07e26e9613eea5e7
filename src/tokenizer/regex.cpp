#define PCRE2_CODE_UNIT_WIDTH 32
#include "tokenizer/regex.hpp"

#include <pcre2.h>

#include "io/error.hpp"
#include "tokenizer/text.hpp"

namespace bertscope::tokenizer {

struct Regex::Compiled {
  pcre2_code* code = nullptr;
  ~Compiled() { pcre2_code_free(code); }
};

Regex::Regex(std::string_view pattern, std::string_view where) {
  const std::u32string cps = to_u32(pattern);
  int error = 0;
  PCRE2_SIZE error_at = 0;
  auto compiled = std::make_shared<Compiled>();
  compiled->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(cps.data()), cps.size(), PCRE2_UTF | PCRE2_UCP, &error,
                                 &error_at, nullptr);
  if (!compiled->code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, 256);
    std::u32string text(reinterpret_cast<const char32_t*>(message));
    fail(ErrorKind::format, "{}: the regular expression \"{}\" does not compile at character {}: {}", where, pattern,
         error_at, to_utf8(text));
  }
  pcre2_jit_compile(compiled->code, PCRE2_JIT_COMPLETE);  // optional speed-up; the interpreter is the fallback
  compiled_ = std::move(compiled);
}

std::vector<std::pair<std::size_t, std::size_t>> Regex::find_all(std::u32string_view text) const {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> data(
      pcre2_match_data_create_from_pattern(compiled_->code, nullptr), &pcre2_match_data_free);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::size_t start = 0;
  while (start <= text.size()) {
    int rc = pcre2_match(compiled_->code, subject, text.size(), start, 0, data.get(), nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, 256);
      fail(ErrorKind::input, "regular expression match failed: {}",
           to_utf8(std::u32string(reinterpret_cast<const char32_t*>(message))));
    }
    const PCRE2_SIZE* v = pcre2_get_ovector_pointer(data.get());
    out.emplace_back(v[0], v[1]);
    // An empty match moves on one character, as the Rust regex iterators do.
    start = v[1] > v[0] ? v[1] : v[1] + 1;
  }
  return out;
}

}  // namespace bertscope::tokenizer
