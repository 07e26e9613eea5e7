#include "dist/mpi_util.hpp"

#if BERTSCOPE_WITH_MPI

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>

namespace bertscope::dist::detail {

namespace {
constexpr std::size_t kPiece = 1u << 30;  // MPI counts are ints: bigger payloads go in pieces
}

void wait_gently(MPI_Request& request, MPI_Status* status) {
  for (;;) {
    int done = 0;
    MPI_Test(&request, &done, status);
    if (done) return;
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
}

void allgather_gently(const std::uint64_t* value, std::uint64_t* values) {
  MPI_Request request;
  MPI_Iallgather(value, 1, MPI_UINT64_T, values, 1, MPI_UINT64_T, MPI_COMM_WORLD, &request);
  wait_gently(request);
}

void broadcast_gently(char* data, std::size_t bytes, int root) {
  for (std::size_t at = 0; at < bytes; at += kPiece) {
    const int n = static_cast<int>(std::min(kPiece, bytes - at));
    MPI_Request request;
    MPI_Ibcast(data + at, n, MPI_BYTE, root, MPI_COMM_WORLD, &request);
    wait_gently(request);
  }
}

void send_bytes(const char* data, std::size_t bytes, int peer, int tag) {
  std::uint64_t length = bytes;
  MPI_Request request;
  MPI_Isend(&length, 1, MPI_UINT64_T, peer, tag, MPI_COMM_WORLD, &request);
  wait_gently(request);
  // Messages between two processes with one tag arrive in the order sent (MPI's non-overtaking
  // rule), so the pieces follow their length.
  for (std::size_t at = 0; at < bytes; at += kPiece) {
    MPI_Isend(data + at, static_cast<int>(std::min(kPiece, bytes - at)), MPI_BYTE, peer, tag, MPI_COMM_WORLD, &request);
    wait_gently(request);
  }
}

std::string receive_bytes(int peer, int tag) {
  std::uint64_t length = 0;
  MPI_Request request;
  MPI_Irecv(&length, 1, MPI_UINT64_T, peer, tag, MPI_COMM_WORLD, &request);
  wait_gently(request);
  std::string bytes(length, '\0');
  for (std::size_t at = 0; at < bytes.size(); at += kPiece) {
    MPI_Irecv(bytes.data() + at, static_cast<int>(std::min<std::size_t>(kPiece, bytes.size() - at)), MPI_BYTE, peer, tag,
              MPI_COMM_WORLD, &request);
    wait_gently(request);
  }
  return bytes;
}

}  // namespace bertscope::dist::detail

#endif
