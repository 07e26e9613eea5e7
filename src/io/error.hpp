// The one error type of bertscope. Library code never prints or aborts: it throws an Error
// whose message names the file (and the line or tensor), what was expected and what was
// found. The CLI prints what() as a single line and exits non-zero.
#pragma once

#include <stdexcept>
#include <string>
#include <system_error>

#include <fmt/format.h>

namespace bertscope {

enum class ErrorKind {
  io,          // a file is missing, unreadable or unwritable
  format,      // a file's content is malformed (JSON, safetensors, npz, CoNLL-U, TSV, ...)
  model,       // a model folder contradicts itself (config vs tensors, missing tensors)
  input,       // user input is unusable (non-UTF-8, too long, unknown option values)
  internal,    // a broken invariant inside bertscope
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

template <typename... Args>
[[noreturn]] void fail(ErrorKind kind, fmt::format_string<Args...> format, Args&&... args) {
  throw Error(kind, fmt::format(format, std::forward<Args>(args)...));
}

// The system's description of an errno value, for messages such as "cannot read F: <text>".
inline std::string errno_text(int err) { return std::generic_category().message(err); }

}  // namespace bertscope
