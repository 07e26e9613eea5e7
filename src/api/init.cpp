#include "bertscope/init.hpp"

#include <cstdlib>

#include <malloc.h>
#include <unistd.h>

#include "core/parallel.hpp"

namespace bertscope {

void init(int argc, char** argv) {
  // libgomp reads OMP_WAIT_POLICY once, when it loads, before main. Its default spins idle
  // threads at every barrier; when the machine has other work (a build, a second job) the
  // spinning thread takes the core its partner needs, and a forward pass runs 2-3x slower
  // (4-layer model, 8x128, under load: 5.1k tokens/s spinning, 13.7k passive). Passive waiting
  // costs microseconds per parallel region. So unless the user chose a policy, the program
  // starts itself again once with PASSIVE (execv returns only when it failed: run on as is).
  if (argc > 0 && argv && !std::getenv("OMP_WAIT_POLICY") && ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1) == 0)
    ::execv("/proc/self/exe", argv);
  init();
  // A program of its own (not a host such as Python, whose other large blocks should still go
  // back to the system when freed): no block is ever mapped, so blocks above glibc's largest
  // mmap threshold, 32 MiB (an 8 x 512 layer's attention maps, 100 MB; bert-base's
  // word-embedding gradient, 94 MB), are not faulted in afresh every pass either (glibc still
  // maps when the heap cannot grow). bert-base backward 8 x 128 +18% with gradients handed over.
  mallopt(M_MMAP_MAX, 0);
}

void init() {
  // Traces and logits are allocated and freed every batch. Serving them from the heap and
  // never trimming it means pages are faulted in once per run, not once per batch (a page
  // fault costs microseconds on virtual machines). 32 MiB is glibc's largest mmap threshold.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

void set_threads(int threads) { core::set_num_threads(threads); }

}  // namespace bertscope
