// The one error type of bertscope, shared by the library and its public API: every failure is
// thrown as a bertscope::Error whose message names the file (and the line, tensor or site), what
// was expected and what was found. Library code never prints or aborts.
#pragma once

#include <stdexcept>
#include <string>

namespace bertscope {

enum class ErrorKind {
  io,          // a file is missing, unreadable or unwritable
  format,      // a file's content is malformed (JSON, safetensors, npz, CoNLL-U, TSV, ...)
  model,       // a model folder contradicts itself (config vs tensors, missing tensors)
  input,       // user input is unusable (non-UTF-8, too long, unknown option values or site names)
  internal,    // a broken invariant inside bertscope
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

}  // namespace bertscope
