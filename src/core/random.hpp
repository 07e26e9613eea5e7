// Counter-based random numbers (the splitmix64 finaliser): a draw depends only on the seed and a
// counter, so results are the same whatever the thread count or the order of the work.
#pragma once

#include <algorithm>
#include <cstdint>

namespace bertscope::core {

inline std::uint64_t mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// A double in [0, 1) from the top 53 bits of a mixed word.
inline double unit_interval(std::uint64_t mixed) { return static_cast<double>(mixed >> 11) * 0x1.0p-53; }

// A small deterministic generator: one counter, one mix per draw.
struct CounterRng {
  std::uint64_t state;
  double uniform() { return unit_interval(mix64(state++)); }
  std::int64_t below(std::int64_t n) {
    return std::min<std::int64_t>(n - 1, static_cast<std::int64_t>(uniform() * static_cast<double>(n)));
  }
};

}  // namespace bertscope::core
