// The process-wide CPU runtime every model shares. There is one thread pool: LibTorch's
// intra-op pool (OpenMP), which runs every parallel operation, including the large matrix
// products (kernels/cpu/pooled_blas). The BLAS library's own pool (OpenBLAS) is held at one
// thread from the moment the library loads, so the two never compete for cores; LibTorch's
// inter-op pool is not used by any model. Threads belong to the process, not to a model, so
// they are set here once (the C API's viscpm_set_num_threads, Java's VisCpm.setThreads, the
// CLI's --threads).
#pragma once

namespace viscpm::runtime {

// Logical CPUs of this machine (at least 1).
int hardware_threads();
// 0 restores LibTorch's default; counts above hardware_threads() are clamped to it;
// negative counts are InvalidArgument. Returns the count now in effect.
int set_num_threads(int num_threads);
int num_threads();
// Puts the BLAS library back on one thread if anything in the process changed it since (an
// application's own OpenBLAS use). Cheap; called before work is shared out over the pool.
void keep_blas_on_one_thread();

}  // namespace viscpm::runtime
