// The body of POST /api/run (docs/viewer.md), parsed and checked apart from the server so that it
// can be tested and fuzzed without one (fuzz/fuzz_run_request.cpp).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "report/attention_json.hpp"

namespace bertscope::server {

struct RunRequest {
  std::string text;
  std::optional<std::string> text_pair;
  report::Precision precision = report::Precision::float16;
  bool truncate = false;
  bool vectors = false;
  std::string model = "a";  // which model runs it: "a" or "b" (serve --model-b)
};

// The answer that refuses a request: an HTTP status and the message of its {"error": ...} body.
struct RequestRefusal {
  int status = 400;
  std::string message;
};

// The request `body` asks for, or why it is refused: 413 when it is over `max_body_bytes`, 400
// when it is not a JSON object with a non-empty UTF-8 "text" string and optional "text_pair"
// (string or null), "truncate" and "vectors" (booleans or null), "model" ("a", or "b" when
// `have_model_b`), 422 for a "precision" other than "float16" or "float32". Never throws for any body.
std::variant<RunRequest, RequestRefusal> parse_run_request(std::string_view body, std::size_t max_body_bytes,
                                                           bool have_model_b);

}  // namespace bertscope::server
