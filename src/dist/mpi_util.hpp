// MPI calls that wait without spinning. OpenMPI's blocking calls poll a core at 100% while they
// wait; a process waiting for its peers would take the core a computing process on the same
// machine needs (2 ranks on 2 cores, or oversubscribed runs). These post the non-blocking form
// and test it with a short sleep between tests: a millisecond of latency at points that come once
// per chunk or per command.
#pragma once

#if BERTSCOPE_WITH_MPI

#include <cstddef>
#include <cstdint>
#include <string>

#include <mpi.h>

namespace bertscope::dist::detail {

void wait_gently(MPI_Request& request, MPI_Status* status = MPI_STATUS_IGNORE);
// Every process's `value` into values[rank] on every process.
void allgather_gently(const std::uint64_t* value, std::uint64_t* values);
// `bytes` from process `root` to every process (any size; sent in pieces under 2^31).
void broadcast_gently(char* data, std::size_t bytes, int root);
// `bytes` (any size) to `peer` with `tag`: its length, then the bytes in pieces under 2^31.
void send_bytes(const char* data, std::size_t bytes, int peer, int tag);
// What send_bytes sent from `peer` with `tag`.
std::string receive_bytes(int peer, int tag);

}  // namespace bertscope::dist::detail

#endif

#include <string>

namespace bertscope::dist::detail {
// Marks the run as failed with `line` (process 0 prints it): conclude() takes part in no further
// synchronisation. Used by Runner::map when its own stop protocol already told every process.
void stop_run(const std::string& line);
}  // namespace bertscope::dist::detail
