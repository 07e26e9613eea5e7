#include "dist/runner.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "dist/mpi_util.hpp"
#include "dist/processes.hpp"
#include "io/error.hpp"
#include "io/files.hpp"

namespace bertscope::dist {

namespace {

namespace fs = std::filesystem;

// Results of some items: "BSPARTS1", the item count, then per item its index, length and bytes
// (little-endian u64s). The message a process sends with a finished chunk, a checkpoint file, and
// the broadcast of all results.
constexpr char kMagic[8] = {'B', 'S', 'P', 'A', 'R', 'T', 'S', '1'};

struct Item {
  std::uint64_t index;
  const std::string* bytes;
};

void put_u64(std::string& out, std::uint64_t v) {
  char b[8];
  for (int k = 0; k < 8; ++k) b[k] = static_cast<char>((v >> (8 * k)) & 0xff);
  out.append(b, 8);
}

std::string encode_items(const std::vector<Item>& items) {
  std::size_t total = 16;
  for (const auto& it : items) total += 16 + it.bytes->size();
  std::string out;
  out.reserve(total);
  out.append(kMagic, 8);
  put_u64(out, items.size());
  for (const auto& it : items) {
    put_u64(out, it.index);
    put_u64(out, it.bytes->size());
    out += *it.bytes;
  }
  return out;
}

// Decodes `data` into results[index]; `where` names the source in errors (a file or a process).
// Every length is checked against what is left, so a damaged file is an error, never a crash.
std::vector<std::uint64_t> decode_items(std::string_view data, std::vector<std::string>& results, const std::string& where) {
  std::size_t at = 0;
  auto get = [&](const char* what) {
    if (data.size() - at < 8) fail(ErrorKind::format, "{}: truncated partial results (no room for the {})", where, what);
    std::uint64_t v = 0;
    for (int k = 0; k < 8; ++k) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(data[at + k])) << (8 * k);
    at += 8;
    return v;
  };
  if (data.size() < 8 || std::memcmp(data.data(), kMagic, 8) != 0)
    fail(ErrorKind::format, "{}: not a bertscope partial-results file (bad magic)", where);
  at = 8;
  const auto count = get("item count");
  if (count > (data.size() - at) / 16) fail(ErrorKind::format, "{}: item count {} does not fit the file", where, count);
  std::vector<std::uint64_t> indices;
  for (std::uint64_t k = 0; k < count; ++k) {
    const auto index = get("item index");
    const auto length = get("item length");
    if (index >= results.size())
      fail(ErrorKind::format, "{}: item {} is out of range (the stage has {} items)", where, index, results.size());
    if (length > data.size() - at) fail(ErrorKind::format, "{}: item {} claims {} bytes, {} are left", where, index, length, data.size() - at);
    results[index].assign(data.data() + at, length);
    at += length;
    indices.push_back(index);
  }
  if (at != data.size()) fail(ErrorKind::format, "{}: {} bytes after the last item", where, data.size() - at);
  return indices;
}

bool valid_stage(const std::string& stage) {
  if (stage.empty() || stage.size() > 100 || stage[0] == '.') return false;
  return std::all_of(stage.begin(), stage.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
  });
}

constexpr int kTagResults = 71;  // worker -> 0: the results of its last chunk (empty: ready)
constexpr int kTagFailed = 72;   // worker -> 0: its compute failed, with the message
constexpr int kTagAssign = 73;   // 0 -> worker: first item, count, stop flag

// The items of one map on process 0: what is left to hand out, what has arrived, who failed.
class Ledger {
 public:
  // `results` holds the items already `done` (found in the checkpoint folder).
  Ledger(std::vector<std::string> results, std::vector<bool> done, std::size_t processes, const Schedule& schedule)
      : done_(std::move(done)), results_(std::move(results)), processes_(processes), max_chunk_(std::max<std::size_t>(schedule.max_chunk, 1)),
        step_(schedule.costliest_last ? -1 : 1) {
    for (std::size_t i = 0; i < results_.size(); ++i)
      if (!done_[i]) pending_.push_back(i);
    if (schedule.costliest_last) std::reverse(pending_.begin(), pending_.end());
  }

  // The next chunk: consecutive pending items, guided size (what is left over twice the
  // processes, at most max_chunk). Empty when nothing is left or the run is stopping.
  std::vector<std::size_t> take() {
    std::lock_guard lock(mutex_);
    if (failed_ || next_ >= pending_.size()) return {};
    const auto left = pending_.size() - next_;
    auto size = std::clamp<std::size_t>(left / (2 * processes_), 1, max_chunk_);
    std::vector<std::size_t> chunk;
    while (chunk.size() < size && next_ < pending_.size()) {
      // Keep chunks contiguous: a chunk travels as its first item and its size.
      if (!chunk.empty() && static_cast<std::ptrdiff_t>(pending_[next_]) != static_cast<std::ptrdiff_t>(chunk.back()) + step_) break;
      chunk.push_back(pending_[next_++]);
    }
    std::sort(chunk.begin(), chunk.end());
    return chunk;
  }

  std::vector<std::string>& results() { return results_; }
  std::mutex& mutex() { return mutex_; }

  // The first failure wins; later ones are consequences.
  void fail(std::string line, std::exception_ptr own = nullptr) {
    std::lock_guard lock(mutex_);
    if (failed_) return;
    failed_ = true;
    line_ = std::move(line);
    own_ = std::move(own);
  }
  bool failed() {
    std::lock_guard lock(mutex_);
    return failed_;
  }
  const std::string& line() const { return line_; }
  std::exception_ptr own() const { return own_; }

 private:
  std::vector<bool> done_;
  std::vector<std::string> results_;
  std::vector<std::size_t> pending_;
  std::size_t next_ = 0, processes_, max_chunk_;
  std::ptrdiff_t step_;  // +1: items handed out in index order; -1: from the last
  std::mutex mutex_;
  bool failed_ = false;
  std::string line_;
  std::exception_ptr own_;
};

}  // namespace

fs::path checkpoint_folder(const fs::path& out) {
  auto name = out.filename().string();
  if (name.empty()) name = "result";
  return out.parent_path() / ("." + name + ".parts");
}

Runner::Runner(Checkpoint checkpoint) : checkpoint_(std::move(checkpoint)), uncaught_(std::uncaught_exceptions()) {
  if (checkpoint_.folder.empty() || !writer()) return;
  const auto& dir = checkpoint_.folder;
  const auto manifest = dir / "manifest.json";
  std::error_code ec;
  if (checkpoint_.resume && fs::exists(dir, ec)) {
    if (!fs::exists(manifest, ec))
      fail(ErrorKind::input, "{}: a checkpoint folder without its manifest.json; remove it to start afresh", dir.string());
    const auto m = io::read_json(manifest);
    if (!m.is_object() || !m.contains("key") || !m["key"].is_string() || m["key"].get<std::string>() != checkpoint_.key)
      fail(ErrorKind::input,
           "{}: these partial results were made for another model, data or options than this run; remove the folder "
           "or run without --resume to start afresh",
           dir.string());
    return;
  }
  if (fs::exists(dir, ec)) {
    fs::remove_all(dir, ec);
    if (ec) fail(ErrorKind::io, "cannot remove the old checkpoint folder {}: {}", dir.string(), ec.message());
  }
  fs::create_directories(dir, ec);
  if (ec) fail(ErrorKind::io, "cannot create the checkpoint folder {}: {}", dir.string(), ec.message());
  created_ = true;
  try {
    io::write_file_atomic(manifest,
                          nlohmann::json{{"format", "bertscope-checkpoint 1"}, {"key", checkpoint_.key}}.dump(1) + "\n");
  } catch (...) {
    fs::remove_all(dir, ec);  // the destructor does not run for a constructor that throws
    throw;
  }
}

Runner::~Runner() {
  if (!created_ || finished_ || std::uncaught_exceptions() <= uncaught_) return;
  std::error_code ec;
  fs::remove_all(checkpoint_.folder, ec);
}

void Runner::finish() {
  finished_ = true;
  if (checkpoint_.folder.empty() || !writer()) return;
  std::error_code ec;
  fs::remove_all(checkpoint_.folder, ec);  // a folder left behind only costs disk space
}

std::vector<std::string> Runner::map(const std::string& stage, std::size_t n, const Schedule& schedule,
                                     const std::function<std::string(std::size_t)>& compute,
                                     const std::function<void(std::size_t)>& advance) {
  if (!valid_stage(stage)) fail(ErrorKind::internal, "invalid stage name {}", io::quote(stage));
  detail::checkpoint("");  // every process is here, alive
  const auto processes = static_cast<std::size_t>(size());
  // Fault injection for the tests of the failure path (tests/distributed.sh):
  // BERTSCOPE_DIST_FAIL=K makes process K fail at the first item it computes.
  const char* inject = std::getenv("BERTSCOPE_DIST_FAIL");
  const bool failing = inject != nullptr && std::string(inject) == std::to_string(rank());
  auto compute_item = [&](std::size_t i) {
    if (failing) fail(ErrorKind::input, "injected failure (BERTSCOPE_DIST_FAIL) at item {} of {}", i, stage);
    return compute(i);
  };

  if (rank() != 0) {
#if BERTSCOPE_WITH_MPI
    std::vector<std::string> results(n);
    std::string message;  // empty the first time: ready
    for (;;) {
      detail::send_bytes(message.data(), message.size(), 0, kTagResults);
      std::uint64_t assign[3];
      MPI_Request request;
      MPI_Irecv(assign, 3, MPI_UINT64_T, 0, kTagAssign, MPI_COMM_WORLD, &request);
      detail::wait_gently(request);
      if (assign[1] == 0) {
        if (assign[2] != 0) {
          detail::stop_run("");
          throw Stopped();
        }
        break;
      }
      std::vector<Item> items;
      try {
        for (std::uint64_t i = assign[0]; i < assign[0] + assign[1]; ++i) {
          results[i] = compute_item(static_cast<std::size_t>(i));
          items.push_back({i, &results[i]});
        }
      } catch (const std::exception& e) {
        const std::string what = e.what();
        detail::send_bytes(what.data(), what.size(), 0, kTagFailed);
        detail::stop_run("");
        throw Stopped();
      }
      message = encode_items(items);
    }
    // Every result, from process 0.
    std::uint64_t total = 0;
    detail::broadcast_gently(reinterpret_cast<char*>(&total), sizeof total, 0);
    std::string all(total, '\0');
    detail::broadcast_gently(all.data(), all.size(), 0);
    decode_items(all, results, "the results from process 0");
    return results;
#else
    fail(ErrorKind::internal, "process {} in a build without MPI", rank());
#endif
  }

  // Process 0: what the checkpoint folder already holds.
  std::vector<std::string> found(n);
  std::vector<bool> done(n, false);
  const auto stage_dir = checkpoint_.folder.empty() ? fs::path() : checkpoint_.folder / stage;
  std::size_t reused = 0;
  if (!stage_dir.empty()) {
    std::error_code ec;
    if (checkpoint_.resume && fs::is_directory(stage_dir, ec)) {
      std::vector<fs::path> files;
      for (const auto& e : fs::directory_iterator(stage_dir))
        if (e.path().extension() == ".part") files.push_back(e.path());
      std::sort(files.begin(), files.end());
      for (const auto& f : files)
        for (auto i : decode_items(io::read_file(f), found, f.string()))
          if (!done[i]) done[i] = true, ++reused;
    }
    fs::create_directories(stage_dir, ec);
    if (ec) fail(ErrorKind::io, "cannot create {}: {}", stage_dir.string(), ec.message());
  }
  reused_ += reused;
  Ledger ledger(std::move(found), std::move(done), processes, schedule);
  auto& results = ledger.results();
  std::mutex advance_mutex;
  auto advanced = [&](std::size_t k) {
    if (!advance || k == 0) return;
    std::lock_guard lock(advance_mutex);
    advance(k);
  };
  advanced(reused);
  // A finished chunk: written to the checkpoint folder (named by its first item and size, so a
  // resumed run with other chunks never overwrites a file it read).
  auto keep = [&](const std::vector<Item>& items) {
    if (items.empty()) return;
    if (!stage_dir.empty())
      io::write_file_atomic(stage_dir / fmt::format("{:010}-{}.part", items.front().index, items.size()), encode_items(items));
    advanced(items.size());
  };

#if BERTSCOPE_WITH_MPI
  // The coordinator: answers the other processes until each has been told to stop.
  std::thread coordinator;
  if (processes > 1) {
    coordinator = std::thread([&] {
      std::size_t active = processes - 1;
      while (active > 0) {
        int flag = 0;
        MPI_Status status;
        MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &status);
        if (!flag) {
          std::this_thread::sleep_for(std::chrono::microseconds(500));
          continue;
        }
        const int peer = status.MPI_SOURCE;
        if (status.MPI_TAG == kTagFailed) {
          const auto what = detail::receive_bytes(peer, kTagFailed);
          ledger.fail(fmt::format("process {} of {}: {}", peer, processes, what));
          --active;
          continue;
        }
        if (status.MPI_TAG != kTagResults) {
          ledger.fail(fmt::format("process 0 of {}: unexpected message tag {} from process {}", processes, status.MPI_TAG, peer));
          continue;
        }
        const auto message = detail::receive_bytes(peer, kTagResults);
        try {
          if (!message.empty()) {
            std::vector<std::string> got(n);
            const auto indices = decode_items(message, got, fmt::format("the results from process {}", peer));
            std::vector<Item> items;
            {
              std::lock_guard lock(ledger.mutex());
              for (auto i : indices) results[i] = std::move(got[i]);
            }
            for (auto i : indices) items.push_back({i, &results[i]});
            keep(items);
          }
        } catch (const std::exception& e) {
          ledger.fail(fmt::format("process 0 of {}: {}", processes, e.what()));
        }
        const auto chunk = ledger.take();
        std::uint64_t assign[3] = {chunk.empty() ? 0 : chunk.front(), chunk.size(), ledger.failed() ? 1u : 0u};
        MPI_Request request;
        MPI_Isend(assign, 3, MPI_UINT64_T, peer, kTagAssign, MPI_COMM_WORLD, &request);
        detail::wait_gently(request);
        if (chunk.empty()) --active;
      }
    });
  }
#endif

  // Process 0 computes chunks too.
  try {
    for (;;) {
      const auto chunk = ledger.take();
      if (chunk.empty()) break;
      std::vector<Item> items;
      for (auto i : chunk) {
        auto r = compute_item(i);
        {
          std::lock_guard lock(ledger.mutex());
          results[i] = std::move(r);
        }
        items.push_back({i, &results[i]});
      }
      keep(items);
    }
  } catch (const std::exception& e) {
    ledger.fail(e.what(), std::current_exception());
  }
#if BERTSCOPE_WITH_MPI
  if (coordinator.joinable()) coordinator.join();
#endif
  if (ledger.failed()) {
    detail::stop_run(ledger.line());
    if (ledger.own()) std::rethrow_exception(ledger.own());
    throw Error(ErrorKind::input, ledger.line());
  }

#if BERTSCOPE_WITH_MPI
  if (processes > 1) {
    std::vector<Item> all;
    for (std::size_t i = 0; i < n; ++i) all.push_back({i, &results[i]});
    auto bytes = encode_items(all);
    std::uint64_t total = bytes.size();
    detail::broadcast_gently(reinterpret_cast<char*>(&total), sizeof total, 0);
    detail::broadcast_gently(bytes.data(), bytes.size(), 0);
  }
#endif
  return std::move(results);
}

}  // namespace bertscope::dist
