#include "dist/processes.hpp"

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "dist/mpi_util.hpp"
#include "io/error.hpp"

namespace bertscope::dist {

namespace {

struct World {
  int rank = 0, size = 1;
  bool started = false;  // MPI_Init_thread ran
  bool over = false;     // a synchronisation reported a failure: no process takes part in another
  std::string line;      // that failure's line (process 0)
};

// Launchers export these before starting the processes (OpenMPI's mpirun, PMIx, Slurm's srun
// with PMI/PMIx, MPICH's Hydra).
bool launched_by_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
    if (std::getenv(name) != nullptr) return true;
  return false;
}

World& world() {
  static World w;
  static std::once_flag once;
  std::call_once(once, [] {
#if BERTSCOPE_WITH_MPI
    if (!launched_by_mpi()) return;
    int provided = 0;
    // Serialized: dist::Runner's coordinator thread and the main thread never call MPI at the same
    // time (the main thread waits for the coordinator before its next call).
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS)
      fail(ErrorKind::internal, "MPI_Init_thread failed");
    w.started = true;
    if (provided < MPI_THREAD_SERIALIZED)
      fail(ErrorKind::internal, "this MPI library offers thread level {}, bertscope needs MPI_THREAD_SERIALIZED", provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &w.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &w.size);
    // Only process 0 prints results and tables; the others' standard output goes nowhere, so a
    // command under mpirun prints what it prints alone. Errors stay on stderr (conclude()).
    if (w.rank != 0 && std::freopen("/dev/null", "w", stdout) == nullptr)
      fail(ErrorKind::io, "cannot silence the standard output of process {}", w.rank);
#else
    // Several copies of a build without MPI would each run the whole command and write the same
    // files: refuse instead.
    for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"})
      if (const char* n = std::getenv(name); n != nullptr && std::atoi(n) > 1)
        fail(ErrorKind::input, "started by mpirun with {} processes, but this bertscope was built without MPI "
             "(install libopenmpi-dev and build again; docs/distributed.md)", n);
    (void)launched_by_mpi;
#endif
  });
  return w;
}

// Every process says whether it failed (its message); returns the line of the lowest process that
// did (empty when none), on every process.
std::string synchronise(const std::string& error) {
  auto& w = world();
  if (w.size == 1) return error;
#if BERTSCOPE_WITH_MPI
  std::uint64_t length = error.size();
  std::vector<std::uint64_t> lengths(static_cast<std::size_t>(w.size));
  detail::allgather_gently(&length, lengths.data());
  int first = -1;
  for (int r = 0; r < w.size && first < 0; ++r)
    if (lengths[static_cast<std::size_t>(r)] > 0) first = r;
  if (first < 0) return {};
  std::string message(lengths[static_cast<std::size_t>(first)], '\0');
  if (w.rank == first) message = error;
  detail::broadcast_gently(message.data(), message.size(), first);
  return first == 0 ? message : fmt::format("process {} of {}: {}", first, w.size, message);
#else
  return error;
#endif
}

template <class T>
void sum_in_rank_order(std::vector<T>& values, const std::string& error) {
  detail::checkpoint(error);
  auto& w = world();
  if (w.size == 1) return;
#if BERTSCOPE_WITH_MPI
  constexpr int tag = 7301;
  // Every process must hold as many values as process 0; one that does not fails the step on all.
  const std::uint64_t count = values.size();
  std::vector<std::uint64_t> counts(static_cast<std::size_t>(w.size));
  detail::allgather_gently(&count, counts.data());
  detail::checkpoint(count == counts[0] ? std::string()
                                        : fmt::format("has {} values to add, process 0 has {}", count, counts[0]));
  const auto bytes = values.size() * sizeof(T);
  if (w.rank == 0) {
    for (int r = 1; r < w.size; ++r) {
      const auto theirs = detail::receive_bytes(r, tag);
      const auto* other = reinterpret_cast<const T*>(theirs.data());
      for (std::size_t i = 0; i < values.size(); ++i) values[i] += other[i];
    }
  } else {
    detail::send_bytes(reinterpret_cast<const char*>(values.data()), bytes, 0, tag);
  }
  detail::broadcast_gently(reinterpret_cast<char*>(values.data()), bytes, 0);
#endif
}

}  // namespace

void sum_over_processes(std::vector<float>& values, const std::string& error) { sum_in_rank_order(values, error); }
void sum_over_processes(std::vector<double>& values, const std::string& error) { sum_in_rank_order(values, error); }

int rank() { return world().rank; }
int size() { return world().size; }
bool writer() { return world().rank == 0; }

bool mpi_enabled() {
#if BERTSCOPE_WITH_MPI
  return true;
#else
  return false;
#endif
}

std::string conclude(const std::string& error, bool stopped) {
  auto& w = world();
  if (w.over) return w.line;
  // A process that ended with Stopped without a failed synchronisation cannot happen: Stopped is
  // thrown only after one. Treat it as a failure of its own all the same.
  auto line = synchronise(!error.empty() || !stopped ? error : std::string("stopped"));
  if (!line.empty()) {
    w.over = true;
    w.line = line;
  }
  return line;
}

void finalize() {
#if BERTSCOPE_WITH_MPI
  auto& w = world();
  if (!w.started) return;
  std::fflush(stdout);
  int done = 0;
  MPI_Finalized(&done);
  if (!done) MPI_Finalize();
#endif
}

namespace detail {

void checkpoint(const std::string& error) {
  auto& w = world();
  if (w.size == 1) {
    if (!error.empty()) throw Error(ErrorKind::input, error);
    return;
  }
  if (w.over) throw Stopped();
  const auto line = synchronise(error);
  if (line.empty()) return;
  w.over = true;
  w.line = line;
  if (w.rank == 0) throw Error(ErrorKind::input, line);
  throw Stopped();
}

void stop_run(const std::string& line) {
  auto& w = world();
  if (w.size == 1) return;  // nobody else to keep out of a synchronisation
  w.over = true;
  w.line = line;
}

}  // namespace detail

}  // namespace bertscope::dist
