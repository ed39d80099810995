#include "common/runtime.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>

#include <algorithm>
#include <mutex>
#include <string>
#include <thread>

#include "common/error.h"

namespace viscpm::runtime {

namespace {

std::mutex mutex;

// OpenBLAS built with pthreads (bytedeco's LibTorch carries one) keeps a pool of its own whose
// workers busy-wait after every call, taking the cores LibTorch's OpenMP pool is using: on 2
// cores a UNet step went from 0.30 s (1 thread) to 2.0 s (2 threads). It runs on one thread,
// always; kernels/cpu/pooled_blas shares the products out over the OpenMP pool instead.
// Looked up at run time: other LibTorch builds use another BLAS (MKL threads through OpenMP).
struct BlasThreads {
  void (*set)(int) = nullptr;
  int (*get)() = nullptr;
};

const BlasThreads& blas_threads() {
  static const BlasThreads functions = [] {
    BlasThreads f;
    void* set = ::dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
    void* get = ::dlsym(RTLD_DEFAULT, "openblas_get_num_threads");
    // A JVM loads native libraries with RTLD_LOCAL: then only a handle to the library itself
    // (already loaded as LibTorch's dependency; RTLD_NOLOAD never loads a new one) finds it.
    for (const char* name : {"libopenblas.so.0", "libopenblas.so"}) {
      if (set && get) break;
      if (void* handle = ::dlopen(name, RTLD_LAZY | RTLD_NOLOAD)) {
        set = ::dlsym(handle, "openblas_set_num_threads");
        get = ::dlsym(handle, "openblas_get_num_threads");
        ::dlclose(handle);  // drops only the reference RTLD_NOLOAD took; LibTorch keeps it loaded
      }
    }
    if (set && get) {
      f.set = reinterpret_cast<void (*)(int)>(set);
      f.get = reinterpret_cast<int (*)()>(get);
    }
    return f;
  }();
  return functions;
}

void pin_blas_to_one_thread() {
  const BlasThreads& blas = blas_threads();
  if (blas.set && blas.get() != 1) blas.set(1);
}

// Done when the library is loaded, before any model runs, whether or not threads are ever set.
const bool blas_pinned_at_load = [] {
  pin_blas_to_one_thread();
  return true;
}();

// LibTorch's own choice, read before the first change.
int default_threads() {
  static const int threads = at::get_num_threads();
  return threads;
}

}  // namespace

int hardware_threads() { return std::max(1u, std::thread::hardware_concurrency()); }

int set_num_threads(int num_threads) {
  if (num_threads < 0) throw InvalidArgument("num_threads must be >= 0, got " + std::to_string(num_threads));
  std::lock_guard<std::mutex> lock(mutex);
  const int target = num_threads == 0 ? default_threads() : std::min(num_threads, hardware_threads());
  if (target != at::get_num_threads()) at::set_num_threads(target);
  pin_blas_to_one_thread();  // in case anything else in the process raised it
  return at::get_num_threads();
}

int num_threads() { return at::get_num_threads(); }

void keep_blas_on_one_thread() { pin_blas_to_one_thread(); }

}  // namespace viscpm::runtime
