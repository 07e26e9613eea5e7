// The processes of one run: one (a plain `bertscope ...`), or N when started by `mpirun -n N`
// (OpenMPI; docs/distributed.md). Every process runs the same command on the same inputs; the
// corpus-scale loops hand their items out through dist::Runner, every process gets every result
// back, and only process 0 (the writer) prints and writes files.
//
// MPI is initialised on the first call to any function here, and only when an MPI launcher
// started the process (its environment says so): a plain run never touches MPI, and a build
// without MPI (BERTSCOPE_WITH_MPI unset) always has one process.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace bertscope::dist {

int rank();          // 0 .. size() - 1
int size();          // 1 without mpirun
bool writer();       // rank() == 0: the process that prints, writes files and shows progress
bool mpi_enabled();  // this build can run under mpirun (was built with MPI)

// Thrown on every process but the one that reports it when the run was stopped because another
// process failed: the failure is reported once, by process 0, and this one ends quietly.
class Stopped : public std::runtime_error {
 public:
  Stopped() : std::runtime_error("stopped: another process of this run failed") {}
};

// Data-parallel training's all-reduce: every process's `values` (of one length everywhere) summed
// over the processes in process order, into `values` on every process. Process 0 adds the others'
// in rank order and sends the sum back, so every process holds the same bits and the sum does not
// depend on message timing. A synchronisation point first: `error` non-empty marks this process as
// failed, and then every process throws (process 0 an Error with the first failure's line, the
// others Stopped). With one process: nothing to add; a non-empty `error` throws it.
void sum_over_processes(std::vector<float>& values, const std::string& error = {});
void sum_over_processes(std::vector<double>& values, const std::string& error = {});

// The end of a command on every process, together. `error` is this process's failure ("" when
// it succeeded; `stopped` when it ended with Stopped). Returns the one line process 0 prints for
// the run ("" when every process succeeded): the error of the lowest process that failed, named
// "process K of N: ..." when it is not process 0's own. Under mpirun this is a synchronisation
// point (dist::Runner::map's start is the other): a process that failed between two of them
// meets the others at the next one, so no process waits for one that has given up.
std::string conclude(const std::string& error, bool stopped);

// Ends MPI (when it was started). Call once, after conclude(), before leaving main.
void finalize();

namespace detail {
// A synchronisation point: every process reports whether it has failed; if any has, every
// process learns it and this throws (process 0: an Error with the lowest failure's line; the
// others: Stopped). `error` non-empty marks this process as failed.
void checkpoint(const std::string& error);
}  // namespace detail

}  // namespace bertscope::dist
