// The local server's request bodies (`bertscope serve`, docs/viewer.md): POST /api/run, the only
// POST endpoint, through server::parse_run_request, the function the handler calls before it
// runs the model, so no server is started. The answer must be a request with a non-blank, valid
// UTF-8 text, or a refusal with a status of 400, 413 or 422 and a message; nothing may throw.
// First byte: bit 0 = the server has a second model (serve --model-b), bit 1 = a 64-byte body
// limit instead of the default 1 MiB; the rest is the body.
#include "fuzz_util.hpp"
#include "io/files.hpp"
#include "server/run_request.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  const bool have_b = data[0] & 1;
  const std::size_t limit = data[0] & 2 ? 64 : std::size_t(1) << 20;
  const auto answer = bertscope::server::parse_run_request(body, limit, have_b);
  if (const auto* r = std::get_if<bertscope::server::RunRequest>(&answer)) {
    if (r->text.find_first_not_of(" \t\r\n") == std::string::npos) std::abort();
    if (bertscope::io::find_invalid_utf8(r->text) != std::string::npos) std::abort();
    if (r->model != "a" && !(r->model == "b" && have_b)) std::abort();
  } else {
    const auto& refusal = std::get<bertscope::server::RequestRefusal>(answer);
    if (refusal.message.empty()) std::abort();
    if (refusal.status != 400 && refusal.status != 413 && refusal.status != 422) std::abort();
    if (refusal.status == 413 && body.size() <= limit) std::abort();
  }
  return 0;
}
