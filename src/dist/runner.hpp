// The corpus-scale loop of a command, spread over the run's processes (dist/processes.hpp) and
// kept on disk so that a stopped run resumes where it stopped.
//
// Runner::map computes items [0, n) of a stage: process 0 hands out chunks of items as processes
// ask for them (guided: large chunks first, single items at the end, since items differ in cost),
// computes chunks itself between hand-outs, collects the results and finally sends every result,
// in item order, to every process. Each item is computed by one call of `compute(i)` on whichever
// process took its chunk, so the results are those of a one-process run as long as `compute(i)`
// depends on i alone (not on which items ran before it on that process); every process then runs
// the same code on the same results, and the merged document is the one-process document.
//
// With a checkpoint folder, process 0 writes each finished chunk there (atomically, one file per
// chunk) and a resumed run (Checkpoint::resume) reuses every item found there, whatever chunks or
// process count wrote it. Runner::finish removes the folder once the result is written.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace bertscope::dist {

struct Checkpoint {
  std::filesystem::path folder;  // empty: keep nothing on disk (no resume)
  bool resume = false;           // reuse the items already in `folder`; false: start it afresh
  // What the results depend on (model, data, options), in any stable text: a folder written for
  // another key is refused with an error naming it, never mixed in.
  std::string key;
};

// The checkpoint folder of a result written to `out`: `.NAME.parts` beside it.
std::filesystem::path checkpoint_folder(const std::filesystem::path& out);

// How a stage's items are handed out: chunks of at most `max_chunk` items (a chunk's results travel
// and are written together); `costliest_last` when an item's cost grows with its index (batches of
// a length-sorted order): they are then handed out from the last, the longest first, so that the
// processes finish together instead of one ending on the longest item.
struct Schedule {
  std::size_t max_chunk = 1;
  bool costliest_last = false;
};

class Runner {
 public:
  explicit Runner(Checkpoint checkpoint = {});
  // Destroyed by an exception before finish() (the command failed with an error: a full disk, a
  // bad input), removes the checkpoint folder it created, as staged outputs do, so a failure
  // leaves nothing behind; a folder it resumed is kept. A killed run (or one whose process died:
  // mpirun ends the others by signal) runs no destructor and keeps its folder for --resume.
  ~Runner();
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  // Computes items [0, n) of `stage` (a name unique within the command, [A-Za-z0-9_.-]) and
  // returns every item's result in item order, on every process. `advance(k)` is called on
  // process 0 as k more items are done (by any process, or found in the checkpoint), never from
  // two threads at once. An exception from `compute` on any process stops the run: process 0
  // throws an Error naming the process (its own exception unchanged), the others Stopped.
  std::vector<std::string> map(const std::string& stage, std::size_t n, const Schedule& schedule,
                               const std::function<std::string(std::size_t)>& compute,
                               const std::function<void(std::size_t)>& advance = {});

  // The result is written: process 0 removes the checkpoint folder.
  void finish();

  std::size_t reused() const { return reused_; }  // items taken from the checkpoint folder so far

 private:
  Checkpoint checkpoint_;
  std::size_t reused_ = 0;
  bool created_ = false, finished_ = false;
  int uncaught_ = 0;  // std::uncaught_exceptions() when constructed
};

}  // namespace bertscope::dist
