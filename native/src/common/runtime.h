// The process-wide CPU runtime every model shares: LibTorch's intra-op thread pool. Threads
// belong to the process, not to a model, so they are set here once (the C API's
// viscpm_set_num_threads, Java's VisCpm.setThreads).
#pragma once

namespace viscpm::runtime {

// Logical CPUs of this machine (at least 1).
int hardware_threads();
// 0 restores LibTorch's default; counts above hardware_threads() are clamped to it;
// negative counts are InvalidArgument. Returns the count now in effect.
int set_num_threads(int num_threads);
int num_threads();

}  // namespace viscpm::runtime
