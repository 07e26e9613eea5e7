// Progress of a long job on stderr (items done, rate, time left), only when stderr is a
// terminal: pipes, logs and CI stay quiet.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace bertscope::cli {

class Progress {
 public:
  Progress(std::string label, std::int64_t total);
  ~Progress();
  void advance(std::int64_t items = 1);
  void finish();

 private:
  void draw(bool force);
  std::string label_;
  std::int64_t total_, done_ = 0;
  bool enabled_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace bertscope::cli
