// Throwing the one error type of bertscope (include/bertscope/error.hpp, public) with a formatted
// message. The CLI prints what() as a single line and exits non-zero.
#pragma once

#include <string>
#include <system_error>

#include <fmt/format.h>

#include "bertscope/error.hpp"

namespace bertscope {

template <typename... Args>
[[noreturn]] void fail(ErrorKind kind, fmt::format_string<Args...> format, Args&&... args) {
  throw Error(kind, fmt::format(format, std::forward<Args>(args)...));
}

// The system's description of an errno value, for messages such as "cannot read F: <text>".
inline std::string errno_text(int err) { return std::generic_category().message(err); }

}  // namespace bertscope
