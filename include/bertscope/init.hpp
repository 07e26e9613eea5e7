// Process set-up for programs that use bertscope, done once before the first model is loaded.
#pragma once

namespace bertscope {

// For programs with a main(): when the environment names no OMP_WAIT_POLICY, sets it to
// PASSIVE and starts the program again (execv of /proc/self/exe with the same argv), because
// libgomp reads the policy only when it loads, before main; its default spins idle threads at
// every barrier and, on a machine with other work, a forward pass runs 2-7x slower. Returns in
// the re-started process (or when the user chose a policy, or the re-start failed); then does
// what init() does, and has malloc never map a block (those above 32 MiB would otherwise be
// faulted in afresh every pass). Call it first thing in main, before any thread starts.
void init(int argc, char** argv);

// For hosts that cannot start themselves again (Python, a plugin): the same set-up without the
// re-start. OpenMP then keeps whatever wait policy it loaded with, unless the host set
// OMP_WAIT_POLICY=PASSIVE in its environment before loading bertscope. Tunes malloc so traces
// and logits freed every batch are reused, not returned to the system and faulted in again.
void init();

// Threads for matrix products and per-head work; 0 = every core.
void set_threads(int threads);

}  // namespace bertscope
