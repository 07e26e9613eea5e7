// Standard base64 (RFC 4648, with padding): the viewer's packed arrays and tokenizer.json's
// precompiled charsmap.
#pragma once

#include <string>
#include <string_view>

namespace bertscope::io {

std::string base64_encode(std::string_view bytes);
// Throws Error(format) naming `what` on characters outside the alphabet or bad padding.
std::string base64_decode(std::string_view text, std::string_view what);

}  // namespace bertscope::io
