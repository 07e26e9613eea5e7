// Optional per-op-class timing of a forward pass (bertscope bench prints the shares). Passing no
// profile costs nothing.
#pragma once

#include <array>
#include <chrono>
#include <string_view>

namespace bertscope::core {

enum class OpClass { embed, linear, attention, norm, activation, record, head, other };
inline constexpr std::size_t kOpClassCount = 8;
std::string_view op_class_name(OpClass c);

struct OpProfile {
  std::array<double, kOpClassCount> seconds{};
  double total() const;
};

// Adds the time from construction to destruction to `profile` (if not null).
class ScopedOp {
 public:
  ScopedOp(OpProfile* profile, OpClass op) : profile_(profile), op_(op) {
    if (profile_) start_ = std::chrono::steady_clock::now();
  }
  ~ScopedOp() {
    if (profile_)
      profile_->seconds[static_cast<std::size_t>(op_)] +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  ScopedOp(const ScopedOp&) = delete;
  ScopedOp& operator=(const ScopedOp&) = delete;

 private:
  OpProfile* profile_;
  OpClass op_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace bertscope::core
