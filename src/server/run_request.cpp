#include "server/run_request.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "io/error.hpp"
#include "io/files.hpp"

namespace bertscope::server {

namespace {

// The body's optional boolean `key` (absent or null: false); nullopt when it is not a boolean.
std::optional<bool> flag(const nlohmann::json& body, const char* key) {
  if (!body.contains(key) || body[key].is_null()) return false;
  if (!body[key].is_boolean()) return std::nullopt;
  return body[key].get<bool>();
}

RequestRefusal bad(std::string message) { return {400, std::move(message)}; }

}  // namespace

std::variant<RunRequest, RequestRefusal> parse_run_request(std::string_view text_body, std::size_t max_body_bytes,
                                                           bool have_model_b) {
  if (text_body.size() > max_body_bytes)
    return RequestRefusal{413, fmt::format("request body of {} bytes; the limit is {} bytes (serve --max-body-bytes)",
                                           text_body.size(), max_body_bytes)};
  const auto body = nlohmann::json::parse(text_body, nullptr, false);
  if (body.is_discarded() || !body.is_object())
    return bad(R"(the body must be a JSON object: {"text": "...", "text_pair": "..."})");
  if (!body.contains("text") || !body["text"].is_string()) return bad(R"("text" must be a string)");
  RunRequest r;
  r.text = body["text"].get<std::string>();
  if (body.contains("text_pair") && !body["text_pair"].is_null()) {
    if (!body["text_pair"].is_string()) return bad(R"("text_pair" must be a string or null)");
    r.text_pair = body["text_pair"].get<std::string>();
  }
  if (body.contains("precision")) {
    if (!body["precision"].is_string()) return bad(R"("precision" must be "float16" or "float32")");
    try {
      r.precision = report::parse_precision(body["precision"].get<std::string>());
    } catch (const Error& e) {
      return RequestRefusal{422, e.what()};
    }
  }
  for (auto [key, field] : {std::pair{"truncate", &r.truncate}, std::pair{"vectors", &r.vectors}}) {
    const auto value = flag(body, key);
    if (!value) return bad(fmt::format(R"("{}" must be true or false)", key));
    *field = *value;
  }
  if (body.contains("model") && !body["model"].is_null()) {
    const auto& which = body["model"];
    if (which == "b" && !have_model_b) return bad(R"("model": "b" needs a second model (serve --model-b DIR))");
    if (which != "a" && which != "b") return bad(R"("model" must be "a" or "b")");
    r.model = which.get<std::string>();
  }
  if (r.text.find_first_not_of(" \t\r\n") == std::string::npos) return bad(R"("text" is empty)");
  if (io::find_invalid_utf8(r.text) != std::string::npos ||
      (r.text_pair && io::find_invalid_utf8(*r.text_pair) != std::string::npos))
    return bad("the text is not valid UTF-8");
  return r;
}

}  // namespace bertscope::server
