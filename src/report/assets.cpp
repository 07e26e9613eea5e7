#include "report/assets.hpp"

#include "io/error.hpp"

namespace bertscope::report {

const Asset* find_asset(std::string_view name) {
  for (const auto& a : embedded_assets())
    if (a.name == name) return &a;
  return nullptr;
}

const Asset& asset(std::string_view name) {
  if (const auto* a = find_asset(name)) return *a;
  fail(ErrorKind::internal, "the embedded web bundle has no {} (rebuild bertscope: web/build.mjs makes it)", name);
}

}  // namespace bertscope::report
